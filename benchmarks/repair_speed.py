"""CPU time of the tabu repair engine (models/packing/repair.py) on captured instances: the
fleet-shrinking search from the best greedy plan, then the load-balancing pass on its result, as
``solve_packing`` runs them in deterministic mode (the captured options), without the CP-SAT steps
between them.

    python benchmarks/repair_speed.py DIR [--only 4,9] [--repeat 3] [--stall 50]
    PYTHONPATH=/path/to/other/checkout python benchmarks/repair_speed.py DIR ...   # another version

Prints per captured ``cpsat`` solve the median CPU seconds of each phase and a digest of the two
plans (equal digests across versions: the same moves were chosen), then the totals.
"""

from __future__ import annotations

import argparse
import hashlib
import pickle
import statistics
import time
from pathlib import Path


def _digest(packing) -> str:
    return hashlib.sha1(packing.item_worker.tobytes() + packing.worker_kind.tobytes()).hexdigest()[:12]


def run(instance, options, stall=None) -> tuple[float, float, str, str]:
    from models.packing import bounds
    from models.packing.balance import balance_load
    from models.packing.heuristics import best_heuristic
    from models.packing.shrink import ShrinkOptions, shrink_fleet

    bound = bounds.lower_bound(instance, options.chord_exact_items)["best"]
    plan = best_heuristic(instance)
    exact = len(instance.items()) <= options.exact_max_items
    shrink_opts = ShrinkOptions(attempt_moves=options.shrink_moves, seed=options.seed,
                                max_moves=options.shrink_max_moves, escalate=not (exact or options.deterministic),
                                stall_moves=stall)
    far = time.perf_counter() + 3600.0  # the move budgets stop the phases, not the clock
    c0 = time.process_time()
    shrunk = shrink_fleet(instance, plan, far, shrink_opts, {}, bound=bound * (1 + options.mip_gap))
    c1 = time.process_time()
    balanced = balance_load(instance, shrunk, far, options.balance_moves, options.balance_ceiling, options.seed, {})
    c2 = time.process_time()
    return c1 - c0, c2 - c1, _digest(shrunk), _digest(balanced)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dir", type=Path)
    ap.add_argument("--only", default=None)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--stall", type=int, default=None,
                    help="shrink_stall of the pipeline (50 since 383bf20; captures before it lack it)")
    args = ap.parse_args()
    files = sorted(args.dir.glob("*.pkl"))
    if args.only:
        keep = {int(x) for x in args.only.split(",")}
        files = [f for f in files if int(f.stem) in keep]
    tot_s = tot_b = 0.0
    for f in files:
        rec = pickle.loads(f.read_bytes())
        if rec["backend"] != "cpsat" or not rec["options"].deterministic:
            continue
        runs = [run(pickle.loads(f.read_bytes())["instance"], rec["options"], args.stall) for _ in range(args.repeat)]
        if len({r[2:] for r in runs}) != 1:
            raise SystemExit(f"{f.stem}: repeats differ: {[r[2:] for r in runs]}")
        s, b = statistics.median(r[0] for r in runs), statistics.median(r[1] for r in runs)
        tot_s, tot_b = tot_s + s, tot_b + b
        print(f"{f.stem} items {rec['items']:4d} shrink {s:6.2f} s balance {b:6.2f} s plans {runs[0][2]} {runs[0][3]}",
              flush=True)
    print(f"total: shrink {tot_s:.2f} s, balance {tot_b:.2f} s CPU (median of {args.repeat} each)")


if __name__ == "__main__":
    main()
