"""Rolling-origin backtest origins (no look-ahead) and error metrics: MASE, sMAPE, pinball loss,
coverage. The backtest itself (every candidate refitted at every origin) is in ``auto.py``."""

from __future__ import annotations

import numpy as np

__all__ = [
    "window_origins",
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
