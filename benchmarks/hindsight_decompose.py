"""Why a plan costs more than its hindsight: the gap split into forecast-mean error, band width and
packing, by replanning the same horizon with the same stages on forecasts that differ in one part.

For each origin the backtest (planner.backtest) gives the plan (its forecast F: mean, q50..q99) and
the hindsight plan (the actual demand y as mean and every quantile). Then, with the plan's own
packing, rules, residual correlation and procurement (only the forecast table changes):

    plan            F as it was                                   the plan's cost
    calibrated      F's mean, band q50 + s_b (q - q50)            F with the band the quarter needed
    actual+band     mean y, band y + (q - q50)                    what the plan's band alone costs
    level+band      mean ybar, band ybar + (q - q50)              the same on y's expected level
    actual+cal      mean y, band y + s_b (q - q50)                the calibrated band on the right level
    actual+gcal     mean y, band y + s_g (q - q50)                each group's own needed scale (oracle)
    hindsight       mean = every quantile = y                     the right amount

s_b, per lead-time bucket (weeks 1-2, 3-6, 7-13), is the band scale the realised errors needed:
the larger of Q99(z) / 2.326 and Q95(z) / 1.645 over the bucket's group-hours, z = (y - q50) /
sigma with sigma the packing's Gaussian spread of the forecast (planner.packing.forecast_sigma),
clipped at 0. A bucket that over-covers has s_b < 1; s_g is the same per group and resource over
the whole horizon (an oracle: no forecast knows it in advance). Read the gap as

    mean error       = plan - actual+band       (the level: trend, launches, seasons)
    band excess      = actual+band - actual+cal (the band wider than the errors were)
    calibrated band  = actual+cal - hindsight   (what the needed spread costs)

Caveat (measured): on hourly data y is one realisation, spikes included, so a band put on y counts
the hour's noise twice and actual+band can cost more than the plan (synthetic origin 2026-03-30:
18,600 against 15,300; huawei-dc4 969 against 923). ``level+band`` puts the band on ybar, y's
expected level instead: per group and resource, y's mean at the same slot of the week (of the
day when the horizon is under three weeks) over the horizon, times the ratio of that week's (day's)
mean to the horizon's mean, so a trend inside the horizon is kept and the hour's noise is not.
Read the mean error as plan - level+band when it is there.

And hindsight / fluid bound (the week's largest hourly total over the cheapest price per core or
GB, no headroom) as what whole servers and the tier rules cost even with a perfect forecast.
The forecast table also gets the top groups by excess mean and by band, per week the fleet's
forecast against its actual, and the realised coverage per bucket as y <= q and y < q (hours
with y = 0 and q = 0 count as covered by <= only: ties at zero).

    python benchmarks/hindsight_decompose.py [--origins 0,1,2,3] [--skip-synthetic] [--skip-huawei]
        [--replans calibrated,actual+band,level+band,actual+cal,actual+gcal]
    python benchmarks/hindsight_decompose.py --forecast-only --origins 0,1,2,3 --skip-huawei

``--forecast-only`` runs the forecast stage alone at each synthetic origin (seconds, no packing),
twice: with the young groups' pooled bands (``models.forecasting.auto.pool_bands``) and without,
and prints s_g of the widest-band groups, s_b, the realised coverage, and for the pooled series
their realised coverage and pinball loss (over each series' mean actual) both ways.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
HUAWEI = ROOT.parent / "shared" / "data" / "huawei-dc4" / "datacentre_4.csv"
REPLANS = ("calibrated", "actual+band", "level+band", "actual+cal", "actual+gcal")
BUCKETS = ((0, 2, "w1-2"), (2, 6, "w3-6"), (6, 13, "w7-13"))
QCOLS = ("q50", "q90", "q95", "q99")


def with_actuals(forecast: pd.DataFrame, actual: pd.DataFrame) -> pd.DataFrame:
    """The forecast rows with ``y`` (actual of the group, hour and resource; 0 where none)."""
    from planner import columns as C

    long = actual.melt(id_vars=[C.GROUP_ID, C.DS], value_vars=list(C.RESOURCES), var_name=C.RESOURCE, value_name="y")
    long = long.rename(columns={C.GROUP_ID: C.UNIQUE_ID})
    long[C.UNIQUE_ID] = long[C.UNIQUE_ID].astype(str)
    out = forecast.assign(**{C.UNIQUE_ID: forecast[C.UNIQUE_ID].astype(str)}).merge(
        long, on=[C.UNIQUE_ID, C.DS, C.RESOURCE], how="left")
    out["y"] = out["y"].fillna(0.0)
    return out


def bucket_of(ds: pd.Series, start: pd.Timestamp) -> np.ndarray:
    week = ((pd.to_datetime(ds) - start) // pd.Timedelta(days=7)).to_numpy()
    out = np.empty(len(week), dtype=object)
    for lo, hi, name in BUCKETS:
        out[(week >= lo) & (week < hi)] = name
    out[week >= BUCKETS[-1][1]] = "w14+"
    return out


def band_scales(fy: pd.DataFrame, start: pd.Timestamp) -> dict[str, float]:
    """s_b per lead bucket (module docstring)."""
    from planner.packing import forecast_sigma

    sigma = forecast_sigma(fy["q50"].to_numpy(), fy["q95"].to_numpy(), fy["q99"].to_numpy())
    z = (fy["y"].to_numpy() - fy["q50"].to_numpy()) / np.where(sigma > 0, sigma, np.nan)
    b = bucket_of(fy["ds"], start)
    return {name: needed_scale(z[b == name]) for name in pd.unique(b)}


def needed_scale(z: np.ndarray) -> float:
    z = z[np.isfinite(z)]
    if len(z) == 0:
        return 1.0
    return float(max(np.quantile(z, 0.99) / 2.326, np.quantile(z, 0.95) / 1.645, 0.0))


def group_scales(fy: pd.DataFrame) -> pd.Series:
    """s_g per (group, resource) over the horizon (module docstring)."""
    from planner.packing import forecast_sigma

    sigma = forecast_sigma(fy["q50"].to_numpy(), fy["q95"].to_numpy(), fy["q99"].to_numpy())
    z = pd.Series((fy["y"].to_numpy() - fy["q50"].to_numpy()) / np.where(sigma > 0, sigma, np.nan), index=fy.index)
    return z.groupby([fy["unique_id"], fy["resource"]]).apply(lambda v: needed_scale(v.to_numpy()))


def coverage(fy: pd.DataFrame, start: pd.Timestamp) -> pd.DataFrame:
    """Per lead bucket: share of group-hours with y <= q and with y < q, and of y = 0."""
    b = bucket_of(fy["ds"], start)
    rows = []
    for name in pd.unique(b):
        part = fy[b == name]
        row = {"bucket": name, "n": len(part), "zero_share": float((part["y"] == 0).mean())}
        for q in QCOLS:
            row[f"{q}_le"] = float((part["y"] <= part[q]).mean())
            row[f"{q}_lt"] = float((part["y"] < part[q]).mean())
        rows.append(row)
    return pd.DataFrame(rows)


def expected_level(fy: pd.DataFrame, start: pd.Timestamp) -> np.ndarray:
    """ybar (module docstring): y without the hour's noise, per row of ``fy``."""
    ds = pd.to_datetime(fy["ds"])
    span = ds.max() - ds.min()
    period = pd.Timedelta(days=7) if span >= pd.Timedelta(days=21) else pd.Timedelta(days=1)
    slot = ((ds - start) % period).to_numpy()
    block = ((ds - start) // period).to_numpy()
    key = [fy["unique_id"].to_numpy(), fy["resource"].to_numpy()]
    y = fy["y"]
    profile = y.groupby(key + [slot]).transform("mean")
    block_mean = y.groupby(key + [block]).transform("mean")
    whole = y.groupby(key).transform("mean")
    ratio = np.where(whole > 0, block_mean / whole.where(whole > 0, 1.0), 1.0)
    return (profile * ratio).to_numpy()


def variant(fy: pd.DataFrame, name: str, scales: dict[str, float], start: pd.Timestamp) -> pd.DataFrame:
    """The forecast table of one replan (module docstring)."""
    from planner import columns as C

    out = fy.copy()
    if name == "actual+gcal":  # scales: s_g per (group, resource)
        s = pd.MultiIndex.from_arrays([fy["unique_id"], fy["resource"]]).map(scales.get).to_numpy(float)
    else:
        s = pd.Series(bucket_of(fy["ds"], start)).map(scales).fillna(1.0).to_numpy()
    q50 = fy["q50"].to_numpy()
    y = fy["y"].to_numpy()
    if name == "level+band":
        y = expected_level(fy, start)
    centre = q50 if name == "calibrated" else y
    scale = 1.0 if name in ("actual+band", "level+band") else s
    for q in QCOLS:
        out[q] = np.maximum(centre + scale * (fy[q].to_numpy() - q50), 0.0)
    out[C.MEAN] = fy[C.MEAN].to_numpy() if name == "calibrated" else y
    out[list(QCOLS)] = np.sort(out[list(QCOLS)].to_numpy(), axis=1)  # a negative scale never; clipping may reorder
    return out.drop(columns=["y"])


def replan(run, forecast: pd.DataFrame) -> tuple[float, float, list]:
    """(procurement total cost, sum of the weeks' cost per month, weeks) of ``forecast`` packed and
    procured with the run's own stages, rules, catalog and residual correlation."""
    from planner.pipeline import pack_horizon, procure
    from planner.plan import required_servers, servers_frame, tiers_of

    sc = run.scenario
    servers = servers_frame(sc)
    if servers["pool"].nunique() > 1:
        raise SystemExit("hindsight_decompose: one pool only (the backtests of issue 15 have one)")
    starts = sorted({wp.start for wp in run.weeks})
    weeks, _ = pack_horizon(forecast, run.groups, tiers_of(sc), servers, starts, sc.solver, residuals=run.residuals)
    proc, _ = procure(sc, servers, required_servers(weeks, dict(zip(servers["type"], servers["pool"]))))
    return float(proc.total_cost), float(sum(wp.result.objective for wp in weeks)), weeks


def fluid_bound(fy: pd.DataFrame, servers: pd.DataFrame, start: pd.Timestamp) -> float:
    """Sum over weeks of the cheapest cost per month of the week's largest hourly total demand (no
    headroom, no whole servers, no rules): what no packing can beat."""
    from planner import columns as C

    per_core = float((servers["cost_per_month"] / servers["cpu_cores"]).min())
    per_gb = float((servers["cost_per_month"] / servers["memory_gb"]).min())
    tot = fy.pivot_table(index=C.DS, columns=C.RESOURCE, values="y", aggfunc="sum")
    week = (tot.index - start) // pd.Timedelta(days=7)
    peak = tot.groupby(week).max()
    return float(np.maximum(peak[C.CPU_CORES] * per_core, peak[C.MEMORY_GB] * per_gb).sum())


def forecast_errors(fy: pd.DataFrame, run, start: pd.Timestamp, top: int = 8) -> None:
    from planner import columns as C
    from planner.packing import forecast_sigma

    cpu = fy[fy[C.RESOURCE] == C.CPU_CORES].copy()
    cpu["sigma"] = forecast_sigma(cpu["q50"].to_numpy(), cpu["q95"].to_numpy(), cpu["q99"].to_numpy())
    cpu["week"] = (cpu[C.DS] - start) // pd.Timedelta(days=7)
    hourly = cpu.groupby([C.DS]).agg(mean=(C.MEAN, "sum"), q99=("q99", "sum"), y=("y", "sum"))
    hourly["week"] = (hourly.index - start) // pd.Timedelta(days=7)
    wk = hourly.groupby("week").agg(mean=("mean", "mean"), y=("y", "mean"), peak_mean=("mean", "max"),
                                    peak_q99=("q99", "max"), peak_y=("y", "max"))
    wk["mean/y"] = wk["mean"] / wk["y"]
    print("fleet CPU cores per week (hourly sums over groups): average and peak hour of the forecast mean, "
          "of the sum of q99, and of the actual")
    print(wk.round(2).to_string())
    g = cpu.groupby(C.UNIQUE_ID).agg(mean=(C.MEAN, "mean"), y=("y", "mean"), peak_mean=(C.MEAN, "max"),
                                     peak_y=("y", "max"), sigma=("sigma", "mean"))
    g["excess_core_hours"] = (cpu.assign(e=cpu[C.MEAN] - cpu["y"]).groupby(C.UNIQUE_ID)["e"].sum())
    rep = run.forecast_report
    if rep is not None and len(rep):
        r = rep[rep[C.RESOURCE] == C.CPU_CORES].set_index(C.UNIQUE_ID)
        g = g.join(r[["model", "detail"]])
    print(f"\ngroups with the largest excess of forecast mean over actual (CPU core-hours over the horizon), top {top}:")
    print(g.sort_values("excess_core_hours", ascending=False).head(top).round(3).to_string())
    print(f"\ngroups with the widest band (mean sigma, CPU cores), top {top}:")
    print(g.sort_values("sigma", ascending=False).head(top).round(3).to_string())


def decompose(label: str, result, actual: pd.DataFrame, replans) -> dict:
    from planner.plan import servers_frame

    run = result.run
    start = sorted({wp.start for wp in run.weeks})[0]
    fy = with_actuals(run.forecast, actual)
    fy = fy[fy["ds"] < start + pd.Timedelta(weeks=len({wp.start for wp in run.weeks}))]
    print(f"\n== {label}: origin {start.date()}, load average {os.getloadavg()[0]:.1f}")
    forecast_errors(fy, run, start)
    cov = coverage(fy, start)
    print("\nrealised coverage per lead bucket (y <= q beside y < q: the difference is ties, mostly hours at zero):")
    print(cov.round(4).to_string(index=False))
    scales = band_scales(fy, start)
    print("band scale the quarter needed per bucket (s_b):", {k: round(v, 3) for k, v in scales.items()})
    gscales = group_scales(fy)
    sig = fy.assign(s=(fy["q99"] - fy["q50"])).groupby(["unique_id", "resource"])["s"].mean()
    big = sig[sig.index.get_level_values(1) == "cpu_cores"].nlargest(8).index
    print("band scale each of the widest-band groups needed (s_g, CPU):",
          {g: round(gscales[(g, r)], 3) for g, r in big})
    costs = {"plan": float(run.procurement.total_cost), "hindsight": float(result.hindsight.procurement.total_cost)}
    monthly = {"plan": float(sum(wp.result.objective for wp in run.weeks)),
               "hindsight": float(sum(wp.result.objective for wp in result.hindsight.weeks))}
    for name in replans:
        t0 = time.process_time()
        sc_ = gscales.to_dict() if name == "actual+gcal" else scales
        costs[name], monthly[name], _ = replan(run, variant(fy, name, sc_, start))
        print(f"replan {name}: cost {costs[name]:,.0f} ({time.process_time() - t0:.0f} s CPU)", flush=True)
    bound = fluid_bound(fy, servers_frame(run.scenario), start)
    hind = costs["hindsight"]
    print(f"\n{'plan':<14}{'cost':>12}{'/ hindsight':>13}{'sum of weekly cost/month':>27}")
    for k in ("plan", *replans, "hindsight"):
        print(f"{k:<14}{costs[k]:>12,.0f}{costs[k] / hind:>13.3f}{monthly[k]:>27,.0f}")
    print(f"{'fluid bound':<14}{'':>12}{'':>13}{bound:>27,.0f}  (hindsight / bound {monthly['hindsight'] / bound:.3f})")
    parts = {}
    if "level+band" in costs:  # the fair split: the band on y's expected level, not on its noisy hours
        parts["mean error (level)"] = costs["plan"] - costs["level+band"]
        parts["band on the expected level"] = costs["level+band"] - hind
    elif "actual+band" in costs:
        parts["mean error"] = costs["plan"] - costs["actual+band"]
        if "actual+cal" in costs:
            parts["band excess"] = costs["actual+band"] - costs["actual+cal"]
            parts["calibrated band"] = costs["actual+cal"] - hind
            if "actual+gcal" in costs:
                parts["of which beyond each group's own need"] = costs["actual+cal"] - costs["actual+gcal"]
        else:
            parts["band (as planned)"] = costs["actual+band"] - hind
    if parts:
        gap = costs["plan"] - hind
        print("gap plan - hindsight " + f"{gap:,.0f}: " + ", ".join(
            f"{k} {v:,.0f} ({v / gap:.0%})" if gap else f"{k} {v:,.0f}" for k, v in parts.items()))
    return {"costs": costs, "monthly": monthly, "scales": scales, "coverage": cov, "bound": bound}


def pinball_table(fy: pd.DataFrame) -> dict:
    """Realised coverage (y <= q) and pinball loss over the series' mean actual, per level, mean
    over series."""
    lvl = fy.groupby(["unique_id", "resource"])["y"].transform(lambda v: max(v.mean(), 1e-9))
    out = {}
    for q in QCOLS:
        tau = int(q[1:]) / 100
        d = fy["y"] - fy[q]
        out[f"pinball_{q}"] = float((np.maximum(tau * d, (tau - 1) * d) / lvl).groupby(
            [fy["unique_id"], fy["resource"]]).mean().mean())
        out[f"cov_{q}"] = float((fy["y"] <= fy[q]).mean())
    return out


def forecast_only(sc, actual, history, origins, indices) -> None:
    """The forecast stage at each origin with and without pooled bands (module docstring)."""
    import planner.forecast as F
    from planner.backtest import history_until
    from planner.pipeline import forecast_stage_run, horizon_start

    own = F.forecast_long
    for i in indices:
        o = origins[i]
        one = sc.model_copy(update={"data": sc.data.model_copy(update={"until": o.to_pydatetime()}),
                                    "forecast": sc.forecast.model_copy(update={"n_jobs": 1})})
        hist = history_until(history, o)
        runs = {}
        for pooled in (False, True):
            F.forecast_long = lambda *a, pooled=pooled, **k: own(*a, **{**k, "pool_bands": pooled})
            t0 = time.process_time()
            try:
                run = forecast_stage_run(one, hist, horizon_start(one, hist))
            finally:
                F.forecast_long = own
            fy = with_actuals(run.forecast, actual)
            runs[pooled] = (fy[fy["ds"] < o + pd.Timedelta(weeks=13)], run.report, time.process_time() - t0)
        fy, rep, cpu = runs[True]
        print(f"\n== forecast only, synthetic origin {i} ({o.date()}): {cpu:.0f} s CPU, load average "
              f"{os.getloadavg()[0]:.1f}")
        gs = group_scales(fy)
        sig = fy.assign(s=(fy["q99"] - fy["q50"])).groupby(["unique_id", "resource"])["s"].mean()
        big = sig[sig.index.get_level_values(1) == "cpu_cores"].nlargest(8).index
        print("s_g (CPU) of the widest-band groups:", {g: round(gs[(g, r)], 2) for g, r in big})
        print("s_b:", {k: round(v, 3) for k, v in band_scales(fy, o).items()})
        print(coverage(fy, o).round(3).to_string(index=False))
        ids = rep.loc[rep["band_pooled"].notna(), ["unique_id", "resource"]]
        print(f"pooled series: {len(ids)} of {len(rep)}", sorted(set(ids["unique_id"])))
        if len(ids):
            keys = pd.MultiIndex.from_frame(ids)
            for pooled in (False, True):
                part = runs[pooled][0]
                part = part[pd.MultiIndex.from_frame(part[["unique_id", "resource"]]).isin(keys)]
                gsp = group_scales(part)
                print(f"  {'pooled' if pooled else 'own   '}: " + ", ".join(
                    f"{k} {v:.4f}" for k, v in pinball_table(part).items()) + "; s_g (CPU) " + str(
                    {g: round(v, 2) for (g, r), v in gsp.items() if r == "cpu_cores"}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--origins", default="0", help="comma-separated indices of the 4 synthetic origins (0 = earliest)")
    ap.add_argument("--skip-synthetic", action="store_true")
    ap.add_argument("--skip-huawei", action="store_true")
    ap.add_argument("--huawei", type=Path, default=HUAWEI, help="datacentre_4.csv (default: ../shared/data beside the "
                    "checkout; a worktree elsewhere names it); the scenario's data.path is set to it as well")
    ap.add_argument("--replans", default=",".join(REPLANS))
    ap.add_argument("--forecast-only", action="store_true", help="the forecast stage alone at each synthetic "
                    "origin, with and without pooled bands (no packing)")
    args = ap.parse_args()
    replans = [r for r in args.replans.split(",") if r]
    bad = [r for r in replans if r not in REPLANS]
    if bad:
        raise SystemExit(f"--replans {bad}: choose from {REPLANS}")

    from planner.backtest import backtest, origins_of
    from planner.commands.backtest import read_actuals
    from planner.scenarios import load_scenario

    if not args.skip_synthetic:
        sc = load_scenario(ROOT / "examples" / "backtest-synthetic.yaml")
        actual, groups, source, history = read_actuals(sc, None)
        origins = origins_of(sc, pd.Timestamp(history.demand["ds"].min()), pd.Timestamp(sc.data.until), 4,
                             pd.Timedelta(weeks=13))
        if args.forecast_only:
            forecast_only(sc, actual, history, origins, [int(k) for k in args.origins.split(",")])
            return
        for i in (int(k) for k in args.origins.split(",")):
            one = sc.model_copy(update={"data": sc.data.model_copy(update={"until": origins[i].to_pydatetime()})})
            t0 = time.perf_counter()
            res = backtest(one, actual, history=history, actual_groups=groups, source=source)[0]
            print(f"\nsynthetic origin {i} ({origins[i].date()}): backtest {time.perf_counter() - t0:.0f} s, "
                  f"cost / hindsight {res.costs['cost_vs_hindsight']}", flush=True)
            decompose(f"synthetic default fleet, origin {i}", res, actual, replans)
    if not args.skip_huawei:
        from backtest_hindsight import huawei_inputs  # benchmarks/ is the script's folder

        inputs = huawei_inputs(args.huawei)
        if inputs is None:
            return
        sc, (actual, groups, source, history) = inputs
        res = backtest(sc, actual, history=history, actual_groups=groups, source=source)[0]
        print(f"\nhuawei-dc4: cost / hindsight {res.costs['cost_vs_hindsight']}", flush=True)
        decompose("huawei-dc4, one week", res, actual, replans)


if __name__ == "__main__":
    main()
