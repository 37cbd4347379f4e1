"""Replay ``benchmarks/pack_capture.py capture`` solves with the CPU (process time) of each phase of
``solve_packing``: bounds, peak, greedy (heur), fleet-shrinking search, neighbourhood search (lns) or
exact model, load balancing, and the total; ``same``/``DIFF`` compares the plan with the captured one.

    python benchmarks/pack_phases.py DIR [--only 4,12]
    PYTHONPATH=/path/to/other/checkout python benchmarks/pack_phases.py DIR ...   # another version
"""
import argparse, hashlib, pickle, time
from pathlib import Path
import models.packing.solve as S

acc = {}
def wrap(name, fn):
    def w(*a, **k):
        c0 = time.process_time()
        try:
            return fn(*a, **k)
        finally:
            acc[name] = acc.get(name, 0.0) + time.process_time() - c0
    return w
S._bounds = type("B", (), {"lower_bound": staticmethod(wrap("bounds", S._bounds.lower_bound))})
S.peak_ffd = wrap("peak", S.peak_ffd)
S.best_heuristic = wrap("heur", S.best_heuristic)
S._shrink = wrap("shrink", S._shrink)
S._lns = wrap("lns", S._lns)
S._exact = wrap("exact", S._exact)
S.balance_load = wrap("balance", S.balance_load)

def digest(result):
    return hashlib.sha1((repr(result.placements) + f"|{result.objective:.6f}").encode()).hexdigest()[:12]

ap = argparse.ArgumentParser(); ap.add_argument("dir", type=Path); ap.add_argument("--only")
args = ap.parse_args()
files = sorted(args.dir.glob("*.pkl"))
if args.only:
    keep = {int(x) for x in args.only.split(",")}; files = [f for f in files if int(f.stem) in keep]
tot = {}
for f in files:
    rec = pickle.loads(f.read_bytes())
    if rec["backend"] == "peak":
        continue
    acc.clear()
    c0 = time.process_time()
    r = S.solve_packing(rec["instance"], rec["backend"], rec["options"])
    cpu = time.process_time() - c0
    acc["total"] = cpu
    s = r.stats
    for k, v in acc.items(): tot[k] = tot.get(k, 0.0) + v
    ph = " ".join(f"{k} {v:6.2f}" for k, v in acc.items())
    print(f"{f.stem} {rec['backend']} items {rec['items']:4d} cost {r.objective:10.2f} (cap {rec['cost']:10.2f}) "
          f"{'same' if digest(r) == rec['digest'] else 'DIFF'} | {ph} | att {s.get('shrink_attempts')} mv {s.get('shrink_moves')} "
          f"rm {s.get('shrink_removed')} lns {s.get('lns_iterations')} bal {s.get('balance_moves')} clock {s.get('clock_stops')}", flush=True)
print("TOTAL " + " ".join(f"{k} {v:.2f}" for k, v in tot.items()))
