"""MSTL decomposition (several seasonal cycles) with exponential smoothing on the adjusted series."""

from __future__ import annotations

import numpy as np

from models.forecasting._util import from_model_scale, quiet, to_model_scale
from models.forecasting.base import ArrayForecaster, ModelUnavailableError

__all__ = ["MSTLETS"]


class MSTLETS(ArrayForecaster):
    """statsmodels ``MSTL`` + ``ETSModel`` (additive error, damped additive trend).

    y = trend + Σ seasonal_p + remainder. Each seasonal component is forecast by repeating its
    last cycle; the seasonally adjusted series (trend + remainder) by ETS, whose damped trend keeps
    a quarter-ahead daily forecast from running away. Cycles need two full periods of history;
    shorter ones are dropped (``periods_`` tells which were used).

    Args:
        periods: season lengths in steps, e.g. (24, 168) hourly or (7, 365.25) daily.
        trend: ``"damped"`` (damped additive trend) or ``None`` (level only).
        log: fit on log1p(y), for counts whose daily swing scales with the level.
        iterate: MSTL back-fitting passes (1 is about twice as fast as 2).
    """

    def __init__(self, periods=(24, 168), trend: str | None = "damped", log: bool = False, iterate: int = 2):
        self.periods = tuple(periods)
        self.trend = trend
        self.log = log
        self.iterate = iterate

    @property
    def name(self):
        tag = "_log" if self.log else ""
        return "mstl_ets" + tag

    def min_length(self):
        return 2 * int(round(min(self.periods))) + 1 if self.periods else 10

    def _fit(self, y):
        from statsmodels.tsa.exponential_smoothing.ets import ETSModel
        from statsmodels.tsa.seasonal import MSTL, STL

        z = to_model_scale(y, self.log)
        n = len(z)
        periods = sorted({int(round(p)) for p in self.periods if n >= 2 * round(p) + 1})
        if not periods:
            raise ModelUnavailableError(f"{self.name}: history too short for any seasonal period")
        if np.ptp(z) == 0:
            raise ModelUnavailableError(f"{self.name}: constant series")
        with quiet():
            if len(periods) == 1:
                res = STL(z, period=periods[0], robust=True).fit()
                seasonal = np.asarray(res.seasonal).reshape(n, 1)
            else:
                res = MSTL(z, periods=periods, iterate=self.iterate).fit()
                seasonal = np.asarray(res.seasonal).reshape(n, -1)
            adjusted = z - seasonal.sum(axis=1)
            kw = dict(error="add", trend="add", damped_trend=True) if self.trend == "damped" else dict(error="add")
            ets = ETSModel(adjusted, **kw).fit(disp=False)
        self.periods_ = tuple(periods)
        self.seasonal_tail_ = [seasonal[n - p:, j] for j, p in enumerate(periods)]
        self.ets_ = ets

    def _predict(self, h):
        with quiet():
            level = np.asarray(self.ets_.forecast(h))
        idx = np.arange(h)
        season = sum(tail[idx % len(tail)] for tail in self.seasonal_tail_)
        return from_model_scale(level + season, self.log)
