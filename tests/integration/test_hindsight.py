"""Backtests against hindsight on a small synthetic fleet: the generator's days after data.until are
what happened. The hindsight plan runs the plan's own stages on the actual demand."""

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from planner import columns as C
from planner.backtest import (actual_as_forecast, backtest, backtest_run, check_coverage, history_until,
                              origins_of, tier_target)
from planner.cli import app
from planner.errors import InputDataError, ScenarioError
from planner.history import load_history
from planner.scenarios import load_scenario

runner = CliRunner()
# 49 days from Monday 2025-12-29: six weeks of history before 2026-02-09, one week after it.
SMALL = """
name: small-bt
data:
  synthetic: {functions: 80, days: 49, seed: 1}
  until: 2026-02-09
horizon: {weeks: 1}
solver: {backend: heuristic, time_limit_s: 5}
forecast: {history_weeks: 3, n_windows: 1, n_jobs: 1}
"""
ORIGIN = pd.Timestamp("2026-02-09")


@pytest.fixture(scope="module")
def scenario_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("bt") / "small.yaml"
    path.write_text(SMALL)
    return path


@pytest.fixture(scope="module")
def full_history(scenario_path):
    sc = load_scenario(scenario_path)
    return load_history(sc.model_copy(update={"data": sc.data.model_copy(update={"until": None})}))


@pytest.fixture(scope="module")
def result(scenario_path, full_history):
    sc = load_scenario(scenario_path)
    return backtest(sc, full_history.demand, history=full_history, actual_groups=full_history.groups)[0]


def test_cli_writes_the_contract_for_rolling_origins(scenario_path, tmp_path):
    out = tmp_path / "bt"
    res = runner.invoke(app, ["backtest", str(scenario_path), "--origins", "2", "--every", "1w", "--out", str(out)])
    assert res.exit_code == 0, res.output
    summary = json.loads((out / "summary.json").read_text())
    for key in ("cost", "hindsight_cost", "peak_cost", "cost_vs_hindsight"):
        assert summary[key] > 0, key
    assert [o["origin"][:10] for o in summary["origins"]] == ["2026-02-02", "2026-02-09"]
    for o in summary["origins"]:
        assert o["cost_vs_hindsight"] == pytest.approx(o["cost"] / o["hindsight_cost"], rel=1e-3)
    by_tier = pd.read_csv(out / "by_tier.csv")
    assert list(by_tier.columns[:7]) == ["plan", "tier", "slot_hours", "overflow_hours", "overflow_share", "target",
                                         "worst"]
    assert set(by_tier["plan"]) == {"shape", "peak", "hindsight"} and by_tier["origin"].nunique() == 2
    np.testing.assert_allclose(by_tier["overflow_share"], by_tier["overflow_hours"] / by_tier["slot_hours"])
    sc = load_scenario(scenario_path)
    assert (by_tier["target"] == by_tier["tier"].map(lambda t: tier_target(sc.tiers[t]))).all()
    assert by_tier.set_index("tier").loc["premium", "target"].iloc[0] == pytest.approx(0.001)  # overflow_risk
    # The plan's own prediction beside the realised share (issue 14): the pooled plan predicts
    # within target; the other plans predict nothing.
    shape = by_tier[by_tier["plan"] == "shape"]
    assert (shape["predicted_overflow_probability"] <= shape["target"] + 1e-9).all()
    assert (shape["predicted_overflow_share"] <= shape["predicted_overflow_probability"] + 1e-12).all()
    assert by_tier.loc[by_tier["plan"] != "shape", "predicted_overflow_share"].isna().all()
    # packing the actual demand with headroom never overflows it
    assert (by_tier.loc[by_tier["plan"] == "hindsight", "overflow_hours"] == 0).all()
    import zipfile

    with zipfile.ZipFile(out / "backtest.xlsx") as z:
        assert len([n for n in z.namelist() if n.startswith("xl/charts/chart")]) == 2  # one chart per origin
    assert (out / "report.html").read_text().count("data:image/png;base64,") >= 2


def test_hindsight_equals_the_plan_when_the_forecast_is_perfect(scenario_path, full_history, monkeypatch):
    import planner.pipeline
    from planner.pipeline import run_plan

    actual = full_history.demand
    end = ORIGIN + pd.Timedelta(weeks=1)

    def perfect(scenario, history, start, progress=None):  # a forecast fed the actuals
        from planner.forecast import ForecastRun

        return ForecastRun(actual_as_forecast(actual, start, end), pd.DataFrame(), None)

    # The stage run_plan calls (forecast_stage is a wrapper of it that drops the calibration table).
    monkeypatch.setattr(planner.pipeline, "forecast_stage_run", perfect)
    run = run_plan(load_scenario(scenario_path), history=history_until(full_history, ORIGIN))
    res = backtest_run(run, actual, full_history.groups)
    assert res.costs["cost"] == pytest.approx(res.costs["hindsight_cost"])
    assert res.costs["cost_vs_hindsight"] == pytest.approx(1.0)
    assert res.costs["peak_cost"] == pytest.approx(res.costs["peak_hindsight_cost"])
    assert (res.weekly["plan_servers"] == res.weekly["hindsight_servers"]).all()
    for wp, hp in zip(run.weeks, res.hindsight.weeks):
        assert wp.result.workers == hp.result.workers
        pd.testing.assert_frame_equal(wp.result.assignment_frame(), hp.result.assignment_frame())


