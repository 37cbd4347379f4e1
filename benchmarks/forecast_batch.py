"""The batch forecast path (planner/forecast_batch.py) against the per-series path
(planner/forecast.py), on the same series, in the same process: wall time, CPU time, MASE (scaled by
the in-sample weekly seasonal-naive error), coverage of q90/q95/q99 and q99 pinball loss on held-out
hours.

    python benchmarks/forecast_batch.py                      # synthetic fleet, 13 weeks held out
    python benchmarks/forecast_batch.py --huawei ../shared/data/huawei-dc4/datacentre_4.csv

Synthetic: the embedded generator (Azure-calibrated, one year of hourly history); the group-level
CPU and memory series of ``--functions`` functions; the last ``--weeks`` weeks are held out.
Huawei: the real trace's groups, the last 7 days held out (the trace holds 30 days).
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
import pandas as pd


def metrics(fc: pd.DataFrame, actual: pd.DataFrame, train: pd.DataFrame) -> dict:
    from planner import columns as C

    keys = [C.UNIQUE_ID, C.RESOURCE]
    a = actual.melt(id_vars=[C.GROUP_ID, C.DS], value_vars=list(C.RESOURCES), var_name=C.RESOURCE, value_name="y")
    a = a.rename(columns={C.GROUP_ID: C.UNIQUE_ID})
    f = fc.astype({C.UNIQUE_ID: str, C.RESOURCE: str})
    m = f.merge(a.astype({C.UNIQUE_ID: str, C.RESOURCE: str}), on=[*keys, C.DS])
    t = train.melt(id_vars=[C.GROUP_ID, C.DS], value_vars=list(C.RESOURCES), var_name=C.RESOURCE, value_name="y")
    t = t.rename(columns={C.GROUP_ID: C.UNIQUE_ID}).astype({C.UNIQUE_ID: str, C.RESOURCE: str}).sort_values([*keys, C.DS])
    scale = t.groupby(keys)["y"].apply(lambda s: np.abs(s.to_numpy()[168:] - s.to_numpy()[:-168]).mean()
                                       if len(s) > 168 else np.nan)
    scale = scale.where(scale > 0)
    err = m.assign(ae=(m["y"] - m[C.MEAN]).abs()).groupby(keys)["ae"].mean()
    mase = (err / scale).dropna()
    q99 = m["q99"].to_numpy(float)
    y = m["y"].to_numpy(float)
    pinball = np.mean(np.maximum(0.99 * (y - q99), 0.01 * (q99 - y)))
    return {"series": int(len(err)), "mase_median": float(mase.median()), "mase_mean": float(mase.mean()),
            "cover_q90": float((y <= m["q90"]).mean()), "cover_q95": float((y <= m["q95"]).mean()),
            "cover_q99": float((y <= m["q99"]).mean()), "pinball_q99": float(pinball)}


def compare(name: str, demand: pd.DataFrame, horizon: int, n_jobs: int) -> None:
    from planner import columns as C
    from planner.forecast import run_demand_forecast
    from planner.forecast_batch import batch_demand_forecast

    end = demand[C.DS].max() - pd.Timedelta(hours=horizon - 1)
    train, actual = demand[demand[C.DS] < end], demand[demand[C.DS] >= end]
    n_series = train[C.GROUP_ID].nunique() * 2
    print(f"\n{name}: {n_series} series, {train[C.DS].nunique()} hours of history, {horizon} held out "
          f"(load average {os.getloadavg()[0]:.1f})")
    rows = []
    for label, fn in (("batch", lambda: batch_demand_forecast(train, horizon, freq="1h")),
                      ("per_series", lambda: run_demand_forecast(train, horizon, freq="1h", n_jobs=n_jobs))):
        w, c = time.perf_counter(), time.process_time()
        run = fn()
        wall, cpu = time.perf_counter() - w, time.process_time() - c
        r = metrics(run.forecast, actual, train)
        r.update(method=label, wall_s=wall, cpu_s_main=cpu, fallbacks=int(run.report["fallback"].sum()))
        rows.append(r)
    out = pd.DataFrame(rows).set_index("method")
    print(out.round(4).to_string())
    b, p = out.loc["batch"], out.loc["per_series"]
    print(f"batch / per-series: wall {b.wall_s / p.wall_s:.3f}, median MASE {b.mase_median / p.mase_median:.3f}, "
          f"q99 pinball {b.pinball_q99 / p.pinball_q99:.3f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--functions", type=int, default=300)
    ap.add_argument("--weeks", type=int, default=13)
    ap.add_argument("--n-jobs", type=int, default=2)
    ap.add_argument("--huawei", default=None)
    args = ap.parse_args()

    from planner.demand import resource_demand
    from planner.synth import SynthSpec, make_fleet

    fleet = make_fleet(SynthSpec(n_functions=args.functions, days=364, seed=11, interval="1h", start="2025-12-29"))
    demand = resource_demand(fleet.telemetry(), fleet.catalog, slot="1h")
    compare(f"synthetic fleet, {args.functions} functions", demand, args.weeks * 168, args.n_jobs)
    if args.huawei:
        from planner.ingest import read_telemetry

        tel, cat = read_telemetry(args.huawei, "huawei")
        compare("huawei-dc4", resource_demand(tel, cat, slot="1h"), 168, args.n_jobs)


if __name__ == "__main__":
    main()
