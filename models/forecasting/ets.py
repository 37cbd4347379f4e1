"""Holt-Winters exponential smoothing with a damped trend (one seasonal cycle)."""

from __future__ import annotations

import numpy as np

from models.forecasting._util import from_model_scale, quiet, to_model_scale
from models.forecasting.base import ArrayForecaster, ModelUnavailableError

__all__ = ["HoltWintersDamped"]


class HoltWintersDamped(ArrayForecaster):
    """statsmodels ``ExponentialSmoothing``: additive damped trend and additive season.

    Suited to daily data with a weekly cycle (``season_length=7``); on hourly data the 168 seasonal
    states make it slow, so MSTL + ETS is preferred there.
    """

    def __init__(self, season_length: int = 7, log: bool = False):
        self.season_length = season_length
        self.log = log

    @property
    def name(self):
        return f"holt_winters_{int(self.season_length)}" + ("_log" if self.log else "")

    def min_length(self):
        return 2 * int(self.season_length) + 2

    def _fit(self, y):
        from statsmodels.tsa.holtwinters import ExponentialSmoothing

        z = to_model_scale(y, self.log)
        if np.ptp(z) == 0:
            raise ModelUnavailableError(f"{self.name}: constant series")
        with quiet():
            self.res_ = ExponentialSmoothing(
                z, trend="add", damped_trend=True, seasonal="add",
                seasonal_periods=int(self.season_length), initialization_method="estimated",
            ).fit()

    def _predict(self, h):
        with quiet():
            return from_model_scale(np.asarray(self.res_.forecast(h)), self.log)
