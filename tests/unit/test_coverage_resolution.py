"""benchmarks/coverage_resolution.py: the calibrated forecaster it simulates (docs/forecast.md relies on it)."""

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from benchmarks.coverage_resolution import pooled_acf, simulate  # noqa: E402

BUCKETS = [(0, 14), (14, 42), (42, 91)]


def test_independent_steps_spread_like_a_binomial():
    white = np.eye(1, 91).ravel()
    cov = simulate(white, 3, BUCKETS, 4000, seed=1)
    assert abs(cov[:, 0, 0].mean() - 0.90) < 0.005  # calibrated: right on average
    assert abs(cov[:, 0, 0].std() - np.sqrt(0.9 * 0.1 / 42)) < 0.004  # 42 independent days


def test_fully_dependent_steps_cover_all_or_nothing_per_origin():
    cov = simulate(np.ones(91), 3, BUCKETS, 2000, seed=1)
    assert set(np.round(cov[:, 0, 0] * 3).astype(int)) <= {0, 1, 2, 3}
    assert abs(cov[:, 0, 0].mean() - 0.90) < 0.02
    assert cov[:, 0, 0].std() > 0.15  # far wider than independent days


def test_pooled_acf_of_white_noise_and_of_a_shared_level():
    rng = np.random.default_rng(0)
    assert abs(pooled_acf(rng.standard_normal((8, 500)), False)[1:20]).max() < 0.05
    level = rng.standard_normal((8, 1)) + 0.3 * rng.standard_normal((8, 500))
    kept, removed = pooled_acf(level, False), pooled_acf(level, True)
    assert kept[50] > 0.6 > abs(removed[50])  # an origin's level error is the dependence "mean removed" drops
