"""The forecast-fallback line reads the same on the terminal, the Summary page and report.html: one
helper (planner.export.review.fallback_text) words the count, the share and each reason ×N."""

import pandas as pd

from planner.export.review import warnings_of

FB = {"series": 232, "fallbacks": 3, "share": 3 / 232,
      "reasons": {"history too short for a full-horizon backtest": 2, "constant series": 1}, "launch_ramp": 0}


def _plan():
    return pd.DataFrame({"week": [0], "pool": "p", "server_type": "a", "required": [1], "installed": [1],
                         "purchased": [0], "cost": [1.0], "cpu_utilisation": 0.5, "memory_utilisation": 0.5,
                         "headroom": 0.2, "risk": 0.0})


def test_summary_page_says_the_terminal_fallback_words():
    from planner.commands.run import fallback_text as terminal_text
    from planner.export.review import fallback_text

    words = fallback_text(FB)
    assert words == ("3 of 232 series (1.3%): history too short for a full-horizon backtest ×2, "
                     "constant series ×1")
    assert terminal_text(FB) == words
    page = [w for w in warnings_of(_plan(), {"forecast_fallbacks": FB}) if w.startswith("forecast:")]
    assert page == [f"forecast: fell back to a simple model for {words}"]


def test_no_fallback_no_summary_warning():
    fb = {**FB, "fallbacks": 0, "share": 0.0, "reasons": {}}
    assert not [w for w in warnings_of(_plan(), {"forecast_fallbacks": fb}) if w.startswith("forecast:")]
