"""Split-conformal quantiles from backtest errors, by horizon bucket and relative to the level.

Score of a backtest error: z = (actual − forecast) / s, with s = |forecast| + floor (errors of
demand grow with its level: a peak hour misses by more than a night hour). The calibrated quantile
at level τ of step i is forecast_i + s_i · Q_τ(z in the bucket of i), where Q_τ is the conformal
order statistic ⌈(n + 1)τ⌉ of the n scores. Buckets are consecutive blocks of steps large enough
to hold ``min_per_bucket`` scores; upper quantiles are made non-decreasing in the horizon.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["ConformalQuantiles", "conformal_level"]


def conformal_level(n: int, tau: float) -> int:
    """Rank (1-based) of the conformal τ-quantile among n scores, capped at n."""
    return min(n, max(1, math.ceil((n + 1) * tau)))


class ConformalQuantiles:
    """Calibrated quantiles of a point forecast from its backtest errors.

    Args:
        levels: quantile levels in (0, 1), e.g. (0.5, 0.9, 0.95, 0.99).
        min_per_bucket: scores per horizon bucket (about 100 resolve a 99% quantile).
        floor_frac: scale floor as a share of the mean absolute level of the history, so that
            forecasts near zero still get an interval.
    """

    def __init__(self, levels=(0.5, 0.9, 0.95, 0.99), min_per_bucket: int = 120, floor_frac: float = 0.1):
        self.levels = tuple(levels)
        self.min_per_bucket = min_per_bucket
        self.floor_frac = floor_frac

    def _scale(self, point):
        return np.abs(point) + self.floor_

    def fit(self, actual: np.ndarray, pred: np.ndarray, level_ref: float) -> "ConformalQuantiles":
        """Fit on backtest windows (rows) × steps (columns); ``level_ref`` = mean |y| of the history."""
        actual = np.atleast_2d(np.asarray(actual, float))
        pred = np.atleast_2d(np.asarray(pred, float))
        w, h = actual.shape
        self.floor_ = self.floor_frac * abs(float(level_ref)) + 1e-9
        z = (actual - pred) / self._scale(pred)
        size = min(h, max(1, math.ceil(self.min_per_bucket / w)))
        edges = list(range(0, h, size)) + [h]
        if len(edges) > 2 and edges[-1] - edges[-2] < size / 2:
            edges.pop(-2)  # merge a short tail bucket into the previous one
        q = np.empty((len(edges) - 1, len(self.levels)))
        for b in range(len(edges) - 1):
            scores = np.sort(z[:, edges[b]:edges[b + 1]].ravel())
            for j, tau in enumerate(self.levels):
                if tau == 0.5:
                    q[b, j] = float(np.median(scores))
                elif tau > 0.5:
                    q[b, j] = scores[conformal_level(len(scores), tau) - 1]
                else:
                    q[b, j] = scores[len(scores) - conformal_level(len(scores), 1 - tau)]
        upper = np.array(self.levels) > 0.5
        q[:, upper] = np.maximum.accumulate(q[:, upper], axis=0)  # wider, never narrower, further out
        self.edges_, self.quantiles_, self.n_scores_ = edges, q, int(z.size)
        return self

    def predict(self, point: np.ndarray) -> np.ndarray:
        """Quantiles (levels × steps) around ``point``; steps past the calibrated horizon reuse the last bucket."""
        point = np.asarray(point, float)
        steps = np.arange(len(point))
        bucket = np.searchsorted(self.edges_[1:], steps, side="right").clip(max=len(self.edges_) - 2)
        out = point[None, :] + self._scale(point)[None, :] * self.quantiles_[bucket].T
        return np.sort(out, axis=0)  # quantiles never cross
