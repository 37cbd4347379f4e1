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
