"""Complementary pairs are weighed by the capacity they save; near-empty series are left out."""

import itertools

import numpy as np
import pandas as pd

from planner import columns as C
from planner.profile import profile_functions
from planner.telemetry import Telemetry


def test_tiny_alternating_timers_do_not_crowd_out_large_complementary_functions():
    index = pd.date_range("2026-01-05", periods=14 * 24, freq="h")
    hour = index.hour.to_numpy()
    rng = np.random.default_rng(0)
    day = np.where((hour >= 8) & (hour < 20), 900.0, 100.0) + rng.normal(0, 20, len(index)).clip(-50, 50)
    night = np.where((hour >= 8) & (hour < 20), 150.0, 800.0) + rng.normal(0, 20, len(index)).clip(-50, 50)
    flat = 400.0 + rng.normal(0, 30, len(index))
    timers = [np.where(np.arange(len(index)) % 2 == k % 2, 1.0, 0.0) for k in range(4)]  # r = -1 between odd/even
    counts = np.column_stack([10 * day, 10 * night, 10 * flat, *timers]).clip(min=0)  # timers: 0.01 % of the peak
    ids = ["day", "night", "flat", "t0", "t1", "t2", "t3"]
    tel = Telemetry(pd.DatetimeIndex(index, freq="h"), pd.Index(ids, name=C.UNIQUE_ID), counts.astype(np.float32))
    res = profile_functions(tel, None, n_pairs=5)
    pairs = res.pairs
    assert set(pairs.iloc[0][["a", "b"]]) == {"day", "night"}  # the pair that saves the most capacity
    assert not set(pairs[["a", "b"]].to_numpy().ravel()) & {"t0", "t1", "t2", "t3"}
    assert any("4 near-empty series" in n for n in res.notes)
    assert pairs["saving"].is_monotonic_decreasing and (pairs["saving"] > 0).all()


def test_most_saving_pairs_is_exact_against_brute_force():
    from models.profiles.complementarity import most_saving_pairs

    rng = np.random.default_rng(3)
    x = rng.gamma(0.5, 1.0, (40, 60)) * rng.lognormal(0, 2, (40, 1))
    got = most_saving_pairs(x, n_pairs=15)
    peaks = x.max(axis=1)
    brute = sorted(((peaks[i] + peaks[j] - (x[i] + x[j]).max(), i, j) for i, j in itertools.combinations(range(40), 2)),
                   key=lambda t: (-round(t[0], 12), t[1], t[2]))[:15]
    np.testing.assert_allclose(got["saving"], [b[0] for b in brute], rtol=1e-12)
    assert list(zip(got["a"], got["b"])) == [(b[1], b[2]) for b in brute]
    assert np.allclose(got["saving_share"], 1 - 1 / got["multiplexing_gain"])


def test_pairs_that_save_nothing_are_not_listed():
    from models.profiles.complementarity import most_saving_pairs

    x = np.array([[1.0, 2.0, 3.0], [2.0, 4.0, 6.0], [3.0, 2.0, 1.0]])  # rows 0 and 1 peak together
    got = most_saving_pairs(x, n_pairs=10)
    assert (0, 1) not in set(zip(got["a"], got["b"]))
    assert len(got) == 2
