"""Fleet-scale planning run: a synthetic Azure-like fleet (planner.synth, one year of hourly history)
spread over four pools, planned for 13 weeks end to end (`planner run`: history, forecast, pools
packed week by week, procurement, every output written), in one process (`--jobs 1`), in 2 local
processes (`--jobs 2`, the default of `planner run` on 2 cores) and on a 2-worker Dask LocalCluster
(`--workers 2`). Each run is a fresh `planner run` process; its wall time and the
peak resident memory of its process tree (Dask workers included, sampled every 0.2 s) are measured.
Goals at 20,000 functions: <= 20 minutes and <= 6 GiB. The growth exponent b of time ~ functions^b
is fitted over the sizes run.

    python benchmarks/fleet_scale.py                       # 5,000, 10,000 and 20,000; every mode
    python benchmarks/fleet_scale.py --functions 2000 --modes single --keep out/fleet
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

GOAL_S, GOAL_GIB = 20 * 60, 6.0

# Four pools (regions); customers are tied to pools by the last digit of their number, and one
# customer in five may run in either of two pools (the placement pass chooses).
SCENARIO = r"""
name: fleet-{functions}
description: benchmarks/fleet_scale.py - {functions} Azure-like functions, 4 pools, one year at 1 h
data:
  format: synthetic
  synthetic: {{functions: {functions}, days: {days}, seed: 7, start: 2025-12-29, interval: 1h}}
  slot: 1h
horizon: {{weeks: {weeks}}}
servers:
  - {{type: c-32, cpu_cores: 32, memory_gb: 128, cost_per_month: 1100, lead_time_weeks: 4, pool: [eu-west, eu-north, us-east, ap-south]}}
  - {{type: m-64, cpu_cores: 64, memory_gb: 256, cost_per_month: 2000, lead_time_weeks: 6, pool: [eu-west, eu-north, us-east, ap-south]}}
  - {{type: r-64, cpu_cores: 64, memory_gb: 512, cost_per_month: 2700, lead_time_weeks: 8, pool: [eu-west, eu-north, us-east, ap-south]}}
pools:
  rules:
    - {{customer_match: 'cust\d*[01]', pools: [eu-west]}}
    - {{customer_match: 'cust\d*[23]', pools: [eu-north]}}
    - {{customer_match: 'cust\d*[45]', pools: [us-east]}}
    - {{customer_match: 'cust\d*[67]', pools: [ap-south]}}
    - {{customer_match: 'cust\d*[89]', pools: [us-east, ap-south]}}
