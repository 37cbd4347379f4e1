"""Column-generation dive for one-resource chance-constrained ("conic") bin packing.

Bins hold item sets ``S`` with ``sum(a_S) + z * sqrt(sum(b_S)) <= C``. The set-cover master
``min sum_p lambda_p  s.t.  sum_{p ∋ i} lambda_p >= 1`` is solved as an LP (HiGHS through
:func:`scipy.optimize.linprog`); new columns come from a greedy pricing rule (each item with a
positive dual in turn seeds a bin that is then filled by the best ratio ``dual / extra left-hand
side``, the rule of Xu et al.'s heuristic pricer, arXiv 2204.00320, plus two seeded noisy copies
of the duals). When no column prices out, the column with the largest LP value is fixed, its items
leave the problem, and the LP is re-solved over the rest: a dive, as the rounding that finds the
published packings in that paper's branch-and-price runs.

Why: with a large multiplier (``d`` form, alpha 0.99, ``z`` = 9.95) the variance term dominates and
a local search over bins (moves and swaps) stalls one bin above the optimum, while the LP over
whole bins points at the right combinations. The pricing is heuristic, so the LP value is *not* a
valid lower bound and is reported only as a guide (``lp``).

The module needs numpy and scipy only and never imports ``planner``.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np

__all__ = ["DiveResult", "conic_dive", "bin_lhs", "best_fit"]


@dataclass(frozen=True)
class DiveResult:
    """Bins (lists of item indices) of a complete dive, or ``bins=None`` when the budget ran out."""

    bins: list[list[int]] | None
    lp: float  # the root LP value (heuristic pricing: a guide, not a bound)
    columns: int  # columns generated (pricing) over the whole dive
    lp_solves: int
    runtime_s: float
    message: str = ""


def bin_lhs(a: np.ndarray, b: np.ndarray, z: float, items) -> float:
    """Left-hand side ``sum(a) + z * sqrt(sum(b))`` of one bin."""
    idx = list(items)
    return float(a[idx].sum() + z * math.sqrt(float(b[idx].sum())))


def best_fit(a, b, z: float, cap: float) -> list[list[int]]:
    """Bins of the best-fit rule of Xu et al.: fill one bin at a time with the fitting item that
    uses the least capacity, ``a_i + z (sqrt(B + b_i) - sqrt(B))``."""
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    left = np.ones(len(a), dtype=bool)
    bins: list[list[int]] = []
    while left.any():
        sa = sb = 0.0
        cur: list[int] = []
        while True:
            new = sa + a + z * np.sqrt(sb + b)
            ok = left & (new <= cap)
            if not ok.any():
                break
            j = int(np.argmin(np.where(ok, new - sa - z * math.sqrt(sb), np.inf)))
            cur.append(j)
            left[j] = False
            sa += float(a[j])
            sb += float(b[j])
        if not cur:
            raise ValueError(f"item {int(np.flatnonzero(left)[0])} alone exceeds the capacity {cap:g}")
        bins.append(cur)
    return bins


def _price(y, alive, a, b, z, cap, weights, keep):
    """Greedy pricing: the bins seeded by each positive-dual item and filled by ratio of
    ``weights`` (the duals, or a noisy copy) to the extra left-hand side; returns up to ``keep`` of
    them with true dual value > 1 (columns of negative reduced cost), best first."""
    n = len(a)
    found: dict[tuple, float] = {}
    w = np.where(alive, weights, 0.0)
    for f in np.flatnonzero(alive & (y > 1e-9)):
        in_bin = np.zeros(n, dtype=bool)
        in_bin[f] = True
        sa, sb = float(a[f]), float(b[f])
        lhs = sa + z * math.sqrt(sb)
        while True:
            new = sa + a + z * np.sqrt(sb + b)
            ok = ~in_bin & (new <= cap) & (w > 1e-12)
            if not ok.any():
                break
            ratio = np.where(ok, w / np.maximum(new - lhs, 1e-12), -1.0)
            j = int(np.argmax(ratio))
            in_bin[j] = True
            sa += float(a[j])
            sb += float(b[j])
            lhs = sa + z * math.sqrt(sb)
        val = float(y[in_bin].sum())
        if val > 1.0 + 1e-7:
            found[tuple(int(i) for i in np.flatnonzero(in_bin))] = val
    # best first; ties by the column itself, so that the order is deterministic
    return sorted(found, key=lambda c: (-found[c], c))[:keep]


def _solve_lp(columns, items, n):
    from scipy.optimize import linprog

    pos = np.full(n, -1)
    pos[items] = np.arange(len(items))
    m = np.zeros((len(items), len(columns)))
    for j, col in enumerate(columns):
        m[pos[list(col)], j] = 1.0
    res = linprog(np.ones(len(columns)), A_ub=-m, b_ub=-np.ones(len(items)), bounds=(0, None), method="highs")
    if res.status != 0:
        raise RuntimeError(f"set-cover LP failed: {res.message}")
    y = np.zeros(n)
    y[items] = -res.ineqlin.marginals
    return res.x, float(res.fun), y


def conic_dive(a, b, z: float, cap: float, time_limit_s: float = 10.0, seed: int = 0,
               start_columns=(), noisy: int = 2, per_round: int = 10,
               max_rounds: int = 1000) -> DiveResult:
    """One column-generation dive (module docstring). ``start_columns``: feasible bins to begin
    with (e.g. a greedy packing); every item alone is added. Deterministic for a given seed."""
    t0 = time.perf_counter()
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    n = len(a)
    rng = np.random.default_rng(seed)
    alive = np.ones(n, dtype=bool)
    pool: dict[tuple, None] = {}  # insertion-ordered set of columns (a deterministic LP order)
    for col in start_columns:
        col = tuple(sorted(int(i) for i in col))
        if col and bin_lhs(a, b, z, col) <= cap:
            pool[col] = None
    fixed: list[list[int]] = []
    root_lp, solves, generated = math.nan, 0, 0
    while alive.any():
        items = np.flatnonzero(alive)
        cols = {tuple(i for i in c if alive[i]): None for c in pool}
        cols.pop((), None)
        for i in items:
            cols.setdefault((int(i),), None)
        for _ in range(max_rounds):
            if time.perf_counter() - t0 > time_limit_s:
                return DiveResult(None, root_lp, generated, solves, time.perf_counter() - t0, "time limit")
            order = list(cols)
            lam, val, y = _solve_lp(order, items, n)
            solves += 1
            added = 0
            for k in range(1 + noisy):
                weights = y if k == 0 else y * (1.0 + 0.3 * rng.standard_normal(n))
                for col in _price(y, alive, a, b, z, cap, weights, per_round):
                    if col not in cols:
                        cols[col] = None
                        added += 1
                        generated += 1
            if not added:
                break
        if math.isnan(root_lp):
            root_lp = val
        best = order[int(np.argmax(lam))]
        fixed.append(list(best))
        alive[list(best)] = False
        pool = cols  # the columns so far, cut to the items left at the next step
    return DiveResult(fixed, root_lp, generated, solves, time.perf_counter() - t0)
