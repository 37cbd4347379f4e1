"""How to split a large pool into chunks (planner.plan.CHUNK_ITEMS): the peak week of the largest
pool of the fleet_scale.py fleet packed whole and in chunks dealt four ways, cost and CPU of each.

    python benchmarks/chunk_split.py --functions 5000 --limit 300

Ways of dealing the pool's groups (largest q99 first, in units of the largest server) into
k = ceil(n / limit) chunks: ``planner`` (planner.plan.chunk_members: a customer's groups of an
isolated or spreading tier kept together, the rest dealt largest first to the chunk with the fewest
groups), ``round_robin`` (group i to chunk i mod k, every chunk a share of every size), ``blocks`` (consecutive sizes together: the largest groups in chunk 1),
``random`` (a fixed permutation), ``peak_hour`` (round robin over the groups ordered by the hour of
the week of their CPU peak, then size: each chunk a mix of peak hours). Each chunked packing is
also shown after planner.plan.repack_seams (the emptiest worker of each chunk re-packed together).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fleet_scale import SCENARIO  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--functions", type=int, default=5000)
    ap.add_argument("--limit", type=int, nargs="+", default=[300])
    ap.add_argument("--fleet-week", action="store_true",
                    help="time a week on the peak week's fleet, whole and in the planner's chunks, instead")
    ap.add_argument("--ways", nargs="+", default=["planner", "round_robin", "blocks", "random", "peak_hour"])
    args = ap.parse_args()

    from planner import columns as C
    from planner.forecast_batch import batch_forecast_stage
    from planner.history import load_history
    from planner.pipeline import _chunk_units, _group_sizes, adjust_forecast, horizon_start, pool_week_slices
    from planner.plan import chunk_members, envelope_servers, merge_week_plans, pack_week, repack_seams, servers_frame, tiers_of, week_bound, week_starts
    from planner.pools import allowed_pools, place_groups
    from planner.scenarios import load_scenario

    path = Path(tempfile.mkdtemp()) / "fleet.yaml"
    path.write_text(SCENARIO.format(functions=args.functions, days=364, weeks=13, backend="heuristic", time_limit=60.0,
                                    iterations=20, chunk=""))
    sc = load_scenario(path)
    t0 = time.process_time()
    history = load_history(sc)
    start = horizon_start(sc, history)
    forecast, _ = batch_forecast_stage(sc, history, start)
    forecast, groups = adjust_forecast(sc, history, forecast)
    tiers, servers = tiers_of(sc), servers_frame(sc)
    starts = week_starts(start, sc.horizon.weeks)
    placement = place_groups(allowed_pools(groups, history.catalog, sc, servers, {}), forecast, groups, tiers, servers,
                             starts[0], len(starts))
    pools = sorted(servers["pool"].unique())
    slices = pool_week_slices(forecast, placement.pool_of, pools, starts)
    sizes = {p: len(placement.groups_in(p)) for p in pools}
    pool = max(pools, key=lambda p: sizes[p])
    ids = sorted(placement.groups_in(pool))
    g_all = groups[groups[C.GROUP_ID].isin(set(ids))]
    cat = servers[servers["pool"] == pool]
    n = len(starts)
    peak = max(range(n), key=lambda w: week_bound(slices[pool][w], g_all, tiers, cat, starts[w]))
    rows = slices[pool][peak]
    print(f"{args.functions} functions: pool {pool} ({len(ids)} groups) peak week {peak}; "
          f"preparation {time.process_time() - t0:.0f} s CPU; load {os.getloadavg()[0]:.1f}", flush=True)

    size = _group_sizes([slices[pool][w] for w in range(n)], ids, list(C.RESOURCES),
                        cat[list(C.RESOURCES)].to_numpy(float).max(axis=0))
    cpu = rows[rows[C.RESOURCE] == C.CPU_CORES]
    hour = cpu.loc[cpu.groupby(C.UNIQUE_ID, observed=True)["q99"].idxmax()].set_index(C.UNIQUE_ID)[C.DS]
    hour = ((pd.to_datetime(hour) - starts[peak]) // pd.Timedelta(hours=1)).reindex(ids).fillna(0)

    def deal(order, k):
        return [sorted(ids[i] for i in order[c::k]) for c in range(k)]

    def pack(members):
        t = time.process_time()
        parts = [pack_week(rows[rows[C.UNIQUE_ID].astype(str).isin(set(m))], g_all[g_all[C.GROUP_ID].isin(set(m))],
                           tiers, cat, starts[peak], peak, sc.solver) for m in members]
        cost = sum(wp.result.objective for wp in parts)
        if len(parts) == 1:
            return cost, cost, time.process_time() - t
        labels = [f"part{k + 1}" for k in range(len(parts))]
        seamed, _ = repack_seams(merge_week_plans(parts, labels), labels, sc.solver)
        return cost, seamed.result.objective, time.process_time() - t

    if args.fleet_week:
        # A week on the peak week's fleet, the pool whole and in the planner's chunks (each on its
        # own chunk's peak fleet), CPU of each packing: the bulk of a fleet's run (12 of 13 weeks).
        other = 0 if peak else 1
        orows = slices[pool][other]

        def fleet(members):
            t_peak = t_fleet = 0.0
            cost = 0.0
            for m in members:
                mine = g_all[g_all[C.GROUP_ID].isin(set(m))]
                t = time.process_time()
                top = pack_week(rows[rows[C.UNIQUE_ID].astype(str).isin(set(m))], mine, tiers, cat, starts[peak],
                                peak, sc.solver)
                t_peak += time.process_time() - t
                t = time.process_time()
                wp = pack_week(orows[orows[C.UNIQUE_ID].astype(str).isin(set(m))], mine, tiers,
                               envelope_servers(cat, top), starts[other], other, sc.solver, baseline_servers=cat,
                               fallback=top)
                t_fleet += time.process_time() - t
                cost += wp.result.objective
                items = len(wp.instance.items()) if hasattr(wp.instance, "items") else -1
                print(f"  {len(m)} groups, {items} items, {len(top.result.workers)} workers at the peak: peak week "
                      f"{t_peak:.1f} s, week {other} on its fleet {t_fleet:.1f} s CPU so far", flush=True)
            return cost, t_peak, t_fleet

        for label, members in (("whole", [ids]), *((f"planner, limit {lim}", chunk_members(size, lim,
                                                    _chunk_units(g_all, tiers))) for lim in args.limit)):
            cost, tp, tf = fleet(members)
            print(f"{label}: {len(members)} chunk(s); peak week {tp:.0f} s CPU; week {other} on the peak fleet "
                  f"{tf:.0f} s CPU, cost {cost:,.0f}/month; load {os.getloadavg()[0]:.1f}", flush=True)
        return
    whole, _, t_whole = pack([ids])
    print(f"whole: cost {whole:,.0f}/month, {t_whole:.0f} s CPU; load {os.getloadavg()[0]:.1f}", flush=True)
    by_size = sorted(range(len(ids)), key=lambda i: (-size.iloc[i], ids[i]))
    for limit in args.limit:
        k = -(-len(ids) // limit)
        ways = {
            "planner": chunk_members(size, limit, _chunk_units(g_all, tiers)),
            "round_robin": deal(by_size, k),
            "blocks": [sorted(ids[i] for i in by_size[c * limit:(c + 1) * limit]) for c in range(k)],
            "random": deal(list(np.random.default_rng(0).permutation(len(ids))), k),
            "peak_hour": deal(sorted(range(len(ids)), key=lambda i: (hour.iloc[i], -size.iloc[i], ids[i])), k),
        }
        for name, members in ways.items():
            if name not in args.ways:
                continue
            cost, seamed, t = pack(members)
            print(f"limit {limit} ({k} chunks) {name:<12}: cost {cost:,.0f}/month ({cost / whole - 1:+.2%} against "
                  f"whole), seams re-packed {seamed:,.0f} ({seamed / whole - 1:+.2%}), {t:.0f} s CPU "
                  f"({t / t_whole:.2f} of whole); load {os.getloadavg()[0]:.1f}", flush=True)


if __name__ == "__main__":
    main()
