"""Shape features: definitions on series whose answer is known, idle and short series."""

import warnings

import numpy as np
import pandas as pd
import pytest

from models.profiles.features import FEATURE_COLUMNS, frequency_class, series_features


def hourly(days, start="2024-01-01"):  # 2024-01-01 is a Monday
    return pd.date_range(start, periods=24 * days, freq="1h").values


def test_sinusoid_peak_hour_phase_and_amplitude():
    ts = hourly(14)
    hours = np.arange(ts.size) % 24
    x = 10 * (1 + 0.5 * np.cos(2 * np.pi * (hours - 3) / 24))
    f = series_features(x, ts).iloc[0]
    assert f["peak_hour"] == 3
    assert f["diurnal_phase_h"] == pytest.approx(3.0, abs=1e-9)
    assert f["diurnal_amplitude"] == pytest.approx(0.5, abs=1e-9)
    assert f["mean"] == pytest.approx(10.0)
    assert f["peak_to_mean"] == pytest.approx(1.5)
    assert f["profile"] == "weekly"
    assert f["spikes_per_day"] == 0


def test_weekday_weekend_ratio_and_idle_share():
    ts = hourly(14)
    dow = pd.DatetimeIndex(ts).day_of_week.to_numpy()
    x = np.where(dow < 5, 4.0, 2.0)
    x[:12] = 0.0
    f = series_features(x, ts).iloc[0]
    assert f["weekday_weekend_ratio"] == pytest.approx(4 * (240 - 12) / 240 / 2)
    assert f["idle_share"] == pytest.approx(12 / ts.size)


def test_spikes_are_counted_as_events_per_day():
    rng = np.random.default_rng(0)
    ts = hourly(20)
    x = rng.poisson(100, ts.size).astype(float)
    x[[50, 51, 200, 333]] = 1000.0  # three events, the first two hours long
    f = series_features(x, ts).iloc[0]
    assert f["spikes_per_day"] == pytest.approx(3 / 20)
    assert f["spike_share"] == pytest.approx(4 / ts.size)
    assert f["burstiness"] > series_features(rng.poisson(100, ts.size), ts).iloc[0]["burstiness"]


def test_all_zero_series_is_idle_without_division_warnings():
    ts = hourly(8)
    x = np.vstack([np.zeros(ts.size), np.ones(ts.size)])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        f = series_features(x, ts, ids=["idle", "flat"])
    idle = f.loc["idle"]
    assert idle["profile"] == "none" and "idle" in idle["note"]
    assert idle["frequency_class"] == "idle" and idle["idle_share"] == 1.0
    for col in ("peak_to_mean", "cv", "burstiness", "peak_hour", "diurnal_amplitude", "weekday_weekend_ratio"):
        assert np.isnan(idle[col]), col
    flat = f.loc["flat"]
    assert flat["cv"] == 0 and flat["burstiness"] == -1 and flat["diurnal_amplitude"] == pytest.approx(0, abs=1e-12)
    assert list(f.columns) == list(FEATURE_COLUMNS)


def test_short_series_gets_daily_profile_only_with_a_note():
    ts = hourly(3)
    hours = np.arange(ts.size) % 24
    x = 1.0 + (hours == 22) * 5.0
    f = series_features(x, ts).iloc[0]
    assert f["profile"] == "daily"
    assert "short" in f["note"] and "daily profile only" in f["note"]
    assert np.isnan(f["weekday_weekend_ratio"])
    assert f["peak_hour"] == 22


def test_five_minute_slots_give_rates_per_hour():
    ts = pd.date_range("2024-01-01", periods=12 * 24 * 7, freq="5min").values
    x = np.full(ts.size, 2.0)  # 2 per 5 min = 24 per hour
    f = series_features(x, ts).iloc[0]
    assert f["invocations_per_hour"] == pytest.approx(24.0)
    assert f["frequency_class"] == "hourly"


def test_frequency_classes():
    got = frequency_class([0, 0.5, 1, 59, 60, 3599, 3600])
    assert list(got) == ["idle", "rare", "hourly", "hourly", "minutely", "minutely", "per_second"]


@pytest.mark.parametrize("bad", [[-1.0, 2.0, 3.0], [np.nan, 1.0, 1.0]])
def test_bad_values_are_rejected(bad):
    with pytest.raises(ValueError):
        series_features(np.array(bad), hourly(1)[:3])


def test_timestamps_must_match_slots():
    with pytest.raises(ValueError, match="one entry per slot"):
        series_features(np.ones((2, 10)), hourly(1))


def test_blocks_of_series_give_the_features_of_the_whole(monkeypatch):
    """series_features works on blocks of rows (memory at fleet scale): the same table as in one go,
    with spiky, idle, weekday-only and flat series split across blocks."""
    import models.profiles.features as features

    rng = np.random.default_rng(5)
    ts = pd.date_range("2026-01-05", periods=24 * 21, freq="h")
    day = 1 + np.sin(2 * np.pi * ts.hour.to_numpy() / 24)
    x = rng.poisson(20 * day, (11, ts.size)).astype(float)
    x[2] = 0.0
    x[5, ts.day_of_week.to_numpy() >= 5] = 0.0
    x[7, ::37] += 400.0
    x[9] = 3.0
    whole = series_features(x, ts, ids=[f"s{i}" for i in range(11)])
    monkeypatch.setattr(features, "BLOCK_ROWS", 4)
    blocked = series_features(x, ts, ids=[f"s{i}" for i in range(11)])
    pd.testing.assert_frame_equal(blocked, whole)
    assert whole.loc["s2", "profile"] == "none" and whole.loc["s7", "spike_share"] > 0
