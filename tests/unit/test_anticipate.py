"""planner.anticipate: analog shape × scale × ramp, success mixture, learnt probability, errors."""

import numpy as np
import pandas as pd
import pytest

from forecast_fixtures import synthetic_demand
from planner import columns as C
from planner.anticipate import AnticipatedService, anticipate_services
from planner.errors import ScenarioError
from planner.forecast import forecast_demand


@pytest.fixture(scope="module")
def history():
    demand = synthetic_demand(n_groups=2, weeks=4)
    return demand, forecast_demand(demand, 168, models=["seasonal_naive"])


def _rows(fc, uid, resource=C.CPU_CORES):
    return fc[(fc[C.UNIQUE_ID] == uid) & (fc[C.RESOURCE] == resource)].sort_values(C.DS).reset_index(drop=True)


def test_known_analog_gives_its_weekly_shape_scaled(history):
    demand, fc = history
    start = fc[C.DS].min()
    svc = AnticipatedService("new", "acme", ("g1",), launch_ds=start - pd.Timedelta("30D"), scale=2.0,
                             ramp_weeks=1, success_probability=1.0)
    out = anticipate_services(fc, demand, [svc], case="success")
    new, analog = _rows(out, "new"), _rows(fc, "g1")
    assert list(out.columns) == [C.UNIQUE_ID, C.DS, C.RESOURCE, C.MEAN, *C.QUANTILES]
    assert np.allclose(new[C.MEAN], 2.0 * analog[C.MEAN]) and np.allclose(new["q99"], 2.0 * analog["q99"])
    assert np.corrcoef(new[C.MEAN], analog[C.MEAN])[0, 1] > 0.999


def test_ramp_starts_at_launch(history):
    demand, fc = history
    start = fc[C.DS].min()
    svc = AnticipatedService("new", "acme", ["g0"], launch_ds=start + pd.Timedelta("2D"), ramp_weeks=0.5,
                             success_probability=1.0, peak={C.CPU_CORES: 10.0})
    new = _rows(anticipate_services(fc, demand, [svc]), "new")
    before = new[C.DS] < start + pd.Timedelta("2D")
    assert (new.loc[before, list(C.QUANTILES)].to_numpy() == 0).all()
    assert new[C.MEAN].max() <= 10.0 + 1e-9 and new[C.MEAN].iloc[-24:].mean() > 0  # peak = historic max


def test_success_probability_mixes_expected_demand(history):
    demand, fc = history
    kw = dict(customer="acme", analogs=("g0",), launch_ds="2020-01-01", success_probability=0.3, fizzle=0.1)
    exp = _rows(anticipate_services(fc, demand, [AnticipatedService("n", **kw)], case="expected"), "n")
    suc = _rows(anticipate_services(fc, demand, [AnticipatedService("n", **kw)], case="success"), "n")
    assert np.allclose(exp[C.MEAN], (0.3 + 0.7 * 0.1) * suc[C.MEAN])
    assert (exp["q99"] <= suc["q99"] + 1e-9).all() and (exp["q50"] < suc["q50"]).all()
    assert (np.diff(exp[list(C.QUANTILES)].to_numpy(), axis=1) >= -1e-9).all()


def test_probability_learnt_from_launches(history):
    demand, fc = history
    rng = np.random.default_rng(0)
    n = 300
    launches = pd.DataFrame({"marketing_push": rng.random(n) < 0.5, "customer_log_volume": rng.normal(3, 1, n)})
    launches["took_off"] = rng.random(n) < 1 / (1 + np.exp(-(-1 + 2 * launches["marketing_push"])))
    svcs = [AnticipatedService(f"s{m}", "acme", ("g0",), "2020-01-01", features={"marketing_push": m, "customer_log_volume": 3.0})
            for m in (True, False)]
    out = anticipate_services(fc, demand, svcs, launches)
    assert _rows(out, "sTrue")[C.MEAN].sum() > _rows(out, "sFalse")[C.MEAN].sum()


def test_errors(history):
    demand, fc = history
    with pytest.raises(ScenarioError, match="analog group"):
        anticipate_services(fc, demand, [AnticipatedService("x", "c", ("ghost",), "2026-01-01", success_probability=1)])
    with pytest.raises(ScenarioError, match="no launches"):
        anticipate_services(fc, demand, [AnticipatedService("x", "c", ("g0",), "2026-01-01")])
    with pytest.raises(ScenarioError, match="success_probability"):
        AnticipatedService("x", "c", ("g0",), "2026-01-01", success_probability=1.5)
    with pytest.raises(ScenarioError, match="already"):
        anticipate_services(fc, demand, [AnticipatedService("g1", "c", ("g0",), "2026-01-01", success_probability=1)])


def test_few_launches_use_the_base_rate_and_missing_features_are_typical(history):
    demand, fc = history
    few = pd.DataFrame({"marketing_push": [True, False, True], "customer_log_volume": [1.0, 2.0, 3.0],
                        "primary_trigger": ["http"] * 3, "took_off": [True, False, False]})
    svc = AnticipatedService("n", "c", ("g0",), "2020-01-01", features={"marketing_push": True})
    with pytest.warns(UserWarning, match="base rate 0.40"):
        out = anticipate_services(fc, demand, [svc], few)
    assert len(out) == 2 * 168
    from planner.anticipate import success_probabilities

    rng = np.random.default_rng(1)
    many = pd.DataFrame({"marketing_push": rng.random(200) < 0.5, "customer_log_volume": rng.normal(3, 1, 200),
                         "primary_trigger": rng.choice(["http", "timer"], 200)})
    many["took_off"] = rng.random(200) < np.where(many["marketing_push"], 0.8, 0.2)
    p = success_probabilities([AnticipatedService("a", "c", ("g0",), "2020-01-01", features={"marketing_push": True}),
                               AnticipatedService("b", "c", ("g0",), "2020-01-01", features={"marketing_push": False})], many)
    assert p["a"] > 0.6 > 0.35 > p["b"]


