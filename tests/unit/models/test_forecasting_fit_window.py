"""Long histories (issue 13): fit windows offered to the backtest (opt-in) and the band calibrated
on windows over the whole history."""

import numpy as np
import pandas as pd
import pytest

from models.forecasting._util import single_blas_thread
from models.forecasting.auto import fit_windows, forecast_array

START = pd.Timestamp("2016-01-04")  # a Monday
H = 91
MODELS = ("seasonal_trend", "seasonal_naive")
FAST = dict(n_windows=4, step=H)  # a few windows a horizon apart: one fit per calibration quarter


@pytest.fixture(autouse=True)
def _one_thread():
    with single_blas_thread():
        yield


def daily(years, weekend_flip_years=None, noise=0.05, seed=0):
    """Daily demand (level 100, a yearly cosine peaking in February, weekends at 0.6); with
    ``weekend_flip_years`` the weekends are busy (1.6) before the last that many years: the
    regime changed then. Returns (observed, expected) over ``years`` years plus a quarter."""
    n = int(round(years * 365.25)) + H
    d = np.arange(n)
    weekend = (d % 7) >= 5
    factor = np.where(weekend, 0.6, 1.0)
    if weekend_flip_years is not None:
        old = d < n - H - int(round(weekend_flip_years * 365.25))
        factor = np.where(old & weekend, 1.6, factor)
    expected = 100 * (1 + 0.2 * np.cos(2 * np.pi * (d - 45) / 365.25)) * factor
    observed = expected * np.exp(np.random.default_rng(seed).normal(0, noise, n))
    return observed, expected


def test_fit_windows_need_a_year_more_history_than_the_window():
    day = pd.Timedelta("1D")
    assert fit_windows(int(2.9 * 365.25), day, (2.0, 4.0)) == {}
    w = fit_windows(int(3.1 * 365.25), day, (2.0, 4.0))
    assert list(w) == ["last2y"] and w["last2y"] == 2 * 365 + 8  # two years and a week, in days
    assert list(fit_windows(6 * 366 * 24, pd.Timedelta("1h"), (2.0, 4.0))) == ["last4y", "last2y"]


def test_a_regime_changed_two_years_ago_is_forecast_from_the_recent_window():
    y, truth = daily(6, weekend_flip_years=2.2)
    train, future = y[:-H], truth[-H:]
    windowed = forecast_array(train, H, "1D", MODELS, start=START, window_years=(2.0,), calibrate_history=False, **FAST)
    whole = forecast_array(train, H, "1D", MODELS, start=START, window_years=(), calibrate_history=False, **FAST)
    assert windowed.fit_window == "last2y" and "last2y" in windowed.model
    assert any("fitted on last2y" in n for n in windowed.notes)
    err = np.abs(windowed.mean - future).mean() / future.mean()
    err_whole = np.abs(whole.mean - future).mean() / future.mean()
    assert err < 0.06  # weekends at 0.6 again: the recent weekday pattern
    assert err < 0.7 * err_whole  # the whole history's weekday effect mixes both regimes
    assert whole.fit_window == "" and "last" not in whole.model


def test_a_stationary_long_history_keeps_the_whole_history():
    y, truth = daily(6)
    r = forecast_array(y[:-H], H, "1D", MODELS, start=START, window_years=(2.0, 4.0), calibrate_history=False, **FAST)
    assert r.fit_window == "whole" and "last" not in r.model
    assert any(k.endswith("last2y)") for k in r.scores) and any(k.endswith("last4y)") for k in r.scores)
    assert np.abs(r.mean - truth[-H:]).mean() / truth[-H:].mean() < 0.06


