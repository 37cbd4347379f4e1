"""Where a fleet-scale run's memory peaks: plans the benchmarks/fleet_scale.py scenario in this
process (``run_plan`` then ``write_run``, as ``planner run`` does) while a thread samples the resident
memory of this process and of its children every 0.05 s, and records, at every new peak of this
process, the stage (the pipeline's progress messages, the output writer's steps) and the main
thread's innermost planner frames. ``--save`` pickles the PlanRun so that ``--load`` measures the
output stage alone, again and again, without planning.

    python benchmarks/stage_memory.py --functions 5000 --save /tmp/run5k.pkl --out /tmp/out5k
    python benchmarks/stage_memory.py --load /tmp/run5k.pkl --out /tmp/out5k
"""

from __future__ import annotations

import argparse
import os
import pickle
import sys
import threading
import time
import traceback
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))


def rss_of(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        return 0


def children_rss(pid: int) -> list[int]:
    """The resident memory of each child process (loky or Dask workers), largest first."""
    import psutil  # benchmark-only

    try:
        kids = psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []
    return sorted((rss_of(k.pid) for k in kids), reverse=True)


class Sampler(threading.Thread):
    """RSS of this process (and of its children, every 4th sample: the process tree, as
    fleet_scale.py counts it) with the stage it was in."""

    def __init__(self, main_ident: int):
        super().__init__(daemon=True)
        self.main, self.stage, self.stop_flag = main_ident, "start", False
        self.peak, self.peak_at, self.kids_peak, self.by_stage = 0, None, 0, {}
        self.tree_peak, self.tree_at, self.kids_by_stage = 0, None, {}
        self.t0 = time.perf_counter()

    def run(self):
        i = 0
        while not self.stop_flag:
            rss = rss_of(os.getpid())
            st = self.stage
            self.by_stage[st] = max(self.by_stage.get(st, 0), rss)
            if rss > self.peak:
                self.peak = rss
                frame = sys._current_frames().get(self.main)
                stack = [f"{Path(fs.filename).name}:{fs.lineno} {fs.name}" for fs in traceback.extract_stack(frame)
                         if "planner" in fs.filename or "models" in fs.filename][-6:] if frame else []
                self.peak_at = (time.perf_counter() - self.t0, st, stack)
            if i % 4 == 0:
                kids = children_rss(os.getpid())
                self.kids_peak = max(self.kids_peak, sum(kids))
                self.kids_by_stage[st] = max(self.kids_by_stage.get(st, 0), sum(kids))
                if rss + sum(kids) > self.tree_peak:
                    self.tree_peak = rss + sum(kids)
                    self.tree_at = (time.perf_counter() - self.t0, st, rss, kids)
            i += 1
            time.sleep(0.05)

    def set(self, stage: str):
        self.stage = stage
        print(f"{time.perf_counter() - self.t0:8.1f} s  {rss_of(os.getpid()) / 2**30:6.2f} GiB  {stage}", flush=True)


def instrument_outputs(sampler: Sampler) -> None:
    """Label write_run's steps: wrap the writers it calls (looked up at call time)."""
    import pandas as pd

    import planner.export.plots as plots
    import planner.export.report as report
    import planner.export.run_files as run_files
    import planner.export.spreadsheet as spreadsheet
    import planner.export.tables as tables

    def wrap(mod, name, label=None):
        fn = getattr(mod, name)

        def inner(*a, **k):
            sampler.set(f"write: {label or name}")
            return fn(*a, **k)

        setattr(mod, name, inner)

    wrap(run_files, "_forecast_per_pool")
    wrap(plots, "write_plots")
    wrap(tables, "plan_to_frames")
    wrap(spreadsheet, "write_plan_workbook")
    wrap(report, "write_report")
    for cls, meth in ((pd.DataFrame, "to_csv"), (pd.DataFrame, "to_parquet")):
        fn = getattr(cls, meth)

        def inner(self, path=None, *a, _fn=fn, _m=meth, **k):
            if sampler.stage.startswith("write"):
                sampler.set(f"write: {_m} {Path(str(path)).name}")
            return _fn(self, path, *a, **k)

        setattr(cls, meth, inner)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--functions", type=int, default=5000)
    ap.add_argument("--jobs", type=int, default=1)
    ap.add_argument("--save", type=Path, help="pickle the PlanRun here before writing")
    ap.add_argument("--load", type=Path, help="write the pickled PlanRun only")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--profiles", action="store_true", help="with --load: build the Profiles table again first")
    ap.add_argument("--slim", action="store_true",
                    help="with --load: cut the demand to the columns read after the forecast first (as planner run "
                         "does since pipeline.slim_demand)")
    args = ap.parse_args()

    sampler = Sampler(threading.get_ident())
    sampler.start()
    instrument_outputs(sampler)
    from planner.export.run_files import write_run
    from planner.pipeline import run_plan

    if args.load:
        sampler.set("load pickle")
        with open(args.load, "rb") as f:
            run = pickle.load(f)
        if args.slim:
            from planner.pipeline import slim_demand

            sampler.set("slim demand")
            run.history = slim_demand(run.history)
        if args.profiles:
            from planner.pipeline import group_profiles

            sampler.set("plan: shape profiles (again)")
            run.profiles = group_profiles(run.history)
    else:
        from fleet_scale import SCENARIO

        from planner.scenarios import load_scenario

        path = args.out.with_suffix(".yaml")
        path.write_text(SCENARIO.format(functions=args.functions, days=364, weeks=13, backend="heuristic",
                                        time_limit=60.0, iterations=20, chunk=""))
        sc = load_scenario(path)
        last = [""]

        def progress(stage, done):
            head = stage.split(" ")[0] if stage.startswith(("packing", "forecast")) else stage
            if head != last[0]:
                last[0] = head
                sampler.set(f"plan: {head}")

        run = run_plan(sc, progress=progress, jobs=args.jobs, keep_telemetry=False)
        if args.save:
            sampler.set("save pickle")
            with open(args.save, "wb") as f:
                pickle.dump(run, f, protocol=pickle.HIGHEST_PROTOCOL)
    sampler.set("write: start")
    write_run(run, args.out, force=True)
    sampler.set("done")
    sampler.stop_flag = True
    sampler.join()
    print(f"\npeak RSS of this process {sampler.peak / 2**30:.2f} GiB at {sampler.peak_at[0]:.1f} s, "
          f"stage {sampler.peak_at[1]!r}; children peak {sampler.kids_peak / 2**30:.2f} GiB")
    print("  innermost planner frames: " + " <- ".join(reversed(sampler.peak_at[2])))
    if sampler.tree_at is not None:
        t, st, rss, kids = sampler.tree_at
        print(f"peak RSS of the process tree {sampler.tree_peak / 2**30:.2f} GiB at {t:.1f} s, stage {st!r}: this "
              f"process {rss / 2**30:.2f} + children {' + '.join(f'{k / 2**30:.2f}' for k in kids) or '0'}")
    print("peak per stage (GiB): this process, children together")
    for st, v in sampler.by_stage.items():
        print(f"  {v / 2**30:6.2f}  {sampler.kids_by_stage.get(st, 0) / 2**30:6.2f}  {st}")
    try:
        import resource

        print(f"ru_maxrss {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20:.2f} GiB")
    except Exception:  # noqa: BLE001
        pass


if __name__ == "__main__":
    main()
