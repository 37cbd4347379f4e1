"""Outputs are written to temporary names and renamed: a failure leaves the old files whole."""

import pandas as pd
import pytest

from planner.io import write_table, write_tables


class _Broken(pd.DataFrame):
    def to_csv(self, *args, **kwargs):
        raise OSError("disk full")


def test_a_set_of_tables_is_renamed_only_when_every_table_is_written(tmp_path):
    old = pd.DataFrame({"a": [1]})
    first, second = tmp_path / "forecast.csv", tmp_path / "forecast.models.csv"
    write_tables({first: old, second: old})
    with pytest.raises(OSError, match="disk full"):
        write_tables({first: pd.DataFrame({"a": [2]}), second: _Broken({"a": [2]})})
    assert pd.read_csv(first)["a"].tolist() == [1]  # the first table was written, but not renamed over the old one
    assert pd.read_csv(second)["a"].tolist() == [1]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["forecast.csv", "forecast.models.csv"]  # no temporary left


def test_a_single_table_round_trips_and_an_unknown_suffix_is_refused(tmp_path):
    frame = pd.DataFrame({"g": ["x", "y"], "v": [1.5, 2.0]})
    assert pd.read_parquet(write_table(frame, tmp_path / "t.parquet")).equals(frame)
    with pytest.raises(ValueError, match="unknown table format"):
        write_table(frame, tmp_path / "t.xls")
    assert list(tmp_path.iterdir()) == [tmp_path / "t.parquet"]
