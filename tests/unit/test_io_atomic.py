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


def test_an_output_folder_written_again_holds_this_run_s_files_only(tmp_path):
    from planner.io import MANIFEST, atomic_dir

    out = tmp_path / "out"
    with atomic_dir(out) as tmp:  # an earlier run: a table and a subfolder of a scenario
        (tmp / "bins.csv").write_text("old\n")
        (tmp / "base").mkdir()
        (tmp / "base" / "plan.csv").write_text("old\n")
        (tmp / "gone").mkdir()
    (out / "notes.txt").write_text("mine\n")  # the user's, not the planner's
    with atomic_dir(out) as tmp:  # the run again (--force): the same subfolder, another table
        (tmp / "summary.json").write_text("{}\n")
        (tmp / "base").mkdir()
        (tmp / "base" / "qos.csv").write_text("new\n")
    assert sorted(p.name for p in out.iterdir()) == sorted([MANIFEST, "base", "notes.txt", "summary.json"])
    assert [p.name for p in (out / "base").iterdir()] == ["qos.csv"]  # the folder replaced whole, not merged
    assert (out / MANIFEST).read_text().splitlines() == ["base", "summary.json"]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out.")]  # no temporary folder left


def test_a_manifest_never_reaches_outside_its_folder(tmp_path):
    from planner.io import MANIFEST, atomic_dir

    out = tmp_path / "out"
    out.mkdir()
    (tmp_path / "precious.txt").write_text("x")
    (out / MANIFEST).write_text("../precious.txt\n..\n.\n")
    with atomic_dir(out) as tmp:
        (tmp / "a.csv").write_text("1\n")
    assert (tmp_path / "precious.txt").exists() and (out / "a.csv").exists()
