"""The statsmodels-backed models: shapes, fallbacks and accuracy against naive baselines."""

import numpy as np
import pandas as pd
import pytest

from models.forecasting._util import single_blas_thread
from models.forecasting.backtest import mase
from models.forecasting.base import ModelUnavailableError
from models.forecasting.registry import MODEL_NAMES, default_models, make_model


def _hourly(n, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    return 20 + 6 * np.sin(2 * np.pi * t / 24) + 3 * ((t % 168) < 120) + rng.normal(0, 1, n)


@pytest.fixture(autouse=True)
def _one_thread():
    with single_blas_thread():
        yield


@pytest.mark.parametrize("name,vs_seasonal_naive", [
    ("autoreg_fourier", 0.8), ("autoreg_fourier_log", 0.8), ("mstl_ets", 1.1), ("mstl_ets_log", 1.1),
])
def test_hourly_models_learn_a_known_shape(name, vs_seasonal_naive):
    """Noise N(0, 1) on a daily + weekday shape: far better than naive; the OLS model also beats
    seasonal naive (whose error carries the noise twice)."""
    y = _hourly(6 * 168)
    train, test = y[:-168], y[-168:]
    pred = make_model(name, "1h").fit_array(train).predict_array(168)
    sn = make_model("seasonal_naive", "1h").fit_array(train).predict_array(168)
    flat = make_model("naive", "1h").fit_array(train).predict_array(168)
    assert pred.shape == (168,) and np.isfinite(pred).all()
    assert mase(test, pred, train, 168) < 0.3 * mase(test, flat, train, 168)
    assert mase(test, pred, train, 168) < vs_seasonal_naive * mase(test, sn, train, 168)


@pytest.mark.parametrize("name,yearly", [("holt_winters", False), ("autoreg_fourier", True), ("mstl_ets", True)])
def test_daily_models_capture_week_and_year(name, yearly):
    rng = np.random.default_rng(2)
    t = np.arange(3 * 365)
    y = 100 + 8 * (t % 7 >= 5) + rng.normal(0, 1, len(t)) + (10 * np.sin(2 * np.pi * t / 365.25) if yearly else 0)
    pred = make_model(name, "1D").fit_array(y[:-91]).predict_array(91)
    assert mase(y[-91:], pred, y[:-91], 7) < 1.0


def test_short_history_drops_the_weekly_cycle_or_refuses():
    y = _hourly(200)  # > 2 days, < 2 weeks
    m = make_model("autoreg_fourier", "1h").fit_array(y)
    assert [p for p, _ in m.terms_] == [24]
    with pytest.raises(ModelUnavailableError):
        make_model("mstl_ets", "1h").fit_array(y[:40])
    with pytest.raises(ModelUnavailableError, match="constant"):
        make_model("autoreg_fourier", "1h").fit_array(np.ones(400))


def test_registry():
    assert set(default_models("1h")) <= set(MODEL_NAMES) and set(default_models("1D")) <= set(MODEL_NAMES)
    with pytest.raises(ValueError, match="unknown forecast model"):
        make_model("prophet", "1h")


def test_unobserved_components_daily():
    rng = np.random.default_rng(5)
    t = np.arange(120)
    y = 50 + 5 * (t % 7 >= 5) + rng.normal(0, 0.5, len(t))
    pred = make_model("unobserved_components", "1D").fit_array(y[:-14]).predict_array(14)
    assert mase(y[-14:], pred, y[:-14], 7) < 1.0


def test_seasonal_model_beats_naive_on_huawei_dc4(huawei_path):
    """Real data: summed to hourly, last 7 days held out; the planner's model beats seasonal naive."""
    df = pd.read_csv(huawei_path, parse_dates=["date"]).set_index("date").resample("1h").sum()
    ratios = []
    for c in df.columns[:4]:
        y = df[c].to_numpy(float)
        train, test = y[:-168], y[-168:]
        ar = np.maximum(make_model("autoreg_fourier", "1h").fit_array(train).predict_array(168), 0)
        sn = make_model("seasonal_naive", "1h").fit_array(train).predict_array(168)
        ratios.append(mase(test, ar, train, 168) / mase(test, sn, train, 168))
    assert np.mean(ratios) < 0.85
