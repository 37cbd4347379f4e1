"""The what-if Comparison sheet: a difference of a solver's rounding is no change (it read
'-0.0%'), a real one is kept; the cost chart names its axes."""

import pandas as pd

from planner.export.tables import comparison_frame, default_charts


def _comparison():
    return pd.DataFrame({"scenario": ["base", "cheaper", "tighter"], "total_cost": [6600.0, 6600.000000000001, 9900.0],
                         "cpu_utilisation": [0.03774580238417946, 0.03774580236530657, 0.025163868264507606]})


def test_rounding_noise_is_no_change_and_real_changes_stay():
    out = comparison_frame(_comparison())
    assert out.loc[1, "delta_cpu_utilisation"] == 0.0
    assert out.loc[1, "delta_total_cost"] == 0.0
    assert out.loc[2, "delta_cpu_utilisation"] == 0.025163868264507606 - 0.03774580238417946
    assert out.loc[2, "delta_total_cost"] == 3300.0 and out.loc[2, "delta_total_cost_pct"] == 0.5


def test_cost_chart_names_both_axes():
    [chart] = default_charts({"Comparison": comparison_frame(_comparison())})
    assert chart.x_title == "scenario" and chart.y_title == "total cost [currency]"
