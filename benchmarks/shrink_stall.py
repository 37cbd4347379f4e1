"""CPU of the fleet-shrinking search alone, as ``solve_packing`` runs it (greedy plan, the captured
counted budgets), on ``benchmarks/pack_capture.py capture`` files; prints per solve its attempts, moves,
removals, cost and a digest of its plan (equal digests: the rest of the solve is the same too).

    python benchmarks/shrink_stall.py DIR/*.pkl [--stall 50] [--noprune] [--repeat 3]

``--stall N`` gives a change up after N moves without a lower overflow (ShrinkOptions.stall_moves);
``--noprune`` turns the repair engine's pruned swap search off (the same moves, other CPU).
"""
import argparse, hashlib, pickle, time
from pathlib import Path
import models.packing.repair as R
import models.packing.shrink as sh
from models.packing import bounds
from models.packing.heuristics import best_heuristic
from models.packing.solution import packing_cost
ap = argparse.ArgumentParser(); ap.add_argument("files", nargs="+"); ap.add_argument("--noprune", action="store_true")
ap.add_argument("--stall", type=int, default=None); ap.add_argument("--repeat", type=int, default=1)
args = ap.parse_args()
if args.noprune: R.PRUNE_MIN_FLOATS = 1 << 62
stats_p = {"calls": 0, "pairs": 0, "scored": 0}
if hasattr(R.OverflowRepair, "_pruned_swap"):
    orig = R.OverflowRepair._swap_pair_loads
    def spl(self, p, xs, ys):
        stats_p["scored"] += len(xs); return orig(self, p, xs, ys)
    R.OverflowRepair._swap_pair_loads = spl
    orig2 = R.OverflowRepair._pruned_swap
    def ps(self, a, members, partners, *x):
        stats_p["calls"] += 1; stats_p["pairs"] += len(members) * len(partners); return orig2(self, a, members, partners, *x)
    R.OverflowRepair._pruned_swap = ps
tot = 0.0
for f in args.files:
    rec = pickle.load(open(f, "rb")); o = rec["options"]
    cpus = []
    for _ in range(args.repeat):
        inst = pickle.load(open(f, "rb"))["instance"]
        bound = bounds.lower_bound(inst, o.chord_exact_items)["best"]
        plan = best_heuristic(inst)
        kw = dict(attempt_moves=o.shrink_moves, seed=o.seed, max_moves=o.shrink_max_moves, escalate=not (len(inst.items()) <= o.exact_max_items or o.deterministic))
        if args.stall is not None: kw["stall_moves"] = args.stall
        st = {}
        c0 = time.process_time()
        out = sh.shrink_fleet(inst, plan, time.perf_counter() + 1e5, sh.ShrinkOptions(**kw), st, bound=bound * (1 + o.mip_gap))
        cpus.append(time.process_time() - c0)
        R.release_cross_tables(inst) if hasattr(R, "release_cross_tables") else None
    d = hashlib.sha1(out.item_worker.tobytes() + out.worker_kind.tobytes()).hexdigest()[:12]
    cpu = sorted(cpus)[len(cpus) // 2]; tot += cpu
    print(f"{Path(f).stem} items {rec['items']} shrink cpu {cpu:.2f} (all {[round(c,2) for c in cpus]}) att {st['shrink_attempts']} moves {st['shrink_moves']} removed {st['shrink_removed']} down {st['shrink_downsized']} exch {st['shrink_exchanged']} cost {packing_cost(inst, out)} plan {d} pruned {stats_p}", flush=True)
print(f"total shrink cpu {tot:.2f}")
