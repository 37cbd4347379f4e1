"""A two-day Azure 2019 layout fixture, written by hand and read back."""

import numpy as np
import pandas as pd
import pytest

from planner import columns as C
from planner.demand import resource_demand
from planner.errors import InputDataError
from planner.ingest import read_azure2019

MINUTES = [str(m) for m in range(1, 1441)]


def write_fixture(folder, *, days=(1, 2), bad=None):
    rows = [("o1", "a1", "f1", "http"), ("o1", "a1", "f2", "timer"), ("o2", "a2", "f3", "queue")]
    for d in days:
        frame = pd.DataFrame(rows, columns=["HashOwner", "HashApp", "HashFunction", "Trigger"])
        counts = np.zeros((3, 1440), dtype=int)
        counts[0, :] = d  # f1: d per minute
        counts[1, ::60] = 1  # f2: hourly timer
        counts[2, 600:660] = 30  # f3: a burst from 10:00 to 11:00
        frame = pd.concat([frame, pd.DataFrame(counts, columns=MINUTES)], axis=1)
        if bad and d == 2:
            bad(frame)
        frame.to_csv(folder / f"invocations_per_function_md.anon.d{d:02d}.csv", index=False)
        pd.DataFrame({"HashOwner": ["o1", "o1", "o2"], "HashApp": ["a1", "a1", "a2"], "HashFunction": ["f1", "f2", "f3"],
                      "Average": [1000.0, 200.0, 3000.0], "Count": [1440 * d, 24, 1800]}).to_csv(
            folder / f"function_durations_percentiles.anon.d{d:02d}.csv", index=False)
        pd.DataFrame({"HashOwner": ["o1", "o2"], "HashApp": ["a1", "a2"], "SampleCount": [10, 10],
                      "AverageAllocatedMb": [256.0, 512.0]}).to_csv(
            folder / f"app_memory_percentiles.anon.d{d:02d}.csv", index=False)


def test_reads_two_days_into_the_same_tables(tmp_path):
    write_fixture(tmp_path)
    tel, cat = read_azure2019(tmp_path)
    assert tel.counts.shape == (2880, 3)
    assert tel.index.freqstr == "min"
    assert tel.index[0] == pd.Timestamp("2019-07-15")
    assert list(tel.ids) == ["a1/f1", "a1/f2", "a2/f3"]
    cat = cat.set_index(C.UNIQUE_ID)
    assert cat.loc["a1/f1", C.CUSTOMER] == "o1" and cat.loc["a2/f3", C.GROUP_ID] == "a2"
    assert cat.loc["a1/f2", C.TRIGGER] == "timer"
    # Count-weighted duration: (1000*1440 + 1000*2880) / 4320 ms = 1 s.
    assert cat.loc["a1/f1", C.DURATION_S] == pytest.approx(1.0)
    assert cat.loc["a2/f3", C.MEMORY_MB] == 512.0
    assert tel.counts[:1440, 0].sum() == 1440 and tel.counts[1440:, 0].sum() == 2880

    demand = resource_demand(tel, cat.reset_index())
    a2 = demand[demand[C.GROUP_ID] == "a2"].set_index(C.DS)
    # 30 invocations per minute x 3 s = 1.5 concurrent; hour 10 of day one.
    assert a2.loc["2019-07-15 10:00", C.CONCURRENCY] == pytest.approx(1.5)
    assert a2.loc["2019-07-15 10:00", C.MEMORY_GB] == pytest.approx(2 * 0.5)
    assert a2.loc["2019-07-15 09:00", C.CPU_CORES] == 0


def test_missing_day_between_is_an_error(tmp_path):
    write_fixture(tmp_path, days=(1, 3))
    with pytest.raises(InputDataError, match=r"d02\.csv missing"):
        read_azure2019(tmp_path)


def test_negative_count_names_file_row_and_minute(tmp_path):
    write_fixture(tmp_path, bad=lambda f: f.__setitem__("17", [0, -3, 0]))
    with pytest.raises(InputDataError, match=r"d02\.csv, row 3, column '17': negative count -3"):
        read_azure2019(tmp_path)


def test_text_count_names_row(tmp_path):
    def bad(frame):
        frame["5"] = frame["5"].astype(object)
        frame.loc[0, "5"] = "many"

    write_fixture(tmp_path, bad=bad)
    with pytest.raises(InputDataError, match=r"row 2, column '5': non-numeric count 'many'"):
        read_azure2019(tmp_path)


def test_missing_minute_column(tmp_path):
    write_fixture(tmp_path, bad=lambda f: f.pop("1440"))
    with pytest.raises(InputDataError, match=r"missing column\(s\) '1440'"):
        read_azure2019(tmp_path)


def test_functions_without_duration_get_app_median_with_warning(tmp_path):
    write_fixture(tmp_path)
    for d in (1, 2):
        p = tmp_path / f"function_durations_percentiles.anon.d{d:02d}.csv"
        pd.read_csv(p).iloc[[0, 2]].to_csv(p, index=False)  # drop f2
    with pytest.warns(UserWarning, match="1 of 3 functions have no duration record"):
        _, cat = read_azure2019(tmp_path)
    assert cat.set_index(C.UNIQUE_ID).loc["a1/f2", C.DURATION_S] == pytest.approx(1.0)


def test_a_catalog_overrides_what_the_trace_does_not_record(tmp_path):
    from planner.ingest import read_telemetry

    write_fixture(tmp_path)
    given = pd.DataFrame({C.UNIQUE_ID: ["a2/f3"], C.APP: ["a2"], C.CUSTOMER: ["o2"], C.CPU_MILLICORES: [4000.0],
                          C.MEMORY_MB: [512.0], C.DURATION_S: [3.0]})
    _, cat = read_telemetry(tmp_path, "azure", catalog=given)
    cat = cat.set_index(C.UNIQUE_ID)
    assert cat.loc["a2/f3", C.CPU_MILLICORES] == 4000.0
    assert cat.loc["a1/f1", C.CPU_MILLICORES] == round(200 + 0.78 * 256)  # the stated default, kept
