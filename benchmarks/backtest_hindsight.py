"""Plans against hindsight: cost / hindsight cost and each tier's actual overflow against its target,
for the shape-aware plan and the peak-based plan, in the same process.

* the synthetic default fleet (examples/backtest-synthetic.yaml), 4 rolling quarterly origins, the
  generator's own days after each origin as the actuals;
* huawei-dc4 (../shared/data, examples/backtest-huawei.yaml), one week: its 30 days allow no more.

Goals (issue 15): cost / hindsight <= 1.15 with every tier's overflow share within its target.

    python benchmarks/backtest_hindsight.py [--scenario examples/backtest-synthetic-2k.yaml] [--origins 4]
        [--only 0,1] [--out DIR] [--skip-synthetic] [--skip-huawei] [--no-pool-bands]
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HUAWEI = ROOT.parent / "shared" / "data" / "huawei-dc4" / "datacentre_4.csv"
SYNTHETIC = ROOT / "examples" / "backtest-synthetic.yaml"
GOAL = 1.15


def report(name: str, results, seconds: float) -> None:
    from planner.backtest import summary_of, tables_of

    s = summary_of(results, results[0].run.scenario)
    by_tier = tables_of(results)["by_tier"]
    print(f"\n== {name}: {len(results)} origin(s), {seconds:.0f} s, load average {os.getloadavg()[0]:.1f}")
    print("origin      cost      hindsight  ratio   peak      peak-hind  ratio   peak/hind")
    for r in results:
        c = r.costs
        print(f"{str(r.origin)[:10]}  {c['cost']:>8,.0f}  {c['hindsight_cost']:>9,.0f}  {c['cost_vs_hindsight']:>5.3f}  "
              f"{c['peak_cost']:>8,.0f}  {c['peak_hindsight_cost']:>9,.0f}  {c['peak_vs_hindsight']:>5.3f}  "
              f"{c['peak_cost_vs_hindsight']:>5.3f}")
    print("plan       tier       overflow share  target  within  worst")
    agg = by_tier.groupby(["plan", "tier"]).agg(slot=("slot_hours", "sum"), over=("overflow_hours", "sum"),
                                                target=("target", "first"), worst=("worst", "max")).reset_index()
    for r in agg.itertuples(index=False):
        share = r.over / r.slot if r.slot else float("nan")
        print(f"{r.plan:<10} {r.tier:<10} {share:>14.4%}  {r.target:>6.1%}  {'yes' if share <= r.target else 'NO':>6}"
              f"  {r.worst:.2f}")
    ok = s["cost_vs_hindsight"] <= GOAL and s["overflow_within_target"]
    pok = s["peak_vs_hindsight"] <= GOAL and s["peak_overflow_within_target"]
    print(f"total: cost / hindsight {s['cost_vs_hindsight']:.3f} (goal {GOAL}: ratio {s['cost_vs_hindsight'] / GOAL:.3f}), "
          f"tiers within target: {s['overflow_within_target']} -> {'met' if ok else 'NOT met'}")
    print(f"peak-based: cost / its hindsight {s['peak_vs_hindsight']:.3f}, tiers within target: "
          f"{s['peak_overflow_within_target']} -> {'met' if pok else 'NOT met'}; peak-based / the right amount "
          f"{s['peak_cost_vs_hindsight']:.3f}")
    fb = [r.run.summary.get("forecast_fallbacks") for r in results]
    if any(fb):
        print("forecast fallbacks per origin:", [f and f.get("share") for f in fb])


def save_origin(r, out: Path) -> None:
    """One origin's tables (planner.backtest.tables_of) and servers installed per week and type of
    the plan and of hindsight, under ``out``/origin-DATE, so a slow run can be read afterwards."""
    import pandas as pd

    from planner.backtest import tables_of

    d = out / f"origin-{r.origin.date()}"
    d.mkdir(parents=True, exist_ok=True)
    for name, frame in tables_of([r]).items():
        if name != "exposure":
            frame.to_csv(d / f"{name}.csv", index=False)
    pd.concat([r.run.procurement.installed.assign(plan="shape"), r.hindsight.procurement.installed.assign(plan="hindsight"),
               r.hindsight.peak_procurement.installed.assign(plan="peak-hindsight")],
              ignore_index=True).to_csv(d / "installed.csv", index=False)
    try:  # the whole OriginResult, for questions the tables do not answer; not every run pickles
        import pickle

        (d / "result.pkl").write_bytes(pickle.dumps(r))
    except Exception as e:  # noqa: BLE001 - the tables above are the record; say why the pickle is missing
        print(f"origin {r.origin.date()}: result.pkl not written ({type(e).__name__}: {e})", flush=True)


def huawei_inputs(path: Path):
    """The huawei-dc4 backtest scenario reading ``path`` and its actuals (``read_actuals``), or None,
    said, when the file is absent."""
    from planner.commands.backtest import read_actuals
    from planner.scenarios import load_scenario

    if not path.exists():
        print(f"\n== huawei-dc4: skipped, {path} is absent (--huawei PATH)")
        return None
    sc = load_scenario(ROOT / "examples" / "backtest-huawei.yaml")
    sc = sc.model_copy(update={"data": sc.data.model_copy(update={"path": path.resolve()})})
    return sc, read_actuals(sc, path)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scenario", type=Path, default=SYNTHETIC, help="the synthetic backtest scenario (default "
                    "examples/backtest-synthetic.yaml; examples/backtest-synthetic-2k.yaml: 2,000 functions)")
    ap.add_argument("--origins", type=int, default=4)
    ap.add_argument("--out", type=Path, default=None, help="write each synthetic origin's tables and servers per "
                    "week and type here (origin-DATE/) as soon as it is done")
    ap.add_argument("--skip-synthetic", action="store_true")
    ap.add_argument("--skip-huawei", action="store_true")
    ap.add_argument("--huawei", type=Path, default=HUAWEI, help="datacentre_4.csv (default: ../shared/data beside the "
                    "checkout; a worktree elsewhere names it); the scenario's data.path is set to it as well")
    ap.add_argument("--only", default=None, help="comma-separated indices of the synthetic origins to run (0 = the "
                    "earliest), e.g. to run them in two processes; the totals are then the sums of the parts")
    ap.add_argument("--no-pool-bands", action="store_true", help="young groups keep their own extrapolated bands "
                    "(the forecast before pool_bands), for an A/B in the same code")
    args = ap.parse_args()

    import pandas as pd

    if args.no_pool_bands:
        import planner.forecast as F

        own = F.forecast_long
        F.forecast_long = lambda *a, **k: own(*a, **{**k, "pool_bands": False})

    from planner.backtest import backtest, origins_of
    from planner.commands.backtest import read_actuals
    from planner.scenarios import load_scenario

    if not args.skip_synthetic:
        sc = load_scenario(args.scenario)
        t0 = time.perf_counter()
        actual, groups, source, history = read_actuals(sc, None)
        start = pd.Timestamp(history.demand["ds"].min())
        results = []
        # one origin at a time (what backtest(origins=K) does), so each is printed when it is done
        origins = origins_of(sc, start, pd.Timestamp(sc.data.until), args.origins, pd.Timedelta(weeks=13))
        if args.only:
            origins = [origins[int(i)] for i in args.only.split(",")]
        for origin in origins:
            one = sc.model_copy(update={"data": sc.data.model_copy(update={"until": origin.to_pydatetime()})})
            t1 = time.perf_counter()
            results += backtest(one, actual, history=history, actual_groups=groups, source=source)
            c = results[-1].costs
            if args.out is not None:
                save_origin(results[-1], args.out)
            print(f"origin {origin.date()}: {time.perf_counter() - t1:.0f} s, cost / hindsight "
                  f"{c['cost_vs_hindsight']}, peak-based / its hindsight {c['peak_vs_hindsight']}, within target "
                  f"{c['overflow_within_target']}/{c['peak_overflow_within_target']}", flush=True)
        report(f"{sc.name} ({args.scenario.name}), quarterly origins", results, time.perf_counter() - t0)
    if not args.skip_huawei:
        t0 = time.perf_counter()
        inputs = huawei_inputs(args.huawei)
        if inputs is None:
            return
        sc, (actual, groups, source, history) = inputs
        results = backtest(sc, actual, history=history, actual_groups=groups, source=source)
        report("huawei-dc4 (Toner & Lee, ICLR 2025 workshop), one week", results, time.perf_counter() - t0)


if __name__ == "__main__":
    main()
