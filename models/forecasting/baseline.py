"""Baselines: naive, seasonal naive, historic average and seasonal window average."""

from __future__ import annotations

import numpy as np

from models.forecasting.base import ArrayForecaster

__all__ = ["Naive", "SeasonalNaive", "HistoricAverage", "SeasonalWindowAverage"]


class Naive(ArrayForecaster):
    """Repeat the last observation."""

    name = "naive"

    def _fit(self, y):
        self.last_ = y[-1]

    def _predict(self, h):
        return np.full(h, self.last_)


class SeasonalNaive(ArrayForecaster):
    """Repeat the last season: ŷ[n+i] = y[n − m + (i mod m)].

    Args:
        season_length: steps per season (168 for a week of hours, 7 for a week of days).
    """

    def __init__(self, season_length: int = 168):
        self.season_length = season_length

    @property
    def name(self):
        return f"seasonal_naive_{int(self.season_length)}"

    def min_length(self):
        return int(self.season_length)

    def _fit(self, y):
        self.last_season_ = y[-int(self.season_length):]

    def _predict(self, h):
        m = int(self.season_length)
        return self.last_season_[np.arange(h) % m]


class HistoricAverage(ArrayForecaster):
    """The mean of the whole history."""

    name = "historic_average"

    def _fit(self, y):
        self.mean_ = float(y.mean())

    def _predict(self, h):
        return np.full(h, self.mean_)


class SeasonalWindowAverage(ArrayForecaster):
    """Mean of the last ``window`` seasons at the same position (a robust weekly profile).

    Uses as many whole seasons as the history has, up to ``window`` (at least one).
    """

    def __init__(self, season_length: int = 168, window: int = 4):
        self.season_length = season_length
        self.window = window

    @property
    def name(self):
        return f"window_average_{int(self.season_length)}x{self.window}"

    def min_length(self):
        return int(self.season_length)

    def _fit(self, y):
        m = int(self.season_length)
        k = max(1, min(self.window, len(y) // m))
        self.profile_ = y[len(y) - k * m:].reshape(k, m).mean(axis=0)

    def _predict(self, h):
        return self.profile_[np.arange(h) % int(self.season_length)]
