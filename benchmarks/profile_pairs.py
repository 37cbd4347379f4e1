"""Time of the capacity-saving pair search (``most_saving_pairs``, exact with pruning) against the
brute force over every pair and against the correlation search it replaced in ``planner profile``,
run in the same process on the same matrices.

    python benchmarks/profile_pairs.py [--functions 300 1000 3000] [--days 28] [--repeat 3]

Series: a synthetic fleet (``planner.synth``, hourly invocations), near-empty series left out as
``planner profile`` does (``--all`` keeps every non-idle series: a larger search). Prints medians and the ratios pruned / brute force and pruned / correlation.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from models.profiles.complementarity import most_anticorrelated_pairs, most_saving_pairs  # noqa: E402


def brute_force(x: np.ndarray, n_pairs: int, max_cells: int = 4_000_000) -> np.ndarray:
    """Savings of every pair, the n_pairs largest (the reference for exactness and time)."""
    peaks = x.max(axis=1)
    i, j = np.triu_indices(len(x), k=1)
    out = np.empty(i.size)
    chunk = max(1, max_cells // x.shape[1])
    for s in range(0, i.size, chunk):
        a, b = i[s:s + chunk], j[s:s + chunk]
        out[s:s + chunk] = peaks[a] + peaks[b] - (x[a] + x[b]).max(axis=1)
    return np.sort(out)[::-1][:n_pairs]


def series(functions: int, days: int, keep_all: bool = False) -> np.ndarray:
    from planner.profile import NEAR_EMPTY_ACTIVE, NEAR_EMPTY_PEAK
    from planner.synth import SynthSpec, make_fleet

    fleet = make_fleet(SynthSpec(n_functions=functions, days=days, seed=1))
    tel = fleet.telemetry()
    per_slot = int(3600 / tel.interval_s)
    n = len(tel.index) // per_slot * per_slot
    x = tel.counts[:n].reshape(-1, per_slot, tel.n_functions).sum(axis=1).T.astype(float)
    peaks = x.max(axis=1)
    keep = (peaks >= NEAR_EMPTY_PEAK * peaks.max()) & ((x > 0).mean(axis=1) >= NEAR_EMPTY_ACTIVE)
    return x[peaks > 0] if keep_all else x[keep]


def timed(fn, repeat):
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--functions", type=int, nargs="+", default=[300, 1000, 3000])
    ap.add_argument("--days", type=int, default=28)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--pairs", type=int, default=20)
    ap.add_argument("--all", action="store_true", help="keep the near-empty series (a harder search)")
    args = ap.parse_args()
    print(f"{'functions':>9} {'searched':>8} {'slots':>5} {'pruned_s':>9} {'brute_s':>8} {'corr_s':>7} "
          f"{'pruned/brute':>12} {'pruned/corr':>11} exact")
    for n in args.functions:
        x = series(n, args.days, args.all)
        t_p, got = timed(lambda: most_saving_pairs(x, n_pairs=args.pairs), args.repeat)
        t_b, ref = timed(lambda: brute_force(x, args.pairs), args.repeat)
        t_c, _ = timed(lambda: most_anticorrelated_pairs(x, n_pairs=args.pairs), args.repeat)
        exact = np.allclose(np.sort(got["saving"].to_numpy())[::-1], ref[ref > 0][:len(got)])
        print(f"{n:>9} {len(x):>8} {x.shape[1]:>5} {t_p:>9.3f} {t_b:>8.3f} {t_c:>7.3f} {t_p / t_b:>12.3f} "
              f"{t_p / t_c:>11.3f} {exact}")


if __name__ == "__main__":
    main()
