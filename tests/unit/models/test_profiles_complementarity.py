"""Correlation, most anticorrelated pairs, multiplexing gain and affinity."""

import numpy as np
import pytest

from models.profiles.complementarity import (
    affinity,
    correlation_matrix,
    most_anticorrelated_pairs,
    multiplexing_gain,
    pair_gains,
)


def fleet_with_opposites(seed=0, n_other=9, t=168):
    rng = np.random.default_rng(seed)
    hours = np.arange(t) % 24
    day = np.round(50 + 50 * np.sin(2 * np.pi * hours / 24))  # integers 0..100
    others = rng.poisson(40, size=(n_other, t)) * (1 + (hours >= 8) * rng.uniform(0.2, 1, (n_other, 1)))
    x = np.vstack([others[:3], day, others[3:6], 100 - day, others[6:]])
    return x, 3, 7  # rows of the exact pair


def test_exact_opposites_are_found_first_with_exact_gain():
    x, a, b = fleet_with_opposites()
    ids = [f"f{i}" for i in range(len(x))]
    pairs = most_anticorrelated_pairs(x, ids, n_pairs=5)
    first = pairs.iloc[0]
    assert (first["a"], first["b"]) == (f"f{a}", f"f{b}")
    assert first["correlation"] == pytest.approx(-1.0, abs=1e-12)
    # peaks 100 + 100, their sum is 100 in every slot: the gain is exactly 2
    assert first["multiplexing_gain"] == 2.0
    assert multiplexing_gain(x, [a, b]) == 2.0
    assert list(pairs.columns) == ["a", "b", "correlation", "multiplexing_gain"]
    assert pairs["correlation"].is_monotonic_increasing


def test_blocked_search_equals_full_search():
    x, _, _ = fleet_with_opposites(seed=2, n_other=20)
    full = most_anticorrelated_pairs(x, n_pairs=15)
    blocked = most_anticorrelated_pairs(x, n_pairs=15, block=4)
    assert full.equals(blocked)
    corr = correlation_matrix(x)
    i, j = np.triu_indices(len(x), 1)
    assert full["correlation"].iloc[0] == pytest.approx(corr[i, j].min())


def test_gain_of_sets_and_idle_series():
    x = np.array([[1.0, 0, 0], [0, 1, 0], [0, 0, 1], [0, 0, 0]])
    assert multiplexing_gain(x) == 3.0
    assert multiplexing_gain(x, [0, 0 + 1]) == 2.0
    assert multiplexing_gain(x, [3]) == 1.0  # nothing to multiplex
    assert multiplexing_gain(np.ones((2, 4))) == 1.0
    np.testing.assert_allclose(pair_gains(x, [0, 0, 3], [1, 3, 3]), [2.0, 1.0, 1.0])
    corr = correlation_matrix(x)
    assert corr[3, 0] == 0 and corr[3, 3] == 1
    pairs = most_anticorrelated_pairs(x, n_pairs=10)
    assert 3 not in set(pairs["a"]) | set(pairs["b"])  # constant rows have no correlation


def test_affinity_matrix():
    x, a, b = fleet_with_opposites()
    aff = affinity(x)
    assert aff.shape == (len(x), len(x))
    np.testing.assert_allclose(aff, aff.T)
    assert (np.diag(aff) == 0).all()
    assert aff[a, b] == pytest.approx(0.5)
    assert aff.max() == pytest.approx(0.5)
    assert (aff >= -1e-12).all()
    corr_aff = affinity(x, method="correlation")
    assert corr_aff[a, b] == pytest.approx(1.0)
    with pytest.raises(ValueError, match="method"):
        affinity(x, method="nope")