def test_more_growth_never_lowers_the_hindsight_ratio(scenario_path, full_history, result):
    sc = load_scenario(scenario_path)
    grown = sc.model_copy(update={"growth": sc.growth.model_copy(update={"all": 3.0})})
    more = backtest(grown, full_history.demand, history=full_history, actual_groups=full_history.groups)[0]
    assert more.costs["hindsight_cost"] == pytest.approx(result.costs["hindsight_cost"])  # the past did not change
    assert more.costs["cost"] >= result.costs["cost"]
    assert more.costs["cost_vs_hindsight"] >= result.costs["cost_vs_hindsight"]
    assert more.costs["cost"] > result.costs["cost"]  # tripled demand needs more servers


def test_actuals_that_miss_hours_name_the_missing_weeks(full_history):
    actual = full_history.demand
    cut = actual[actual[C.DS] < ORIGIN + pd.Timedelta(days=6)]
    with pytest.raises(InputDataError, match=r"a\.csv: the actuals cover .* do not cover the horizon from 2026-02-09 "
                                             r"00:00:00 \(2 weeks\): week 0 \(2026-02-09, 24 of 168 hours missing\); "
                                             r"week 1 \(2026-02-16, 168 of 168 hours missing\)"):
        check_coverage(cut, ORIGIN, 2, "a.csv")


def test_cli_refuses_a_horizon_past_the_actuals(scenario_path, tmp_path):
    late = tmp_path / "late.yaml"
    late.write_text(scenario_path.read_text().replace("until: 2026-02-09", "until: 2026-02-12"))
    res = runner.invoke(app, ["backtest", str(late), "--out", str(tmp_path / "o")])
    assert res.exit_code == 2, res.output
    assert "do not cover the horizon from 2026-02-12" in res.output and "week 0 (2026-02-12, 72 of 168 hours missing)" in res.output
    assert not (tmp_path / "o").exists()


def test_actual_groups_not_in_the_plan_are_listed_and_planned_in_hindsight(full_history, result):
    actual = full_history.demand
    week = actual[(actual[C.DS] >= ORIGIN) & (actual[C.DS] < ORIGIN + pd.Timedelta(weeks=1))]
    big = week.groupby(C.GROUP_ID)[C.CPU_CORES].max().idxmax()
    extra = week[week[C.GROUP_ID] == big].assign(**{C.GROUP_ID: "surprise"})
    groups = pd.concat([full_history.groups, pd.DataFrame({C.GROUP_ID: ["surprise"], C.CUSTOMER: ["newco"],
                                                           "n_functions": [1]})], ignore_index=True)
    res = backtest_run(result.run, pd.concat([actual, extra], ignore_index=True), groups)
    assert res.unplanned == [{"group": "surprise", "weeks": [0], "in_history": False}]
    assert res.costs["hindsight_cost"] >= result.costs["hindsight_cost"]
    assert "surprise" in res.hindsight.weeks[0].instance.group_ids


def test_origins_that_do_not_fit_in_the_history(scenario_path, tmp_path):
    start = pd.Timestamp("2025-12-29")
    assert origins_of(None, start, ORIGIN, 3, pd.Timedelta(weeks=1))[0] == pd.Timestamp("2026-01-26")
    with pytest.raises(ScenarioError, match=r"--origins 6 --every 1w: the first origin would be 2026-01-05 00:00:00, "
                                            r"but the history starts 2025-12-29 00:00:00 and each origin needs 2w of "
                                            r"history before it; at most 5 origin\(s\) fit"):
        origins_of(None, start, ORIGIN, 6, pd.Timedelta(weeks=1))
    res = runner.invoke(app, ["backtest", str(scenario_path), "--origins", "9", "--every", "1w",
                              "--out", str(tmp_path / "o")])
    assert res.exit_code == 2 and "at most 5 origin(s) fit" in res.output, res.output
    res = runner.invoke(app, ["backtest", str(scenario_path), "--every", "banana", "--out", str(tmp_path / "o")])
    assert res.exit_code == 2 and "not a duration" in res.output, res.output


def test_run_with_backtest_holds_the_quarter_before_against_hindsight(scenario_path, tmp_path):
    out = tmp_path / "run"
    res = runner.invoke(app, ["run", str(scenario_path), "--backtest", "--no-plots", "--no-history", "--out", str(out)])
    assert res.exit_code == 0, res.output
    summary = json.loads((out / "summary.json").read_text())
    past = summary["backtest"]
    assert past["origin"][:10] == "2026-02-02"  # one horizon before the history's end (2026-02-09)
    assert past["cost_vs_hindsight"] == pytest.approx(past["cost"] / past["hindsight_cost"], rel=1e-3)
    assert "cost / hindsight" in res.output
    by_tier = pd.read_csv(out / "backtest_by_tier.csv")
    assert set(by_tier["plan"]) == {"shape", "peak", "hindsight"}
    import openpyxl

    assert {"Backtest", "Backtest weeks", "Backtest tiers"} <= set(openpyxl.load_workbook(out / "plan.xlsx").sheetnames)
    html = (out / "report.html").read_text()
    assert "This run has no backtest" not in html and "cost / hindsight cost" in html