def _effects(category, weekend=1.0, months=None):
    rows = [{"category": category, "effect": "weekday", "level": d, "factor": weekend if d >= 5 else 1.0} for d in range(7)]
    rows += [{"category": category, "effect": "month", "level": m, "factor": (months or {}).get(m, 1.0)} for m in range(1, 13)]
    return pd.DataFrame(rows)


def test_a_category_brings_its_weekday_and_month_pattern(history):
    demand, fc = history
    start = fc[C.DS].min()
    effects = {"trigger": pd.concat([_effects("http", weekend=0.5), _effects("queue")])}
    analogs = pd.concat([_effects("g1"), _effects("g0")])
    base = AnticipatedService("new", "acme", ("g1",), launch_ds=start - pd.Timedelta("30D"), ramp_weeks=1,
                              success_probability=1.0)
    plain = _rows(anticipate_services(fc, demand, [base], case="success"), "new")
    http = AnticipatedService(**{**base.__dict__, "category": ("trigger", "http")})
    shaped = _rows(anticipate_services(fc, demand, [http], case="success", effects=effects, analog_effects=analogs), "new")
    weekend = shaped[C.DS].dt.day_of_week >= 5
    assert np.allclose(shaped.loc[weekend, C.MEAN], 0.5 * plain.loc[weekend, C.MEAN])
    assert np.allclose(shaped.loc[~weekend, C.MEAN], plain.loc[~weekend, C.MEAN])
    with pytest.raises(ScenarioError, match="no history"):
        anticipate_services(fc, demand, [AnticipatedService(**{**base.__dict__, "category": ("trigger", "cron")})],
                            case="success", effects=effects)
    with pytest.raises(ScenarioError, match="no weekday/month effects"):
        anticipate_services(fc, demand, [http], case="success")


def test_launching_before_the_category_peak_needs_more_than_before_its_trough():
    """Same service, launched into its category's busy month or into its quiet month."""
    demand = synthetic_demand(n_groups=1, weeks=4, start="2026-11-30")
    fc = forecast_demand(demand, 13 * 168, models=["seasonal_naive"])  # Dec 28 to Mar 29
    effects = {"trigger": _effects("queue", months={1: 1.3, 3: 0.7})}
    launches = {"peak": "2027-01-04", "trough": "2027-03-01"}
    need = {}
    for name, when in launches.items():
        svc = AnticipatedService(name, "acme", ("g0",), launch_ds=when, ramp_weeks=0, success_probability=1.0,
                                 category=("trigger", "queue"))
        rows = _rows(anticipate_services(fc, demand, [svc], case="success", effects=effects), name)
        first_month = rows[(rows[C.DS] >= pd.Timestamp(when)) & (rows[C.DS] < pd.Timestamp(when) + pd.Timedelta("28D"))]
        need[name] = first_month[C.MEAN].mean()
    assert need["peak"] == pytest.approx(need["trough"] * 1.3 / 0.7, rel=0.02)


def test_category_effects_recover_planted_patterns():
    from planner.anticipate import category_effects
    from planner.telemetry import Telemetry

    rng = np.random.default_rng(0)
    index = pd.date_range("2025-01-06", periods=2 * 364 * 24, freq="h")
    day = index.normalize()
    weekend = np.asarray(day.day_of_week >= 5)
    summer = np.asarray(day.month.isin([6, 7, 8]))
    counts = np.column_stack([
        rng.poisson(20 * np.where(weekend, 0.5, 1.0)),  # http: office hours
        rng.poisson(20 * np.where(summer, 1.5, 1.0)),  # storage: a summer season
        np.r_[np.zeros(len(index) // 2), rng.poisson(200, len(index) - len(index) // 2)],  # a launch inside the history
    ]).astype(np.float32)
    ids = pd.Index(["f0", "f1", "f2"])
    tel = Telemetry(pd.DatetimeIndex(index, freq="h"), ids, counts)
    catalog = pd.DataFrame({C.UNIQUE_ID: ids, "trigger": ["http", "storage", "storage"]})
    eff = category_effects(tel, catalog, "trigger")
    wd = eff[eff.effect == "weekday"].pivot(index="level", columns="category", values="factor")
    mo = eff[eff.effect == "month"].pivot(index="level", columns="category", values="factor")
    assert wd.loc[6, "http"] / wd.loc[2, "http"] == pytest.approx(0.5, rel=0.05)
    assert mo.loc[7, "storage"] / mo.loc[3, "storage"] == pytest.approx(1.5, rel=0.05)  # the launch is not its season
    assert wd.loc[6, "storage"] / wd.loc[2, "storage"] == pytest.approx(1.0, abs=0.05)
    with pytest.raises(ScenarioError, match="not a catalog column"):
        category_effects(tel, catalog, "runtime")
