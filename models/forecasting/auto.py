"""Automatic forecast of one series: choose a model by backtest, refit, calibrate its quantiles."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from models.forecasting._util import single_blas_thread
from models.forecasting.backtest import Selection, select_model
from models.forecasting.base import ModelUnavailableError
from models.forecasting.conformal import ConformalQuantiles
from models.forecasting.registry import default_backtest, default_models, make_model, weekly_season

__all__ = ["SeriesForecast", "forecast_array", "FALLBACKS"]

LEVELS = (0.5, 0.9, 0.95, 0.99)


@dataclass
class SeriesForecast:
    """Forecast of one series: point (``mean``), quantiles (levels × steps) and how it was made."""

    mean: np.ndarray
    quantiles: np.ndarray
    levels: tuple[float, ...]
    model: str
    mase: float
    smape: float
    scores: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    n_windows: int = 0
    quantile_scale: str = ""  # the conformal score's scale: relative or additive
    fallback: str | None = None  # why the normal model choice was not possible (one of FALLBACKS)


# Reasons the normal path (every candidate backtested over the full horizon, the winner refitted)
# was left; the report and the run summary count series per reason.
SHORT_HISTORY = "history too short for a full-horizon backtest"
BACKTEST_FAILED = "every candidate failed in backtest"
FINAL_FIT_FAILED = "chosen model failed on the full history"
FALLBACKS = (SHORT_HISTORY, BACKTEST_FAILED, FINAL_FIT_FAILED)


def _select(y, h, freq, names, n_windows, step) -> Selection:
    factories = {name: (lambda name=name: make_model(name, freq)) for name in names}
    return select_model(y, factories, h, n_windows, step, weekly_season(freq))


def forecast_array(y: np.ndarray, h: int, freq: str, models: Sequence[str] | None = None, **kwargs) -> "SeriesForecast":
    """Forecast ``h`` steps of ``y`` (see :func:`_forecast_array` for the arguments), with BLAS on one thread."""
    with single_blas_thread():
        return _forecast_array(y, h, freq, models, **kwargs)


def _forecast_array(
    y: np.ndarray,
    h: int,
    freq: str,
    models: Sequence[str] | None = None,
    *,
    n_windows: int | None = None,
    step: int | None = None,
    levels: Sequence[float] = LEVELS,
    nonnegative: bool = True,
    min_per_bucket: int = 60,
) -> SeriesForecast:
    """Forecast ``h`` steps of the regular, NaN-free series ``y`` observed at ``freq``.

    Fallbacks (each recorded in ``notes``): leading zeros of at least a day (a group launched
    inside the history) are dropped; a constant series is repeated with zero-width
    quantiles; a candidate that cannot fit is skipped; a history too short to backtest the full
    horizon is backtested on a shorter one with the naive models, whose error quantiles are then
    reused for the later steps.

    Backtest windows end at n − h − k·step for k < ``n_windows``; defaults per frequency in
    :func:`models.forecasting.registry.default_backtest`.
    """
    y = np.asarray(y, float)
    levels = tuple(levels)
    d_windows, d_step = default_backtest(freq, h)
    n_windows, step = n_windows or d_windows, step or d_step
    names = tuple(models) if models else default_models(freq)
    if h <= 0:
        raise ValueError(f"horizon must be positive, got {h}")
    if len(y) < 2:
        raise ModelUnavailableError(f"need at least 2 observations to forecast, got {len(y)}")
    if np.ptp(y) == 0:
        flat = np.full(h, y[-1])
        # Not a fallback: a constant forecast has no error on any window of a constant history.
        return SeriesForecast(flat, np.tile(flat, (len(levels), 1)), levels, "constant", 0.0, 0.0,
                              notes=["constant series: last value repeated, zero-width quantiles"])
    notes: list[str] = []
    # A group launched inside the history has zeros before its launch; they are not part of its
    # seasonal pattern, so the series starts at the first non-zero slot (if a day or more is cut).
    first = int(np.flatnonzero(y)[0]) if y.any() else 0
    if first >= max(1, weekly_season(freq) // 7) and len(y) - first >= 2:
        y = y[first:]
        notes.append(f"{first} leading zero slots (before launch) dropped")
    sel = _select(y, h, freq, names, n_windows, step)
    notes.extend(sel.notes)
    h_bt = h
    fallback = None
    if sel.backtest is None:
        short = any("history too short" in n for n in sel.notes)
        fallback = SHORT_HISTORY if short else BACKTEST_FAILED
        # Too short for the full horizon: backtest the simplest models on a third of the history.
        h_bt = max(1, len(y) // 3)
        simple = [n for n in ("seasonal_naive", "naive") if n != ""]
        sel = _select(y, h_bt, freq, simple, max(n_windows, 3), max(1, h_bt // 2))
        notes.append(f"history of {len(y)} steps too short for a {h}-step backtest: "
                     f"{sel.model or 'naive'} backtested over {h_bt} steps")
        notes.extend(sel.notes)
        if sel.backtest is None:
            raise ModelUnavailableError(f"cannot backtest any model on {len(y)} observations")
    ranked = [sel.model] + sorted((k for k in sel.scores if k != sel.model), key=sel.scores.get)
    point, chosen = None, None
    for name in ranked:
        try:
            point = make_model(name, freq).fit_array(y).predict_array(h)
            chosen = name
            break
        except (ModelUnavailableError, ValueError, np.linalg.LinAlgError) as exc:
            notes.append(f"{name}: final fit failed ({exc}); next best taken")
            fallback = fallback or FINAL_FIT_FAILED
    if chosen is None:
        raise ModelUnavailableError("every candidate failed on the full history")
    bt = sel.backtest if chosen == sel.model else None
    if bt is None:  # the backtest winner failed on the full history: recalibrate the runner-up
        bt = _select(y, h_bt, freq, [chosen], n_windows, step).backtest
    cq = ConformalQuantiles(levels, min_per_bucket=min_per_bucket).fit(bt.actual, bt.pred, np.mean(np.abs(y)))
    quant = cq.predict(point)
    if nonnegative:
        point = np.maximum(point, 0.0)
        quant = np.maximum(quant, 0.0)
    return SeriesForecast(point, quant, levels, chosen, bt.mase, bt.smape, dict(sel.scores), notes, len(bt.origins),
                          cq.scale_, fallback)
