"""planner.forecast: Forecast table contract, fallbacks, bad input, parallel parity (joblib, Dask)."""

import numpy as np
import pandas as pd
import pytest

from forecast_fixtures import synthetic_demand
from planner import columns as C
from planner.errors import InputDataError
from planner.forecast import FORECAST_COLUMNS, forecast_demand, forecast_long, run_demand_forecast


@pytest.fixture(scope="module")
def demand():
    return synthetic_demand(n_groups=2, weeks=5)


@pytest.fixture(scope="module")
def run(demand):
    return run_demand_forecast(demand, 168)


def test_forecast_table_contract(run, demand):
    fc = run.forecast
    assert tuple(fc.columns) == FORECAST_COLUMNS
    assert len(fc) == 2 * 2 * 168 and set(fc[C.RESOURCE]) == set(C.RESOURCES)
    assert fc[C.DS].min() == demand[C.DS].max() + pd.Timedelta("1h")
    q = fc[list(C.QUANTILES)].to_numpy()
    assert (q >= 0).all() and (fc[C.MEAN] >= 0).all()
    assert (np.diff(q, axis=1) >= 0).all()  # q50 <= q90 <= q95 <= q99


def test_report_names_model_and_error_per_series(run):
    rep = run.report
    assert len(rep) == 4 and rep["model"].isin(["autoreg_fourier", "window_average", "seasonal_naive"]).all()
    assert (rep["mase"] < 1.0).all() and not rep["fallback"].any()


def test_forecast_keeps_the_weekly_shape(run, demand):
    """Weekday peaks (Mon-Fri) forecast above the weekend, as in the history."""
    fc = run.forecast[(run.forecast[C.UNIQUE_ID] == "g1") & (run.forecast[C.RESOURCE] == C.CPU_CORES)]
    weekday = fc[C.DS].dt.day_of_week < 5
    assert fc.loc[weekday, C.MEAN].mean() > fc.loc[~weekday, C.MEAN].mean() + 0.5


def test_gaps_nan_and_constant_series_are_documented_fallbacks(demand):
    d = demand.copy()
    d = d.drop(index=d.index[100:110])  # a gap of 10 slots in g0
    d.loc[d.index[300], C.CPU_CORES] = np.nan
    d.loc[d[C.GROUP_ID] == "g1", C.MEMORY_GB] = 0.0  # all-zero series
    with pytest.warns(UserWarning, match="interpolation"):
        run = run_demand_forecast(d, 24, models=["seasonal_naive"])
    rep = run.report.set_index([C.UNIQUE_ID, C.RESOURCE])
    assert rep.loc[("g0", C.CPU_CORES), "n_filled"] == 11
    assert "constant" in rep.loc[("g1", C.MEMORY_GB), "notes"]
    zero = run.forecast[(run.forecast[C.UNIQUE_ID] == "g1") & (run.forecast[C.RESOURCE] == C.MEMORY_GB)]
    assert (zero[list(C.QUANTILES)].to_numpy() == 0).all()


def test_short_history_falls_back_and_says_so():
    d = synthetic_demand(n_groups=1, weeks=1).iloc[:100]
    run = run_demand_forecast(d, 168)
    assert run.report["fallback"].all() and run.report["notes"].str.contains("too short").all()
    assert len(run.forecast) == 2 * 168


@pytest.mark.parametrize("kwargs,match", [
    (dict(horizon=0), "horizon"),
    (dict(horizon=24, freq="fortnight"), "unknown frequency"),
    (dict(horizon=24, models=["nope"]), "unknown forecast model"),
])
def test_bad_arguments(demand, kwargs, match):
    with pytest.raises(InputDataError, match=match):
        forecast_demand(demand, **kwargs)


def test_bad_tables(demand):
    with pytest.raises(InputDataError, match="cpu_cores"):
        forecast_demand(demand.drop(columns=[C.CPU_CORES]), 24)
    with pytest.raises(InputDataError, match="duplicate"):
        forecast_demand(pd.concat([demand, demand.iloc[:1]]), 24)
    neg = demand.copy()
    neg.loc[5, C.CPU_CORES] = -1.0
    with pytest.raises(InputDataError, match="negative"):
        forecast_demand(neg, 24)
    off = demand.copy()
    off.loc[off.index[-1], C.DS] += pd.Timedelta("30min")
    with pytest.raises(InputDataError, match="grid"):
        forecast_demand(off, 24)


def test_daily_long_table():
    rng = np.random.default_rng(0)
    ds = pd.date_range("2024-01-01", periods=400, freq="D")
    y = 50 + 10 * (ds.day_of_week >= 5) + rng.normal(0, 1, len(ds))
    run = forecast_long(pd.DataFrame({"unique_id": "a", "ds": ds, "y": y}), 91, freq="1D")
    assert len(run.forecast) == 91 and run.forecast["ds"].iloc[0] == ds[-1] + pd.Timedelta("1D")
    assert run.report["mase"].iloc[0] < 1.0


def test_joblib_parallel_equals_serial(demand, run):
    par = run_demand_forecast(demand, 168, n_jobs=2)
    pd.testing.assert_frame_equal(par.forecast, run.forecast)


def test_dask_cluster_equals_local(demand, run):
    distributed = pytest.importorskip("dask.distributed", reason="dask.distributed not installed")
    with distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=False, dashboard_address=None) as cluster:
        done = []
        out = run_demand_forecast(demand, 168, scheduler=cluster.scheduler_address, progress=done.append)
    pd.testing.assert_frame_equal(out.forecast, run.forecast)
    assert sum(done) == 4


def test_scheduler_without_dask_says_how_to_install(demand, monkeypatch):
    from planner.errors import PlannerError

    monkeypatch.setitem(__import__("sys").modules, "dask.distributed", None)  # import fails
    with pytest.raises(PlannerError, match=r"pip install 'planner\[dask\]'"):
        forecast_demand(demand, 24, scheduler="tcp://127.0.0.1:1")


def test_calibration_summary_reports_strict_coverage_beside_le():
    from planner.forecast import ForecastRun, calibration_summary

    cal = pd.DataFrame({C.UNIQUE_ID: ["a", "b", "a", "b"], C.RESOURCE: "cpu_cores", "bucket": "w1-2",
                        "level": [0.5, 0.5, 0.9, 0.9], "coverage": [0.9, 0.5, 1.0, 0.9],
                        "coverage_strict": [0.5, 0.5, 0.6, 0.9], "n": [300, 100, 300, 100]})
    report = pd.DataFrame({"q99_peak_ratio": [1.0, 1.2]})
    out = calibration_summary(ForecastRun(pd.DataFrame(), report, cal))
    assert out["coverage"]["w1-2"] == {"q50": 0.8, "q90": 0.975}  # weighted by slots
    assert out["coverage_strict"]["w1-2"] == {"q50": 0.5, "q90": 0.675}
