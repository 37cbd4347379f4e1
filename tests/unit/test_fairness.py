"""Fair risk (issue 17 item 3): the indices and the QoS table's fairness columns."""

import numpy as np
import pandas as pd
import pytest

from planner.fairness import (RATE_FLOOR, add_fairness, customers_above, fairness_summary, jain_index, max_over_mean,
                              risk_rates)


def test_jain_and_max_over_mean():
    assert jain_index([1, 1, 1, 1]) == pytest.approx(1.0)
    assert jain_index([1, 0, 0, 0]) == pytest.approx(0.25)  # one of four carries everything: 1/n
    assert jain_index([1, 2, 3]) == pytest.approx(36 / (3 * 14))
    assert max_over_mean([1, 2, 3]) == pytest.approx(1.5)
    assert jain_index([0, 0]) == 1.0 and max_over_mean([0, 0]) == 1.0  # nobody carries risk
    assert jain_index([]) == 1.0 and max_over_mean([np.nan, 2.0]) == 1.0


def test_risk_rate_is_risk_over_exposure():
    risk = pd.Series({"a": 2.0, "b": 1.0, "c": 0.0})
    exposure = pd.Series({"a": 100.0, "b": 10.0, "c": 0.0})
    rates = risk_rates(risk, exposure)
    assert rates["a"] == pytest.approx(0.02) and rates["b"] == pytest.approx(0.1) and np.isnan(rates["c"])


def test_qos_fairness_columns_per_tier():
    qos = pd.DataFrame({"customer": ["a", "b", "c", "d"], "tier": ["gold", "gold", "gold", "bronze"],
                        "risk": [1.0, 1.0, 4.0, 0.5], "cold_start_rate": [0.1, 0.1, 0.1, 0.3]})
    exposure = pd.Series({"a": 10.0, "b": 10.0, "c": 10.0, "d": 5.0})
    out = add_fairness(qos, exposure)
    gold = out[out["tier"] == "gold"]
    assert gold["risk_rate"].tolist() == pytest.approx([0.1, 0.1, 0.4])
    assert gold["fairness_risk_max_over_mean"].unique() == pytest.approx([0.4 / 0.2])
    assert gold["fairness_risk_jain"].unique() == pytest.approx([0.36 / (3 * 0.18)])
    assert gold["fairness_cold_start_jain"].unique() == pytest.approx([1.0])
    bronze = out[out["tier"] == "bronze"].iloc[0]
    assert bronze["fairness_risk_max_over_mean"] == 1.0 and bronze["fairness_risk_jain"] == 1.0
    summary = fairness_summary(out)
    assert summary["gold"]["max_over_mean"] == pytest.approx(2.0) and summary["gold"]["customers"] == 3
    # Without keep-alive figures there are no cold-start columns.
    assert "fairness_cold_start_jain" not in add_fairness(qos.drop(columns="cold_start_rate"), exposure)


def test_the_bound_keeps_its_best_round_not_its_last():
    """Each round repacks with a heuristic, so a later round can be worse: the best one is kept."""
    from types import SimpleNamespace

    import pandas as pd

    from planner.fairness import bound_risk_ratio

    groups = pd.DataFrame({"group_id": ["g1", "g2"], "customer": ["c1", "c2"], "tier": ["standard"] * 2})
    tiers = {"standard": SimpleNamespace(headroom=0.1)}
    ratio_of_round = [5.0, 2.5, 3.5, 4.0]  # round 1 is the best (still above k = 2)
    packs = []

    def pack(packing_groups):
        packs.append(packing_groups["headroom"].tolist())
        return [SimpleNamespace(n=len(packs), result=SimpleNamespace(objective=100.0 * len(packs)))], "notes"

    def measure(ws):
        r = ratio_of_round[ws[0].n]
        return {"standard": r}, (["c1"] if r > 2.0 else [])

    first = [SimpleNamespace(n=0, result=SimpleNamespace(objective=0.0))]
    weeks, notes, report = bound_risk_ratio(pack, first, groups, tiers, {"standard": 2.0}, {}, max_rounds=3,
                                            measure=measure)
    assert [r["max_over_mean"]["standard"] for r in report["rounds"]] == ratio_of_round
    assert weeks[0].n == 1 and report["kept_round"] == 1 and notes == "notes"
    assert report["max_over_mean_after"] == {"standard": 2.5} and report["holds"] == {"standard": False}
    assert report["headroom_raised"] == {"c1": 0.15}  # the kept round's headroom, not the last one's (0.25)
    assert report["cost_per_month_sum_after"] == 100.0
    assert packs[0] == pytest.approx([0.15, 0.1])
    # Why it does not hold, per tier: who is above in the kept round and what stopped the rounds.
    assert set(report["not_held"]) == {"standard"}
    assert "1 customer(s) above 2 x" in report["not_held"]["standard"]
    assert "round limit (3)" in report["not_held"]["standard"]


