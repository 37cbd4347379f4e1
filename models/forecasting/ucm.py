"""Unobserved components: local level + trigonometric seasons + AR(1), by Kalman filter MLE."""

from __future__ import annotations

import numpy as np

from models.forecasting._util import from_model_scale, quiet, to_model_scale
from models.forecasting.base import ArrayForecaster, ModelUnavailableError

__all__ = ["UnobservedComponentsModel"]


class UnobservedComponentsModel(ArrayForecaster):
    """statsmodels ``UnobservedComponents`` with ``freq_seasonal`` terms for each period.

    Non-integer periods (365.25 days) are fine here, which is why it is offered on daily data.
    Slower than the OLS and ETS models: keep it for a few long daily series.
    """

    def __init__(self, periods=(7, 365.25), harmonics=(3, 8), level: str = "local level", ar: int = 1, log: bool = False):
        self.periods = tuple(periods)
        self.harmonics = tuple(harmonics)
        self.level = level
        self.ar = ar
        self.log = log

    @property
    def name(self):
        return "unobserved_components" + ("_log" if self.log else "")

    def min_length(self):
        return 2 * int(round(min(self.periods))) + 1

    def _fit(self, y):
        from statsmodels.tsa.statespace.structural import UnobservedComponents

        z = to_model_scale(y, self.log)
        n = len(z)
        if np.ptp(z) == 0:
            raise ModelUnavailableError(f"{self.name}: constant series")
        seasons = [
            {"period": p, "harmonics": min(k, int(p // 2))}
            for p, k in zip(self.periods, self.harmonics)
            if n >= 2 * p + 1
        ]
        with quiet():
            mod = UnobservedComponents(z, level=self.level, freq_seasonal=seasons or None, autoregressive=self.ar or None)
            self.res_ = mod.fit(disp=False, maxiter=200)

    def _predict(self, h):
        with quiet():
            return from_model_scale(np.asarray(self.res_.forecast(h)), self.log)
