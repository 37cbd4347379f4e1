"""The many-series forecast path (models/forecasting/batch.py, planner/forecast_batch.py)."""

import numpy as np
import pandas as pd
import pytest

from models.forecasting.batch import CANDIDATES, BatchOptions, forecast_matrix

H = 13 * 168


def _series(rng, n_series, n_steps, growth=0.0, level=10.0):
    t = np.arange(n_steps)[:, None]
    phase = rng.uniform(0, 24, n_series)[None, :]
    shape = 1 + 0.5 * np.cos(2 * np.pi * (t - phase) / 24)
    return level * shape * (1 + growth * t / 8760)


def test_daily_shape_and_linear_growth_are_carried_a_quarter_ahead():
    rng = np.random.default_rng(0)
    n = 52 * 168
    truth = _series(rng, 20, n + H, growth=0.5)
    y = truth + rng.normal(0, 0.5, truth.shape)
    fc = forecast_matrix(np.maximum(y[:n], 0), BatchOptions(horizon=H))
    assert np.isin(np.array(CANDIDATES)[fc.model], ["fourier_trend", "fourier_trend_log"]).mean() >= 0.9
    err = np.abs(fc.mean - truth[n:]).mean() / truth[n:].mean()
    assert err < 0.03  # within 3 % of the true level a quarter ahead, growth included


def test_a_level_shift_is_not_extrapolated_as_growth():
    rng = np.random.default_rng(1)
    n = 40 * 168
    base = _series(rng, 10, n + H)
    base[n - 6 * 168:] *= 2.0  # a migration six weeks before the end doubles the level for good
    y = np.maximum(base + rng.normal(0, 0.3, base.shape), 0)
    fc = forecast_matrix(y[:n], BatchOptions(horizon=H))
    ratio = fc.mean.mean(axis=0) / base[n:].mean(axis=0)
    assert len(fc.shifts) == 10 and not fc.notes
    assert np.all(np.abs(ratio - 1) < 0.1), ratio  # the new level, neither the old one nor a runaway trend


def test_quantiles_cover_near_their_levels_and_widen_with_lead_time():
    rng = np.random.default_rng(2)
    n = 52 * 168
    lam = _series(rng, 300, n + H, growth=0.2, level=20.0)
    y = rng.poisson(lam).astype(np.float32)
    # A random-walk level makes errors grow with the lead time.
    walk = np.cumsum(rng.normal(0, 0.002, (n + H, 300)), axis=0)
    y = np.maximum(y * np.exp(walk), 0).astype(np.float32)
    fc = forecast_matrix(y[:n], BatchOptions(horizon=H))
    actual = y[n:]
    cover = [(actual <= fc.quantiles[i]).mean() for i in range(4)]
    for got, nominal in zip(cover, (0.5, 0.9, 0.95, 0.99)):
        assert abs(got - nominal) < 0.03, cover
    width = fc.quantiles[3] - fc.quantiles[0]
    assert width[-168:].mean() > width[:168].mean()
    assert np.all(np.diff(fc.quantiles, axis=0) >= 0) and (fc.quantiles >= 0).all()


def test_each_series_depends_on_itself_only_so_blocks_and_tasks_agree():
    rng = np.random.default_rng(3)
    y = rng.poisson(_series(rng, 50, 20 * 168)).astype(np.float32)
    whole = forecast_matrix(y, BatchOptions(horizon=4 * 168, chunk=50))
    parts = [forecast_matrix(y[:, a:a + 7], BatchOptions(horizon=4 * 168, chunk=3)) for a in range(0, 50, 7)]
    np.testing.assert_array_equal(np.concatenate([p.mean for p in parts], axis=1), whole.mean)
    np.testing.assert_array_equal(np.concatenate([p.quantiles for p in parts], axis=2), whole.quantiles)
    np.testing.assert_array_equal(np.concatenate([p.model for p in parts]), whole.model)


def test_short_history_and_bad_values():
    y = np.ones((2 * 168, 4))
    fc = forecast_matrix(y, BatchOptions(horizon=13 * 168))
    assert fc.n_origins == 0 and len(fc.notes) == 4 and "no backtest origin" in fc.notes[0]
    np.testing.assert_allclose(fc.mean, 1.0, atol=1e-6)
    with pytest.raises(ValueError, match="NaN"):
        forecast_matrix(np.full((400, 2), np.nan), BatchOptions(horizon=10))
    with pytest.raises(ValueError, match="negative"):
        forecast_matrix(-np.ones((400, 2)), BatchOptions(horizon=10))


def test_planner_batch_forecast_has_the_forecast_contract():
    from planner import columns as C
    from planner.forecast import FORECAST_COLUMNS, REPORT_COLUMNS
    from planner.forecast_batch import batch_demand_forecast

    rng = np.random.default_rng(4)
    ds = pd.date_range("2026-01-05", periods=10 * 168, freq="1h")
    demand = pd.concat([pd.DataFrame({C.GROUP_ID: g, C.DS: ds, C.CPU_CORES: rng.gamma(2, 1, len(ds)),
                                      C.MEMORY_GB: rng.gamma(2, 4, len(ds))}) for g in ("b", "a")], ignore_index=True)
    run = batch_demand_forecast(demand, 336, freq="1h")
    fc = run.forecast
    assert list(fc.columns) == list(FORECAST_COLUMNS) and len(fc) == 2 * 2 * 336
    assert list(run.report.columns) == list(REPORT_COLUMNS) and run.report["model"].str.startswith("batch:").all()
    assert fc[C.DS].min() == ds[-1] + pd.Timedelta("1h")
    assert list(fc[C.UNIQUE_ID].astype(str).unique()) == ["a", "b"]
    assert (fc[["q50", "q90", "q95", "q99"]].diff(axis=1).iloc[:, 1:] >= 0).all().all()
    small = batch_demand_forecast(demand, 336, freq="1h", block=1)  # one task per series
    pd.testing.assert_frame_equal(small.forecast, fc)
