"""Issue 17 on the default fleet, one forecast shared by every variant (same process):

1. Redundancy: premium with ``survive: none | worker | zone``, each in the ``reserve`` (N+1) and
   ``spread`` forms, servers in three zones; quarter cost, ratio to none, spares, the cost of
   redundancy per tier, and the verifier's failover check (a plan that failed it would raise).
2. Carbon: kgCO2e per quarter and cost at carbon prices 0 / 100 / 500 per tonne (zones a, b, c on
   the embedded mixed, hydro and solar profiles; the installed fleet spread over the three zones,
   so the price can choose which installed servers run the load).
3. Carbon-aware shifting: deferral on, operational carbon at price 0 and 500 (one grid profile, so
   zones differ in nothing; the price also reaches the packing through the servers' carbon cost).
4. Fairness: headroom-breach and risk max / mean and Jain's index per tier without and with
   ``max_risk_ratio`` (the bound holds the breach rate); the rounds, why a bound does not hold, its cost.

    python benchmarks/plan_objectives.py [--weeks 13] [--parts redundancy,carbon,shifting,fairness] [--ratio 2]
"""

from __future__ import annotations

import argparse
import os
import time


def _variant(base, **changes):
    """A copy of the scenario with fields replaced (validated again)."""
    from planner.scenarios import Scenario

    data = base.model_dump(by_alias=True)
    for path, value in changes.items():
        node = data
        keys = path.split(".")
        for k in keys[:-1]:
            node = node[k]
        node[keys[-1]] = value
    return Scenario.model_validate(data)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--weeks", type=int, default=13)
    ap.add_argument("--parts", default="redundancy,carbon,shifting,fairness")
    ap.add_argument("--ratio", type=float, default=2.0, help="max_risk_ratio of the fairness variant")
    args = ap.parse_args()
    parts = set(args.parts.split(","))

    from planner.pipeline import prepare_forecast, run_plan
    from planner.scenarios import default_scenario

    base = default_scenario()
    base = _variant(base, **{"horizon.weeks": args.weeks})
    zoned = [dict(s, zones=["a", "b", "c"]) for s in base.model_dump(by_alias=True)["servers"]]
    base = _variant(base, servers=zoned)
    print(f"load average at start: {os.getloadavg()}")
    t0 = time.perf_counter()
    prepared = prepare_forecast(base)
    print(f"history + forecast once: {time.perf_counter() - t0:.0f} s")
    if not isinstance(base.inventory, list):  # the default sizes its fleet from the history: once, for all
        from planner.backtest import inventory_from_history

        base, sized = inventory_from_history(base, prepared["history"])
        print(f"installed fleet sized once from the history: {sized['counts']}")
    print()

    def plan(sc, label):
        t = time.perf_counter()
        run = run_plan(sc, prepared=prepared)
        return run, time.perf_counter() - t

    if "redundancy" in parts:
        print("== redundancy: premium tier, default fleet, servers in zones a, b, c ==")
        print(f"{'variant':<16} {'quarter cost':>12} {'vs none':>8} {'peak/month':>10} {'spares (max)':>12} "
              f"{'premium redundancy/month':>24} {'failover check':>14} {'time':>6}")
        none_cost = None
        for survive, form in (("none", "reserve"), ("worker", "reserve"), ("worker", "spread"), ("zone", "reserve"),
                              ("zone", "spread")):
            sc = _variant(base, **{"tiers.premium.survive": survive, "redundancy.form": form, "name": f"{survive}-{form}"})
            try:
                run, dt = plan(sc, survive)
            except Exception as exc:  # an infeasible variant is a result too
                print(f"{survive + '/' + form:<16} failed: {exc}")
                continue
            s = run.summary
            cost = s["total_cost"]
            none_cost = cost if survive == "none" else none_cost
            peak = max(wp.result.objective for wp in run.weeks)
            red = s.get("redundancy", {})
            spares = max(red.get("spares_per_week", [0]) or [0])
            per_month = red.get("cost_per_month_peak", {}).get("premium", 0.0)
            check = "passed" if survive != "none" else "-"
            ratio = f"{cost / none_cost:.3f}" if none_cost else "-"
            red_text = f"{per_month:,.0f}" if form == "reserve" else "in packing"
            print(f"{survive + '/' + form:<16} {cost:>12,.0f} {ratio:>8} {peak:>10,.0f} {spares:>12} {red_text:>24} "
                  f"{check:>14} {dt:>5.0f}s")
        print()

    if "carbon" in parts:
        print("== carbon price: zones a (builtin:mixed), b (builtin:hydro), c (builtin:solar) ==")
        print(f"{'price/t':>8} {'quarter cost':>12} {'kgCO2e':>10} {'operational':>11} {'embodied':>9} "
              f"{'energy kWh':>10} {'carbon cost':>11} {'cost + carbon':>13} {'workers by zone (peak week)':>28}")
        # Each inventory row dealt round-robin over the zones (the default fleet: a gets 1 c-32 + 2 m-64, ...).
        per_zone, k = {}, 0
        for item in base.model_dump(by_alias=True)["inventory"]:
            for _ in range(item["count"]):
                key = (item["server_type"], item.get("pool"), "abc"[k % 3])
                per_zone[key] = per_zone.get(key, 0) + 1
                k += 1
        spread_inv = [{"server_type": t, "pool": p, "zone": z, "count": n} for (t, p, z), n in per_zone.items()]
        for price in (0, 100, 500):
            sc = _variant(base, **{"energy.carbon_intensity": {"a": "builtin:mixed", "b": "builtin:hydro",
                                                               "c": "builtin:solar"},
                                   "inventory": spread_inv,
                                   "energy.carbon_price": float(price), "name": f"carbon-{price}"})
            run, dt = plan(sc, price)
            e = run.summary["energy"]
            w = run.workers
            peak_week = max(run.weeks, key=lambda wp: wp.result.objective).week
            zones = w[w["week"] == peak_week]["zone"].value_counts().sort_index().to_dict()
            cost = run.summary["total_cost"]
            print(f"{price:>8} {cost:>12,.0f} {e['carbon_kg']:>10,.0f} {e['carbon_operational_kg']:>11,.0f} "
                  f"{e['carbon_embodied_kg']:>9,.0f} {e['energy_kwh']:>10,.0f} {e['carbon_cost']:>11,.0f} "
                  f"{cost + e['carbon_cost']:>13,.0f} {str(zones):>28}")
        print()

    if "shifting" in parts:
        print("== carbon-aware shifting: deferral (valleys) on, one zone on builtin:solar, price 0 vs 500 ==")
        print(f"{'price/t':>8} {'quarter cost':>12} {'operational kg':>14} {'energy kWh':>10} {'moved core-h':>12}")
        for price in (0, 500):
            sc = _variant(base, **{"deferral.enabled": True, "energy.carbon_intensity": {"a": "builtin:solar",
                                                                                         "b": "builtin:solar",
                                                                                         "c": "builtin:solar"},
                                   "energy.carbon_price": float(price), "name": f"shift-{price}"})
            run, dt = plan(sc, price)
            e, d = run.summary["energy"], run.summary.get("deferral", {})
            print(f"{price:>8} {run.summary['total_cost']:>12,.0f} {e['carbon_operational_kg']:>14,.1f} "
                  f"{e['energy_kwh']:>10,.0f} {d.get('moved_cpu_core_hours', 0):>12,.1f}")
        print()

    if "fairness" in parts:
        print(f"== fairness: max / mean and Jain's index per tier of the headroom-breach rate (the bound's measure) "
              f"and of the physical risk rate, max_risk_ratio {args.ratio:g} on standard and economy ==")
        runs, times = {}, {}
        for label, bound in (("no bound", None), ("bound", args.ratio)):
            sc = _variant(base, **{"tiers.standard.max_risk_ratio": bound, "tiers.economy.max_risk_ratio": bound,
                                   "name": label})
            runs[label], times[label] = plan(sc, label)
        for label, run in runs.items():
            f = run.summary["fairness"]
            risk = run.summary["risk"]["total_slot_hours"]
            print(f"{label:<9} cost {run.summary['total_cost']:>9,.0f}  risk {risk:.3g}  "
                  f"time {times[label]:.0f} s")
            for t, v in f.items():
                print(f"    {t:<9} breach max/mean {v.get('breach_max_over_mean', float('nan')):.2f} "
                      f"Jain {v.get('breach_jain', float('nan')):.3f} (mean {v.get('breach_rate_mean', 0):.3g}, "
                      f"max {v.get('breach_rate_max', 0):.3g});  risk max/mean {v['max_over_mean']:.2f} "
                      f"(mean {v['risk_rate_mean']:.3g}, max {v['risk_rate_max']:.3g})")
        fb = runs["bound"].summary.get("fairness_bound", {})
        print(f"bound rounds (round, customers above, packing cost/month summed): "
              f"{[(r['round'], r['customers_above'], r['cost_per_month_sum']) for r in fb.get('rounds', [])]}")
        print(f"max / mean before {fb.get('max_over_mean_before')} after {fb.get('max_over_mean_after')} "
              f"(kept round {fb.get('kept_round')})")
        print(f"holds: {fb.get('holds')}; not held because: {fb.get('not_held')}")
        print(f"headroom raised: {fb.get('headroom_raised')}")
        c0, c1 = runs["no bound"].summary["total_cost"], runs["bound"].summary["total_cost"]
        print(f"cost of the bound: {c1 - c0:,.0f} over the horizon ({c1 / c0 - 1:+.1%})")
    print(f"\nload average at end: {os.getloadavg()}; total {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
