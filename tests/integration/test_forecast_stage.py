"""The forecast stage of `planner run`: which history it fits on, and fallbacks counted and shown."""

import pandas as pd
import pytest

from planner.history import load_history
from planner.pipeline import forecast_stage, horizon_start
from planner.scenarios import Scenario

# 18 weeks of history, a 13-week plan: a 12-week fitting window (the old default) left no room for
# a 13-week backtest, so every series fell back to a naive model without a word (issue 19).
QUARTER = {"data": {"synthetic": {"functions": 24, "days": 126, "seed": 3}}, "forecast": {"n_jobs": 1}}


@pytest.fixture(scope="module")
def quarter():
    sc = Scenario.model_validate(QUARTER)
    history = load_history(sc)
    fc, report = forecast_stage(sc, history, horizon_start(sc, history))
    return sc, history, fc, report


def test_default_options_fit_the_whole_history_and_fallbacks_are_the_exception(quarter):
    sc, history, fc, report = quarter
    assert report["fallback"].mean() < 0.10, report[["unique_id", "resource", "notes"]]
    assert sc.forecast.history_weeks is None
    launched = report["notes"].str.contains("leading zero")
    # Series that exist from the start are fitted on all of it (18 weeks of hours).
    assert (report.loc[~launched, "n_obs"] == 18 * 168).all()
    assert fc["ds"].min() == history.end and fc["ds"].nunique() == 13 * 168


def test_fallback_summary_counts_series_and_reasons(quarter):
    from planner.forecast import fallback_summary

    *_, report = quarter
    fb = fallback_summary(report)
    assert set(fb) == {"series", "fallbacks", "share", "reasons", "launch_ramp"}
    assert fb["launch_ramp"] == int((report["model"] == "launch_ramp").sum()) <= fb["fallbacks"]
    assert fb["series"] == len(report) and fb["fallbacks"] == int(report["fallback"].sum())
    assert fb["share"] == pytest.approx(fb["fallbacks"] / fb["series"])
    assert sum(fb["reasons"].values()) == fb["fallbacks"]


def test_a_short_window_falls_back_and_the_reason_is_counted():
    sc = Scenario.model_validate({**QUARTER, "data": {"synthetic": {"functions": 8, "days": 126, "seed": 3}},
                                  "forecast": {"n_jobs": 1, "history_weeks": 12}})
    history = load_history(sc)
    _, report = forecast_stage(sc, history, horizon_start(sc, history))
    from planner.forecast import fallback_summary

    fb = fallback_summary(report)
    modelled = report[report["model"] != "constant"]
    assert fb["fallbacks"] == len(modelled) > 0
    assert fb["reasons"] == {"history too short for a full-horizon backtest": len(modelled)}


@pytest.mark.slow  # packing 52 weeks takes minutes
def test_a_year_ahead_plan_runs_and_says_how_its_quantiles_were_calibrated(tmp_path):
    """52 weeks ahead from 14 weeks of history: every week planned; the backtest windows are
    shorter than the horizon, which the run reports as a fallback with its reason, and the later
    weeks' quantiles are widened from the calibrated ones."""
    import json

    from typer.testing import CliRunner

    from planner.cli import app

    p = tmp_path / "year.yaml"
    p.write_text("data: {synthetic: {functions: 12, days: 98, seed: 4}}\nhorizon: {weeks: 52}\n"
                 "solver: {backend: heuristic, time_limit_s: 2}\nforecast: {n_jobs: 1}\n")
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["run", str(p), "--out", str(out), "--no-plots"])
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "summary.json").read_text())
    assert summary["weeks"] == 52
    fb = summary["forecast_fallbacks"]
    assert fb["reasons"].get("history too short for a full-horizon backtest", 0) >= 0.5 * fb["series"]
    assert "forecast fell back" in result.output
    plan = pd.read_csv(out / "plan.csv")
    assert set(plan["week"]) == set(range(52))
    fc = pd.read_parquet(out / "forecast.parquet")
    assert fc["ds"].nunique() == 52 * 168 and fc[["q50", "q90", "q95", "q99"]].notna().all().all()
    big = fc[fc["resource"] == "cpu_cores"].groupby("unique_id")["mean"].mean().idxmax()
    one = fc[(fc["unique_id"] == big) & (fc["resource"] == "cpu_cores")].sort_values("ds")
    spread = (one["q99"] - one["q50"]).to_numpy()
    assert spread[-168:].mean() > spread[:168].mean()
    assert (out / "forecast_calibration.csv").exists()
