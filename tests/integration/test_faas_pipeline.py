"""Keep-alive and deferral through a whole planning run: demand, packing, verifier, outputs."""

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from models.packing.verify import find_violations
from planner.cli import app
from planner.pipeline import run_plan
from planner.scenarios import load_scenario

FAAS = """
name: small-faas
keep_alive: fixed:10
data:
  synthetic: {functions: 120, days: 56, seed: 1}
horizon: {weeks: 2}
solver: {backend: heuristic, time_limit_s: 5}
forecast: {history_weeks: 4, n_windows: 1, n_jobs: 1}
deferral:
  enabled: true
  method: valleys
  classes: {lax: 6}
  triggers: {http: lax}     # most of this small fleet's work is HTTP: let it wait, to move something
"""


@pytest.fixture(scope="module")
def faas_run(tmp_path_factory):
    path = tmp_path_factory.mktemp("faas") / "faas.yaml"
    path.write_text(FAAS)
    return path, run_plan(load_scenario(path))


def test_every_week_passes_the_verifier_with_its_deferral_checks(faas_run):
    _, run = faas_run
    for wp in run.weeks:
        d = wp.instance.deferral
        assert d is not None and d.method == "prepass-joint"
        assert find_violations(wp.instance, wp.result) == []
        strict = d.window == 0
        np.testing.assert_array_equal(wp.instance.demand[strict], d.original[strict])
        assert (d.window[~strict] == 5).all()  # 6 h minus the durations: 5 hourly slots


def test_summary_reports_cold_starts_work_moved_and_capacity_saved(faas_run):
    _, run = faas_run
    ka, df = run.summary["keep_alive"], run.summary["deferral"]
    assert ka["policy"] == "fixed:10" and 0 < ka["cold_start_rate"] < 1
    assert df["moved_share_of_all_work"] > 0.01
    assert df["peak_week_cost_with"] <= df["peak_week_cost_without"]
    assert list(run.deferral["week"]) == [0, 1]
    assert "cold_start_rate" in run.qos


def test_run_cli_writes_the_deferral_table_and_shows_both(faas_run, tmp_path):
    path, _ = faas_run
    out = tmp_path / "o"
    result = CliRunner().invoke(app, ["run", str(path), "--out", str(out), "--no-plots"])
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "keep-alive" in text and "deferral" in text and "of all work moved" in text
    assert (out / "deferral.csv").exists()
    assert json.loads((out / "summary.json").read_text())["deferral"]["method"] == "valleys"
    # The plan checks out against the demand it packed (work moved), with the run's own rules.
    check = CliRunner().invoke(app, ["verify", "--demand", str(out / "planned_demand.csv"),
                                     "--assignment", str(out / "assignment.csv")])
    assert check.exit_code == 0, check.output


def test_keep_alive_demand_in_blocks_of_one_group_gives_the_same_run(faas_run, monkeypatch):
    import pandas as pd

    import planner.keepalive

    path, run = faas_run
    monkeypatch.setattr(planner.keepalive, "WARM_BLOCK_BYTES", 1)  # every group a block of its own
    blocked = run_plan(load_scenario(path))
    pd.testing.assert_frame_equal(blocked.history.demand, run.history.demand, check_exact=True)
    pd.testing.assert_frame_equal(blocked.history.warm.apps, run.history.warm.apps, check_exact=True)
    np.testing.assert_array_equal(blocked.history.warm.memory_gb, run.history.warm.memory_gb)
    for name in ("forecast", "plan", "assignment", "qos", "purchases", "deferral"):
        pd.testing.assert_frame_equal(getattr(blocked, name), getattr(run, name), check_exact=True, obj=name)
    assert blocked.summary["keep_alive"] == run.summary["keep_alive"]
