"""Fair risk (issue 17 item 3): the indices and the QoS table's fairness columns."""

import numpy as np
import pandas as pd
import pytest

from planner.fairness import add_fairness, fairness_summary, jain_index, max_over_mean, risk_rates


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
