"""Split-conformal quantiles from backtest errors, by horizon bucket, on a relative or an additive scale.

Score of a backtest error: z = (actual − forecast) / s. Two scales are fitted:

* relative, s = |forecast| + 0.1 · mean|y|: errors that grow with the level (a peak hour misses by
  more than a night hour);
* additive, s = mean|y|: errors of the same size at every level (spiky series, whose misses at
  near-zero forecasts would otherwise be multiplied by the peak forecast).

The calibrated quantile at level τ of step i is forecast_i + s_i · Q_τ(z in the bucket of i), where
Q_τ is the conformal order statistic ⌈(n + 1)τ⌉ of the n scores. Both scales cover about τ of the
calibration errors by construction; ``scale="auto"`` keeps the one whose upper quantiles are
narrower on the calibration forecasts (the more efficient score). Buckets are consecutive blocks of
steps large enough to hold ``min_per_bucket`` scores; upper quantiles are made non-decreasing in
the horizon.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["ConformalQuantiles", "conformal_level", "SCALES"]

SCALES = ("auto", "relative", "additive")


def conformal_level(n: int, tau: float) -> int:
    """Rank (1-based) of the conformal τ-quantile among n scores, capped at n."""
    return min(n, max(1, math.ceil((n + 1) * tau)))


class ConformalQuantiles:
    """Calibrated quantiles of a point forecast from its backtest errors.

    Args:
        levels: quantile levels in (0, 1), e.g. (0.5, 0.9, 0.95, 0.99).
        min_per_bucket: scores per horizon bucket. 60 (ten steps with 6 windows) follows the growth
            of errors along the horizon closely; with the running maximum over buckets this gave
            q90/q95 coverage within a point of nominal on held-out real traces, where 120 fell
            2-9 points short (docs/forecast.md).
        floor_frac: floor of the relative scale as a share of the mean absolute level of the
            history, so that forecasts near zero still get an interval.
        scale: ``"relative"``, ``"additive"`` or ``"auto"`` (the narrower of the two; ``scale_``
            tells which after :meth:`fit`).
    """

    def __init__(self, levels=(0.5, 0.9, 0.95, 0.99), min_per_bucket: int = 60, floor_frac: float = 0.1,
                 scale: str = "auto"):
        if scale not in SCALES:
            raise ValueError(f"scale must be one of {SCALES}, got {scale!r}")
        self.levels = tuple(levels)
        self.min_per_bucket = min_per_bucket
        self.floor_frac = floor_frac
        self.scale = scale

    def _scale(self, point, kind=None):
        kind = kind or self.scale_
        point = np.asarray(point, float)
        if kind == "additive":
            return np.full(point.shape, self.level_)
        return np.abs(point) + self.floor_

    def _bucket_quantiles(self, z: np.ndarray) -> np.ndarray:
        w, h = z.shape
        edges = self.edges_
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
        return q

    def fit(self, actual: np.ndarray, pred: np.ndarray, level_ref: float) -> "ConformalQuantiles":
        """Fit on backtest windows (rows) × steps (columns); ``level_ref`` = mean |y| of the history."""
        actual = np.atleast_2d(np.asarray(actual, float))
        pred = np.atleast_2d(np.asarray(pred, float))
        w, h = actual.shape
        self.level_ = abs(float(level_ref)) + 1e-9
        self.floor_ = self.floor_frac * abs(float(level_ref)) + 1e-9
        size = min(h, max(1, math.ceil(self.min_per_bucket / w)))
        edges = list(range(0, h, size)) + [h]
        if len(edges) > 2 and edges[-1] - edges[-2] < size / 2:
            edges.pop(-2)  # merge a short tail bucket into the previous one
        self.edges_ = edges
        kinds = ("relative", "additive") if self.scale == "auto" else (self.scale,)
        fits = {}
        for kind in kinds:
            s = self._scale(pred, kind)
            q = self._bucket_quantiles((actual - pred) / s)
            bucket = self._bucket_of(np.arange(h))
            upper = np.array(self.levels) > 0.5
            # Mean width above the forecast of the upper quantiles on the calibration forecasts.
            width = float((s[:, :, None] * q[bucket][None, :, upper]).mean())
            fits[kind] = (width, q)
        self.scale_ = min(fits, key=lambda k: fits[k][0])
        self.width_ = {k: v[0] for k, v in fits.items()}
        self.quantiles_, self.n_scores_ = fits[self.scale_][1], int(actual.size)
        return self

    def _bucket_of(self, steps: np.ndarray) -> np.ndarray:
        return np.searchsorted(self.edges_[1:], steps, side="right").clip(max=len(self.edges_) - 2)

    def predict(self, point: np.ndarray) -> np.ndarray:
        """Quantiles (levels × steps) around ``point``; steps past the calibrated horizon reuse the last bucket."""
        point = np.asarray(point, float)
        bucket = self._bucket_of(np.arange(len(point)))
        out = point[None, :] + self._scale(point)[None, :] * self.quantiles_[bucket].T
        return np.sort(out, axis=0)  # quantiles never cross
