"""Bands of young series (backtest windows shorter than the horizon) pooled with comparable series:
the growth of the band with lead time comes from series of similar level, not from a random walk's
square root (issue 13: app00013, two weeks old, got a band 15 times as wide a quarter ahead)."""

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from forecast_fixtures import seasonal_series  # noqa: E402

from models.forecasting.auto import forecast_array, pool_bands  # noqa: E402
from models.forecasting.conformal import band_ratios, effective_windows, lead_buckets, shrink_band  # noqa: E402

H = 13 * 168


def test_band_ratios_read_the_band_in_relative_units():
    point = np.full(10, 100.0)
    q = np.stack([point, point + 20.0, point + 30.0])
    r = band_ratios(point, q, 100.0, [0, 5, 10])  # s = 100 + 0.1 * 100 = 110
    assert r.shape == (3, 2)
    assert r[1] == pytest.approx([20 / 110, 20 / 110]) and r[0] == pytest.approx([0, 0])


def test_overlapping_windows_count_as_fewer_independent_quarters():
    edges = lead_buckets(H, 24)
    full = effective_windows(12, H // 4, H, edges)
    assert full == pytest.approx([1 + 11 / 4] * 3)  # 12 windows a quarter of a horizon apart: 3.75
    short = effective_windows(1, 7, 7, edges)  # one 7-hour window: almost nothing in week 1-2, nothing after
    assert short[0] == pytest.approx(7 / 336) and short[1] == 0 and short[2] == 0


def test_shrink_band_moves_each_bucket_to_its_target_and_keeps_the_median():
    point = np.full(20, 10.0)
    bump = np.tile([0.0, 4.0], 10)  # an hour-by-hour shape: every other hour wider
    q = np.stack([point - 1, point + 5 + bump, point + 8 + bump, point + 12 + bump])
    edges = [0, 10, 20]
    prior = np.array([[np.nan, np.nan], [0.1, 0.2], [0.2, 0.3], [0.3, 0.4]])
    out = shrink_band(point, q, 10.0, edges, np.array([1.0, 0.0]), prior)
    assert np.allclose(out[:, :10], q[:, :10])  # weight 1 on its own band: unchanged
    assert band_ratios(point, out, 10.0, edges)[1:, 1] == pytest.approx(prior[1:, 1], abs=1e-6)
    assert np.allclose(out[0], q[0]) and (np.diff(out, axis=0) >= 0).all()  # NaN prior: the median left as it was
    half = shrink_band(point, q, 10.0, edges, np.array([0.5, 0.5]), prior)
    own = band_ratios(point, q, 10.0, edges)
    assert band_ratios(point, half, 10.0, edges)[1:] == pytest.approx(0.5 * own[1:] + 0.5 * prior[1:], abs=1e-6)
    swing = half[3, 1::2] - half[3, 0::2]
    assert swing == pytest.approx(np.full(10, 2.0))  # the own shape kept at half its size


def _fleet(seed=0, n=12):
    """Mature series (two years of hourly history) with small, steady errors."""
    rng = np.random.default_rng(seed)
    out = []
    for k in range(n):
        y = np.abs(seasonal_series(104 * 168, level=50.0 + 5 * k, sigma=0.05, seed=100 + k)) + rng.uniform(0, 0.1)
        out.append(forecast_array(y, H, "1h", models=["seasonal_naive", "window_average"]))
    return out


@pytest.fixture(scope="module")
def fleet():
    return _fleet()


def test_a_young_series_takes_the_growth_of_comparable_series_not_a_random_walk(fleet):
    """Three weeks of history: its windows cover a week and a half, and the conformal step widened
    the rest of the quarter by √(lead ratio). Pooled, its week 7-13 band grows like the mature
    series' bands do (a little), and it is far narrower than the extrapolation."""
    young = forecast_array(np.abs(seasonal_series(3 * 168, level=60.0, sigma=0.05, seed=7)), H, "1h",
                           models=["seasonal_naive", "window_average"])
    assert young.fallback == "history too short for a full-horizon backtest"
    edges = list(young.band_edges)
    before = band_ratios(young.mean, young.quantiles, young.band_level, edges)[-1]
    q_before = young.quantiles.copy()
    assert before[2] > 3 * before[0]  # the square-root extrapolation
    assert pool_bands([*fleet, young]) == 1
    after = band_ratios(young.mean, young.quantiles, young.band_level, edges)[-1]
    growth = np.median([band_ratios(f.mean, f.quantiles, f.band_level, edges)[-1, 2]
                        / band_ratios(f.mean, f.quantiles, f.band_level, edges)[-1, 0] for f in fleet])
    assert after[2] < 0.5 * before[2]
    assert after[2] / after[0] == pytest.approx(growth, rel=0.1)
    assert np.allclose(young.quantiles[0], q_before[0])  # the median keeps its own offset
    assert young.band_shrink == pytest.approx(1.0) and "shrunk towards" in young.notes[-1]
    for f in fleet:  # mature series keep their own band
        assert np.isnan(f.band_shrink)


def test_a_noisy_young_series_keeps_a_wider_band_than_a_quiet_one(fleet):
    """The first weeks' spread is the series' own: pooling takes only the growth with lead time."""
    kw = dict(models=["seasonal_naive", "window_average"])
    quiet = forecast_array(np.abs(seasonal_series(3 * 168, level=60.0, sigma=0.05, seed=8)), H, "1h", **kw)
    noisy = forecast_array(np.abs(seasonal_series(3 * 168, level=60.0, sigma=0.4, seed=8)), H, "1h", **kw)
    pool_bands([*fleet, quiet, noisy])
    r = {k: band_ratios(f.mean, f.quantiles, f.band_level, list(f.band_edges))[-1] for k, f in
         (("quiet", quiet), ("noisy", noisy))}
    assert (r["noisy"] > 2 * r["quiet"]).all()


def test_pooling_is_deterministic_and_needs_mature_series():
    kw = dict(models=["seasonal_naive", "window_average"])
    y = np.abs(seasonal_series(3 * 168, level=60.0, sigma=0.05, seed=7))
    alone = forecast_array(y, H, "1h", **kw)
    q = alone.quantiles.copy()
    assert pool_bands([alone]) == 0 and np.array_equal(alone.quantiles, q)  # no mature series: left as it is
    a, b = (forecast_array(y, H, "1h", **kw) for _ in range(2))
    pool_bands([*_fleet(n=4), a]), pool_bands([*_fleet(n=4), b])
    assert np.array_equal(a.quantiles, b.quantiles)
