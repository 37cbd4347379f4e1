"""`planner verify` on what `planner run` writes: a multi-week plan checked week by week, idle groups
absent from a week accepted and reported, a broken plan rejected."""

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from planner.cli import app

runner = CliRunner()


def _verify(out, assignment=None):
    return runner.invoke(app, ["verify", "--demand", str(out / "forecast.parquet"),
                               "--assignment", str(assignment or out / "assignment.csv")])


def _move_busiest_worker(out, tmp_path):
    """The run's assignment with every group of week 0's busiest worker moved onto its next busiest
    worker of the same type."""
    a = pd.read_csv(out / "assignment.csv")
    util = pd.read_csv(out / "utilisation.csv")
    busy = util[util["week"] == 0].groupby(["worker_id", "server_type"])["cpu_utilisation"].max()
    busy = busy.sort_values(ascending=False).reset_index()
    src = busy.iloc[0]
    same = busy[(busy["server_type"] == src["server_type"]) & (busy["worker_id"] != src["worker_id"])]
    dst = (same if len(same) else busy[busy["worker_id"] != src["worker_id"]]).iloc[0]
    moved = (a["week"] == 0) & (a["worker_id"] == src["worker_id"])
    a.loc[moved, "worker_id"] = dst["worker_id"]
    a.loc[moved, "server_type"] = dst["server_type"]
    path = tmp_path / "moved" / "assignment.csv"
    path.parent.mkdir()
    a.to_csv(path, index=False)
    for name in ("groups.csv", "tiers.csv", "servers.csv"):
        (path.parent / name).write_bytes((out / name).read_bytes())
    return path


@pytest.fixture
def run_folder(small_run_folder):
    return small_run_folder[0]  # the session's run of the small scenario (conftest.py); read only


def test_verify_accepts_the_runs_multi_week_plan(run_folder):
    result = _verify(run_folder)
    assert result.exit_code == 0, result.output
    assert "ok: 2 week(s)" in result.output and "groups.csv" in result.output


def test_verify_rejects_the_run_after_one_workers_groups_are_moved(run_folder, tmp_path):
    result = _verify(run_folder, _move_busiest_worker(run_folder, tmp_path))
    assert result.exit_code == 1
    assert "week 0: " in result.output and "violation(s) in week(s) 0" in result.output


def _tiny_plan(tmp_path, idle_in_week1: bool):
    """Two weeks, two groups on one worker; group b has no demand in week 1 and no placement there."""
    ds = pd.date_range("2027-01-04", periods=2 * 168, freq="h")
    rows = []
    for g in ("a", "b"):
        cpu = np.full(len(ds), 2.0)
        if g == "b" and idle_in_week1:
            cpu[168:] = 0.0
        rows.append(pd.DataFrame({"group_id": g, "ds": ds, "cpu_cores": cpu, "memory_gb": cpu * 2}))
    pd.concat(rows).to_csv(tmp_path / "demand.csv", index=False)
    a = pd.DataFrame({"group_id": ["a", "b", "a"], "shard": 0, "share": 1.0, "worker_id": "w0",
                      "server_type": "c-32", "week": [0, 0, 1]})
    a.to_csv(tmp_path / "assignment.csv", index=False)
    return tmp_path / "demand.csv", tmp_path / "assignment.csv"


def test_idle_groups_absent_from_a_week_are_accepted_and_counted(tmp_path):
    demand, assignment = _tiny_plan(tmp_path, idle_in_week1=True)
    result = runner.invoke(app, ["verify", "--demand", str(demand), "--assignment", str(assignment)])
    assert result.exit_code == 0, result.output
    assert "1 idle group-period(s) absent from the assignment, accepted" in result.output and "b (week 1)" in result.output


def test_a_group_with_demand_and_no_placement_is_a_violation(tmp_path):
    demand, assignment = _tiny_plan(tmp_path, idle_in_week1=False)
    result = runner.invoke(app, ["verify", "--demand", str(demand), "--assignment", str(assignment)])
    assert result.exit_code == 1
    assert "week 1: unplaced[b]" in result.output


@pytest.mark.slow
def test_verify_accepts_the_default_run_and_rejects_a_moved_worker(tmp_path):
    out = tmp_path / "planner-out"
    result = runner.invoke(app, ["run", "--out", str(out), "--no-plots"])
    assert result.exit_code == 0, result.output
    ok = _verify(out)
    assert ok.exit_code == 0 and "ok: 13 week(s)" in ok.output, ok.output
    bad = _verify(out, _move_busiest_worker(out, tmp_path))
    assert bad.exit_code == 1 and "violation(s) in week(s) 0" in bad.output
