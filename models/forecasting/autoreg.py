"""Harmonic regression with autoregressive errors: statsmodels ``AutoReg`` with Fourier terms."""

from __future__ import annotations

import numpy as np

from models.forecasting._util import from_model_scale, quiet, to_model_scale
from models.forecasting.base import ArrayForecaster, ModelUnavailableError

__all__ = ["AutoRegFourier"]


class AutoRegFourier(ArrayForecaster):
    """y_t = c (+ δt) + Σ_p Fourier_p(t)·β_p + Σ_l φ_l y_{t−l} + ε_t, fitted by OLS.

    The Fourier terms carry the daily and weekly (or weekly and yearly) shapes, the lags carry
    short-term persistence. Fitting is one least-squares solve, so it is the fast workhorse on
    thousands of hourly series. A season needs two full periods of history; shorter ones are dropped.

    Args:
        periods: season lengths in steps.
        harmonics: Fourier pairs per period (capped at period/2).
        lags: autoregressive lags; lags longer than a third of the history are dropped.
        trend: ``"c"`` (constant) or ``"ct"`` (constant and linear trend).
        log: fit on log1p(y).
    """

    def __init__(self, periods=(24, 168), harmonics=(8, 10), lags=(1, 2, 3, 24), trend: str = "c", log: bool = False):
        self.periods = tuple(periods)
        self.harmonics = tuple(harmonics)
        self.lags = tuple(lags)
        self.trend = trend
        self.log = log

    @property
    def name(self):
        return "autoreg_fourier" + ("_log" if self.log else "")

    def min_length(self):
        return 2 * int(round(min(self.periods))) + 1 if self.periods else 10

    def _design(self, t):
        # A weekly harmonic k with k a multiple of 7 is a daily harmonic: keep each frequency once
        # (duplicates make the design rank-deficient).
        seen, cols = set(), []
        for p, k in self.terms_:
            for j in range(1, min(k, int(p // 2)) + 1):
                f = round(j / p, 9)
                if f not in seen:
                    seen.add(f)
                    w = 2.0 * np.pi * j * t / p
                    if 2 * j != p:  # sin(πt) ≡ 0 at the Nyquist harmonic
                        cols.append(np.sin(w))
                    cols.append(np.cos(w))
        return np.column_stack(cols) if cols else None

    def _fit(self, y):
        from statsmodels.tsa.ar_model import AutoReg

        z = to_model_scale(y, self.log)
        n = len(z)
        if np.ptp(z) == 0:
            raise ModelUnavailableError(f"{self.name}: constant series")
        self.terms_ = [(p, k) for p, k in zip(self.periods, self.harmonics) if n >= 2 * p + 1]
        if not self.terms_:
            raise ModelUnavailableError(f"{self.name}: history too short for any seasonal period")
        lags = sorted(l for l in self.lags if l <= n // 3)
        X = self._design(np.arange(n, dtype=float))
        with quiet():
            self.res_ = AutoReg(z, lags=lags or 0, trend=self.trend, exog=X).fit()
        self.n_ = n

    def _predict(self, h):
        X = self._design(np.arange(self.n_, self.n_ + h, dtype=float))
        with quiet():
            z = np.asarray(self.res_.forecast(steps=h, exog=X))
        return from_model_scale(z, self.log)
