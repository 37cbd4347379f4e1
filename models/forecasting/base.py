"""The forecaster interface shared by every model, and the season lengths implied by a frequency.

A model is a spec (constructor arguments only, P1), fitted state with a trailing underscore, and a
result table. Every model works on one regular series; :mod:`planner.forecast` loops over series.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np
import pandas as pd

__all__ = [
    "Forecaster",
    "ArrayForecaster",
    "NotFittedError",
    "ModelUnavailableError",
    "season_lengths",
    "freq_offset",
]


class NotFittedError(ValueError, AttributeError):
    """``predict`` was called before ``fit``."""


class ModelUnavailableError(ValueError):
    """The model cannot be fitted on this series (too short, constant...); the caller falls back."""


@runtime_checkable
class Forecaster(Protocol):
    """What the planner needs from a forecast model.

    ``fit(df)`` takes one series as a frame with columns ``ds`` (regular timestamps) and ``y``
    and returns ``self``; ``predict(h)`` returns a frame with ``ds`` (the next ``h`` timestamps)
    and ``mean`` (the point forecast).
    """

    name: str

    def fit(self, df: pd.DataFrame) -> "Forecaster": ...

    def predict(self, h: int) -> pd.DataFrame: ...


def freq_offset(freq: str) -> pd.Timedelta:
    """The fixed spacing of ``freq`` (``"1h"``, ``"1D"``, ``"30min"``...) as a Timedelta.

    Raises:
        ValueError: ``freq`` is not a fixed pandas frequency.
    """
    try:
        step = pd.Timedelta(pd.tseries.frequencies.to_offset(freq))
    except (ValueError, TypeError) as exc:
        raise ValueError(
            f"unknown frequency {freq!r}; use a fixed pandas frequency such as '1h', '30min' or '1D'"
        ) from exc
    if step <= pd.Timedelta(0):
        raise ValueError(f"frequency {freq!r} must be positive")
    return step


def season_lengths(freq: str) -> tuple[float, ...]:
    """Season lengths (in steps) worth modelling at ``freq``.

    Sub-daily data get a daily and a weekly cycle (24 and 168 at ``1h``); daily and coarser data
    get a weekly and a yearly cycle (7 and 365.25 at ``1D``). Cycles shorter than two steps are
    dropped.
    """
    step = freq_offset(freq)
    day, week, year = pd.Timedelta("1D"), pd.Timedelta("7D"), pd.Timedelta("365.25D")
    cycles = (day, week) if step < day else (week, year)
    out = []
    for c in cycles:
        m = c / step
        if m >= 2:
            out.append(round(m) if abs(m - round(m)) < 1e-9 else m)
    return tuple(out)


class ArrayForecaster:
    """Base class: subclasses implement ``_fit(y)`` and ``_predict(h)`` on float arrays.

    The public ``fit``/``predict`` add the timestamps; ``fit_array``/``predict_array`` skip them
    (the backtest calls these thousands of times).
    """

    name = "base"

    def min_length(self) -> int:
        """Shortest history (in steps) the model can be fitted on."""
        return 1

    # -- array API -------------------------------------------------------------------------
    def fit_array(self, y: np.ndarray) -> "ArrayForecaster":
        """Fit on a 1-D float array without NaN; returns ``self``."""
        y = np.asarray(y, dtype=float)
        if y.ndim != 1 or len(y) < self.min_length():
            raise ModelUnavailableError(
                f"{self.name} needs at least {self.min_length()} observations, got {len(y)}"
            )
        if not np.isfinite(y).all():
            raise ValueError(f"{self.name}: the series has NaN or infinite values; fill them first")
        self.y_ = y
        self._fit(y)
        return self

    def predict_array(self, h: int) -> np.ndarray:
        """Point forecast of the next ``h`` steps."""
        if not hasattr(self, "y_"):
            raise NotFittedError(f"{self.name}: call fit before predict")
        if h <= 0:
            raise ValueError(f"horizon must be positive, got {h}")
        out = np.asarray(self._predict(int(h)), dtype=float)
        if out.shape != (h,) or not np.isfinite(out).all():
            raise ModelUnavailableError(f"{self.name}: the fitted model produced a non-finite forecast")
        return out

    # -- frame API ---------------------------------------------------------------------------
    def fit(self, df: pd.DataFrame, freq: str | None = None) -> "ArrayForecaster":
        """Fit on a frame with ``ds`` and ``y`` (one regular series, sorted by ``ds``)."""
        df = df.sort_values("ds")
        ds = pd.DatetimeIndex(df["ds"])
        if freq is None:
            freq = pd.infer_freq(ds) if len(ds) >= 3 else None
            if freq is None:
                raise ValueError("cannot infer the frequency of 'ds'; pass freq explicitly")
        self.freq_ = freq
        self.last_ds_ = ds[-1]
        return self.fit_array(df["y"].to_numpy(dtype=float))

    def predict(self, h: int) -> pd.DataFrame:
        """Frame with the next ``h`` timestamps (``ds``) and the point forecast (``mean``)."""
        mean = self.predict_array(h)
        if not hasattr(self, "last_ds_"):
            raise NotFittedError(f"{self.name}: predict needs timestamps; fit with a frame")
        step = freq_offset(self.freq_)
        ds = pd.date_range(self.last_ds_ + step, periods=h, freq=step)
        return pd.DataFrame({"ds": ds, "mean": mean})

    def _fit(self, y: np.ndarray) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def _predict(self, h: int) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r})"
