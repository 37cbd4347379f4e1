"""QoS tiers with a risk target (overflow_risk) or a stacked quantile: scenario fields, the Tiers
table and their bad-input messages (issue 14)."""

import pandas as pd
import pytest

from planner.errors import InputDataError, ScenarioError
from planner.plan import tiers_of
from planner.qos import DEFAULT_TIERS, Tier, tiers_frame, tiers_from_frame
from planner.scenarios import load_scenario


def write(tmp_path, text):
    p = tmp_path / "s.yaml"
    p.write_text(text)
    return p


def test_default_tiers_are_pooled_risk_targets():
    assert {n: (t.method, t.overflow_risk) for n, t in DEFAULT_TIERS.items()} == {
        "premium": ("gaussian", 0.001), "standard": ("gaussian", 0.01), "economy": ("gaussian", 0.05),
        "dedicated": ("gaussian", 0.001)}
    assert all(t.pooled and t.quantile is None for t in DEFAULT_TIERS.values())


def test_scenario_tiers_take_overflow_risk_method_and_the_stacked_quantile(tmp_path):
    s = load_scenario(write(tmp_path, "tiers:\n  standard: {quantile: q95}\n"
                                      "  gold: {overflow_risk: 0.02, method: cantelli, headroom: 0.15}\n"
                                      "  legacy: {quantile: q99, method: stacked}\n"))
    tiers = tiers_of(s)
    assert (tiers["standard"].method, tiers["standard"].quantile, tiers["standard"].overflow_risk) == ("stacked", "q95", None)
    assert (tiers["gold"].method, tiers["gold"].target, tiers["gold"].headroom) == ("cantelli", 0.02, 0.15)
    assert tiers["legacy"].target == pytest.approx(0.01) and not tiers["legacy"].pooled
    assert tiers["premium"].overflow_risk == 0.001  # untouched defaults stay


@pytest.mark.parametrize("text,match", [
    ("tiers: {premium: {overflow_risk: 0.5}}\n", r"tiers\.premium\.overflow_risk: Input should be less than 0.5"),
    ("tiers: {premium: {overflow_risk: 0}}\n", r"tiers\.premium\.overflow_risk: Input should be greater than 0"),
    ("tiers: {premium: {overflow_risk: 0.01, quantile: q95}}\n",
     r"tiers\.premium: .*quantile q95 \(a 0.05 risk\) and overflow_risk 0.01 disagree"),
    ("tiers: {gold: {method: gaussian}}\n", r"tiers\.gold: .*method gaussian needs overflow_risk"),
    ("tiers: {gold: {overflow_risk: 0.01, method: lognormal}}\n", r"tiers\.gold\.method"),
])
def test_bad_tiers_name_the_field(tmp_path, text, match):
    with pytest.raises(ScenarioError, match=match):
        load_scenario(write(tmp_path, text))


def test_a_quantile_and_a_risk_of_the_same_level_agree():
    t = Tier("x", "q99", overflow_risk=0.01)
    assert t.pooled and t.target == 0.01


def test_tiers_table_round_trip_and_bad_rows(tmp_path):
    frame = tiers_frame()
    assert list(frame.columns) == ["name", "overflow_risk", "method", "quantile", "headroom", "spread", "isolated"]
    assert tiers_from_frame(frame) == DEFAULT_TIERS
    old = pd.DataFrame({"name": ["a"], "quantile": ["q95"], "headroom": [0.1]})  # the old table still reads
    assert tiers_from_frame(old)["a"].method == "stacked"
    bad = pd.DataFrame({"name": ["a", "b"], "overflow_risk": [0.01, 0.9], "headroom": [0.1, 0.1]})
    with pytest.raises(InputDataError, match=r"row 3: tier 'b': overflow_risk 0.9 must be in \(0, 0.5\)"):
        tiers_from_frame(bad)
    with pytest.raises(InputDataError, match="quantile or overflow_risk"):
        tiers_from_frame(pd.DataFrame({"name": ["a"], "headroom": [0.1]}))