def test_a_long_history_band_is_calibrated_on_windows_over_all_of_it():
    y, truth = daily(5, noise=0.1, seed=3)
    train, future = y[:-H], y[-H:]
    own = forecast_array(train, H, "1D", MODELS, start=START, calibrate_history=False, **FAST)
    hist = forecast_array(train, H, "1D", MODELS, start=START, calibrate_history=True, **FAST)
    assert own.model == hist.model and np.allclose(own.mean, hist.mean)  # the point is untouched
    note = next(n for n in hist.notes if "over the whole history" in n)
    n_cal = int(note.split("calibrated on ")[1].split()[0])
    assert n_cal > own.n_windows and n_cal >= 3 * 4 - 1  # about four windows a year back to two years of training
    assert hist.band_windows.sum() > own.band_windows.sum()
    q = dict(zip(hist.levels, hist.quantiles))
    assert np.mean(future <= q[0.9]) > 0.75 and np.mean(future <= q[0.99]) > 0.9


def test_a_summer_band_is_calibrated_on_summer_windows_when_winter_errs_more():
    """Winter days swing (weather), summer days do not: a forecast from June takes its band from
    the windows starting near June in the earlier years, not from the winter ones as well."""
    origin = pd.Timestamp("2020-06-01")
    n = (origin - START).days
    d = np.arange(n + H)
    doy = (START + pd.to_timedelta(d, "D")).dayofyear.to_numpy()
    winter = (doy < 75) | (doy > 320)
    expected = 100 * (1 + 0.2 * np.cos(2 * np.pi * (doy - 200) / 365.25)) * np.where(d % 7 >= 5, 0.6, 1.0)
    y = expected * np.exp(np.random.default_rng(5).normal(0, np.where(winter, 0.3, 0.04)))
    kw = dict(start=START, n_windows=4, step=H // 4)
    season = forecast_array(y[:n], H, "1D", MODELS, season_days=45, **kw)
    pooled = forecast_array(y[:n], H, "1D", MODELS, season_days=None, **kw)
    note = next(x for x in season.notes if "within 45 days of the forecast's in the year" in x)
    assert int(note.split("on the ")[1].split()[0]) >= 8
    lv = list(season.levels)
    width = lambda r: float(np.mean(r.quantiles[lv.index(0.99)] - r.mean))
    assert width(season) < 0.6 * width(pooled)  # summer errors only
    future = y[n:]
    assert np.mean(future <= season.quantiles[lv.index(0.9)]) > 0.8  # still covers the summer quarter


def test_weeks_7_13_band_is_not_widened_by_windows_fitted_on_under_two_years():
    """A sharp yearly peak in weeks 7-13: a fit on under two years of history has three yearly
    harmonics at most and smears it; the band comes from windows fitted as the final forecast is."""
    origin = pd.Timestamp("2022-06-01")
    n = (origin - START).days
    d = np.arange(n + H)
    doy = (START + pd.to_timedelta(d, "D")).day_of_year.to_numpy()
    dist = (doy - pd.Timestamp("2022-08-05").day_of_year + 182) % 365 - 182
    expected = 100 * (1 + 0.8 * np.exp(-0.5 * (dist / 10.0) ** 2)) * np.where(d % 7 >= 5, 0.7, 1.0)
    y = expected * np.exp(np.random.default_rng(0).normal(0, 0.04, n + H))
    r = forecast_array(y[:n], H, "1D", MODELS, start=START, n_windows=4, step=H // 4)
    lv, w7 = list(r.levels), slice(42, H)
    width = np.mean((r.quantiles[lv.index(0.99)] - r.mean)[w7] / r.mean[w7])
    assert width < 0.25  # 0.63 with windows from one year of training: the smeared peak's errors
    future = y[n:][w7]
    assert np.mean(future <= r.quantiles[lv.index(0.9)][w7]) > 0.85
    assert np.all(future <= r.quantiles[lv.index(0.99)][w7])


def test_a_history_under_three_years_is_untouched():
    y, _ = daily(2.5)
    a = forecast_array(y[:-H], H, "1D", MODELS, start=START, **FAST)
    b = forecast_array(y[:-H], H, "1D", MODELS, start=START, window_years=(), calibrate_history=False, **FAST)
    assert a.fit_window == b.fit_window == "" and a.model == b.model
    assert np.array_equal(a.mean, b.mean) and np.array_equal(a.quantiles, b.quantiles)
    assert not any("whole history" in n or "fit windows" in n for n in a.notes)
