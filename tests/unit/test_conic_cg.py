"""The column-generation dive for one-resource conic bin packing (models.packing.conic_cg)."""

import math

import numpy as np
import pytest

from models.packing.conic_cg import best_fit, bin_lhs, conic_dive

Z = math.sqrt(99.0)  # the d (Cantelli) multiplier at alpha 0.99


def instance(seed, n=11):
    rng = np.random.default_rng(seed)
    a, b = rng.uniform(1, 20, n), rng.uniform(0.1, 8, n)
    keep = a + Z * np.sqrt(b) <= 72
    return a[keep], b[keep]


def optimum(a, b, z, cap):
    """Fewest bins by dynamic programming over subsets (small n only)."""
    n = len(a)
    full = (1 << n) - 1
    feas = [False] * (full + 1)
    for m in range(1, full + 1):
        idx = [i for i in range(n) if m >> i & 1]
        feas[m] = a[idx].sum() + z * math.sqrt(b[idx].sum()) <= cap
    best = [0] + [n + 1] * full
    for m in range(1, full + 1):
        low, s = m & -m, m
        while s:
            if s & low and feas[s]:
                best[m] = min(best[m], best[m ^ s] + 1)
            s = (s - 1) & m
    return best[full]


def check_packing(bins, a, b, z, cap):
    assert sorted(i for col in bins for i in col) == list(range(len(a)))
    assert all(bin_lhs(a, b, z, col) <= cap for col in bins)


@pytest.mark.parametrize("seed", [2, 3, 4, 7])
def test_dive_reaches_the_optimum_where_best_fit_does_not(seed):
    a, b = instance(seed)
    greedy = best_fit(a, b, Z, 72.0)
    check_packing(greedy, a, b, Z, 72.0)
    res = conic_dive(a, b, Z, 72.0, time_limit_s=20, start_columns=greedy)
    check_packing(res.bins, a, b, Z, 72.0)
    opt = optimum(a, b, Z, 72.0)
    assert len(res.bins) == opt < len(greedy)
    assert res.lp <= opt + 1e-9 and res.columns > 0 and res.lp_solves > 0


def test_dive_is_valid_when_it_misses_and_deterministic():
    a, b = instance(15)  # measured: from the best-fit columns the dive gives 5 bins, the optimum is 4
    greedy = best_fit(a, b, Z, 72.0)
    first = conic_dive(a, b, Z, 72.0, time_limit_s=20, seed=3, start_columns=greedy)
    again = conic_dive(a, b, Z, 72.0, time_limit_s=20, seed=3, start_columns=greedy)
    check_packing(first.bins, a, b, Z, 72.0)
    assert len(first.bins) == optimum(a, b, Z, 72.0) + 1
    assert first.bins == again.bins and first.lp == again.lp


def test_dive_stops_at_its_budget():
    rng = np.random.default_rng(0)
    a, b = rng.uniform(0.5, 3, 300), rng.uniform(0.01, 0.2, 300)  # many items a bin: a slow dive
    res = conic_dive(a, b, 1.0, 72.0, time_limit_s=0.05)
    assert res.bins is None and res.message == "time limit" and res.runtime_s < 5


def test_best_fit_rejects_an_item_too_big_alone():
    with pytest.raises(ValueError, match="item 1 alone exceeds the capacity 10"):
        best_fit([1.0, 11.0], [0.0, 0.0], 1.0, 10.0)
