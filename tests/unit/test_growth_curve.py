"""Growth in a scenario: a number, one factor per week, or a curve over the weeks of the horizon."""

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from planner import columns as C
from planner.errors import ScenarioError
from planner.pipeline import adjust_forecast
from planner.scenarios import Scenario, growth_curve, load_scenario


def test_growth_curve_forms():
    weeks = np.arange(6)
    assert (growth_curve(1.2, weeks) == 1.2).all()
    assert list(growth_curve([1.0, 1.1, 1.3], weeks)) == [1.0, 1.1, 1.3, 1.3, 1.3, 1.3]
    assert np.allclose(growth_curve({0: 1.0, 4: 1.4}, weeks), [1.0, 1.1, 1.2, 1.3, 1.4, 1.4])
    assert np.allclose(growth_curve({2: 2.0}, weeks), 2.0)


@pytest.mark.parametrize("growth,match", [
    ({"global": {0: 1.0, 4: -1.0}}, "> 0"),
    ({"global": []}, "> 0"),
    ({"customers": {"acme": [1.0, 0.0]}}, "> 0"),
    ({"groups": {"g0": {-1: 1.2}}}, "weeks must be >= 0"),
])
def test_bad_growth_is_refused_naming_the_field(tmp_path, growth, match):
    import yaml

    p = tmp_path / "s.yaml"
    p.write_text(yaml.safe_dump({"growth": growth}))
    with pytest.raises(ScenarioError, match=match):
        load_scenario(p)


def test_adjust_forecast_applies_a_curve_per_week():
    start = pd.Timestamp("2027-01-04")
    ds = pd.date_range(start, periods=3 * 168, freq="h")
    fc = pd.concat([pd.DataFrame({C.UNIQUE_ID: g, C.DS: ds, C.RESOURCE: C.CPU_CORES, C.MEAN: 10.0,
                                  **{q: 10.0 for q in C.QUANTILES}}) for g in ("g0", "g1")], ignore_index=True)
    groups = pd.DataFrame({C.GROUP_ID: ["g0", "g1"], C.CUSTOMER: ["acme", "beta"], "n_functions": 1, "tier": "standard"})
    history = SimpleNamespace(groups=groups, demand=None, end=start)
    sc = Scenario.model_validate({"growth": {"global": {0: 1.0, 2: 1.2}, "customers": {"acme": [1.0, 2.0]}}})
    out, _ = adjust_forecast(sc, history, fc)
    weekly = out.assign(week=(out[C.DS] - start) // pd.Timedelta("7D")).groupby([C.UNIQUE_ID, "week"])["q99"].mean()
    assert np.allclose(weekly["g1"], [10.0, 11.0, 12.0])  # the global curve
    assert np.allclose(weekly["g0"], [10.0, 22.0, 24.0])  # times acme's own weekly factors


def test_unknown_names_are_refused_before_the_forecast(tmp_path, monkeypatch):
    import yaml

    import planner.forecast
    from planner.pipeline import run_plan

    def no_forecast(*a, **k):
        raise AssertionError("the forecast started before the names were checked")

    monkeypatch.setattr(planner.forecast, "ForecastRun", no_forecast)
    base = {"data": {"format": "synthetic", "synthetic": {"functions": 12, "days": 21, "seed": 3}},
            "horizon": {"weeks": 2}, "inventory": [], "anticipated": [], "retired": []}
    for extra, match in [({"growth": {"customers": {"nobody": 1.2}}}, r"s\.yaml: growth\.customers .*'nobody'"),
                         ({"growth": {"groups": {"app99999": 1.2}}}, r"s\.yaml: group 'app99999' \(growth"),
                         ({"retired": [{"group": "gone", "from": "2027-01-04"}]}, "group 'gone'")]:
        p = tmp_path / "s.yaml"
        p.write_text(yaml.safe_dump({**base, **extra}))
        with pytest.raises(ScenarioError, match=match):
            run_plan(load_scenario(p))


def test_growth_may_name_an_anticipated_services_customer():
    from planner.pipeline import check_names

    groups = pd.DataFrame({C.GROUP_ID: ["g0"], C.CUSTOMER: ["acme"]})
    sc = Scenario.model_validate({"growth": {"customers": {"newco": 1.5}, "groups": {"svc": 1.1}},
                                  "anticipated": [{"name": "svc", "customer": "newco", "analogs": ["g0"],
                                                   "launch": "2027-01-18"}]})
    check_names(sc, groups)  # neither raises: both come with the anticipated service
    with pytest.raises(ScenarioError, match=r"unknown customer\(s\) \['newco'\]"):
        check_names(Scenario.model_validate({"growth": {"customers": {"newco": 1.5}}}), groups)
