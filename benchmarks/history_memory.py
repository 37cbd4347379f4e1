"""The history step alone (``planner.history.load_history``: the synthetic fleet's telemetry, the
group demand and the keep-alive demand) on the benchmarks/fleet_scale.py scenario: peak resident
memory (a thread samples /proc every 0.02 s and notes the step it was in; ``ru_maxrss`` beside it),
CPU seconds (user + system of this process) and a digest of what the step returns (the demand
table, the keep-alive matrices and the per-app table), so that two versions of the code can be
shown to return the same history bit for bit.

    python benchmarks/history_memory.py --functions 5000 --policy none
    python benchmarks/history_memory.py --functions 10000 --policy fixed:120 --digest /tmp/h10k.json
    python benchmarks/history_memory.py --functions 20000 --no-matrices     # as `planner run` reads it
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))


def rss_of(pid: int) -> int:
    with open(f"/proc/{pid}/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


class Sampler(threading.Thread):
    """Peak RSS of this process, overall and per labelled step."""

    def __init__(self):
        super().__init__(daemon=True)
        self.stage, self.stop_flag, self.peak, self.peak_stage, self.by_stage = "start", False, 0, "start", {}

    def run(self):
        while not self.stop_flag:
            rss, st = rss_of(os.getpid()), self.stage
            self.by_stage[st] = max(self.by_stage.get(st, 0), rss)
            if rss > self.peak:
                self.peak, self.peak_stage = rss, st
            time.sleep(0.02)


def label(sampler: Sampler, mod, name: str) -> None:
    """Wrap ``mod.name`` so that the sampler knows the step (the caller's label again afterwards)."""
    fn = getattr(mod, name, None)
    if fn is None:
        return

    def inner(*a, **k):
        before, sampler.stage = sampler.stage, name
        try:
            return fn(*a, **k)
        finally:
            sampler.stage = before

    setattr(mod, name, inner)


def digest(history) -> dict:
    """SHA-256 of the demand table (columns, dtypes, values), the keep-alive matrices and the apps."""
    import numpy as np
    import pandas as pd

    def h(arr) -> str:
        return hashlib.sha256(np.ascontiguousarray(arr).tobytes()).hexdigest()[:16]

    out = {}
    d = history.demand
    for c in d.columns:
        v = d[c]
        if isinstance(v.dtype, pd.CategoricalDtype):
            out[f"demand.{c}"] = f"{v.dtype}:" + h(np.asarray(v.astype(str).to_numpy(), dtype="U"))
        elif v.dtype == object:
            out[f"demand.{c}"] = "object:" + h(np.asarray(v.to_numpy(), dtype="U"))
        else:
            out[f"demand.{c}"] = f"{v.dtype}:" + h(v.to_numpy())
    w = history.warm
    for name in ("memory_gb", "memory_gb_mean", "cpu_cores", "cpu_cores_mean"):
        m = getattr(w, name)
        out[f"warm.{name}"] = None if m is None else f"{m.dtype}{m.shape}:" + h(m)
    out["warm.groups"] = h(np.asarray(w.groups, dtype="U"))
    out["warm.slots"] = h(w.slots.values)
    apps = w.apps
    out["warm.apps"] = h(pd.util.hash_pandas_object(apps, index=True).to_numpy()) + f" {list(apps.dtypes.astype(str))}"
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--functions", type=int, default=5000)
    ap.add_argument("--days", type=int, default=364)
    ap.add_argument("--policy", default="none", help="keep_alive of the scenario (none, fixed:MIN, hybrid)")
    ap.add_argument("--idle-cpu", type=float, default=0.0, help="keep_alive_idle_cpu of the scenario")
    ap.add_argument("--digest", type=Path, help="write the history's digest (JSON) here")
    ap.add_argument("--no-matrices", action="store_true",
                    help="load_history(keep_matrices=False), as `planner run` without --backtest reads it")
    args = ap.parse_args()

    from fleet_scale import SCENARIO

    import planner.demand
    import planner.history
    import planner.keepalive
    import planner.synth
    from planner.scenarios import load_scenario

    text = SCENARIO.format(functions=args.functions, days=args.days, weeks=13, backend="heuristic",
                           time_limit=60.0, iterations=20, chunk="")
    text += f"keep_alive: '{args.policy}'\nkeep_alive_idle_cpu: {args.idle_cpu}\n"
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "scenario.yaml"
        path.write_text(text)
        sc = load_scenario(path)

    sampler = Sampler()
    for mod, names in ((planner.synth.SyntheticFleet, ("telemetry",)),
                       (planner.keepalive, ("resource_demand_levels", "warm_demand", "apply_warm")),
                       (planner.history, ("make_fleet", "groups_table"))):
        for name in names:
            label(sampler, mod, name)
    sampler.start()
    base = rss_of(os.getpid())
    r0, t0 = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
    history = (planner.history.load_history(sc, keep_matrices=False) if args.no_matrices
               else planner.history.load_history(sc))
    r1, wall = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter() - t0
    sampler.stop_flag = True
    sampler.join()
    cpu = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
    matrices = ", no keep-alive matrices" if args.no_matrices else ""
    print(f"history step, {args.functions} functions, {args.days} days, keep_alive {args.policy}, "
          f"idle cpu {args.idle_cpu}{matrices}: {len(history.groups)} groups, {len(history.warm.apps)} apps, "
          f"{len(history.demand):,} demand rows")
    print(f"  wall {wall:.1f} s, CPU {cpu:.1f} s (user {r1.ru_utime - r0.ru_utime:.1f}, "
          f"system {r1.ru_stime - r0.ru_stime:.1f})")
    print(f"  peak RSS sampled {sampler.peak / 2**30:.3f} GiB (in {sampler.peak_stage}), "
          f"ru_maxrss {r1.ru_maxrss / 2**20:.3f} GiB, before the step {base / 2**30:.3f} GiB, "
          f"after it {rss_of(os.getpid()) / 2**30:.3f} GiB")
    for st, v in sampler.by_stage.items():
        print(f"    {v / 2**30:7.3f} GiB  {st}")
    if args.digest:
        d = digest(history)
        args.digest.write_text(json.dumps(d, indent=1, sort_keys=True))
        print(f"  digest written to {args.digest}")


if __name__ == "__main__":
    main()
