"""report.html shows a small probability beside its target: the premium tier's predicted 0.047 %
overflow against 0.1 % printed as "0.0%" on the default run."""

import pandas as pd

from planner.export.report import _fmt, _table


def test_small_percentages_keep_two_significant_digits():
    assert _fmt(0.000466, "%") == ("0.047%", True)
    assert _fmt(0.001, "%") == ("0.1%", True)
    assert _fmt(0.0055, "%") == ("0.55%", True)
    assert _fmt(0.2518, "%") == ("25.2%", True)
    assert _fmt(0.0, "%") == ("0.0%", True)
    assert _fmt(-0.087, "%") == ("-8.7%", True)


def test_risk_row_shows_the_prediction_beside_the_target():
    risk = pd.DataFrame({"tier": ["premium"], "target": [0.001], "predicted_overflow_probability": [0.000466]})
    html = _table(risk)
    assert "<td class=\"num\">0.1%</td>" in html and "<td class=\"num\">0.047%</td>" in html
