"""Many series on one time grid, forecast together: every step is matrix algebra over all series at
once, so ten thousand hourly series of a year cost seconds instead of hours. It is the fleet-scale
path beside the per-series models (``auto.py``), with the same outputs: a mean, calibrated
quantiles, the model chosen per series and its backtest error.

Candidates (each series chooses one by a rolling-origin backtest at the plan's horizon):

* ``fourier_trend``: least squares on a constant, a linear trend and Fourier terms of the daily and
  weekly cycles (and the yearly cycle when the fit window holds two years);
* ``fourier_trend_log``: the same on log(1 + y), so the daily and weekly swings grow with the level
  (multiplicative season and growth);
* ``fourier``: the same without the trend (a level that does not grow);
* ``fourier_recent``: the same without the trend, fitted on the last ``recent`` steps only (a level
  that moved recently: a launch, a migration);
* ``seasonal_naive``: the last season repeated.

The design matrix depends on time only, so one QR factorisation serves every series of a block:
``B = R⁻¹ Qᵀ Y`` for ``Y`` of shape ``[time, series]``. The backtest refits at ``n_origins`` origins
a horizon apart; the MASE (scaled by the in-sample seasonal-naive error) picks the candidate.
Quantiles are split-conformal: the chosen candidate's backtest residuals, pooled per series and
lead-time bucket, give additive offsets to the final forecast (so bands widen with lead time where
the errors do). Forecasts and quantiles are clipped at zero (demand is never negative).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["CANDIDATES", "BatchOptions", "BatchForecast", "forecast_matrix", "fourier_design"]

CANDIDATES = ("fourier_trend", "fourier_trend_log", "fourier", "fourier_recent", "seasonal_naive")


@dataclass(frozen=True)
class BatchOptions:
    """Settings of :func:`forecast_matrix` (steps are the series' time steps, e.g. hours).

    Args:
        horizon: steps to forecast after the last observation.
        season: season of the naive candidate and of the MASE scale (168 = a week of hours).
        periods, harmonics: Fourier cycles (steps) and pairs per cycle; a cycle enters a fit only
            when the fit window holds two of them.
        recent: fit window of ``fourier_recent``.
        n_origins: backtest origins, a horizon apart, ending at the last observation.
        min_fit: the shortest fit window a backtest origin may leave.
        bucket_edges: lead-time bucket starts (steps) for the conformal offsets.
        levels: quantile levels.
        chunk: series per block (bounds memory: a block holds ``time × chunk`` float64).
    """

    horizon: int
    season: int = 168
    periods: tuple[float, ...] = (24.0, 168.0, 8766.0)
    harmonics: tuple[int, ...] = (6, 12, 3)
    recent: int = 8 * 168
    n_origins: int = 3
    min_fit: int = 2 * 168
    bucket_edges: tuple[int, ...] = (0, 2 * 168, 6 * 168, 13 * 168)
    levels: tuple[float, ...] = (0.5, 0.9, 0.95, 0.99)
    chunk: int = 1000
    candidates: tuple[str, ...] = CANDIDATES

    def __post_init__(self):
        if self.horizon < 1:
            raise ValueError(f"horizon must be >= 1 step, got {self.horizon}")
        unknown = [c for c in self.candidates if c not in CANDIDATES]
        if unknown or not self.candidates:
            raise ValueError(f"unknown candidates {unknown}; choose from {CANDIDATES}")


@dataclass
class BatchForecast:
    """Outputs for ``S`` series: ``mean`` ``[horizon, S]``, ``quantiles`` ``[levels, horizon, S]``
    (float32), the chosen candidate's index and backtest MASE per series, every candidate's MASE
    ``[candidates, S]``, the number of backtest origins, ``notes`` per series that left the normal
    choice (a fallback: no backtest origin) and ``shifts`` per series fitted from a level shift on."""

    mean: np.ndarray
    quantiles: np.ndarray
    model: np.ndarray
    mase: np.ndarray
    scores: np.ndarray
    n_origins: int
    candidates: tuple[str, ...]
    notes: dict = field(default_factory=dict)
    shifts: dict = field(default_factory=dict)


def fourier_design(t: np.ndarray, periods, harmonics) -> np.ndarray:
    """Columns ``sin, cos(2πjt/p)``, each frequency once (a weekly harmonic that is a daily one is
    not repeated), no sine at the Nyquist frequency."""
    seen, cols = set(), []
    for p, k in zip(periods, harmonics):
        for j in range(1, min(int(k), int(p // 2)) + 1):
            f = round(j / p, 9)
            if f in seen:
                continue
            seen.add(f)
            w = 2.0 * np.pi * j * t / p
            if 2 * j != p:
                cols.append(np.sin(w))
            cols.append(np.cos(w))
    return np.column_stack(cols) if cols else np.zeros((len(t), 0))


def _design(t: np.ndarray, t0: float, span: float, trend: bool, periods, harmonics) -> np.ndarray:
    parts = [np.ones((len(t), 1))]
    if trend:
        parts.append(((t - t0) / span)[:, None])
    parts.append(fourier_design(t, periods, harmonics))
    return np.hstack(parts)


class _Projections:
    """Least-squares fits of every series of a block with shared designs: for a fit window and
    evaluation times, ``pred = A @ (Qᵀ y)`` with ``X = QR`` and ``A = X_new R⁻¹``, factorised once
    per window and reused by every block."""

    def __init__(self, opts: BatchOptions):
        self.opts, self.cache = opts, {}

    def ols(self, y: np.ndarray, fit: tuple[int, int], new: tuple[int, int], trend: bool) -> np.ndarray:
        key = (fit, new, trend)
        if key not in self.cache:
            t_fit, t_new = np.arange(*fit, dtype=float), np.arange(*new, dtype=float)
            n = len(t_fit)
            keep = [(p, k) for p, k in zip(self.opts.periods, self.opts.harmonics) if n >= 2 * p]
            periods, harmonics = [p for p, _ in keep], [k for _, k in keep]
            span = max(float(n), 1.0)
            x = _design(t_fit, t_fit[0], span, trend, periods, harmonics)
            xn = _design(t_new, t_fit[0], span, trend, periods, harmonics)
            q, r = np.linalg.qr(x)
            self.cache[key] = (q, np.linalg.solve(r.T, xn.T).T)
        q, a = self.cache[key]
        return a @ (q.T @ y)

    def candidate(self, name: str, y: np.ndarray, start: int, new: tuple[int, int]) -> np.ndarray:
        """Candidate ``name`` fitted on ``y`` (the steps ``start .. start + len(y)``), at ``new``."""
        n = len(y)
        if name == "seasonal_naive":
            s = min(self.opts.season, n)
            h = new[1] - new[0]
            return np.tile(y[-s:], (-(-h // s), 1))[:h]
        if name == "fourier_trend_log":
            return np.expm1(self.ols(np.log1p(y), (start, start + n), new, True))
        if name == "fourier_recent":
            r = min(self.opts.recent, n)
            return self.ols(y[-r:], (start + n - r, start + n), new, False)
        return self.ols(y, (start, start + n), new, name == "fourier_trend")


def _scale(y: np.ndarray, season: int) -> np.ndarray:
    """In-sample seasonal-naive mean absolute error per series (MASE denominator); where it is 0,
    the mean level; where that is 0 too, 1 (an all-zero series scores its raw error)."""
    s = season if len(y) > season else 1
    d = np.abs(y[s:] - y[:-s]).mean(axis=0) if len(y) > s else np.zeros(y.shape[1])
    level = np.abs(y).mean(axis=0)
    return np.where(d > 0, d, np.where(level > 0, level, 1.0))


def _shifted_levels(yb, choice, cands, proj, opts, a, notes) -> dict[int, int]:
    """Series whose level moved recently (a launch, a migration) switch to ``fourier_recent``,
    fitted from the shift on. Returns {column in the block: first step of its fit window}.

    The backtest cannot see a shift inside its last window, so the chosen whole-history fit is
    checked on its own last ``recent`` steps: when the daily means of its residuals there sit more
    than 4 standard errors and 10 % of the level off zero, the old level (or a trend read into the
    jump) would be carried forward. The shift day is where the cumulative sum of those daily
    residuals (less their mean) peaks; at least two weeks are kept for the fit (noted)."""
    starts: dict[int, int] = {}
    if "fourier_recent" not in cands:
        return starts
    n = yb.shape[0]
    day = int(round(opts.periods[0])) if opts.periods else 24
    r = min(opts.recent, n)
    n_days = r // day
    if n_days < 7:
        return starts
    rc = cands.index("fourier_recent")
    for c, name in enumerate(cands):
        if name not in ("fourier", "fourier_trend", "fourier_trend_log"):
            continue
        cols = np.flatnonzero(choice == c)
        if cols.size == 0:
            continue
        res = yb[n - r:, cols] - np.maximum(proj.candidate(name, yb[:, cols], 0, (n - r, n)), 0.0)
        daily = res[r - n_days * day:].reshape(n_days, day, cols.size).mean(axis=1)  # [days, k]
        bias = daily.mean(axis=0)
        se = daily.std(axis=0, ddof=1) / np.sqrt(n_days)
        level = np.abs(yb[n - r:, cols]).mean(axis=0)
        shifted = (np.abs(bias) > 4 * se) & (np.abs(bias) > 0.1 * level)
        cusum = np.abs(np.cumsum(daily - bias, axis=0))  # [days, k]
        min_days = min(n_days, 2 * int(round(opts.season / day)) if opts.season >= day else 14)
        for i in np.flatnonzero(shifted):
            j = cols[i]
            shift_day = min(int(np.argmax(cusum[:, i])) + 1, n_days - min_days)
            starts[j] = n - (n_days - shift_day) * day
            choice[j] = rc
            notes[a + j] = (f"level shift about {n - starts[j]} steps before the end ({name} leaves a mean residual "
                            f"of {bias[i]:+.3g} over the last {r}): fitted on the steps since")
    return starts


def _buckets(h: int, edges) -> np.ndarray:
    """Bucket index of each lead step 0..h-1."""
    e = [x for x in edges if x < h] or [0]
    return np.searchsorted(np.asarray(e), np.arange(h), side="right") - 1


def forecast_matrix(y: np.ndarray, opts: BatchOptions) -> BatchForecast:
    """Forecast every column of ``y`` (``[time, series]``, a regular grid, no NaN) ``opts.horizon``
    steps ahead. Raises ValueError on NaN, negative values or fewer than 2 steps."""
    y = np.asarray(y)
    if y.ndim != 2 or y.shape[0] < 2:
        raise ValueError(f"y must be [time >= 2, series], got shape {y.shape}")
    if not np.isfinite(y).all():
        raise ValueError("y holds NaN or infinite values; fill gaps before forecasting")
    if (y < 0).any():
        raise ValueError("y holds negative values; demand is never negative")
    n, s_total = y.shape
    h = int(opts.horizon)
    origins = [n - k * h for k in range(1, opts.n_origins + 1) if n - k * h >= opts.min_fit]
    cands = tuple(opts.candidates)
    mean = np.zeros((h, s_total), dtype=np.float32)
    quant = np.zeros((len(opts.levels), h, s_total), dtype=np.float32)
    model = np.zeros(s_total, dtype=np.int16)
    mase = np.full(s_total, np.nan)
    scores = np.full((len(cands), s_total), np.nan)
    bucket = _buckets(h, opts.bucket_edges)
    proj = _Projections(opts)
    notes: dict[int, str] = {}
    shifts: dict[int, str] = {}
    from models.forecasting._util import single_blas_thread

    with single_blas_thread():  # two BLAS threads on a busy 2-core machine run several times slower
        for a in range(0, s_total, opts.chunk):
            _block(y, a, min(a + opts.chunk, s_total), origins, cands, proj, bucket, mean, quant, model, mase, scores,
                   notes, shifts, opts)
    quant = np.maximum.accumulate(quant, axis=0)  # ordered levels despite the clipping
    return BatchForecast(mean, quant, model, mase, scores, len(origins), cands, notes, shifts)


def _block(y, a, b, origins, cands, proj, bucket, mean, quant, model, mase, scores, notes, shifts, opts):
    """Backtest, choice, final forecast and conformal offsets for the series ``a .. b``."""
    n, h = y.shape[0], opts.horizon
    yb = y[:, a:b].astype(np.float64)
    sb = b - a
    # Backtest: every candidate at every origin, scored by MASE.
    err = np.zeros((len(cands), sb))
    resid = {c: [] for c in range(len(cands))}  # per candidate: [origin] of [h, sb] residuals
    for o in origins:
        fit, actual = yb[:o], yb[o:o + h]
        scale = _scale(fit, opts.season)
        for c, name in enumerate(cands):
            pred = np.maximum(proj.candidate(name, fit, 0, (o, o + h)), 0.0)
            e = actual - pred
            err[c] += np.abs(e).mean(axis=0) / scale
            resid[c].append(e)
    if origins:
        err /= len(origins)
        choice = np.argmin(err, axis=0)  # ties: the first candidate
        scores[:, a:b] = err
        mase[a:b] = err[choice, np.arange(sb)]
    else:
        choice = np.full(sb, cands.index("fourier") if "fourier" in cands else 0)
        for j in range(a, b):
            notes[j] = f"history of {n} steps leaves no backtest origin {h} steps before its end; {cands[choice[0]]} without choice, quantiles from in-sample residuals"
    fit_from = _shifted_levels(yb, choice, cands, proj, opts, a, shifts)
    model[a:b] = choice
    # Final forecasts of the chosen candidate (each candidate once for the columns that chose it).
    for c, name in enumerate(cands):
        cols = np.flatnonzero(choice == c)
        if cols.size == 0:
            continue
        pred = np.maximum(proj.candidate(name, yb[:, cols], 0, (n, n + h)), 0.0)
        for start in sorted({fit_from[j] for j in cols if j in fit_from}):
            moved = np.flatnonzero([fit_from.get(j) == start for j in cols])
            pred[:, moved] = np.maximum(proj.ols(yb[start:, cols[moved]], (start, n), (n, n + h), False), 0.0)
        mean[:, a + cols] = pred
        if origins:
            r = np.concatenate([e[:, cols][None] for e in resid[c]], axis=0)  # [origins, h, k]
        else:
            fitted = proj.candidate(name, yb[:, cols], 0, (0, n)) if name != "seasonal_naive" else yb[:, cols]
            r = np.broadcast_to((yb[:, cols] - fitted)[-h:][None], (1, min(h, n), cols.size))
        for k in np.unique(bucket):
            lead = np.flatnonzero(bucket == k)
            pool = r[:, lead[lead < r.shape[1]], :].reshape(-1, cols.size) if r.shape[1] else np.zeros((1, cols.size))
            if pool.shape[0] == 0:
                pool = r.reshape(-1, cols.size)
            off = np.quantile(pool, opts.levels, axis=0)  # [levels, k]
            quant[:, lead[:, None], (a + cols)[None, :]] = np.maximum(pred[lead][None] + off[:, None, :], 0.0)
