"""What `planner backtest` prints: the forecast fallbacks the report warns about, and group lists
as names (not a Python list)."""

from pathlib import Path

import pandas as pd

from planner.commands.backtest import print_backtest

BY_TIER = pd.DataFrame(columns=["origin", "plan", "tier", "slot_hours", "overflow_hours", "overflow_share", "target",
                                "worst", "cpu_utilisation", "within_target"])


def _summary(fallbacks):
    origin = {"origin": "2026-01-19 00:00:00", "cost": 254.0, "hindsight_cost": 254.0, "peak_cost": 254.0,
              "peak_hindsight_cost": 254.0, "cost_vs_hindsight": 1.0, "peak_cost_vs_hindsight": 1.0,
              "peak_vs_hindsight": 1.0, "unplanned_groups": [], "planned_groups_without_actuals": ["app00012", "app00013"],
              "forecast_fallbacks": {"series": 46, "fallbacks": fallbacks, "share": fallbacks / 46,
                                     "reasons": {"history too short for a full-horizon backtest": fallbacks}
                                     if fallbacks else {}}}
    return {"scenario": "s", "overflow_within_target": True, "peak_overflow_within_target": True, **origin}


def test_backtest_terminal_says_the_forecast_fell_back(capsys):
    print_backtest(_summary(6), BY_TIER, Path("bt"))
    text = " ".join(capsys.readouterr().out.split())
    assert ("warning: forecast fell back for 6 of 46 series (13.0%): history too short for a full-horizon "
            "backtest ×6") in text
    assert "planned groups with no actual demand: app00012, app00013" in text


def test_backtest_terminal_quiet_without_fallbacks(capsys):
    print_backtest(_summary(0), BY_TIER, Path("bt"))
    assert "fell back" not in capsys.readouterr().out


def test_backtest_terminal_gives_the_peak_load_as_a_percentage(capsys):
    """``worst`` (load / capacity) was printed as 0.73 between columns of percentages."""
    row = pd.DataFrame([{"origin": "2026-01-19", "plan": "shape", "tier": "standard", "slot_hours": 168,
                         "overflow_hours": 0, "overflow_share": 0.0, "target": 0.01, "worst": 0.734,
                         "cpu_utilisation": 0.41, "within_target": True}])
    print_backtest(_summary(0), row, Path("bt"))
    text = capsys.readouterr().out
    assert "peak" in text and "73%" in text and "0.73" not in text
