"""Launch ramp, success Logit, weekday/month GLM and mixture quantiles."""

import numpy as np
import pandas as pd
import pytest

from models.forecasting.launches import LaunchSuccessModel, launch_ramp, mixture_quantiles, weekday_month_effects


def synthetic_launches(n=400, seed=0):
    """Launches whose success depends on marketing (+1.5) and customer volume (+0.8 per decade)."""
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({
        "group_id": [f"new{i}" for i in range(n)],
        "marketing_push": rng.random(n) < 0.4,
        "customer_log_volume": rng.normal(3, 1, n),
        "n_functions": rng.integers(1, 10, n),
        "primary_trigger": rng.choice(["http", "timer", "queue"], n),
    })
    z = -2.0 + 1.5 * df["marketing_push"] + 0.8 * (df["customer_log_volume"] - 2)
    df["took_off"] = rng.random(n) < 1 / (1 + np.exp(-z))
    return df


def test_logit_recovers_the_sign_and_size_of_known_effects():
    m = LaunchSuccessModel().fit(synthetic_launches())
    assert m.params_["marketing_push"] > 0.8 and m.params_["customer_log_volume"] > 0.4
    assert abs(m.params_["n_functions"]) < 0.2  # no effect in the simulation
    p = m.predict_proba(pd.DataFrame({"marketing_push": [True, False], "customer_log_volume": [3.0, 3.0],
                                      "n_functions": [3, 3], "primary_trigger": ["http", "http"]}))
    assert p[0] > p[1] and ((0 < p) & (p < 1)).all()


def test_logit_needs_both_outcomes_and_survives_separation():
    df = synthetic_launches(50)
    with pytest.raises(ValueError, match="both outcomes"):
        LaunchSuccessModel().fit(df.assign(took_off=True))
    sep = df.assign(took_off=df["marketing_push"])  # perfectly separated
    m = LaunchSuccessModel().fit(sep)
    assert m.params_["marketing_push"] > 0


def test_weekday_month_glm_finds_the_weekend_category():
    rng = np.random.default_rng(3)
    ds = pd.date_range("2024-01-01", periods=730, freq="D")
    weekend = (ds.day_of_week >= 5).astype(float)
    frames = [
        pd.DataFrame({"category": "games", "ds": ds, "y": rng.poisson(100 * np.exp(0.7 * weekend))}),
        pd.DataFrame({"category": "office", "ds": ds, "y": rng.poisson(100 * np.exp(-0.7 * weekend + 0.3 * (ds.month == 12)))}),
    ]
    eff = weekday_month_effects(pd.concat(frames))
    wd = eff[eff.effect == "weekday"].pivot(index="level", columns="category", values="factor")
    assert wd.loc[6, "games"] / wd.loc[2, "games"] == pytest.approx(np.exp(0.7), rel=0.1)
    assert wd.loc[6, "office"] < wd.loc[2, "office"]
    mo = eff[(eff.effect == "month") & (eff.category == "office")].set_index("level")["factor"]
    assert mo[12] > mo[6]


def test_ramp():
    ds = pd.date_range("2026-01-01", periods=5, freq="7D")
    assert launch_ramp(ds, "2026-01-08", 2).tolist() == [0, 0, 0.5, 1, 1]
    assert launch_ramp(ds, "2026-01-08", 0).tolist() == [0, 1, 1, 1, 1]


def test_mixture_quantiles():
    q = np.array([[10.0, 14, 16, 20]])
    levels = (0.5, 0.9, 0.95, 0.99)
    assert np.allclose(mixture_quantiles(q, levels, 1.0, 0.2), q)
    assert np.allclose(mixture_quantiles(q, levels, 0.0, 0.5), q * 0.5)
    mix = mixture_quantiles(q, levels, 0.4, 0.0)
    assert mix[0, 0] == pytest.approx(0.0, abs=1e-9)  # 60% of the mass at zero: the median is 0
    assert mix[0, 3] <= q[0, 3] and mix[0, 2] > 0 and (np.diff(mix[0]) >= 0).all()


def test_weekday_month_glm_with_growth_recovers_planted_effects():
    """Two years of a growing category with a planted weekend dip and a December peak: the GLM with
    its growth term finds both, where the plain GLM reads part of the growth as late-year season."""
    rng = np.random.default_rng(11)
    ds = pd.date_range("2024-01-01", periods=730, freq="D")
    years = np.arange(len(ds)) / 365.25
    month_effect = {m: 0.0 for m in range(1, 13)} | {12: 0.4, 7: -0.3}
    log_mu = np.log(500) + np.log(1.5) * years - 0.5 * (ds.day_of_week >= 5) + np.array([month_effect[m] for m in ds.month])
    daily = pd.DataFrame({"category": "shop", "ds": ds, "y": rng.poisson(np.exp(log_mu))})
    eff = weekday_month_effects(daily, trend=True)
    wd = eff[eff.effect == "weekday"].set_index("level")["factor"]
    mo = eff[eff.effect == "month"].set_index("level")["factor"]
    assert wd[6] / wd[2] == pytest.approx(np.exp(-0.5), rel=0.05)
    assert mo[12] / mo[3] == pytest.approx(np.exp(0.4), rel=0.05)
    assert mo[7] / mo[3] == pytest.approx(np.exp(-0.3), rel=0.05)
    plain = weekday_month_effects(daily).query("effect == 'month'").set_index("level")["factor"]
    assert abs(np.log(plain[12] / plain[3]) - 0.4) > abs(np.log(mo[12] / mo[3]) - 0.4)
