"""One risk definition and one total (planner.risk): terminal, summary.json, the Plan and QoS tables,
the workbook and the what-if table agree; a plan that installs less than it needs says so first and
carries the unserved demand as risk."""

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from planner.cli import app
from planner.whatif import comparison_row

runner = CliRunner()


def _run(scenario, out):
    result = runner.invoke(app, ["run", str(scenario), "--out", str(out), "--no-plots"])
    assert result.exit_code == 0, result.output
    return json.loads((out / "summary.json").read_text()), result.output


# Loose targets and no headroom, so that the small pooled-risk plan carries risk worth adding up
# (at the default targets it rounds to 0 slot-hours).
LOOSE = "tiers:\n" + "".join(f"  {t}: {{overflow_risk: 0.3, headroom: 0.0}}\n" for t in ("premium", "standard", "economy"))


def test_every_risk_figure_is_one_total(small_scenario, tmp_path):
    loose = tmp_path / "loose.yaml"
    loose.write_text(small_scenario.read_text() + LOOSE)
    summary, output = _run(loose, tmp_path / "out")
    plan = pd.read_csv(tmp_path / "out" / "plan.csv")
    qos = pd.read_csv(tmp_path / "out" / "qos.csv")
    total = sum(summary["risk_slot_hours_by_tier"].values())
    assert total > 0  # the small plan does carry some risk: the check below is not 0 == 0
    # The tier split (terminal, summary.json), the Plan table and the QoS table add up to one total.
    assert plan["risk"].sum() == pytest.approx(total, abs=0.01)
    assert qos["risk"].sum() == pytest.approx(total, abs=0.01)
    assert summary["risk"]["total_slot_hours"] == pytest.approx(total, abs=0.01)
    assert f"{summary['risk']['total_slot_hours']:g} total" in output
    # The what-if table reads the same total.
    row = comparison_row({"name": "small", "summary": summary, "plan": plan})
    assert row["risk"] == summary["risk"]["total_slot_hours"]


def test_workbook_total_risk_is_the_run_total(small_run_folder):
    pytest.importorskip("openpyxl")
    from planner.export.spreadsheet import read_plan_workbook, read_summary_blocks

    out = small_run_folder[0]  # the session's run of the small scenario (conftest.py)
    summary = json.loads((out / "summary.json").read_text())
    details = read_plan_workbook(out / "plan.xlsx")["Details"].set_index("metric")
    assert float(details.loc["total_risk", "value"]) == pytest.approx(summary["risk"]["total_slot_hours"], abs=1e-9)
    # The one-page Summary's risk block splits the same total by tier.
    blocks = read_summary_blocks(out / "plan.xlsx")
    per_tier = next(b for title, b in blocks.items() if title.startswith("Risk per tier"))
    assert per_tier["risk"].astype(float).sum() == pytest.approx(summary["risk"]["total_slot_hours"], abs=1e-6)


def test_a_plan_short_of_servers_says_so_first_and_counts_unserved_demand(tiny_scenario, tmp_path):
    pytest.importorskip("openpyxl")
    from planner.export.spreadsheet import read_plan_workbook

    (tmp_path / "broke.yaml").write_text(
        f"base: {tiny_scenario}\nname: broke\nprocurement: {{budget: 1, initial_fleet: given}}\n")
    summary, output = _run(tmp_path / "broke.yaml", tmp_path / "out")
    plan = pd.read_csv(tmp_path / "out" / "plan.csv")
    assert plan["installed"].sum() == 0 and plan["required"].sum() > 0  # nothing installed, all needed
    # Said first: the first key of summary.json, the first line of the terminal, the workbook's first row.
    assert list(summary)[0] == "plan_warnings" and "SHORTFALL" in summary["plan_warnings"][0]
    assert output.index("SHORTFALL") < output.index("plan: broke")
    from planner.export.spreadsheet import read_summary_blocks

    blocks = read_summary_blocks(tmp_path / "out" / "plan.xlsx")
    assert list(blocks)[0] == "Warnings" and "SHORTFALL" in str(blocks["Warnings"].iloc[0, 0])
    details = read_plan_workbook(tmp_path / "out" / "plan.xlsx")["Details"]
    assert details.iloc[0]["metric"] == "WARNING" and "SHORTFALL" in str(details.iloc[0]["value"])
    # Every worker the plan needs serves nothing: each slot-hour where it carries demand overflows.
    slots = 168 * plan["week"].nunique()
    needed = int(plan["required"].sum())  # worker-weeks
    assert summary["risk"]["unserved_slot_hours"] > 0.9 * needed * 168
    assert summary["risk"]["total_slot_hours"] <= needed * 168 + 1e-6 < slots * 1000
    assert plan["risk"].sum() == pytest.approx(summary["risk"]["total_slot_hours"], abs=0.01)


def test_risk_contributions_split_each_worker_among_its_groups():
    from types import SimpleNamespace

    from planner.risk import aggregate_risk, risk_contributions

    # Two workers, three slots, one resource; w1 is left without a server.
    planned = {"a": np.array([[2.0], [0.0], [1.0]]), "b": np.array([[2.0], [4.0], [0.0]]),
               "c": np.array([[1.0], [0.0], [0.0]])}
    loads = SimpleNamespace(workers=["w0", "w1"], server_type=np.array(["s", "s"]),
                            capacity=np.array([[[8.0]], [[8.0]]]),
                            planned=np.stack([planned["a"] + planned["b"], planned["c"]]))
    assignment = pd.DataFrame({"group_id": ["a", "b", "c"], "fraction": 1.0, "worker_id": ["w0", "w0", "w1"]})
    groups = pd.DataFrame({"group_id": ["a", "b", "c"], "customer": ["x", "y", "y"], "tier": ["gold", "tin", "tin"]})
    p = np.array([[0.5, 0.2, 0.0], [0.0, 0.0, 0.0]])
    c = risk_contributions(3, loads, p, planned, assignment, groups, {"s": "pool"}, unserved={"w1"})
    risk = aggregate_risk(c)
    # w0: slot 0 split 1:1, slot 1 all b; w1 unserved overflows in its one slot with demand.
    assert dict(zip(c["group_id"], c["risk"])) == pytest.approx({"a": 0.25, "b": 0.45, "c": 1.0})
    assert risk.total == pytest.approx(1.7) and risk.unserved == pytest.approx(1.0)
    assert sum(risk.by_tier.values()) == pytest.approx(risk.total) == risk.by_customer.sum() == risk.by_week_type.sum()
    assert risk.breach_by_customer.isna().all()  # no reference headroom given: not computed, not 0
    # Against each tier's usable capacity (issue 17): gold's probabilities, tin's; w1 unserved is 1.
    breach = {"gold": np.array([[0.8, 0.4, 0.1], [0.0, 0.0, 0.0]]), "tin": np.array([[0.6, 0.3, 0.0], [0.0, 0.0, 0.0]])}
    c = risk_contributions(3, loads, p, planned, assignment, groups, {"s": "pool"}, unserved={"w1"}, breach=breach)
    # a: slot 0 half of 0.8, slot 2 all of 0.1; b: slot 0 half of 0.6, slot 1 all of 0.3; c: w1 unserved.
    assert dict(zip(c["group_id"], c["breach"])) == pytest.approx({"a": 0.5, "b": 0.6, "c": 1.0})
    assert aggregate_risk(c).breach_by_customer.to_dict() == pytest.approx({"x": 0.5, "y": 1.6})
