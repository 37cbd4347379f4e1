"""Each kind of bad input gives an error naming the file, the row or column and what was expected."""

import numpy as np
import pandas as pd
import pytest

from planner import columns as C
from planner.errors import InputDataError
from planner.ingest import read_huawei, read_long

HEADER = "date,296---224---pool22-300-128,415---224---pool22-300-128\n"


def huawei_file(tmp_path, body, header=HEADER):
    p = tmp_path / "dc.csv"
    p.write_text(header + body)
    return p


def rows(n, start="2026-01-01 00:00", step="5min", skip=()):
    ts = pd.date_range(start, periods=n, freq=step)
    return "".join(f"{t},{i},{2 * i}\n" for i, t in enumerate(ts) if i not in skip)


def catalog(ids):
    return pd.DataFrame({C.UNIQUE_ID: ids, C.APP: "a", C.CUSTOMER: "c", C.CPU_MILLICORES: 300.0,
                         C.MEMORY_MB: 128.0, C.DURATION_S: 0.5})


def long_file(tmp_path, frame):
    p = tmp_path / "t.csv"
    frame.to_csv(p, index=False)
    return p


def test_empty_file(tmp_path):
    p = tmp_path / "dc.csv"
    p.write_text("")
    with pytest.raises(InputDataError, match=r"dc\.csv: file is empty"):
        read_huawei(p)


def test_header_only(tmp_path):
    with pytest.raises(InputDataError, match="no data rows"):
        read_huawei(huawei_file(tmp_path, ""))


def test_missing_date_column(tmp_path):
    with pytest.raises(InputDataError, match=r"column 'date': missing column"):
        read_huawei(huawei_file(tmp_path, "1,2\n", header="when,296---224---pool22-300-128\n"))


def test_bad_huawei_column_name(tmp_path):
    with pytest.raises(InputDataError, match=r"column 'fn-296': column name does not follow FUNC---APP---poolNN-CPU-MEM"):
        read_huawei(huawei_file(tmp_path, rows(3), header="date,fn-296,415---224---pool22-300-128\n"))


def test_non_numeric_count_names_row_and_column(tmp_path):
    body = rows(3).replace("2026-01-01 00:05:00,1,", "2026-01-01 00:05:00,lots,")
    with pytest.raises(InputDataError, match=r"row 3, column '296---224---pool22-300-128': non-numeric count 'lots'"):
        read_huawei(huawei_file(tmp_path, body))


def test_negative_count(tmp_path):
    body = rows(3).replace("00:10:00,2,4", "00:10:00,2,-4")
    with pytest.raises(InputDataError, match=r"row 4, column '415---224---pool22-300-128': negative count -4"):
        read_huawei(huawei_file(tmp_path, body))


def test_unparseable_timestamp(tmp_path):
    body = rows(3).replace("2026-01-01 00:10:00", "yesterday")
    with pytest.raises(InputDataError, match=r"row 4, column 'date': unparseable timestamp 'yesterday'"):
        read_huawei(huawei_file(tmp_path, body))


def test_duplicate_timestamp(tmp_path):
    body = rows(3) + "2026-01-01 00:05:00,7,7\n"
    with pytest.raises(InputDataError, match="duplicate timestamp 2026-01-01 00:05:00"):
        read_huawei(huawei_file(tmp_path, body))


def test_irregular_spacing(tmp_path):
    body = rows(3) + "2026-01-01 00:17:00,7,7\n"
    with pytest.raises(InputDataError, match="irregular spacing: 2026-01-01 00:10:00 to 2026-01-01 00:17:00"):
        read_huawei(huawei_file(tmp_path, body))


def test_short_gap_is_repaired_with_a_note(tmp_path):
    tel, _ = read_huawei(huawei_file(tmp_path, rows(10, skip={4, 5})))
    assert len(tel.index) == 10
    assert tel.counts[4, 0] == pytest.approx(4.0) and tel.counts[5, 1] == pytest.approx(10.0)
    assert tel.repairs == ("2 missing interval(s) after 2026-01-01 00:15:00 filled by linear interpolation",)


def test_long_gap_is_an_error(tmp_path):
    with pytest.raises(InputDataError, match="gap of 8 missing intervals after 2026-01-01 00:05:00"):
        read_huawei(huawei_file(tmp_path, rows(12, skip=set(range(2, 10)))))


def test_long_duplicate_key(tmp_path):
    frame = pd.DataFrame({C.UNIQUE_ID: ["f", "f", "f"], C.DS: ["2026-01-01 00:00", "2026-01-01 01:00", "2026-01-01 01:00"], C.Y: [1, 2, 3]})
    with pytest.raises(InputDataError, match=r"row 4, column 'ds': duplicate \(unique_id, ds\) = \('f', 2026-01-01 01:00:00\)"):
        read_long(long_file(tmp_path, frame), catalog(["f"]))


def test_long_missing_column(tmp_path):
    frame = pd.DataFrame({C.UNIQUE_ID: ["f"], "time": ["2026-01-01"], C.Y: [1]})
    with pytest.raises(InputDataError, match=r"t\.csv, column 'ds': missing column"):
        read_long(long_file(tmp_path, frame), catalog(["f"]))


def test_long_function_without_catalog_entry(tmp_path):
    ts = pd.date_range("2026-01-01", periods=3, freq="1h").astype(str)
    frame = pd.DataFrame({C.UNIQUE_ID: ["f"] * 3 + ["g"] * 3, C.DS: list(ts) * 2, C.Y: 1.0})
    with pytest.raises(InputDataError, match=r"1 function\(s\) have no catalog entry: 'g'"):
        read_long(long_file(tmp_path, frame), catalog(["f"]))


def test_catalog_with_bad_value_names_row(tmp_path):
    cat = catalog(["f", "g"])
    cat.loc[1, C.MEMORY_MB] = -1
    p = tmp_path / "cat.csv"
    cat.to_csv(p, index=False)
    ts = pd.date_range("2026-01-01", periods=3, freq="1h").astype(str)
    frame = pd.DataFrame({C.UNIQUE_ID: ["f"] * 3, C.DS: list(ts), C.Y: 1.0})
    with pytest.raises(InputDataError, match=r"cat\.csv, row 3, column 'memory_mb': memory_mb is '-1.0'; expected a finite number > 0"):
        read_long(long_file(tmp_path, frame), p)


def test_long_reads_launch_as_not_live_before_first_row(tmp_path):
    ts = pd.date_range("2026-01-01", periods=6, freq="1h")
    frame = pd.DataFrame({C.UNIQUE_ID: ["f"] * 6 + ["g"] * 3, C.DS: list(ts) + list(ts[3:]), C.Y: np.arange(9.0)})
    tel, cat = read_long(long_file(tmp_path, frame), catalog(["f", "g"]))
    assert tel.counts[:, 1].tolist() == [0, 0, 0, 6, 7, 8]
    assert tel.repairs == ()
