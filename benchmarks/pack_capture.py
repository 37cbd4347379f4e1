"""Capture the packing instances of a planning run, then replay them one at a time: iterate on the
packing's speed in a minute instead of the run's minutes.

    python benchmarks/pack_capture.py capture DIR [SCENARIO]      # runs the plan in one process (--jobs 1)
    python benchmarks/pack_capture.py replay DIR [--only 3,7] [--repeat 3]
    PYTHONPATH=/path/to/other/checkout python benchmarks/pack_capture.py replay DIR ...   # another version's code

``capture`` pickles every ``solve_packing`` call of the run (instance, backend, options) to
``DIR/NNN.pkl`` with the cost, CPU time and a digest of the plan it returned. ``replay`` solves them
again and prints per call the cost, the CPU seconds (median of ``--repeat``) and whether the plan
equals the captured one (the digest of its placements); ``peak`` calls are skipped (milliseconds).
"""

from __future__ import annotations

import argparse
import hashlib
import pickle
import statistics
import time
from pathlib import Path


def digest(result) -> str:
    """A digest of the plan: placements (group, shard, worker, type) and the objective."""
    text = repr(result.placements) + f"|{result.objective:.6f}"
    return hashlib.sha1(text.encode()).hexdigest()[:12]


def _counters(result) -> str:
    s = result.stats
    keys = ("heuristic_s", "shrink_s", "shrink_attempts", "shrink_moves", "shrink_removed", "lns_iterations",
            "lns_improvements", "balance_s", "balance_moves", "clock_stops", "heuristic_cost", "shrink_cost")
    return " ".join(f"{k}={round(s[k], 1) if isinstance(s[k], float) else s[k]}" for k in keys if k in s)


def capture(out: Path, scenario: str | None) -> None:
    import models.packing.solve as solve_mod
    from planner.pipeline import run_plan
    from planner.scenarios import default_scenario, load_scenario

    out.mkdir(parents=True, exist_ok=True)
    original = solve_mod.solve_packing
    n = [0]

    def spy(instance, backend="cpsat", options=None):
        c0 = time.process_time()
        result = original(instance, backend, options)
        cpu = time.process_time() - c0
        with open(out / f"{n[0]:03d}.pkl", "wb") as fh:
            pickle.dump(dict(instance=instance, backend=backend, options=options, cost=result.objective,
                             cpu=cpu, digest=digest(result), items=len(instance.items())), fh)
        print(f"{n[0]:03d} {backend:9s} items {len(instance.items()):4d} cost {result.objective:10.2f} cpu {cpu:6.1f} s"
              f" {_counters(result)}", flush=True)
        n[0] += 1
        return result

    solve_mod.solve_packing = spy
    sc = load_scenario(scenario) if scenario else default_scenario()
    c0, t0 = time.process_time(), time.perf_counter()
    run = run_plan(sc, jobs=1)
    print(f"run: {time.perf_counter() - t0:.1f} s wall, {time.process_time() - c0:.1f} s CPU; "
          f"total cost {run.summary['total_cost']:.2f}; stages {run.summary['timings_s']}")


def replay(src: Path, only: str | None, repeat: int) -> None:
    from models.packing.solve import solve_packing

    files = sorted(src.glob("*.pkl"))
    if only:
        keep = {int(x) for x in only.split(",")}
        files = [f for f in files if int(f.stem) in keep]
    total_cpu, total_ref = 0.0, 0.0
    same = 0
    n = 0
    for f in files:
        rec = pickle.loads(f.read_bytes())
        if rec["backend"] == "peak":
            continue
        cpus = []
        for _ in range(repeat):
            inst = pickle.loads(f.read_bytes())["instance"]  # a fresh copy: no cached kinds/items
            c0 = time.process_time()
            result = solve_packing(inst, rec["backend"], rec["options"])
            cpus.append(time.process_time() - c0)
        d = digest(result)
        cpu = statistics.median(cpus)
        total_cpu += cpu
        total_ref += rec["cpu"]
        same += d == rec["digest"]
        n += 1
        print(f"{f.stem} {rec['backend']:9s} items {rec['items']:4d} cost {result.objective:10.2f} "
              f"(captured {rec['cost']:10.2f}) cpu {cpu:6.1f} s (captured {rec['cpu']:6.1f}) "
              f"{'same plan' if d == rec['digest'] else 'PLAN DIFFERS'} {_counters(result)}", flush=True)
    print(f"{n} solves: cpu {total_cpu:.1f} s (captured {total_ref:.1f} s); {same} of {n} plans identical")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("capture")
    c.add_argument("dir", type=Path)
    c.add_argument("scenario", nargs="?", default=None)
    r = sub.add_parser("replay")
    r.add_argument("dir", type=Path)
    r.add_argument("--only", default=None)
    r.add_argument("--repeat", type=int, default=1)
    args = ap.parse_args()
    if args.cmd == "capture":
        capture(args.dir, args.scenario)
    else:
        replay(args.dir, args.only, args.repeat)


if __name__ == "__main__":
    main()
