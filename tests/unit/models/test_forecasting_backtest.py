"""Rolling-origin backtest, metrics, conformal calibration and the automatic per-series forecast."""

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from forecast_fixtures import seasonal_series  # noqa: E402

from models.forecasting.auto import forecast_array  # noqa: E402
from models.forecasting.backtest import coverage, mase, pinball, smape, window_origins  # noqa: E402
from models.forecasting.conformal import ConformalQuantiles  # noqa: E402


def test_metrics():
    y = np.array([1.0, 2, 3, 4, 5, 6])
    assert mase([7, 8], [7, 8], y, 1) == 0
    assert mase([8], [7], y, 1) == pytest.approx(1.0)  # error 1 / in-sample naive MAE 1
    assert smape([0, 1], [0, 1]) == 0
    assert pinball([1.0], [0.0], 0.9) == pytest.approx(0.9)
    assert coverage([1, 2, 3, 4], [2, 2, 2, 2]) == 0.5


def test_window_origins_never_look_ahead():
    origins = window_origins(1000, 168, 3, 24, 200)
    assert origins == [832, 808, 784]
    assert all(o + 168 <= 1000 for o in origins)
    assert window_origins(300, 168, 5, 24, 200) == []


def test_conformal_quantiles_are_ordered_and_grow_with_horizon():
    rng = np.random.default_rng(1)
    pred = np.full((6, 168), 10.0)
    actual = pred + rng.normal(0, 1, (6, 168)) * np.linspace(0.5, 2, 168)
    cq = ConformalQuantiles().fit(actual, pred, 10.0)
    q = cq.predict(np.full(168, 10.0))
    assert (np.diff(q, axis=0) >= 0).all()
    assert q[3, -1] > q[3, 0]  # q99 wider at the end of the week than at its start


@pytest.fixture(scope="module")
def held_out_hits():
    """Hold out the last week of 10 seeded series with N(0, 1) noise; hits per quantile level."""
    hits = []
    for seed in range(10):
        y = seasonal_series(8 * 168, sigma=1.0, seed=seed)
        train, test = y[:-168], y[-168:]
        f = forecast_array(train, 168, "1h", ["autoreg_fourier"])
        hits.append(test[None, :] <= f.quantiles)
    return np.concatenate(hits, axis=1)  # levels × (10 · 168)


@pytest.mark.parametrize("level,target,tol", [(1, 0.90, 0.05), (2, 0.95, 0.035), (3, 0.99, 0.02)])
def test_coverage_near_nominal_on_known_noise(held_out_hits, level, target, tol):
    assert abs(held_out_hits[level].mean() - target) <= tol


def test_auto_selection_prefers_a_seasonal_model_and_records_scores():
    y = seasonal_series(6 * 168, sigma=0.5, seed=3)
    f = forecast_array(y, 168, "1h")
    assert f.model != "naive" and set(f.scores) == {"autoreg_fourier", "window_average", "seasonal_naive"}
    assert f.mase < 1.0 and f.n_windows == 6
    assert (f.quantiles >= 0).all() and (np.diff(f.quantiles, axis=0) >= 0).all()


def test_fallbacks_constant_and_short_history():
    f = forecast_array(np.zeros(500), 24, "1h")
    assert "constant" in f.notes[0] and (f.quantiles == 0).all()
    f = forecast_array(np.abs(seasonal_series(100, seed=1)), 168, "1h")
    assert any("too short" in n for n in f.notes) and f.quantiles.shape == (4, 168)
    assert f.model in ("naive", "seasonal_naive")


def test_mase_scale_never_zero():
    from models.forecasting.backtest import naive_scale

    assert naive_scale(np.r_[np.zeros(200), 5.0], 168) > 0
    y = np.tile(np.arange(168.0), 2)  # repeats exactly every week: the lag-1 MAE is used
    assert naive_scale(y, 168) == pytest.approx(np.abs(np.diff(y)).mean())
    assert naive_scale(np.zeros(10), 168) == 1.0


def test_pre_launch_zeros_are_dropped():
    y = np.r_[np.zeros(500), np.abs(seasonal_series(600, seed=4))]
    f = forecast_array(y, 168, "1h")
    assert "500 leading zero slots" in f.notes[0]
    assert f.mean.mean() > 5  # not dragged towards the pre-launch zeros


def _peaky_forecast(windows=6):
    return np.tile(10 * np.abs(np.sin(np.arange(168) / 24 * np.pi)) + 0.1, (windows, 1))


def test_conformal_scale_follows_the_error_structure():
    rng = np.random.default_rng(0)
    pred = _peaky_forecast()
    multiplicative = pred * (1 + 0.3 * rng.normal(size=pred.shape))
    additive = pred + rng.normal(0, 2, pred.shape)
    assert ConformalQuantiles().fit(multiplicative, pred, pred.mean()).scale_ == "relative"
    assert ConformalQuantiles().fit(additive, pred, pred.mean()).scale_ == "additive"


def test_spiky_series_do_not_blow_up_their_peaks():
    # Spikes of 14 at random hours over a level of 0.1, forecast by last week's values: misses at
    # near-zero forecasts must not be multiplied by the peak forecast.
    rng = np.random.default_rng(3)
    weeks = 0.1 + 14 * (rng.random((7, 168)) < 0.05)
    actual, pred = weeks[1:], weeks[:-1]
    auto = ConformalQuantiles().fit(actual, pred, weeks.mean())
    relative = ConformalQuantiles(scale="relative").fit(actual, pred, weeks.mean())
    assert auto.scale_ == "additive"
    assert auto.predict(weeks[-1])[3].max() <= 2 * 14.1
    assert relative.predict(weeks[-1])[3].max() > 3 * auto.predict(weeks[-1])[3].max()


def test_unknown_conformal_scale_is_refused():
    with pytest.raises(ValueError, match="scale"):
        ConformalQuantiles(scale="log")
