"""Non-finite telemetry is rejected with the file, row and column; implausible values are read with a
warning that names the function that read them and where they are (docs/data.md, plausibility
bounds): every reader (huawei, azure, long), the catalog and the demand stage."""

import numpy as np
import pandas as pd
import pytest

from planner import columns as C
from planner.demand import resource_demand
from planner.errors import InputDataError
from planner.ingest import read_azure2019, read_huawei, read_long
from planner.telemetry import Telemetry

from test_ingest_azure import write_fixture

FN = "296---224---pool22-300-128"


def huawei(tmp_path, value, row=5):
    ds = pd.date_range("2026-01-05", periods=24, freq="5min")
    cells = [str(i % 7) for i in range(len(ds))]
    cells[row] = value
    p = tmp_path / "dc.csv"
    p.write_text(f"date,{FN}\n" + "".join(f"{t},{c}\n" for t, c in zip(ds, cells)))
    return p


def catalog(**over):
    row = {C.UNIQUE_ID: "f1", C.APP: "a", C.CUSTOMER: "c", C.CPU_MILLICORES: 300.0, C.MEMORY_MB: 128.0, C.DURATION_S: 0.5}
    row.update(over)
    return pd.DataFrame([row])


def long_csv(tmp_path, value, row=3):
    ds = pd.date_range("2026-01-05", periods=12, freq="5min")
    ys = ["1"] * len(ds)
    ys[row] = value
    p = tmp_path / "t.csv"
    p.write_text("unique_id,ds,y\n" + "".join(f"f1,{t},{y}\n" for t, y in zip(ds, ys)))
    return p


@pytest.mark.parametrize("value", ["inf", "-inf", "Infinity", "1e400", "1e40"])
def test_huawei_rejects_non_finite_counts_naming_row_and_column(tmp_path, value):
    with pytest.raises(InputDataError, match=rf"dc\.csv, row 7, column '{FN}': (non-finite count|count too large)"):
        read_huawei(huawei(tmp_path, value))


@pytest.mark.parametrize("value", ["NaN", "nan", "NA", "null"])
def test_nan_as_text_is_not_a_count(tmp_path, value):
    with pytest.raises(InputDataError, match=rf"row 7, column '{FN}': non-numeric count '{value}'"):
        read_huawei(huawei(tmp_path, value))
    with pytest.raises(InputDataError, match=rf"t\.csv, row 5, column 'y': non-numeric count '{value}'"):
        read_long(long_csv(tmp_path, value), catalog())


def test_long_rejects_inf_in_csv_and_parquet(tmp_path):
    with pytest.raises(InputDataError, match=r"t\.csv, row 5, column 'y': non-finite count 'inf'"):
        read_long(long_csv(tmp_path, "inf"), catalog())
    ds = pd.date_range("2026-01-05", periods=12, freq="5min")
    y = np.ones(12)
    y[4] = np.inf
    pd.DataFrame({C.UNIQUE_ID: "f1", C.DS: ds, C.Y: y}).to_parquet(tmp_path / "t.parquet")
    with pytest.raises(InputDataError, match=r"t\.parquet, row 6, column 'y': non-finite count"):
        read_long(tmp_path / "t.parquet", catalog())


@pytest.mark.parametrize("value", ["inf", "nan"])
def test_azure_rejects_non_finite_counts(tmp_path, value):
    def poison(frame):
        frame[MINUTE] = frame[MINUTE].astype(object)
        frame.loc[1, MINUTE] = value

    MINUTE = "61"
    write_fixture(tmp_path, bad=poison)
    with pytest.raises(InputDataError, match=r"d02\.csv, row 3, column '61': non-finite count"):
        read_azure2019(tmp_path)


def test_implausible_counts_warn_naming_the_reader_and_the_function(tmp_path):
    with pytest.warns(UserWarning, match=rf"read_huawei: .*dc\.csv: 1 function\(s\) exceed the plausible 100000 "
                                         rf"invocations per second; the largest, '{FN}', has 1e\+15"):
        read_huawei(huawei(tmp_path, "1e15"))
    with pytest.warns(UserWarning, match=r"read_long: .*t\.csv: .*'f1', has 1e\+15 invocations in the 5min"):
        read_long(long_csv(tmp_path, "1e15"), catalog())

    def flood(frame):
        frame.loc[2, "600"] = 10**9

    write_fixture(tmp_path, bad=flood)
    with pytest.warns(UserWarning, match=r"read_azure2019: .*d02\.csv, row 4, column '600': .*'f3' of app 'a2'"):
        read_azure2019(tmp_path)


def test_plausible_counts_do_not_warn(tmp_path, recwarn):
    read_huawei(huawei(tmp_path, "5000"))  # 17 per second
    assert not [w for w in recwarn if "plausible" in str(w.message)]


def test_catalog_rejects_non_finite_and_warns_on_implausible_sizes(tmp_path):
    ds = pd.date_range("2026-01-05", periods=12, freq="5min")
    pd.DataFrame({C.UNIQUE_ID: "f1", C.DS: ds, C.Y: 1.0}).to_csv(tmp_path / "t.csv", index=False)
    catalog(cpu_millicores="inf").to_csv(tmp_path / "cat.csv", index=False)
    with pytest.raises(InputDataError, match=r"cat\.csv, row 2, column 'cpu_millicores': cpu_millicores is 'inf'"):
        read_long(tmp_path / "t.csv", tmp_path / "cat.csv")
    catalog(duration_s=360000.0).to_csv(tmp_path / "cat.csv", index=False)
    with pytest.warns(UserWarning, match=r"validate_catalog: .*cat\.csv, row 2, column 'duration_s': .*'f1', has 360000"):
        read_long(tmp_path / "t.csv", tmp_path / "cat.csv")


def _catalog(**over):
    from planner.catalog import validate_catalog

    return validate_catalog(catalog(**over))


def _telemetry(value):
    index = pd.date_range("2026-01-05", periods=24, freq="5min")
    counts = np.ones((24, 1), dtype=np.float32)
    counts[13, 0] = value
    return Telemetry(index, pd.Index(["f1"], name=C.UNIQUE_ID), counts)


@pytest.mark.parametrize("value", [np.inf, np.nan, -1.0])
def test_demand_stage_rejects_non_finite_counts(value):
    with pytest.raises(InputDataError, match=r"resource_demand: function 'f1' has count .* at 2026-01-05 01:05:00"):
        resource_demand(_telemetry(value), _catalog())


def test_demand_stage_rejects_a_non_finite_catalog():
    with pytest.raises(InputDataError, match=r"resource_demand: function 'f1' has duration_s inf"):
        resource_demand(_telemetry(1.0), catalog(duration_s=np.inf, group_id="a"))


def test_demand_stage_warns_on_implausible_demand():
    with pytest.warns(UserWarning) as caught:
        resource_demand(_telemetry(1e15), _catalog())
    messages = [str(w.message) for w in caught]
    assert any(m.startswith("resource_demand: group 'a' needs 5e+11 cpu_cores at 2026-01-05 01:00:00, beyond the "
                            "plausible 100000") for m in messages), messages
    assert any("memory_gb" in m and "plausible 800000" in m for m in messages), messages
