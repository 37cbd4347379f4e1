"""A group launched a few days before the origin, still on its launch ramp, forecast a quarter
ahead by the ramp learnt from the fleet's past launches (issue 13: app00078, launched 42 hours
before an origin, got a flat forecast whose q99 covered 1.6 % of weeks 7-13)."""

import numpy as np
import pandas as pd
import pytest

from models.forecasting.auto import LAUNCH_RAMP, SHORT_HISTORY, forecast_array
from models.forecasting.launches import hour_of_week_profile

H = 13 * 168
AGE = 72  # the young group is 3 days old at the origin
DAYS = np.arange(H + AGE + 24)


def _launch(rng, plateau, start, n):
    """Hourly demand from a launch at ``start``: a logistic rise to ``plateau`` over six weeks
    (3 % of it on day 3), a daily cycle and noise."""
    age_days = np.arange(n) / 24
    ramp = 1.0 / (1.0 + np.exp(-8.0 * (age_days / 42 - 0.5)))
    hour = (pd.Timestamp(start).hour + np.arange(n)) % 24
    daily = 1.0 + 0.4 * np.sin(2 * np.pi * (hour - 8) / 24)
    return plateau * ramp * daily * np.exp(rng.normal(0, 0.1, n))


def _fleet(seed=0, k=8):
    rng = np.random.default_rng(seed)
    past = []
    for i in range(k):
        start = pd.Timestamp("2026-01-05") + pd.Timedelta(hours=int(rng.integers(0, 24 * 90)))
        past.append((_launch(rng, float(np.exp(rng.normal(1.0, 0.5))), start, AGE + H + int(rng.integers(0, 500))), start))
    start = pd.Timestamp("2026-09-02 06:00")
    full = _launch(rng, 5.0, start, AGE + H)
    return past, full[:AGE], full[AGE:], start


def _rel_error(point, actual):
    return float(np.abs(point - actual).mean() / actual.mean())


def test_a_three_day_old_launch_follows_the_ramp_of_past_launches():
    past, y, actual, start = _fleet()
    with_ramp = forecast_array(y, H, "1h", start=start, launches=past)
    without = forecast_array(y, H, "1h", start=start)
    assert with_ramp.model == LAUNCH_RAMP and with_ramp.fallback == SHORT_HISTORY
    assert any(n.startswith("launch ramp of 8 past launches taken") for n in with_ramp.notes)
    # Within 15 % over the quarter (mean absolute error / mean actual) with the ramp; the short path
    # stays near the launch level (3 % of the plateau) and misses most of the demand.
    assert _rel_error(with_ramp.mean, actual) < 0.15
    assert _rel_error(without.mean, actual) > 0.8
    wk = slice(42 * 24, H)  # weeks 7-13: the plateau
    assert with_ramp.mean[wk].mean() == pytest.approx(actual[wk].mean(), rel=0.25)
    q99 = with_ramp.quantiles[-1]
    assert np.mean(actual[wk] <= q99[wk]) > 0.9  # the band holds the plateau
    assert np.mean(actual[wk] <= without.quantiles[-1][wk]) < 0.2
    assert np.all(np.diff(with_ramp.quantiles, axis=0) >= -1e-9)  # quantiles ordered
    # Checked on the past launches at the same age, leave one out: coverage rows per lead bucket.
    assert {c["bucket"] for c in with_ramp.calibration} >= {"w1-2", "w3-6", "w7-13"}


def test_no_past_launches_keeps_the_short_history_path_with_a_note():
    past, y, _actual, start = _fleet()
    today = forecast_array(y, H, "1h", start=start)
    none = forecast_array(y, H, "1h", start=start, launches=())
    assert none.model == today.model != LAUNCH_RAMP
    np.testing.assert_allclose(none.mean, today.mean)
    np.testing.assert_allclose(none.quantiles, today.quantiles)
    assert any(n.startswith("no launch ramp: 0 past launch(es)") for n in none.notes)
    # Launches not seen for the young group's age plus the horizon teach nothing about it.
    short = [(d[:AGE + H // 2], s) for d, s in past]
    assert any(n.startswith("no launch ramp: 0 past") for n in forecast_array(y, H, "1h", start=start, launches=short).notes)


def test_past_launches_without_a_ramp_teach_none():
    # Past launches that start at their plateau: whichever path the backtest on them takes, the
    # forecast stays at the young group's level (no ramp is invented).
    rng = np.random.default_rng(3)
    past = [(np.full(AGE + H, 2.0) * np.exp(rng.normal(0, 0.05, AGE + H)), pd.Timestamp("2026-01-05") + pd.Timedelta(days=i))
            for i in range(5)]
    y = np.full(AGE, 3.0) * np.exp(rng.normal(0, 0.05, AGE))
    res = forecast_array(y, H, "1h", start=pd.Timestamp("2026-09-02"), launches=past)
    assert any(n.startswith("launch ramp of 5 past launches") for n in res.notes)
    assert res.mean.mean() == pytest.approx(3.0, rel=0.05)


def test_hour_of_week_profile_reads_the_shape_not_the_ramp():
    week = 168
    y = np.linspace(1, 3, 2 * week) * (1 + 0.5 * (np.arange(2 * week) % 24 >= 12))
    prof = hour_of_week_profile(y, 0, week, 24)
    assert prof.mean() == pytest.approx(1.0)
    hours = np.arange(week) % 24
    assert prof[hours >= 12].mean() / prof[hours < 12].mean() == pytest.approx(1.5, rel=0.05)
    assert hour_of_week_profile(y[:100], 0, week, 24) is None


def test_hourly_ratios_keep_the_shape_aligned_past_a_week():
    # A series longer than a week keeps its last week: the shape must be read at those slots'
    # own positions, so a noiseless series has hour factors of 1.
    from models.forecasting.launches import hour_of_week_profile, hourly_ratios

    week, day = 168, 24
    t = np.arange(week + 60)
    y = 10 * (1 + 0.8 * np.sin(2 * np.pi * t / 24)) * (1 + 0.3 * (t % week >= 120))
    r = hourly_ratios(y, 0, week, hour_of_week_profile(y, 0, week, day), day)
    assert np.median(np.abs(r - 1)) < 0.05
