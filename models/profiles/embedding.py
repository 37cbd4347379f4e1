"""Normalised daily and weekly profiles and their low-dimensional embedding (PCA through the SVD).

A *profile* is the mean of a series in each hour of the day (24 bins) or of the week (168 bins,
Monday 00:00 first), divided by its own mean so that shapes of functions with very different volumes
compare: a flat series has the profile 1 everywhere. An all-zero series has the profile 0.
A series shorter than a week, whose hour-of-week bins are not all observed, gets its daily profile
repeated seven times as its weekly profile (reported in ``weekly_profiles``'s second result).
"""

from __future__ import annotations

import numpy as np

from models.profiles.calendar import as_matrix, as_timestamps, binned_mean, hour_of_day, hour_of_week

__all__ = ["ShapeEmbedding", "daily_profiles", "normalise_rows", "standardise_rows", "weekly_profiles"]


def normalise_rows(profiles: np.ndarray) -> np.ndarray:
    """Divide each row by its mean (rows whose mean is 0 stay 0)."""
    p = np.asarray(profiles, dtype=float)
    level = p.mean(axis=1, keepdims=True)
    out = np.zeros_like(p)
    np.divide(p, level, out=out, where=level > 0)
    return out


def standardise_rows(profiles: np.ndarray) -> np.ndarray:
    """Centre each row and scale it to unit standard deviation (constant rows become 0).

    Euclidean distance between standardised rows is a monotone function of their correlation
    (d² = 2 × bins × (1 − r)), so clustering them groups shapes that rise and fall together,
    whatever their amplitude; amplitude is reported by the features instead. Without this a
    single spiky series dominates the first component and the clusters.
    """
    p = np.asarray(profiles, dtype=float)
    c = p - p.mean(axis=1, keepdims=True)
    sd = c.std(axis=1, keepdims=True)
    out = np.zeros_like(c)
    np.divide(c, sd, out=out, where=sd > 1e-12)
    return out


def daily_profiles(values, timestamps) -> np.ndarray:
    """Normalised mean by hour of day, ``[series x 24]``; hours never observed count as 0."""
    x = as_matrix(values)
    ts = as_timestamps(timestamps, x.shape[1])
    means, _ = binned_mean(x, hour_of_day(ts), 24)
    return normalise_rows(np.nan_to_num(means))


def weekly_profiles(values, timestamps) -> tuple[np.ndarray, bool]:
    """Normalised mean by hour of week, ``[series x 168]``, and whether every hour of the week was
    observed. When not (a series shorter than a week) the daily profile is tiled seven times."""
    x = as_matrix(values)
    ts = as_timestamps(timestamps, x.shape[1])
    means, counts = binned_mean(x, hour_of_week(ts), 168)
    if (counts > 0).all():
        return normalise_rows(means), True
    return np.tile(daily_profiles(x, ts), 7), False


class ShapeEmbedding:
    """Principal components of normalised profiles (rows = series, columns = profile bins).

    Args:
        n_components: number of components kept; ``None`` keeps the fewest reaching ``variance``.
        variance: share of the variance to explain when ``n_components`` is ``None``.
        max_components: cap on the components kept by ``variance`` (noisy fleets would
            otherwise keep dozens of noise directions).

    Fitted attributes: ``mean_`` (bin means), ``components_`` ``[k x bins]`` (unit rows, sign
    fixed so the largest loading is positive, which makes the result deterministic),
    ``explained_variance_ratio_``, ``n_components_``.
    """

    def __init__(self, n_components: int | None = None, variance: float = 0.9, max_components: int = 10):
        self.n_components = n_components
        self.variance = variance
        self.max_components = max_components

    def fit(self, profiles) -> "ShapeEmbedding":
        """Fit the components on ``profiles`` ``[series x bins]``; returns ``self``."""
        p = np.asarray(profiles, dtype=float)
        if p.ndim != 2 or p.shape[0] < 1:
            raise ValueError(f"profiles must be a non-empty [series x bins] matrix; got shape {p.shape}")
        if not 0 < self.variance <= 1:
            raise ValueError(f"variance must be in (0, 1]; got {self.variance}")
        self.mean_ = p.mean(axis=0)
        _, s, vt = np.linalg.svd(p - self.mean_, full_matrices=False)
        var = s**2
        total = var.sum()
        ratio = var / total if total > 0 else np.zeros_like(var)
        if self.n_components is not None:
            k = int(self.n_components)
            if not 1 <= k <= vt.shape[0]:
                raise ValueError(f"n_components must be in 1..{vt.shape[0]}; got {k}")
        elif total > 0:
            k = int(np.searchsorted(np.cumsum(ratio), self.variance - 1e-12) + 1)
            k = min(k, self.max_components, vt.shape[0])
        else:
            k = 1  # all profiles identical: one (null) component
        vt = vt[:k]
        signs = np.sign(vt[np.arange(k), np.abs(vt).argmax(axis=1)])
        self.components_ = vt * signs[:, None]
        self.explained_variance_ratio_ = ratio[:k]
        self.n_components_ = k
        return self

    def transform(self, profiles) -> np.ndarray:
        """Coordinates ``[series x k]`` of ``profiles`` in the fitted components."""
        if not hasattr(self, "components_"):
            raise ValueError("ShapeEmbedding is not fitted; call fit(profiles) first")
        return (np.asarray(profiles, dtype=float) - self.mean_) @ self.components_.T

    def fit_transform(self, profiles) -> np.ndarray:
        """``fit(profiles).transform(profiles)``."""
        return self.fit(profiles).transform(profiles)

    def inverse_transform(self, coords) -> np.ndarray:
        """Profiles reconstructed from coordinates (e.g. cluster centres)."""
        return np.asarray(coords, dtype=float) @ self.components_ + self.mean_
