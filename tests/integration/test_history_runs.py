"""A planning run records itself in the plan history; a damaged history never costs the run."""

import json

import pytest
from typer.testing import CliRunner

from planner.cli import app
from planner.records import RunStore

runner = CliRunner()


def test_run_with_a_damaged_history_still_writes_its_folder(tiny_scenario, tmp_path):
    db = tmp_path / "broken.sqlite"
    db.write_bytes(b"garbage" * 500)
    out = tmp_path / "out"
    result = runner.invoke(app, ["run", str(tiny_scenario), "--out", str(out), "--no-plots", "--history", str(db)])
    assert result.exit_code == 0, result.output
    assert "not an SQLite file" in result.output and "not recorded" in result.output
    import json

    summary = json.loads((out / "summary.json").read_text())
    assert summary["history"]["recorded"] is False and (out / "plan.xlsx").exists()
    # A usable database records the same run; --no-history leaves none behind.
    good = tmp_path / "good.sqlite"
    result = runner.invoke(app, ["run", str(tiny_scenario), "--out", str(tmp_path / "o2"), "--no-plots",
                                 "--history", str(good)])
    assert result.exit_code == 0 and "recorded as run 1" in result.output, result.output
    rec = RunStore(good).get(1)
    assert rec.total_cost == pytest.approx(json.loads((tmp_path / "o2" / "summary.json").read_text())["total_cost"])
    result = runner.invoke(app, ["run", str(tiny_scenario), "--out", str(tmp_path / "o3"), "--no-plots", "--no-history"])
    assert result.exit_code == 0 and not (tmp_path / "planner-history.sqlite").exists()


def test_run_with_a_locked_history_says_so_and_still_writes_its_folder(tiny_scenario, tmp_path, monkeypatch):
    import functools
    import sqlite3

    import planner.records as records

    db = tmp_path / "h.sqlite"
    result = runner.invoke(app, ["run", str(tiny_scenario), "--out", str(tmp_path / "first"), "--no-plots",
                                 "--history", str(db)])
    assert result.exit_code == 0 and "recorded as run 1" in result.output, result.output
    # Another process holds the write lock for longer than the run waits (0.5 s here, 10 s by default).
    monkeypatch.setattr(records, "record_run", functools.partial(records.record_run, timeout_s=0.5))
    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        out = tmp_path / "out"
        result = runner.invoke(app, ["run", str(tiny_scenario), "--out", str(out), "--no-plots", "--history", str(db)])
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert result.exit_code == 0, result.output
    assert "locked by another process" in result.output and "not recorded" in result.output
    summary = json.loads((out / "summary.json").read_text())
    assert summary["history"]["recorded"] is False and "locked" in summary["history"]["reason"]
    assert (out / "plan.xlsx").exists() and (out / "plan.csv").exists()
    assert len(RunStore(db).runs()) == 1  # the locked attempt left nothing behind