solver: {{backend: {backend}, time_limit_s: {time_limit}, iterations: {iterations}{chunk}}}
forecast: {{n_jobs: 2}}
"""


def tree_rss(pid: int) -> int:
    return sum(tree_parts(pid))


def tree_parts(pid: int) -> list[int]:
    """Resident memory of the process ``pid`` then of each of its descendants (bytes)."""
    try:
        import psutil  # benchmark-only: the process tree's memory (pip install psutil)
    except ImportError:
        raise SystemExit("fleet_scale.py measures the process tree's memory with psutil: pip install psutil") from None

    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return [0]
    out = []
    for p in procs:
        try:
            out.append(p.memory_info().rss)
        except psutil.NoSuchProcess:
            out.append(0)
    return out


def run_once(functions: int, mode: str, args, work: Path) -> dict:
    tag = "" if args.chunk_items is None else f"-c{args.chunk_items}"
    scenario = work / f"fleet-{functions}{tag}.yaml"
    chunk = "" if args.chunk_items is None else f", chunk_items: {args.chunk_items}"
    scenario.write_text(SCENARIO.format(functions=functions, days=args.days, weeks=args.weeks, backend=args.backend,
                                        time_limit=args.time_limit, iterations=args.iterations, chunk=chunk))
    mode_tag = mode + tag
    out = work / f"out-{functions}-{mode_tag}"
    cmd = [sys.executable, "-m", "planner", "run", str(scenario), "--out", str(out), "--force", "--no-history"]
    if mode == "dask":
        cmd += ["--workers", "2"]
    else:
        cmd += ["--jobs", "2" if mode == "jobs" else "1"]
    log = open(work / f"log-{functions}-{mode_tag}.txt", "w")
    import resource

    cpu0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
    peak, peak_at, main_peak, loads = 0, None, 0, []
    while proc.poll() is None:
        parts = tree_parts(proc.pid)
        main_peak = max(main_peak, parts[0])
        if sum(parts) > peak:  # when, and whose: the planner's own memory or its workers'
            peak, peak_at = sum(parts), (time.perf_counter() - t0, parts)
        loads.append(os.getloadavg()[0])  # the machine is shared: the figures mean little without it
        time.sleep(0.2)
    wall = time.perf_counter() - t0
    cpu1 = resource.getrusage(resource.RUSAGE_CHILDREN)  # every descendant, waited for by its parent
    user, system = cpu1.ru_utime - cpu0.ru_utime, cpu1.ru_stime - cpu0.ru_stime
    log.close()
    if proc.returncode != 0:
        tail = (work / f"log-{functions}-{mode_tag}.txt").read_text()[-3000:]
        raise SystemExit(f"planner run failed for {functions} functions ({mode}):\n{tail}")
    summary = json.loads((out / "summary.json").read_text())
    return {"functions": functions, "mode": mode, "wall_s": wall, "cpu_s": user + system, "user_s": user,
            "sys_s": system, "peak_gib": peak / 2**30,
            "main_peak_gib": main_peak / 2**30,
            "peak_at": None if peak_at is None else (round(peak_at[0], 1), [round(x / 2**30, 2) for x in peak_at[1] if x > 2**24]),
            "load": (min(loads, default=0.0), max(loads, default=0.0)),
            "groups": summary["groups"], "chunk_notes": [n for n in summary.get("packing_notes", []) if "chunks" in n], "stages": summary["timings_s"], "total_cost": summary["total_cost"],
            "pools": {p["pool"]: p["groups"] for p in summary.get("pools", [])},
            "forecast_method": summary.get("forecast_method"),
            "outputs_mib": sum(f.stat().st_size for f in out.iterdir()) / 2**20, "out": out}


def same_outputs(rows) -> str:
    """Whether the runs of one size wrote byte-identical CSV tables (plan, purchases, assignment, ...):
    the modes must give the same plan."""
    first, *rest = rows
    names = sorted(f.name for f in first["out"].glob("*.csv"))
    diff = [f"{r['mode']}: {n}" for r in rest for n in names
            if (r["out"] / n).read_bytes() != (first["out"] / n).read_bytes()]
    return (f"{len(names)} CSV tables of {', '.join(r['mode'] for r in rest)} identical to {first['mode']}'s"
            if not diff else f"DIFFERENT from {first['mode']}'s: {', '.join(diff)}")


def exponent(rows) -> float | None:
    pts = [(math.log(r["functions"]), math.log(r["wall_s"])) for r in rows]
    if len(pts) < 2:
        return None
    mx = sum(x for x, _ in pts) / len(pts)
    my = sum(y for _, y in pts) / len(pts)
    sxx = sum((x - mx) ** 2 for x, _ in pts)
    return sum((x - mx) * (y - my) for x, y in pts) / sxx


def main() -> None:
    tree_rss(os.getpid())  # psutil present: fail before any run starts, not inside one
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--functions", type=int, nargs="+", default=[5000, 10000, 20000])
    ap.add_argument("--modes", nargs="+", default=["single", "jobs", "dask"],
                    choices=["single", "jobs", "dask"])
    ap.add_argument("--days", type=int, default=364)
    ap.add_argument("--weeks", type=int, default=13)
    ap.add_argument("--backend", default="heuristic", choices=["heuristic", "cpsat", "milp"],
                    help="packing backend (heuristic: the shape-aware greedy; cpsat/milp add the search)")
    ap.add_argument("--time-limit", type=float, default=60.0, help="packing seconds per pool-week (ceiling)")
    ap.add_argument("--iterations", type=int, default=20, help="counted search steps per pool-week")
    ap.add_argument("--chunk-items", type=int, default=None,
                    help="solver.chunk_items: pools of more groups are packed in chunks (default: planner's, 400)")
    ap.add_argument("--keep", type=Path, default=None, help="keep scenarios, logs and outputs in this folder")
    args = ap.parse_args()

    work = args.keep or Path(tempfile.mkdtemp(prefix="fleet-scale-"))
    work.mkdir(parents=True, exist_ok=True)
    print(f"load average before: {os.getloadavg()[0]:.1f} (2 cores); work folder {work}")
    rows = []
    try:
        for n in args.functions:
            for mode in args.modes:
                r = run_once(n, mode, args, work)
                rows.append(r)
                st = r["stages"]
                print(f"{n:>6} functions {mode:>6}: {r['wall_s']:7.1f} s ({r['wall_s'] / GOAL_S:.2f} of goal; CPU "
                      f"{r['cpu_s']:.0f} s: user {r['user_s']:.0f}, system {r['sys_s']:.0f}), "
                      f"peak {r['peak_gib']:.2f} GiB ({r['peak_gib'] / GOAL_GIB:.2f} of goal; at {r['peak_at'][0]} s: planner, "
                      f"then its workers, GiB {r['peak_at'][1]}; the planner alone peaked at {r['main_peak_gib']:.2f}); groups {r['groups']}, "
                      f"stages {st}; outputs {r['outputs_mib']:.0f} MiB; load {r['load'][0]:.1f}-{r['load'][1]:.1f}; "
                      f"total cost {r['total_cost']:,.2f}; {'; '.join(r['chunk_notes']) or 'no pool chunked'}", flush=True)
            mine = [r for r in rows if r["functions"] == n]
            if len(mine) > 1:
                print(f"{n:>6} functions: {same_outputs(mine)}", flush=True)
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)
    print("\nmode    functions  wall s   CPU s  user s  sys s  peak GiB   history  forecast  packing  plan(total)  groups")
    for r in rows:
        st = r["stages"]
        print(f"{r['mode']:<7} {r['functions']:>9,} {r['wall_s']:>7.0f} {r['cpu_s']:>7.0f} {r['user_s']:>7.0f} {r['sys_s']:>6.0f} {r['peak_gib']:>9.2f} "
              f"{st.get('history_s', 0):>8.0f} {st.get('forecast_s', 0):>9.0f} {st.get('packing_s', 0):>8.0f} "
              f"{st.get('total_s', 0):>11.0f}  {r['groups']:,}")
    for mode in args.modes:
        mine = [r for r in rows if r["mode"] == mode]
        b = exponent(mine)
        if b is not None:
            c = exponent([{**r, "wall_s": r["cpu_s"]} for r in mine])
            print(f"{mode}: wall time grows as functions^{b:.2f}, CPU time as functions^{c:.2f}")
    print(f"load average after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
