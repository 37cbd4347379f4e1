"""Split-conformal quantiles at the plan's horizon, from backtest errors, per lead-time bucket and
hour-of-week bucket, on a relative, square-root or additive scale (``LeadTimeConformal``).
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["LeadTimeConformal", "conformal_level", "lead_buckets", "bucket_names", "SCALES", "band_ratios",
           "bucket_reach", "effective_windows", "shrink_band"]

SCALES = ("auto", "relative", "additive", "sqrt")


def conformal_level(n: int, tau: float) -> int:
    """Rank (1-based) of the conformal τ-quantile among n scores, capped at n."""
    return min(n, max(1, math.ceil((n + 1) * tau)))


def lead_buckets(h: int, steps_per_day: float, edges_days=(14, 42, 91, 364)) -> list[int]:
    """Bucket edges (in steps, from 0 to ``h``) of the lead time: weeks 1–2, 3–6, 7–13, 14–52 and
    beyond; a horizon of two weeks or less is cut finer (half days 1 and 2, days 2–3, 4–7), since
    errors grow fastest in the first hours."""
    edges = [0]
    if h <= 14 * steps_per_day and steps_per_day >= 2:
        edges += [int(steps_per_day) // 2, int(steps_per_day), 3 * int(steps_per_day), 7 * int(steps_per_day)]
    edges += [int(round(e * steps_per_day)) for e in edges_days]
    edges = sorted({e for e in edges if 0 <= e < h} | {h})
    return edges


def bucket_names(edges: list[int], steps_per_day: float) -> list[str]:
    """Readable names of lead-time buckets: ``w1-2``, ``w3-6``... (``d1`` for the first day)."""
    out = []
    for a, b in zip(edges[:-1], edges[1:]):
        da, db = a / steps_per_day, b / steps_per_day
        if db <= 1 + 1e-9:
            out.append(f"h{int(round(a * 24 / steps_per_day))}-{int(round(b * 24 / steps_per_day))}")
        elif da < 7 and db <= 14 and da >= 1:
            out.append(f"d{int(round(da)) + 1}-{int(math.ceil(db))}")
        else:
            out.append(f"w{int(da // 7) + 1}-{int(math.ceil(db / 7))}")
    return out


class LeadTimeConformal:
    """Split-conformal quantiles calibrated per lead-time bucket and, where the data allow, per
    hour-of-week bucket, from backtest windows as long as the horizon.

    Score of an error: z = (actual − forecast) / s, with s either relative (|forecast| + 10 % of
    the level at the window's origin) or additive (that level); ``scale="auto"`` keeps the one
    whose upper quantiles are narrower on the calibration forecasts. The level is the mean |y|
    of the last four weeks before each origin, so scores stay comparable while a series grows.

    The quantile of level τ in a cell is the conformal order statistic ⌈(n + 1)τ⌉ of its n
    scores. A (lead, hour-of-week) cell is used when it holds at least ``min_cell`` scores;
    otherwise the lead bucket's pooled scores are used. Upper quantiles never narrow further out
    (running maximum over lead buckets). Buckets past the calibrated lead time (history shorter
    than the horizon) take the last calibrated bucket's quantiles widened by √(lead ratio), the
    growth of a random walk's spread. Across a run's series, ``auto.pool_bands`` then replaces that
    extrapolation by the growth of comparable series' bands where there are any.

    Args:
        levels: quantile levels.
        edges: lead-time bucket edges in steps (see :func:`lead_buckets`), ending at the horizon.
        min_cell: scores needed for an hour-of-week cell of its own.
        floor_frac: floor of the relative scale, as a share of the level.
        scale: ``"auto"``, ``"relative"`` or ``"additive"``.
    """

    def __init__(self, levels=(0.5, 0.9, 0.95, 0.99), edges=None, min_cell: int = 400, floor_frac: float = 0.1,
                 scale: str = "auto"):
        if scale not in SCALES:
            raise ValueError(f"scale must be one of {SCALES}, got {scale!r}")
        self.levels = tuple(levels)
        self.edges = edges
        self.min_cell = min_cell
        self.floor_frac = floor_frac
        self.scale = scale

    def _s(self, pred, level, kind):
        level = np.asarray(level, float)
        if kind == "additive":
            return np.broadcast_to(level, np.shape(pred)).astype(float) + 1e-9
        if kind == "sqrt":  # counts: spread grows with the square root of the level
            return np.sqrt((np.abs(pred) + self.floor_frac * level) * level) + 1e-9
        return np.abs(pred) + self.floor_frac * level + 1e-9

    def _quantiles(self, z, lead, how, n_how):
        """Cell quantiles [lead bucket, how bucket (+1 pooled), level] of scores ``z`` (flat)."""
        n_lead = len(self.edges_) - 1
        q = np.full((n_lead, n_how + 1, len(self.levels)), np.nan)
        # One integer key per (lead, how) cell: a stable sort of small integers groups the cells
        # (much faster than a three-key lexsort); each cell is then sorted on its own.
        key = np.asarray(lead, np.int64) * n_how + np.asarray(how, np.int64)
        order = np.argsort(key.astype(np.int16) if n_lead * n_how < 2 ** 15 else key, kind="stable")
        z, key = z[order], key[order]
        cuts = np.searchsorted(key, np.arange(n_lead * n_how + 1))
        for b in range(n_lead):
            lo, hi = cuts[b * n_how], cuts[(b + 1) * n_how]
            if hi == lo:
                continue
            cells = []
            for c in range(n_how):
                cell = np.sort(z[cuts[b * n_how + c]:cuts[b * n_how + c + 1]])
                cells.append(cell)
                if len(cell) >= self.min_cell:
                    q[b, c] = self._order_stats(cell)
            q[b, n_how] = self._order_stats(np.sort(np.concatenate(cells)) if n_how > 1 else cells[0])
        # Cells without enough scores use the pooled bucket; then never narrower further out.
        pooled = q[:, n_how:n_how + 1, :]
        q = np.where(np.isnan(q), pooled, q)
        q = self._extend(q)
        upper = np.array(self.levels) > 0.5
        q[:, :, upper] = np.maximum.accumulate(q[:, :, upper], axis=0)
        return q

    def _order_stats(self, s):
        out = np.empty(len(self.levels))
        for j, tau in enumerate(self.levels):
            if tau == 0.5:  # the median of the sorted scores
                out[j] = (s[(len(s) - 1) // 2] + s[len(s) // 2]) / 2.0
            elif tau > 0.5:
                out[j] = s[conformal_level(len(s), tau) - 1]
            else:
                out[j] = s[len(s) - conformal_level(len(s), 1 - tau)]
        return out

    def _extend(self, q):
        """Buckets with no scores (past the calibrated lead time) from the last calibrated one."""
        done = ~np.isnan(q[:, -1, 0])
        if done.all() or not done.any():
            return q
        last = int(np.flatnonzero(done)[-1])
        mid = (np.asarray(self.edges_[:-1]) + np.asarray(self.edges_[1:])) / 2.0
        upper = np.array(self.levels) > 0.5
        for b in range(last + 1, len(q)):
            grow = math.sqrt(mid[b] / max(mid[last], 1.0))
            q[b] = q[last]
            q[b][:, upper] = np.where(q[last][:, upper] > 0, q[last][:, upper] * grow, q[last][:, upper])
        return q

    def _lead_of(self, steps):
        return np.searchsorted(np.asarray(self.edges_[1:]), steps, side="right").clip(max=len(self.edges_) - 2)

    def fit(self, actual, pred, level, how=None, n_how: int = 1) -> "LeadTimeConformal":
        """Fit on backtest windows.

        Args:
            actual, pred: windows × steps (steps may be fewer than the horizon; NaN ignored).
            level: per window, the mean |y| of the four weeks before its origin.
            how: windows × steps hour-of-week bucket labels in [0, n_how) (None: one bucket).
            n_how: number of hour-of-week buckets.
        """
        actual = np.atleast_2d(np.asarray(actual, float))
        pred = np.atleast_2d(np.asarray(pred, float))
        w, h_cal = actual.shape
        level = np.asarray(level, float).reshape(w, 1)
        # A window after four quiet weeks has level 0 (or nearly): its relative score would divide
        # by ~1e-9 and blow the band up a million times. A level under floor_frac of the windows'
        # mean level takes that mean, the series' scale.
        pos = level[level > 0]
        typical = pos.mean() if len(pos) else np.nanmean(np.abs(actual)) if np.isfinite(actual).any() else 0.0
        self.level_ref_ = float(typical)
        level = np.where(level < self.floor_frac * typical, typical, level)
        edges = list(self.edges) if self.edges is not None else [0, h_cal]
        # Windows shorter than the horizon: the part of a bucket they do not reach is a bucket of
        # its own, widened from the last calibrated one (see _extend).
        self.edges_ = sorted(set(edges) | ({h_cal} if h_cal < edges[-1] else set()))
        self.n_how_ = int(n_how)
        how = np.zeros_like(actual, dtype=int) if how is None else np.asarray(how, int)
        lead = np.broadcast_to(self._lead_of(np.arange(h_cal)), actual.shape)
        ok = np.isfinite(actual) & np.isfinite(pred)
        kinds = ("relative", "sqrt", "additive") if self.scale == "auto" else (self.scale,)
        upper = np.array(self.levels) > 0.5
        fits = {}
        for kind in kinds:
            s = self._s(pred, level, kind)
            z = ((actual - pred) / s)[ok]
            q = self._quantiles(z, lead[ok], how[ok], self.n_how_)
            qs = q[lead, how][..., upper]  # windows × steps × upper levels
            fits[kind] = (float((s[..., None] * qs)[ok].mean()), q)
        self.scale_ = min(fits, key=lambda k: fits[k][0])
        self.width_ = {k: v[0] for k, v in fits.items()}
        self.quantiles_ = fits[self.scale_][1]
        self.n_scores_ = int(ok.sum())
        return self

    def predict(self, point, level: float, how=None) -> np.ndarray:
        """Quantiles (levels × steps) around ``point`` (steps from the first of the horizon)."""
        point = np.asarray(point, float)
        steps = np.arange(len(point))
        lead = self._lead_of(steps)
        how = np.zeros(len(point), int) if how is None else np.asarray(how, int)
        q = self.quantiles_[lead, how]  # steps × levels
        if level < self.floor_frac * getattr(self, "level_ref_", 0.0):  # quiet weeks now: the fit's rule
            level = self.level_ref_
        s = self._s(point, level, self.scale_)
        return np.sort(point[None, :] + s[None, :] * q.T, axis=0)


# -- a band from few windows, shrunk towards comparable series' bands (empirical Bayes) ---------
def _relative(point: np.ndarray, quantiles: np.ndarray, level: float, floor_frac: float):
    """The scale s = |point| + floor_frac * level of the relative units, and the band in them,
    (q - point) / s (levels x steps)."""
    s = np.abs(point) + floor_frac * max(float(level), 0.0) + 1e-9
    return s, (quantiles - point[None, :]) / s[None, :]


def band_ratios(point, quantiles, level: float, edges, floor_frac: float = 0.1) -> np.ndarray:
    """The band in relative units, per level and lead bucket: the bucket's mean of
    (q_tau - point) / (|point| + floor_frac * level). Scale-free, so bands of series of different
    size (and conformal scales) can be compared and pooled. Returns levels x buckets."""
    point = np.asarray(point, float)
    _, rel = _relative(point, np.atleast_2d(np.asarray(quantiles, float)), level, floor_frac)
    out = np.full((len(quantiles), len(edges) - 1), np.nan)
    for b, (lo, hi) in enumerate(zip(edges[:-1], edges[1:])):
        hi = min(hi, len(point))
        if hi > lo:
            out[:, b] = rel[:, lo:hi].mean(axis=1)
    return out


def effective_windows(n_windows: int, step: int, h_bt: int, edges) -> np.ndarray:
    """Per lead bucket, how many independent quarters of errors the band rests on: overlapping
    backtest windows (origins ``step`` apart, ``h_bt`` long) share most of their level error, so
    n windows count 1 + (n - 1) * min(step, h_bt) / h_bt; a bucket the windows reach only in part
    (history shorter than the horizon: the rest is extrapolated) counts by the share it reaches."""
    if n_windows <= 0 or h_bt <= 0:
        return np.zeros(len(edges) - 1)
    n_eff = 1.0 + (n_windows - 1) * min(step, h_bt) / h_bt
    return n_eff * bucket_reach(h_bt, edges)


def bucket_reach(h_bt: int, edges) -> np.ndarray:
    """Share of each lead bucket that backtest windows of ``h_bt`` steps reach."""
    return np.array([max(0, min(hi, h_bt) - lo) / max(hi - lo, 1) for lo, hi in zip(edges[:-1], edges[1:])])


def shrink_band(point, quantiles, level: float, edges, own_weight, prior_ratio, floor_frac: float = 0.1) -> np.ndarray:
    """Blend each lead bucket's band, step by step in relative units, with the bucket's prior:
    r(t) -> w * r(t) + (1 - w) * prior, r(t) = (q(t) - point(t)) / s(t), s = |point| +
    floor_frac * level. The bucket's mean band becomes w * own + (1 - w) * prior (the
    empirical-Bayes estimate), and the hour-by-hour shape of its own band is kept in proportion
    to its weight (a shape read from a few hours of errors is mostly noise). ``own_weight`` per
    bucket, ``prior_ratio`` levels x buckets (NaN: the bucket is left as it is). Quantiles stay
    ordered: each level at least the one below (a running maximum from the lowest level, so a
    median left in place stays where it was)."""
    point = np.asarray(point, float)
    q = np.array(quantiles, float, copy=True)
    s, rel = _relative(point, q, level, floor_frac)
    for b, (lo, hi) in enumerate(zip(edges[:-1], edges[1:])):
        hi = min(hi, len(point))
        if hi <= lo:
            continue
        w = float(np.clip(own_weight[b], 0.0, 1.0))
        prior = np.asarray(prior_ratio[:, b], float)[:, None]
        blended = np.where(np.isfinite(prior), w * rel[:, lo:hi] + (1.0 - w) * prior, rel[:, lo:hi])
        q[:, lo:hi] = point[None, lo:hi] + s[None, lo:hi] * blended
    return np.maximum.accumulate(q, axis=0)
