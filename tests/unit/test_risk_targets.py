"""Per tier, customer and server type: the target epsilon beside the plan's predicted overflow
probability and expected overflow share, aggregated by planner.risk (issue 14)."""

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from planner.cli import app
from planner.risk import aggregate_risk, overflow_vs_target, risk_contributions

runner = CliRunner()

GROUPS = pd.DataFrame({"group_id": ["a", "b", "c"], "customer": ["x", "y", "y"], "tier": ["gold", "tin", "tin"]})
TARGETS = {"gold": 0.001, "tin": 0.05}


def _risk():
    """Two workers of one type, three slots: w0 holds a (gold) and b (tin), w1 holds c (tin)."""
    planned = {"a": np.array([[2.0], [0.0], [1.0]]), "b": np.array([[2.0], [4.0], [0.0]]),
               "c": np.array([[1.0], [0.0], [0.0]])}
    loads = SimpleNamespace(workers=["w0", "w1"], server_type=np.array(["s", "s"]),
                            capacity=np.array([[[8.0]], [[8.0]]]),
                            planned=np.stack([planned["a"] + planned["b"], planned["c"]]))
    assignment = pd.DataFrame({"group_id": ["a", "b", "c"], "fraction": 1.0, "worker_id": ["w0", "w0", "w1"]})
    p = np.array([[0.0006, 0.0003, 0.0], [0.01, 0.0, 0.0]])  # physical capacity, per slot
    c = risk_contributions(0, loads, p, planned, assignment, GROUPS, {"s": "pool"})
    # Against the usable capacity the probabilities are larger: their largest per worker.
    workers = pd.DataFrame({"week": [0, 0], "worker_id": ["w0", "w1"], "slot_hours": [3, 3],
                            "overflow_probability": [0.0009, 0.04], "overflow_risk": [0.001, 0.05]})
    return aggregate_risk(c, workers=workers)


def test_each_tier_gets_its_target_predicted_probability_and_expected_share():
    out = overflow_vs_target(_risk(), "tier", GROUPS, TARGETS).set_index("tier")
    # A worker counts whole for every tier on it (as the backtest counts realised overflow):
    # tin sits on w0 and w1, 6 slot-hours, expected overflow 0.0009 + 0.01.
    assert out.loc["tin", "slot_hours"] == 6 and out.loc["gold", "slot_hours"] == 3
    assert out.loc["tin", "expected_overflow_share"] == pytest.approx((0.0009 + 0.01) / 6)
    assert out.loc["gold", "expected_overflow_share"] == pytest.approx(0.0009 / 3)
    assert out.loc["tin", "overflow_probability"] == pytest.approx(0.04)
    assert out.loc["gold", "overflow_probability"] == pytest.approx(0.0009)
    assert out["overflow_risk"].to_dict() == TARGETS


def test_customers_take_their_tiers_target_and_types_their_worst_worker():
    cust = overflow_vs_target(_risk(), "customer", GROUPS, TARGETS).set_index("customer")
    assert cust.loc["x", "overflow_risk"] == 0.001 and cust.loc["y", "overflow_risk"] == 0.05
    assert cust.loc["y", "overflow_probability"] == pytest.approx(0.04)
    kind = overflow_vs_target(_risk(), "server_type")
    # w0 is at 0.9 of its target, w1 at 0.8: w0 speaks for the type.
    assert kind[["week", "server_type", "overflow_risk", "overflow_probability", "workers"]].values.tolist() == [
        [0, "s", 0.001, 0.0009, 2]]


def test_without_worker_figures_the_table_is_empty_not_wrong():
    risk = aggregate_risk(pd.DataFrame())
    assert overflow_vs_target(risk, "tier", GROUPS, TARGETS).empty


def test_a_tiers_table_with_epsilon_out_of_range_names_file_row_and_tier(tmp_path):
    demand = tmp_path / "demand.csv"
    pd.DataFrame({"group_id": ["a"] * 2, "ds": ["2024-01-01 00:00", "2024-01-01 01:00"],
                  "cpu_cores": [1.0, 2.0], "memory_gb": [2.0, 2.0]}).to_csv(demand, index=False)
    tiers = tmp_path / "tiers.csv"
    pd.DataFrame({"name": ["gold", "tin"], "overflow_risk": [0.01, 0.7], "headroom": [0.1, 0.1]}).to_csv(tiers, index=False)
    result = runner.invoke(app, ["pack", "--demand", str(demand), "--tiers", str(tiers), "--out", str(tmp_path / "o")])
    assert result.exit_code == 2, result.output
    assert "tiers.csv" in result.output and "tier 'tin'" in result.output and "(0, 0.5)" in result.output
    assert "Traceback" not in result.output and not (tmp_path / "o").exists()


def test_a_malformed_cbp_file_is_named_with_its_line(tmp_path):
    p = tmp_path / "broken.cbp"
    p.write_text("g 72 2 0.9\n1.2816\n1.0 2.0\n1.0 x\n")
    result = runner.invoke(app, ["pack", "--cbp", str(p), "--out", str(tmp_path / "o")])
    assert result.exit_code == 2 and "broken.cbp" in result.output and "line 4" in result.output
    assert not (tmp_path / "o").exists()
