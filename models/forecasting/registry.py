"""Named model constructors and the default candidate sets per frequency."""

from __future__ import annotations

from typing import Callable

import pandas as pd

from models.forecasting.autoreg import AutoRegFourier
from models.forecasting.base import ArrayForecaster, freq_offset, season_lengths
from models.forecasting.baseline import HistoricAverage, Naive, SeasonalNaive, SeasonalWindowAverage
from models.forecasting.ets import HoltWintersDamped
from models.forecasting.mstl import MSTLETS
from models.forecasting.ucm import UnobservedComponentsModel

__all__ = ["MODEL_NAMES", "DEFAULT_MODELS", "make_model", "default_models", "default_backtest", "weekly_season"]

Factory = Callable[[], ArrayForecaster]


def weekly_season(freq: str) -> int:
    """Steps per week at ``freq`` (168 hourly, 7 daily); 1 when a week is a single step or less."""
    return max(1, round(pd.Timedelta("7D") / freq_offset(freq)))


def _sub_daily(freq: str) -> bool:
    return freq_offset(freq) < pd.Timedelta("1D")


def _factories(freq: str) -> dict[str, Factory]:
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
    if _sub_daily(freq):
        out["seasonal_naive_day"] = lambda: SeasonalNaive(round(pd.Timedelta("1D") / freq_offset(freq)))
    return out


MODEL_NAMES = (
    "naive", "historic_average", "seasonal_naive", "seasonal_naive_day", "window_average",
    "mstl_ets", "mstl_ets_log", "autoreg_fourier", "autoreg_fourier_log", "holt_winters",
    "unobserved_components",
)

# Candidates tried by default (model choice per series by backtest); the first is preferred unless
# another wins the backtest clearly. Hourly: the OLS model is cheap enough for thousands of series
# and the most accurate on huawei-dc4 (docs/forecast.md); MSTL is opt-in there (about 10x slower).
DEFAULT_MODELS = {
    "sub_daily": ("autoreg_fourier", "window_average", "seasonal_naive"),
    "daily": ("autoreg_fourier", "mstl_ets", "holt_winters", "window_average", "seasonal_naive"),
}


def default_models(freq: str) -> tuple[str, ...]:
    """The default candidate names at ``freq``."""
    return DEFAULT_MODELS["sub_daily" if _sub_daily(freq) else "daily"]


def default_backtest(freq: str, h: int) -> tuple[int, int]:
    """Default (n_windows, step) of the backtest at ``freq`` for horizon ``h``.

    Sub-daily: 6 windows a seventh of the horizon apart (a day, for a week ahead), so they train on
    nearly as much history as the final fit. Daily and coarser: 8 windows half a horizon apart, so
    that a quarter-ahead backtest spans a year of seasons and events.
    """
    if _sub_daily(freq):
        return 6, max(1, h // 7)
    return 8, max(1, h // 2)


def make_model(name: str, freq: str) -> ArrayForecaster:
    """A fresh, unfitted model called ``name`` configured for ``freq``.

    Raises:
        ValueError: unknown name (the message lists the known ones).
    """
    factories = _factories(freq)
    if name not in factories:
        raise ValueError(f"unknown forecast model {name!r} at freq {freq!r}; choose from {sorted(factories)}")
    return factories[name]()
