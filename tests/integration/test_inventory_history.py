"""The installed fleet sized from the history (``inventory: {from_history_weeks: N}``, what the
embedded default uses): the fleet the history's last week needed, packed by the plan's own stages,
so the quarter's growth needs purchases, ordered a lead time ahead, that cover every week."""

import pandas as pd
import pytest
from typer.testing import CliRunner

from planner import columns as C
from planner.cli import app

# History ends Monday 2026-02-23; the launch comes in week 2 (2026-03-09), after c-32's lead time.
GROWS = """
name: small-grows
data:
  synthetic: {functions: 120, days: 56, seed: 1}
horizon: {weeks: 4}
servers:
  - {type: c-16, cpu_cores: 16, memory_gb: 64, cost_per_month: 600, lead_time_weeks: 1}
  - {type: c-32, cpu_cores: 32, memory_gb: 128, cost_per_month: 1100, lead_time_weeks: 2}
inventory: {from_history_weeks: 1}
anticipated:
  - {name: launch-x, customer: cust0001, analogs: [app00040], scale: 4, launch: 2026-03-09, ramp_weeks: 0.2,
     success_probability: 1.0}
solver: {backend: heuristic, time_limit_s: 5}
forecast: {history_weeks: 4, n_windows: 1, n_jobs: 1}
"""
LEAD = {"c-16": 1, "c-32": 2}


@pytest.fixture(scope="module")
def grown(tmp_path_factory):
    from planner.pipeline import run_plan
    from planner.scenarios import load_scenario

    path = tmp_path_factory.mktemp("grows") / "grows.yaml"
    path.write_text(GROWS)
    return run_plan(load_scenario(path))


def test_the_inventory_is_what_the_last_history_week_needed(grown):
    sized = grown.summary["inventory_from_history"]
    assert sized["weeks_from"] == "2026-02-16" and sized["weeks_to"] == "2026-02-23"
    assert sum(sized["counts"].values()) > 0
    fleet = grown.summary["installed_fleet"]
    assert {t: v["inventory"] for t, v in fleet.items() if v["inventory"]} == sized["counts"]
    assert [i.server_type for i in grown.scenario.inventory] == list(sized["counts"])  # the run's scenario is concrete
    # The sized fleet holds the last week's actual aggregate peak, and is not the quarter's peak need.
    cores = {"c-16": 16, "c-32": 32}
    capacity = sum(cores[t] * n for t, n in sized["counts"].items())
    demand = grown.history.demand
    last = demand[demand[C.DS] >= pd.Timestamp("2026-02-16")]
    assert capacity >= last.groupby(C.DS)[C.CPU_CORES].sum().max()
    peak_need = grown.required.groupby("week").apply(lambda w: (w["server_type"].map(cores) * w["required"]).sum()).max()
    assert capacity < peak_need


def test_growth_is_bought_a_lead_time_ahead_and_covers_every_week(grown):
    p = grown.purchases
    assert len(p) >= 1 and p["purchased"].sum() > 0
    assert (p["week"] >= 0).all()
    assert (p["arrives_week"] - p["week"] == p["server_type"].map(LEAD)).all()  # never sooner than the lead time
    assert (p["arrives_week"] >= p["server_type"].map(LEAD)).all()
    assert (grown.plan["installed"] >= grown.plan["required"]).all()  # no shortfall: the orders cover the need
    orders = grown.orders
    assert (orders["order_week"] == orders["need_week"] - orders["lead_time_weeks"]).all()
    assert "launch-x" in set(grown.why["group_id"])


def test_an_inventory_reaching_before_the_history_is_a_clear_error(tmp_path):
    path = tmp_path / "long.yaml"
    path.write_text(GROWS.replace("from_history_weeks: 1", "from_history_weeks: 9"))
    res = CliRunner().invoke(app, ["run", str(path), "--out", str(tmp_path / "out")])
    assert res.exit_code == 2, res.output
    assert "inventory from_history_weeks 9 reaches before the history" in res.output
    assert "Traceback" not in res.output and not (tmp_path / "out").exists()


def test_an_unresolved_inventory_is_not_read_as_empty(tmp_path):
    from planner.errors import ScenarioError
    from planner.scenarios import installed_fleet, load_scenario

    path = tmp_path / "s.yaml"
    path.write_text(GROWS)
    with pytest.raises(ScenarioError, match="known only once the history is read"):
        installed_fleet(load_scenario(path))
