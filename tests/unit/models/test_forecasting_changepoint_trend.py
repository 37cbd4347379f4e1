"""The seasonal-trend model with Prophet's trend (an L1-penalised grid of changepoints): it carries
on a steady growth, does not read a level shift or an old growth as growth, and its lasso path
solves the penalised problem."""

import numpy as np
import pandas as pd
import pytest

from models.forecasting._util import single_blas_thread
from models.forecasting.auto import forecast_array
from models.forecasting.changepoint_trend import ChangepointTrend, lasso_path_choice

START = pd.Timestamp("2024-01-01")  # a Monday
DAY = pd.Timedelta("1D")


@pytest.fixture(autouse=True)
def _one_thread():
    with single_blas_thread():
        yield


def _weekday(d):
    return np.where(d % 7 < 5, 1.1, 0.75)


def test_a_steady_growth_is_carried_on():
    d = np.arange(3 * 365 + 91)
    truth = 200 * np.exp(np.log(1.3) * d / 365.25) * _weekday(d)
    y = truth * np.random.default_rng(0).lognormal(0, 0.05, len(d))
    train, future = y[:-91], truth[-91:]
    m = ChangepointTrend(1, trend="linear", start=START, step=DAY).fit_array(train)
    assert 0.2 < np.expm1(m.slope_) < 0.4, m.describe()  # 30 % a year, read as such
    assert np.count_nonzero(m.active_) <= 2  # a straight line needs (almost) no change of growth
    pred = m.predict_array(91)
    assert np.abs(pred / future - 1).mean() < 0.05
    assert pred[-7:].mean() > 1.05 * pred[:7].mean()  # still growing at the end of the quarter


def test_a_level_shift_is_not_extrapolated_as_growth():
    d = np.arange(2 * 365)
    level = np.where(d < 500, 100.0, 130.0)  # a migration inside the changepoints' range
    y = level * _weekday(d) * np.random.default_rng(1).lognormal(0, 0.04, len(d))
    m = ChangepointTrend(1, trend="linear", start=START, step=DAY, yearly_orders=(0,)).fit_array(y)
    assert ("step", 500) in m.breaks_ or any(k == "step" and abs(b - 500) <= 7 for k, b in m.breaks_), m.describe()
    assert abs(m.slope_) < 0.05, m.describe()
    pred = m.predict_array(91)
    weekly = pred[:91 - 91 % 7].reshape(-1, 7).mean(axis=1)
    assert abs(weekly.mean() / (130 * _weekday(d[:7]).mean()) - 1) < 0.05
    assert abs(weekly[-1] / weekly[0] - 1) < 0.03  # flat, not climbing at the jump's slope


def test_a_change_of_growth_carries_the_latest_slope():
    """Growth for a year, then flat for half a year: the old growth is not carried on."""
    d = np.arange(548)
    log_level = np.log(50) + np.minimum(d, 365) * np.log(1.6) / 365
    y = np.exp(log_level) * _weekday(d) * np.random.default_rng(4).lognormal(0, 0.03, len(d))
    m = ChangepointTrend(1, trend="linear", start=START, step=DAY, yearly_orders=(0,)).fit_array(y)
    assert abs(m.slope_) < 0.15, m.describe()
    assert 1 <= np.count_nonzero(m.active_) <= 4, m.describe()  # a few changes, not every grid point


def test_hourly_level_shift_through_the_automatic_forecast():
    t = np.arange(40 * 168)
    shape = (1 + 0.5 * np.sin(2 * np.pi * (t - 9) / 24)) * np.where((t % 168) < 120, 1.1, 0.75)
    y = np.random.default_rng(3).poisson(np.where(t < 30 * 168, 20.0, 30.0) * shape).astype(float)
    f = forecast_array(y, 13 * 168, "1h", models=["changepoint_trend"], start=START)
    assert f.model.startswith("changepoint_trend")
    weekly = f.mean.reshape(13, 168).mean(axis=1)
    assert abs(weekly.mean() / (30 * shape[:168].mean()) - 1) < 0.05
    assert abs(weekly[-1] / weekly[0] - 1) < 0.05


def test_the_lasso_path_solves_the_penalised_problem():
    rng = np.random.default_rng(7)
    n = 300
    U = np.column_stack([np.ones(n), rng.normal(size=n)])
    H = rng.normal(size=(n, 8))
    z = U @ [1.0, 0.5] + H[:, 2] * 0.8 - H[:, 5] * 0.4 + rng.normal(0, 0.3, n)
    X = np.column_stack([U, H])
    pen = np.r_[np.zeros(2, bool), np.ones(8, bool)]
    beta, lam, active = lasso_path_choice(X, z, pen, penalty=3.0)
    g = beta[2:]
    assert {2, 5} <= set(np.flatnonzero(active)) and np.abs(np.delete(g, [2, 5])).max() < 0.1  # the real effects
    assert 0.5 < g[2] < 0.8 and -0.4 < g[5] < -0.1  # shrunk towards zero, not past it
    # KKT at the chosen λ: active correlations equal λ·sign, inactive ones within λ; unpenalised
    # columns orthogonal to the residual.
    r = z - X @ beta
    corr = H.T @ r
    assert np.allclose(corr[active], lam * np.sign(g[active]), rtol=1e-6, atol=1e-8)
    assert np.all(np.abs(corr[~active]) <= lam * (1 + 1e-6))
    assert np.allclose(U.T @ r, 0, atol=1e-8)
    # Without a penalty per change the path ends at least squares.
    beta0, lam0, _ = lasso_path_choice(X, z, pen, penalty=0.0)
    assert lam0 == pytest.approx(0.0, abs=1e-9)
    assert np.allclose(beta0, np.linalg.lstsq(X, z, rcond=None)[0], atol=1e-8)
