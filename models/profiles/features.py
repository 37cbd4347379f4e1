"""Shape features of each demand series: level, peakiness, bursts, daily and weekly rhythm, idleness.

Definitions (per row ``x`` of ``values``, slots of length ``Δ`` seconds):

- ``mean``, ``peak`` (max), ``peak_to_mean`` = peak / mean, ``cv`` = std / mean.
- ``burstiness`` = (σ − μ) / (σ + μ) of the slot values (Goh & Barabási): −1 for a constant series,
  about 0 when the spread equals the level, towards 1 for rare large bursts.
- spikes: a slot is a spike when it exceeds the mean of its hour of day (over all days) by more
  than ``spike_sigma`` robust standard deviations (1.4826 × MAD) of the residuals and by more than
  the hour's mean itself (so at least twice the expected value). ``spike_share`` is the share of
  spike slots, ``spikes_per_day`` counts runs of consecutive spike slots per day.
- ``peak_hour``: hour of day (0-23) of the maximum of the mean daily profile;
  ``diurnal_phase_h``: hour at which the first daily harmonic peaks (continuous, robust to a single
  spike hour); ``diurnal_amplitude``: first-harmonic amplitude / mean (0 flat, about 1 for a
  profile that goes to zero once a day).
- ``weekday_weekend_ratio``: mean on Monday-Friday / mean on Saturday-Sunday (needs a full week).
- ``idle_share``: share of slots with zero demand.
- ``invocations_per_hour`` = mean × 3600 / Δ (values read as counts per slot) and its
  ``frequency_class`` (thresholds of the Azure Functions 2019 characterisation: once per hour,
  once per minute, once per second).

An all-zero series is reported as ``idle`` and every ratio is NaN (never divided by zero). A series
spanning less than a week gets the daily features only, ``profile = "daily"`` and a note.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from models.profiles.calendar import (
    SECONDS_PER_DAY,
    as_matrix,
    as_timestamps,
    binned_mean,
    day_of_week,
    hour_of_day,
    slot_seconds,
)

__all__ = ["FEATURE_COLUMNS", "FREQUENCY_CLASSES", "frequency_class", "series_features"]

FEATURE_COLUMNS = (
    "n_days",
    "profile",
    "mean",
    "peak",
    "peak_to_mean",
    "cv",
    "burstiness",
    "spike_share",
    "spikes_per_day",
    "peak_hour",
    "diurnal_phase_h",
    "diurnal_amplitude",
    "weekday_weekend_ratio",
    "idle_share",
    "invocations_per_hour",
    "frequency_class",
    "note",
)

# Upper bounds (invocations per hour, exclusive) of each class; the last class is open-ended.
FREQUENCY_CLASSES = (("rare", 1.0), ("hourly", 60.0), ("minutely", 3600.0), ("per_second", np.inf))

WEEK_DAYS = 7.0


def frequency_class(invocations_per_hour: np.ndarray) -> np.ndarray:
    """Class of each mean invocation rate: ``idle`` (0), ``rare`` (< 1/h), ``hourly`` (< 1/min),
    ``minutely`` (< 1/s), ``per_second`` (≥ 1/s)."""
    rate = np.asarray(invocations_per_hour, dtype=float)
    out = np.full(rate.shape, "idle", dtype=object)
    lower = 0.0
    for name, upper in FREQUENCY_CLASSES:
        out[(rate > 0) & (rate >= lower) & (rate < upper)] = name
        lower = upper
    return out


def _safe_ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """num / den, NaN where den is 0 (idle series, empty weekends)."""
    num = np.asarray(num, dtype=float)
    den = np.asarray(den, dtype=float)
    out = np.full(np.broadcast(num, den).shape, np.nan)
    np.divide(num, den, out=out, where=den > 0)
    return out


def _spikes(values: np.ndarray, hod: np.ndarray, hod_mean: np.ndarray, spike_sigma: float):
    """Spike mask [series x slots] against the hour-of-day expectation (see module docstring)."""
    expected = hod_mean[:, hod]
    resid = values - expected
    med = np.median(resid, axis=1, keepdims=True)
    sigma = 1.4826 * np.median(np.abs(resid - med), axis=1, keepdims=True)
    return (resid > spike_sigma * sigma) & (resid > expected) & (values > 0)


def _first_harmonic(hod_mean: np.ndarray):
    """Amplitude / mean and peak hour of the first daily harmonic of 24-bin profiles."""
    hours = np.arange(24)
    angle = 2 * np.pi * hours / 24
    level = hod_mean.mean(axis=1)
    a = (hod_mean * np.cos(angle)).mean(axis=1) * 2
    b = (hod_mean * np.sin(angle)).mean(axis=1) * 2
    amplitude = _safe_ratio(np.hypot(a, b), level)
    phase = (np.arctan2(b, a) * 24 / (2 * np.pi)) % 24
    return amplitude, phase


BLOCK_ROWS = 256  # series_features works on this many series at a time


def series_features(values, timestamps, ids=None, *, spike_sigma: float = 4.0) -> pd.DataFrame:
    """Shape features of each row of ``values`` (see the module docstring for definitions).

    Args:
        values: ``[series x slots]`` non-negative demand or invocation counts per slot.
        timestamps: start of each slot (``datetime64``), evenly spaced, at most hourly for the
            daily features.
        ids: labels of the rows (default ``0..n-1``); they become the index.
        spike_sigma: robust standard deviations above the hour-of-day mean that make a spike.

    Returns:
        One row per series with the columns of ``FEATURE_COLUMNS``.
    """
    x = as_matrix(values)
    n, t = x.shape
    ts = as_timestamps(timestamps, t)
    index = pd.Index(range(n) if ids is None else list(ids), name="series")
    if len(index) != n:
        raise ValueError(f"ids has {len(index)} labels for {n} series")
    if n <= BLOCK_ROWS:
        return _features(x, ts, index, spike_sigma)
    # Every feature is a function of its row alone: blocks of rows give the same numbers with a
    # block's temporaries (the spike residuals, the medians' copies) instead of the fleet's, which
    # were the largest allocation of a fleet-scale run's Profiles table (~1 GB at 1,700 x 8,736).
    parts = [_features(x[i:i + BLOCK_ROWS], ts, index[i:i + BLOCK_ROWS], spike_sigma) for i in range(0, n, BLOCK_ROWS)]
    return pd.concat(parts)


def _features(x: np.ndarray, ts, index: pd.Index, spike_sigma: float) -> pd.DataFrame:
    n, t = x.shape
    delta = slot_seconds(ts)
    n_days = t * delta / SECONDS_PER_DAY

    mean = x.mean(axis=1)
    peak = x.max(axis=1)
    std = x.std(axis=1)
    idle = peak <= 0
    weekly = n_days >= WEEK_DAYS
    daily = delta <= 3600 and n_days >= 1

    feats = {
        "n_days": np.full(n, round(n_days, 3)),
        "profile": np.where(idle, "none", "weekly" if weekly else ("daily" if daily else "none")),
        "mean": mean,
        "peak": peak,
        "peak_to_mean": _safe_ratio(peak, mean),
        "cv": _safe_ratio(std, mean),
        "burstiness": _safe_ratio(std - mean, std + mean),
        "idle_share": (x <= 0).mean(axis=1),
        "invocations_per_hour": mean * 3600.0 / delta,
    }
    feats["frequency_class"] = frequency_class(feats["invocations_per_hour"])

    nan = np.full(n, np.nan)
    feats.update(spike_share=nan.copy(), spikes_per_day=nan.copy(), peak_hour=nan.copy(),
                 diurnal_phase_h=nan.copy(), diurnal_amplitude=nan.copy(),
                 weekday_weekend_ratio=nan.copy())
    if daily:
        hod = hour_of_day(ts)
        hod_mean, counts = binned_mean(x, hod, 24)
        if (counts > 0).all():
            spikes = _spikes(x, hod, hod_mean, spike_sigma)
            # A run of consecutive spike slots is one spike event.
            starts = spikes & ~np.concatenate([np.zeros((n, 1), bool), spikes[:, :-1]], axis=1)
            feats["spike_share"] = spikes.mean(axis=1)
            feats["spikes_per_day"] = starts.sum(axis=1) / n_days
            feats["peak_hour"] = hod_mean.argmax(axis=1).astype(float)
            feats["diurnal_amplitude"], feats["diurnal_phase_h"] = _first_harmonic(hod_mean)
    if weekly:
        weekend = day_of_week(ts) >= 5
        feats["weekday_weekend_ratio"] = _safe_ratio(x[:, ~weekend].mean(axis=1), x[:, weekend].mean(axis=1))

    notes = []
    for i in range(n):
        note = []
        if idle[i]:
            note.append("idle: all-zero series")
        else:
            if not daily:
                note.append(f"too short or too coarse for a daily profile ({n_days:.2f} days, slot {delta:.0f} s)")
            elif not weekly:
                note.append(f"short: {n_days:.1f} days < 7, daily profile only")
            elif np.isnan(feats["weekday_weekend_ratio"][i]):
                note.append("no weekend activity: weekday/weekend ratio undefined")
        notes.append("; ".join(note))
    feats["note"] = np.array(notes, dtype=object)
    # Idle rows keep NaN ratios; their spike/diurnal features are meaningless too.
    for col in ("spike_share", "spikes_per_day", "peak_hour", "diurnal_phase_h", "diurnal_amplitude"):
        feats[col] = np.where(idle, np.nan, feats[col])
    return pd.DataFrame({c: feats[c] for c in FEATURE_COLUMNS}, index=index)
