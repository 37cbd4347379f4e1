"""Time the default quarterly run (goal: under 5 minutes on 2 cores) and print the value of packing
by shape: plan cost against the peak-based baseline packed in the same process, week by week.

    python benchmarks/plan_default.py [SCENARIO] [--repeat 1]
"""

from __future__ import annotations

import argparse
import statistics
import time


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("scenario", nargs="?", default=None)
    ap.add_argument("--repeat", type=int, default=1)
    args = ap.parse_args()

    from planner.pipeline import run_plan
    from planner.scenarios import default_scenario, load_scenario

    totals = []
    for i in range(args.repeat):
        sc = load_scenario(args.scenario) if args.scenario else default_scenario()
        t0 = time.perf_counter()
        run = run_plan(sc)
        totals.append(time.perf_counter() - t0)
        s = run.summary
        print(f"run {i + 1}: {totals[-1]:.1f} s  stages {s['timings_s']}")
    shape = [wp.result.objective for wp in run.weeks]
    peak = [wp.peak_cost for wp in run.weeks]
    bound = [wp.result.bound for wp in run.weeks]
    print(f"\n{s['scenario']}: {s['groups']} groups, {s['weeks']} weeks, backend {sc.solver.backend} "
          f"{sc.solver.time_limit_s:g} s/week")
    print("week  shape/month  peak/month  bound/month  shape/peak  shape/bound  status")
    for wp, a, b, c in zip(run.weeks, shape, peak, bound):
        print(f"{wp.week:>4}  {a:>11,.0f}  {b:>10,.0f}  {c:>11,.0f}  {a / b:>10.3f}  {a / c:>11.3f}  {wp.result.status}")
    print(f"\nmedian run time {statistics.median(totals):.1f} s (goal 300 s: ratio {statistics.median(totals) / 300:.2f})")
    print(f"median shape/peak cost {statistics.median(a / b for a, b in zip(shape, peak)):.3f}; "
          f"median shape/bound {statistics.median(a / c for a, c in zip(shape, bound)):.3f}")
    print(f"quarter total cost {s['total_cost']:,.0f}; purchased {s['servers_purchased']} servers; "
          f"procurement {s['procurement']['status']}; risk by tier {s['risk_slot_hours_by_tier']}")
    for o in s.get("orders", []):
        print(f"  order {o['purchased']} x {o['server_type']} ({o['pool']}) in week {o['order_week']} ({o['order_date']}),"
              f" needed from week {o['need_week']} ({o['need_date']}): lead time {o['lead_time_weeks']} weeks")
    fb = s.get("forecast_fallbacks")
    if fb:
        print(f"forecast fallbacks: {fb['fallbacks']} of {fb['series']} series ({fb['share']:.1%})")


if __name__ == "__main__":
    main()
