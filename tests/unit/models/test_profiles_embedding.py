"""Normalised daily and weekly profiles and their PCA embedding."""

import numpy as np
import pandas as pd
import pytest

from models.profiles.embedding import (
    ShapeEmbedding,
    daily_profiles,
    normalise_rows,
    standardise_rows,
    weekly_profiles,
)


def test_weekly_profile_is_mean_one_and_starts_on_monday():
    ts = pd.date_range("2024-01-03", periods=24 * 14, freq="1h").values  # starts on a Wednesday
    dow = pd.DatetimeIndex(ts).day_of_week.to_numpy()
    x = np.where(dow == 0, 3.0, 1.0)[None, :]  # Mondays are three times busier
    w, full = weekly_profiles(x, ts)
    assert full and w.shape == (1, 168)
    assert w.mean() == pytest.approx(1.0)
    assert w[0, :24] == pytest.approx(np.full(24, 3 / (9 / 7)))


def test_short_series_weekly_profile_is_the_daily_one_repeated():
    ts = pd.date_range("2024-01-01", periods=48, freq="1h").values
    x = np.tile(np.arange(24, dtype=float), 2)[None, :]
    w, full = weekly_profiles(x, ts)
    assert not full
    np.testing.assert_allclose(w, np.tile(daily_profiles(x, ts), 7))


def test_zero_rows_stay_zero():
    assert (normalise_rows(np.zeros((1, 5))) == 0).all()
    assert (standardise_rows(np.ones((1, 5))) == 0).all()


def test_embedding_keeps_variance_share_and_reconstructs():
    rng = np.random.default_rng(1)
    basis = rng.normal(size=(2, 168))
    p = rng.normal(size=(30, 2)) @ basis + 1.0
    emb = ShapeEmbedding(variance=0.99).fit(p)
    assert emb.n_components_ == 2
    np.testing.assert_allclose(emb.inverse_transform(emb.transform(p)), p, atol=1e-9)
    # sign convention: the largest loading of each component is positive
    assert (emb.components_[np.arange(2), np.abs(emb.components_).argmax(1)] > 0).all()
    again = ShapeEmbedding(variance=0.99).fit(p[::-1])
    np.testing.assert_allclose(np.abs(again.components_), np.abs(emb.components_), atol=1e-9)
    np.testing.assert_allclose(again.components_, emb.components_, atol=1e-9)


def test_embedding_errors():
    with pytest.raises(ValueError, match="not fitted"):
        ShapeEmbedding().transform(np.ones((2, 3)))
    with pytest.raises(ValueError, match="n_components"):
        ShapeEmbedding(n_components=5).fit(np.ones((2, 3)))
