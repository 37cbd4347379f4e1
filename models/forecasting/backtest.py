"""Rolling-origin backtest (no look-ahead) and error metrics: MASE, sMAPE, pinball loss, coverage."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np

from models.forecasting.base import ArrayForecaster, ModelUnavailableError

__all__ = [
    "Backtest",
    "window_origins",
    "rolling_origin",
    "select_model",
    "Selection",
    "mase",
    "smape",
    "pinball",
    "coverage",
    "naive_scale",
]


def naive_scale(y_train: np.ndarray, season_length: int) -> float:
    """In-sample MAE of the seasonal naive forecast: the MASE denominator.

    Falls back to the lag-1 MAE (short history, or a season that repeats exactly), then to the
    mean |y|, then to 1, so that a nearly constant series does not get an infinite MASE.
    """
    y = np.asarray(y_train, float)
    for m in (season_length, 1):
        if len(y) > m:
            d = float(np.abs(y[m:] - y[:-m]).mean())
            if d > 1e-12:
                return d
    level = float(np.abs(y).mean()) if len(y) else 0.0
    return level if level > 1e-12 else 1.0


def mase(actual, pred, y_train, season_length: int) -> float:
    """Mean absolute scaled error: MAE / in-sample seasonal-naive MAE."""
    return float(np.mean(np.abs(np.asarray(actual) - np.asarray(pred)))) / naive_scale(np.asarray(y_train), season_length)


def smape(actual, pred) -> float:
    """Symmetric MAPE in percent, 0 where both actual and forecast are 0."""
    a, p = np.asarray(actual, float), np.asarray(pred, float)
    den = np.abs(a) + np.abs(p)
    ratio = np.divide(2 * np.abs(a - p), den, out=np.zeros_like(den), where=den > 0)
    return float(100 * ratio.mean())


def pinball(actual, q, tau: float) -> float:
    """Mean pinball (quantile) loss of quantile forecast ``q`` at level ``tau``."""
    d = np.asarray(actual, float) - np.asarray(q, float)
    return float(np.mean(np.maximum(tau * d, (tau - 1) * d)))


def coverage(actual, upper) -> float:
    """Share of observations at or below ``upper`` (empirical coverage of an upper quantile)."""
    return float(np.mean(np.asarray(actual) <= np.asarray(upper)))


def window_origins(n: int, h: int, n_windows: int, step: int | None, min_train: int) -> list[int]:
    """Forecast origins (training lengths) of the backtest, most recent first.

    Window k trains on y[:o_k] and is scored on y[o_k:o_k + h] with o_k = n − h − k·step; origins
    with less than ``min_train`` history are dropped.
    """
    step = step or h
    origins = [n - h - k * step for k in range(n_windows)]
    return [o for o in origins if o >= max(1, min_train)]


@dataclass
class Backtest:
    """Backtest of one model on one series: rows are windows (most recent first), columns steps."""

    model: str
    origins: list[int]
    actual: np.ndarray
    pred: np.ndarray
    mase: float
    smape: float


def rolling_origin(
    y: np.ndarray, factory: Callable[[], ArrayForecaster], name: str, h: int, origins: Sequence[int], season_length: int
) -> Backtest:
    """Refit ``factory()`` at each origin and forecast ``h`` steps (raises ModelUnavailableError)."""
    actual = np.stack([y[o:o + h] for o in origins])
    pred = np.stack([factory().fit_array(y[:o]).predict_array(h) for o in origins])
    scores = [mase(actual[i], pred[i], y[:o], season_length) for i, o in enumerate(origins)]
    return Backtest(name, list(origins), actual, pred, float(np.mean(scores)), smape(actual, pred))


@dataclass
class Selection:
    """Outcome of the per-series model choice."""

    model: str
    backtest: Backtest | None
    scores: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def select_model(
    y: np.ndarray,
    factories: dict[str, Callable[[], ArrayForecaster]],
    h: int,
    n_windows: int,
    step: int | None,
    season_length: int,
    margin: float = 0.1,
) -> Selection:
    """Choose the candidate with the lowest mean backtest MASE.

    The first candidate is the preferred one: another replaces it only when its MASE is lower by
    more than ``margin`` (a fraction), because a backtest over a few windows is noisy and switching
    on noise costs accuracy out of sample.

    Candidates that cannot fit even the most recent window (too short, constant, numerical failure)
    are skipped with a note; the others are compared on the windows all of them can fit. Returns a
    selection without backtest when no window fits at all (the caller then falls back).
    """
    notes: list[str] = []
    n = len(y)
    mins = {name: f().min_length() for name, f in factories.items()}
    latest = window_origins(n, h, 1, step, 1)
    eligible = [k for k in factories if latest and latest[0] >= mins[k]]
    for k in factories:
        if k not in eligible:
            notes.append(f"{k}: history too short ({n} steps) for a {h}-step backtest")
    if not eligible:
        return Selection(model="", backtest=None, notes=notes)
    common = window_origins(n, h, n_windows, step, max(mins[k] for k in eligible))
    results: dict[str, Backtest] = {}
    for name in eligible:
        origins = common or window_origins(n, h, n_windows, step, mins[name])
        try:
            results[name] = rolling_origin(y, factories[name], name, h, origins, season_length)
        except (ModelUnavailableError, ValueError, np.linalg.LinAlgError) as exc:
            notes.append(f"{name}: failed in backtest ({exc})")
    if not results:
        return Selection(model="", backtest=None, notes=notes)
    scores = {k: r.mase for k, r in results.items()}
    best = min(scores, key=lambda k: (scores[k], list(factories).index(k)))
    preferred = next(k for k in factories if k in scores)
    if scores[preferred] <= (1 + margin) * scores[best]:
        best = preferred
    return Selection(model=best, backtest=results[best], scores=scores, notes=notes)