def test_a_floor_level_rate_set_is_fair():
    """Rates of 1e-12..5e-7 (Gaussian tails on a sized fleet) differ by orders of magnitude, but
    below RATE_FLOOR they are noise: max / mean 1, nobody above a bound, Jain 1."""
    tier_of = pd.Series({"a": "standard", "b": "standard", "c": "standard", "d": "economy", "e": "economy"})
    noise = pd.Series({"a": 1e-12, "b": 8e-9, "c": 5e-7, "d": 1e-10, "e": np.nan})
    assert max_over_mean(noise[["a", "b", "c"]]) > 2.9  # without the floor: "unfair"
    ratio, above = customers_above(noise, tier_of, {"standard": 1.0, "economy": 1.0})
    assert ratio == {"standard": 1.0, "economy": 1.0} and above == []
    assert jain_index(noise[["a", "b", "c"]], RATE_FLOOR) == pytest.approx(1.0)
    # One customer at a real rate among floor-level ones is above: the floor equalises noise only.
    real = noise.copy()
    real["c"] = 1e-3
    ratio, above = customers_above(real, tier_of, {"standard": 2.0})
    assert above == ["c"] and ratio["standard"] == pytest.approx(1e-3 / ((2e-6 + 1e-3) / 3))
    # In the QoS table the risk and breach figures use the floor; a zero breach everywhere is fair.
    qos = pd.DataFrame({"customer": ["a", "b", "c"], "tier": "standard", "risk": [1e-11, 8e-8, 5e-6]})
    exposure = pd.Series({"a": 10.0, "b": 10.0, "c": 10.0})
    out = add_fairness(qos, exposure, pd.Series({"a": 0.0, "b": 0.0, "c": 0.0}))
    assert out["fairness_risk_max_over_mean"].unique() == pytest.approx([1.0])
    assert out["fairness_breach_max_over_mean"].unique() == pytest.approx([1.0])
    assert out["headroom_breach_rate"].tolist() == [0.0, 0.0, 0.0]


def test_breach_rates_above_the_floor_are_compared():
    qos = pd.DataFrame({"customer": ["a", "b", "c"], "tier": "standard", "risk": [0.0, 0.0, 0.0]})
    exposure = pd.Series({"a": 10.0, "b": 10.0, "c": 20.0})
    out = add_fairness(qos, exposure, pd.Series({"a": 0.01, "b": 0.03, "c": 0.04}))
    assert out["headroom_breach_rate"].tolist() == pytest.approx([0.001, 0.003, 0.002])
    assert out["fairness_breach_max_over_mean"].unique() == pytest.approx([0.003 / 0.002])
    block = fairness_summary(out)["standard"]
    assert block["breach_max_over_mean"] == pytest.approx(1.5) and block["breach_rate_max"] == pytest.approx(0.003)
    assert block["max_over_mean"] == 1.0  # every physical risk rate is 0


def test_a_bound_stopped_at_the_headroom_ceiling_says_so():
    """A customer already at the ceiling cannot be raised: no repacking, and ``not_held`` names it."""
    from types import SimpleNamespace

    from planner.fairness import bound_risk_ratio

    groups = pd.DataFrame({"group_id": ["g1", "g2"], "customer": ["c1", "c2"], "tier": ["economy"] * 2})
    tiers = {"economy": SimpleNamespace(headroom=0.88)}
    packs = []

    def pack(packing_groups):
        packs.append(packing_groups)
        raise AssertionError("nothing can be raised, so nothing is repacked")

    first = [SimpleNamespace(result=SimpleNamespace(objective=10.0))]
    weeks, notes, report = bound_risk_ratio(pack, first, groups, tiers, {"economy": 1.5}, {},
                                            measure=lambda ws: ({"economy": 1.8}, ["c1"]))
    assert weeks is first and notes is None and not packs and report["kept_round"] == 0
    assert report["holds"] == {"economy": False} and report["headroom_raised"] == {}
    why = report["not_held"]["economy"]
    assert "c1 at the headroom ceiling 0.9" in why and "could be raised" in why
