"""Baselines and the forecaster interface."""

import numpy as np
import pandas as pd
import pytest

from models.forecasting.base import Forecaster, NotFittedError, ModelUnavailableError, season_lengths
from models.forecasting.baseline import HistoricAverage, Naive, SeasonalNaive, SeasonalWindowAverage


def test_seasonal_naive_repeats_last_week():
    y = np.arange(400, dtype=float)
    pred = SeasonalNaive(168).fit_array(y).predict_array(200)
    assert np.array_equal(pred[:168], y[-168:])
    assert np.array_equal(pred[168:], y[-168:][:32])


def test_naive_average_and_window():
    y = np.r_[np.zeros(168), np.ones(168) * 2]
    assert Naive().fit_array(y).predict_array(3).tolist() == [2, 2, 2]
    assert HistoricAverage().fit_array(y).predict_array(2).tolist() == [1, 1]
    assert np.allclose(SeasonalWindowAverage(168, 2).fit_array(y).predict_array(5), 1.0)


def test_frame_api_adds_timestamps_and_protocol():
    ds = pd.date_range("2026-01-01", periods=200, freq="h")
    m = SeasonalNaive(24).fit(pd.DataFrame({"ds": ds, "y": np.arange(200.0)}), freq="1h")
    out = m.predict(5)
    assert isinstance(m, Forecaster)
    assert out["ds"].iloc[0] == ds[-1] + pd.Timedelta("1h") and list(out.columns) == ["ds", "mean"]


def test_errors():
    with pytest.raises(NotFittedError):
        Naive().predict_array(3)
    with pytest.raises(ModelUnavailableError, match="at least 168"):
        SeasonalNaive(168).fit_array(np.ones(10))
    with pytest.raises(ValueError, match="NaN"):
        Naive().fit_array(np.array([1.0, np.nan]))


def test_season_lengths():
    assert season_lengths("1h") == (24, 168)
    assert season_lengths("1D") == (7, 365.25)
    assert season_lengths("30min") == (48, 336)
    with pytest.raises(ValueError, match="unknown frequency"):
        season_lengths("fortnightly")
