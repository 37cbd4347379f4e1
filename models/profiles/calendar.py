"""Checks of the input matrix and the calendar positions (hour of day, day of week) of its slots."""

from __future__ import annotations

import numpy as np

__all__ = [
    "as_matrix",
    "as_timestamps",
    "binned_mean",
    "day_of_week",
    "hour_of_day",
    "hour_of_week",
    "slot_seconds",
]

SECONDS_PER_DAY = 86_400


def as_matrix(values) -> np.ndarray:
    """Return ``values`` as a 2-D float array ``[series x slots]``; raise ``ValueError`` if it has
    negative or non-finite entries (fill gaps before profiling: a missing interval is zero invocations)."""
    arr = np.asarray(values, dtype=float)
    if arr.ndim == 1:
        arr = arr[None, :]
    if arr.ndim != 2:
        raise ValueError(f"values must be a [series x slots] matrix; got {arr.ndim} dimensions")
    if not np.isfinite(arr).all():
        raise ValueError("values contain NaN or infinite entries; fill missing slots (with 0) first")
    if (arr < 0).any():
        raise ValueError("values contain negative entries; demand and invocations are >= 0")
    return arr


def as_timestamps(timestamps, n_slots: int) -> np.ndarray:
    """Return the slot start times as ``datetime64[s]``, checking there is one per column."""
    ts = np.asarray(timestamps, dtype="datetime64[ns]").astype("datetime64[s]")
    if ts.ndim != 1 or ts.size != n_slots:
        raise ValueError(f"timestamps must have one entry per slot ({n_slots}); got shape {ts.shape}")
    if ts.size > 1 and (np.diff(ts).astype(np.int64) <= 0).any():
        raise ValueError("timestamps must be strictly increasing")
    return ts


def slot_seconds(ts: np.ndarray, default: float = 3600.0) -> float:
    """Slot length in seconds: the median spacing of ``ts`` (``default`` for a single slot)."""
    if ts.size < 2:
        return float(default)
    return float(np.median(np.diff(ts).astype(np.int64)))


def _epoch_seconds(ts: np.ndarray) -> np.ndarray:
    return ts.astype("datetime64[s]").astype(np.int64)


def hour_of_day(ts: np.ndarray) -> np.ndarray:
    """Hour of day (0-23) of each timestamp."""
    return (_epoch_seconds(ts) // 3600) % 24


def day_of_week(ts: np.ndarray) -> np.ndarray:
    """Day of week of each timestamp, Monday = 0 (1970-01-01 was a Thursday, hence the +3)."""
    return (_epoch_seconds(ts) // SECONDS_PER_DAY + 3) % 7


def hour_of_week(ts: np.ndarray) -> np.ndarray:
    """Hour of the week (0-167, Monday 00:00 = 0) of each timestamp."""
    return day_of_week(ts) * 24 + hour_of_day(ts)


def binned_mean(values: np.ndarray, bins: np.ndarray, n_bins: int) -> tuple[np.ndarray, np.ndarray]:
    """Mean of each row over the slots of each bin (e.g. hour of day).

    Returns ``(means [series x n_bins], counts [n_bins])``; a bin with no slot has mean NaN.
    """
    onehot = np.zeros((bins.size, n_bins))
    onehot[np.arange(bins.size), bins] = 1.0
    counts = onehot.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        means = (values @ onehot) / counts
    means[:, counts == 0] = np.nan
    return means, counts
