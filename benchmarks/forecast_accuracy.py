"""Forecast accuracy on real data: the planner's forecast against seasonal naive and, when they are
installed (benchmark-only extras, never project dependencies), statsforecast AutoETS / MSTL and Prophet.

  huawei-dc4: 8 functions, 5-min requests summed to hourly, the last 7 days held out (h = 168).
  wikipedia:  daily log page views (missing days interpolated), the last 91 days held out.

Metrics: mean MASE over series (scaled by the in-sample weekly seasonal-naive MAE), ratio to
seasonal naive, and empirical coverage of the upper quantiles q90 / q95 / q99 on the held-out data
(peers: upper ends of their 80 / 90 / 98 % central intervals), and the q99 pinball loss scaled by
the same naive MAE (``spl_q99``: sharpness at equal coverage, lower is better).

Run:  PYTHONPATH=. python benchmarks/forecast_accuracy.py [--data ../shared/data] [--no-peers] [--origins 4]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from models.forecasting.backtest import mase, naive_scale, pinball  # noqa: E402
from planner.forecast import forecast_long  # noqa: E402

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def load_huawei(data: Path) -> pd.DataFrame:
    raw = pd.read_csv(data / "huawei-dc4" / "datacentre_4.csv", parse_dates=["date"]).set_index("date")
    hourly = raw.resample("1h").sum()
    return hourly.reset_index().melt(id_vars="date", var_name="unique_id", value_name="y").rename(columns={"date": "ds"})


def load_wikipedia(data: Path) -> pd.DataFrame:
    df = pd.read_csv(data / "wikipedia" / "peyton_manning_daily_log.csv", parse_dates=["ds"])
    full = pd.DataFrame({"ds": pd.date_range(df.ds.min(), df.ds.max(), freq="D")}).merge(df, how="left")
    full["y"] = full["y"].interpolate()  # same fill as the planner's, so every method sees the same data
    return full.assign(unique_id="peyton_manning")[["unique_id", "ds", "y"]]


def split(df, h):
    parts = [(uid, g.sort_values("ds")) for uid, g in df.groupby("unique_id", sort=True)]
    train = pd.concat([g.iloc[:-h] for _, g in parts], ignore_index=True)
    test = {uid: g["y"].to_numpy()[-h:] for uid, g in parts}
    return train, test


def score(name, preds, train, test, m, uppers=None, seconds=np.nan):
    """preds: uid -> point; uppers: uid -> {level: upper}."""
    tr = {u: g["y"].to_numpy() for u, g in train.groupby("unique_id")}
    row = {"method": name, "mase": np.mean([mase(test[u], preds[u], tr[u], m) for u in test]), "seconds": seconds}
    for lev in (0.90, 0.95, 0.99):
        if uppers is not None:
            row[f"cov_q{int(lev * 100)}"] = np.mean(np.concatenate([test[u] <= uppers[u][lev] for u in test]))
    if uppers is not None:
        # Sharpness: pinball loss of q99 scaled like MASE (lower is better at equal coverage).
        row["spl_q99"] = np.mean([pinball(test[u], uppers[u][0.99], 0.99) / naive_scale(tr[u], m) for u in test])
    return row


def planner_method(train, h, freq, **kw):
    t0 = time.time()
    run = forecast_long(train, h, freq=freq, n_jobs=1, **kw)
    sec = time.time() - t0
    preds, uppers = {}, {}
    for u, g in run.forecast.groupby("unique_id"):
        preds[u] = g["mean"].to_numpy()
        uppers[u] = {0.90: g["q90"].to_numpy(), 0.95: g["q95"].to_numpy(), 0.99: g["q99"].to_numpy()}
    return preds, uppers, sec, run.report


def seasonal_naive(train, h, m):
    return {u: np.resize(g["y"].to_numpy()[-m:], h) for u, g in train.groupby("unique_id")}


def statsforecast_methods(train, h, freq, seasons, ets_season):
    try:
        from statsforecast import StatsForecast
        from statsforecast.models import MSTL, AutoETS
    except ImportError:
        print("statsforecast not installed: peers skipped")
        return []
    out = []
    for name, model in (("statsforecast AutoETS", AutoETS(season_length=ets_season)),
                        ("statsforecast MSTL", MSTL(season_length=seasons, trend_forecaster=AutoETS(model="ZZN")))):
        t0 = time.time()
        fc = StatsForecast(models=[model], freq=freq, n_jobs=1).forecast(df=train, h=h, level=[80, 90, 98])
        sec = time.time() - t0
        col = [c for c in fc.columns if c not in ("unique_id", "ds") and "-" not in c][0]
        preds, uppers = {}, {}
        for u, g in fc.groupby("unique_id"):
            preds[u] = g[col].to_numpy()
            uppers[u] = {0.90: g[f"{col}-hi-80"].to_numpy(), 0.95: g[f"{col}-hi-90"].to_numpy(), 0.99: g[f"{col}-hi-98"].to_numpy()}
        out.append((name, preds, uppers, sec))
    return out


def prophet_method(train, h, freq, daily):
    try:
        import logging

        from prophet import Prophet
        logging.getLogger("cmdstanpy").setLevel(logging.ERROR)
        logging.getLogger("prophet").setLevel(logging.ERROR)
    except ImportError:
        print("prophet not installed: peer skipped")
        return []
    t0 = time.time()
    preds, uppers = {}, {}
    for u, g in train.groupby("unique_id"):
        m = Prophet(daily_seasonality=daily, weekly_seasonality=True, yearly_seasonality=not daily,
                    interval_width=0.98, uncertainty_samples=500)
        m.fit(g[["ds", "y"]])
        fut = m.make_future_dataframe(periods=h, freq=freq, include_history=False)
        samples = m.predictive_samples(fut)["yhat"]  # steps × samples
        preds[u] = m.predict(fut)["yhat"].to_numpy()
        uppers[u] = {lev: np.quantile(samples, lev, axis=1) for lev in (0.90, 0.95, 0.99)}
    return [("prophet", preds, uppers, time.time() - t0)]


def run_case(label, df, h, freq, m, seasons, ets_season, daily, peers, quiet=False):
    train, test = split(df, h)
    rows = []
    preds, uppers, sec, report = planner_method(train, h, freq)
    rows.append(score("planner (auto)", preds, train, test, m, uppers, sec))
    rows.append(score("seasonal naive", seasonal_naive(train, h, m), train, test, m))
    if peers:
        for name, p, up, s in statsforecast_methods(train, h, freq, seasons, ets_season) + prophet_method(train, h, freq, daily):
            rows.append(score(name, p, train, test, m, up, s))
    table = pd.DataFrame(rows)
    sn = table.loc[table.method == "seasonal naive", "mase"].iloc[0]
    table["vs_seasonal_naive"] = table["mase"] / sn
    table["vs_planner"] = table["mase"] / table.loc[0, "mase"]
    if quiet:
        return table
    print(f"\n== {label}: {df.unique_id.nunique()} series, h = {h} ({freq}) ==")
    print(table.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    print("models chosen:", report["model"].value_counts().to_dict())
    return table


def run_origins(label, df, h, n_origins, **kw):
    """The same comparison from ``n_origins`` forecast origins ``h`` apart (the last first), averaged."""
    tables = []
    for k in range(n_origins):
        df = df.sort_values(["unique_id", "ds"])
        cut = df[df.groupby("unique_id").cumcount(ascending=False) >= k * h]
        tables.append(run_case(label, cut, h, quiet=True, **kw).assign(origin=k))
    avg = pd.concat(tables).groupby("method", sort=False).mean(numeric_only=True).drop(columns="origin").reset_index()
    print(f"\n== {label}: mean over {n_origins} origins {h} steps apart ==")
    print(avg.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    return avg


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=Path(os.environ.get("PLANNER_DATA", DEFAULT_DATA)))
    ap.add_argument("--no-peers", action="store_true", help="skip statsforecast and Prophet")
    ap.add_argument("--origins", type=int, default=1, help="also average wikipedia over this many quarterly origins")
    args = ap.parse_args(argv)
    if not (args.data / "huawei-dc4").exists():
        print(f"data not found under {args.data}; nothing to do")
        return 0
    warnings.simplefilter("ignore")
    run_case("huawei-dc4 hourly", load_huawei(args.data), 168, "h", 168, [24, 168], 24, True, not args.no_peers)
    wiki = load_wikipedia(args.data)
    run_case("wikipedia daily", wiki, 91, "D", 7, [7, 365], 7, False, not args.no_peers)
    if args.origins > 1:
        run_origins("wikipedia daily", wiki, 91, args.origins, freq="D", m=7, seasons=[7, 365], ets_season=7,
                    daily=False, peers=not args.no_peers)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
