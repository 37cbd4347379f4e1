"""Scenario and what-if fixes: capex is accepted and paid; the azure2019 alias; what-if progress."""

import json

import pandas as pd
import pytest
from typer.testing import CliRunner

from models.procurement import MONTHS_PER_WEEK
from planner.cli import app
from planner.scenarios import load_scenario

runner = CliRunner()

# Lead time 0 and no initial fleet: the plan buys its servers in week 0 and pays their capex then.
BUYS = """
procurement: {{initial_fleet: given}}
servers:
  - {{type: c-32, cpu_cores: 32, memory_gb: 128, cost_per_month: 1100, capex: {capex}}}
  - {{type: m-64, cpu_cores: 64, memory_gb: 256, cost_per_month: 2000, capex: {capex}}}
"""


def test_capex_is_accepted_and_paid_in_the_order_week(tiny_scenario, tmp_path):
    path = tmp_path / "capex.yaml"
    path.write_text(f"base: {tiny_scenario}\nname: capex\n" + BUYS.format(capex=5000))
    assert {s.type: s.capex for s in load_scenario(path).servers} == {"c-32": 5000.0, "m-64": 5000.0}
    out = tmp_path / "out"
    result = runner.invoke(app, ["run", str(path), "--out", str(out), "--no-plots"])
    assert result.exit_code == 0, result.output
    plan = pd.read_csv(out / "plan.csv")
    summary = json.loads((out / "summary.json").read_text())
    assert plan["purchased"].sum() > 0
    cpm = {"c-32": 1100.0, "m-64": 2000.0, "r-64": 0.0}
    running = (plan["installed"] * plan["server_type"].map(cpm) * MONTHS_PER_WEEK).sum()
    assert summary["total_cost"] == pytest.approx(running + 5000 * plan["purchased"].sum(), abs=0.01)
    week0 = plan[plan["week"] == 0]
    assert week0["cost"].sum() == pytest.approx(
        (week0["installed"] * week0["server_type"].map(cpm)).sum() * MONTHS_PER_WEEK + 5000 * week0["purchased"].sum())


def test_azure2019_is_an_alias_of_azure_in_scenarios(tmp_path):
    (tmp_path / "trace").mkdir()
    path = tmp_path / "s.yaml"
    path.write_text("data: {format: azure2019, path: trace}\n")
    assert load_scenario(path).data.format == "azure"


def test_whatif_reports_each_scenario_as_it_finishes_on_all_cores(tiny_scenario, tmp_path):
    from planner.whatif import default_jobs

    variant = tmp_path / "more.yaml"
    variant.write_text(f"base: {tiny_scenario}\nname: more\ngrowth: {{global: 1.5}}\n")
    result = runner.invoke(app, ["whatif", str(tiny_scenario), str(variant), "--out", str(tmp_path / "w")])
    assert result.exit_code == 0, result.output
    jobs = default_jobs(2)
    assert f"planning 2 scenarios in {jobs} process" in result.output
    assert "[1/2]" in result.output and "[2/2]" in result.output
    assert "tiny: cost" in result.output and "more: cost" in result.output
    assert list(pd.read_csv(tmp_path / "w" / "comparison.csv")["scenario"]) == ["tiny", "more"]  # base first


def test_default_jobs_are_the_cores_at_most_one_per_scenario(monkeypatch):
    import os

    from planner.whatif import default_jobs

    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1, 2, 3}, raising=False)
    assert default_jobs(2) == 2 and default_jobs(9) == 4 and default_jobs(1) == 1
