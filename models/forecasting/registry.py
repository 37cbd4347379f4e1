"""Named model constructors and the default candidate sets per frequency."""

from __future__ import annotations

from typing import Callable

import pandas as pd

from models.forecasting.autoreg import AutoRegFourier
from models.forecasting.base import ArrayForecaster, freq_offset, season_lengths
from models.forecasting.baseline import HistoricAverage, Naive, SeasonalNaive, SeasonalWindowAverage
from models.forecasting.changepoint_trend import ChangepointTrend
from models.forecasting.ets import HoltWintersDamped
from models.forecasting.mstl import MSTLETS
from models.forecasting.seasonal_trend import SeasonalTrend
from models.forecasting.ucm import UnobservedComponentsModel

__all__ = ["MODEL_NAMES", "DEFAULT_MODELS", "make_model", "default_models", "default_backtest", "weekly_season",
           "steps_per_day"]

Factory = Callable[[], ArrayForecaster]


def weekly_season(freq: str) -> int:
    """Steps per week at ``freq`` (168 hourly, 7 daily); 1 when a week is a single step or less."""
    return max(1, round(pd.Timedelta("7D") / freq_offset(freq)))


def _sub_daily(freq: str) -> bool:
    return freq_offset(freq) < pd.Timedelta("1D")


def steps_per_day(freq: str) -> int | None:
    """Slots per day at ``freq`` (24 hourly, 1 daily); None when ``freq`` does not divide a day."""
    step = freq_offset(freq)
    k = pd.Timedelta("1D") / step
    return int(round(k)) if k >= 1 and abs(k - round(k)) < 1e-9 else None


def _factories(freq: str, start=None, holidays=None, yearly_offset=None) -> dict[str, Factory]:
    seasons = season_lengths(freq)
    week = weekly_season(freq)
    if _sub_daily(freq):
        day = round(pd.Timedelta("1D") / freq_offset(freq))
        harm = (min(8, day // 2), 10)
        lags = (1, 2, 3, day)
    else:
        harm = (3, 8)
        lags = (1, 2, 3, 7, 14, 21, 28, 35, 42, 49, 56)  # weekly lags up to 8 weeks
    out: dict[str, Factory] = {
        "naive": Naive,
        "historic_average": HistoricAverage,
        "seasonal_naive": lambda: SeasonalNaive(week),
        "window_average": lambda: SeasonalWindowAverage(week, 4),
        "mstl_ets": lambda: MSTLETS(seasons),
        "mstl_ets_log": lambda: MSTLETS(seasons, log=True),
        "autoreg_fourier": lambda: AutoRegFourier(seasons, harm[: len(seasons)], lags),
        "autoreg_fourier_log": lambda: AutoRegFourier(seasons, harm[: len(seasons)], lags, log=True),
        "holt_winters": lambda: HoltWintersDamped(week if not _sub_daily(freq) else int(seasons[0])),
        "unobserved_components": lambda: UnobservedComponentsModel(seasons, (3, 8)[: len(seasons)]),
    }
    spd = steps_per_day(freq)
    if spd is not None:
        out["seasonal_trend"] = lambda: SeasonalTrend(spd, start=start, step=freq_offset(freq), holidays=holidays,
                                                      yearly_offset=yearly_offset)
        out["changepoint_trend"] = lambda: ChangepointTrend(spd, start=start, step=freq_offset(freq), holidays=holidays)
    if _sub_daily(freq):
        out["seasonal_naive_day"] = lambda: SeasonalNaive(round(pd.Timedelta("1D") / freq_offset(freq)))
    return out


MODEL_NAMES = (
    "naive", "historic_average", "seasonal_naive", "seasonal_naive_day", "window_average",
    "mstl_ets", "mstl_ets_log", "autoreg_fourier", "autoreg_fourier_log", "holt_winters",
    "unobserved_components", "seasonal_trend", "changepoint_trend",
)

# Candidates tried by default (model choice per series by backtest); the first is preferred unless
# another wins the backtest clearly. Beyond two weeks ahead the seasonal-trend model leads (trend,
# level shifts, yearly cycle; a millisecond per fit). Up to two weeks ahead the AR lags of the
# harmonic regression still pay (huawei-dc4, docs/forecast.md), so it leads there.
DEFAULT_MODELS = {
    "sub_daily": ("seasonal_trend", "window_average", "seasonal_naive"),
    "sub_daily_short": ("autoreg_fourier", "seasonal_trend", "window_average", "seasonal_naive"),
    "daily": ("seasonal_trend", "autoreg_fourier", "window_average", "seasonal_naive"),
}
SHORT_HORIZON = pd.Timedelta("14D")


def default_models(freq: str, h: int | None = None) -> tuple[str, ...]:
    """The default candidate names at ``freq`` for a horizon of ``h`` steps."""
    if not _sub_daily(freq):
        return DEFAULT_MODELS["daily"]
    if h is not None and h * freq_offset(freq) <= SHORT_HORIZON:
        return DEFAULT_MODELS["sub_daily_short"]
    return DEFAULT_MODELS["sub_daily"]


MAX_WINDOWS = 12


def default_backtest(freq: str, h: int) -> tuple[int, int]:
    """Default (n_windows, step) of the backtest at ``freq`` for a horizon of ``h`` steps.

    Windows are as long as the horizon and their origins a quarter of a horizon apart (a seventh
    up to two weeks ahead; in whole days where the step divides a day), as many as the history
    allows up to ``MAX_WINDOWS``: a quarter-ahead backtest then spans most of a year of origins.
    """
    spd = steps_per_day(freq) or 1
    # Up to two weeks ahead the windows crowd near the end (a seventh of the horizon apart), so
    # that a short history still gives several windows that train on most of it.
    share = 7 if h * freq_offset(freq) <= SHORT_HORIZON else 4
    step = max(spd, int(round(h / share / spd)) * spd)
    return MAX_WINDOWS, step


def make_model(name: str, freq: str, **context) -> ArrayForecaster:
    """A fresh, unfitted model called ``name`` configured for ``freq``.

    Args:
        context: facts about the series some models use: ``start`` (timestamp of the first
            observation), ``holidays`` (dates) and ``yearly_offset`` (a borrowed yearly season, see
            ``SeasonalTrend``).

    Raises:
        ValueError: unknown name (the message lists the known ones).
    """
    factories = _factories(freq, **context)
    if name not in factories:
        raise ValueError(f"unknown forecast model {name!r} at freq {freq!r}; choose from {sorted(factories)}")
    return factories[name]()
