"""Forecast speed: N synthetic hourly series, with the planner's default model choice by backtest
and conformal quantiles; statsforecast (AutoETS, daily season) on some of the same series in the
same run when it is installed (benchmark-only extra).

Two cases: a week ahead from 8 weeks (the defaults), and the plan's case, a quarter ahead (13
weeks) from two years of history with a yearly cycle and growth (``--weeks 104 --horizon 2184``;
goal issue 13: 1,000 series in 10 minutes on 2 cores with --n-jobs 2).

Run:  PYTHONPATH=. python benchmarks/forecast_speed.py [--series 1000] [--n-jobs 2] [--weeks 8] [--horizon 168] [--no-peers]
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

from planner.forecast import forecast_long  # noqa: E402


def synthetic(n_series: int, weeks: int = 8, seed: int = 0) -> pd.DataFrame:
    """Seeded hourly counts: level × (daily and weekday cycle) × yearly cycle × growth, with
    Poisson noise (yearly amplitude up to 0.3, growth -10 % to +40 % a year)."""
    rng = np.random.default_rng(seed)
    n = weeks * 168
    t = np.arange(n)
    level = np.exp(rng.normal(3, 1, n_series))[:, None]
    phase = rng.uniform(0, 24, n_series)[:, None]
    daily = 1 + 0.6 * np.sin(2 * np.pi * (t[None, :] - phase) / 24)
    weekday = np.where((t % 168) < 120, 1.0, rng.uniform(0.4, 1.0, n_series)[:, None])
    years = t[None, :] / 8766.0
    yearly = 1 + rng.uniform(0, 0.3, n_series)[:, None] * np.cos(2 * np.pi * (years - rng.uniform(0, 1, n_series)[:, None]))
    growth = np.exp(np.log1p(rng.uniform(-0.1, 0.4, n_series))[:, None] * years)
    y = rng.poisson(level * daily * weekday * yearly * growth).astype(float)
    ds = pd.date_range("2026-01-05", periods=n, freq="h")
    return pd.DataFrame({"unique_id": np.repeat([f"s{i:04d}" for i in range(n_series)], n),
                         "ds": np.tile(ds.values, n_series), "y": y.ravel()})


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--series", type=int, default=1000)
    ap.add_argument("--n-jobs", type=int, default=2)
    ap.add_argument("--peer-series", type=int, default=100, help="series given to statsforecast (it is slower)")
    ap.add_argument("--no-peers", action="store_true")
    ap.add_argument("--weeks", type=int, default=8, help="weeks of hourly history")
    ap.add_argument("--horizon", type=int, default=168, help="steps ahead (2184 = 13 weeks)")
    args = ap.parse_args(argv)
    warnings.simplefilter("ignore")
    df = synthetic(args.series, args.weeks)
    print(f"load average before: {os.getloadavg()[0]:.1f}")
    t0 = time.time()
    run = forecast_long(df, args.horizon, freq="1h", n_jobs=args.n_jobs)
    sec = time.time() - t0
    print(f"planner: {args.series} series x {df.groupby('unique_id').size().iloc[0]} h, h={args.horizon}, n_jobs={args.n_jobs}: "
          f"{sec:.1f} s ({args.series / sec:.1f} series/s); models {run.report['model'].value_counts().to_dict()}; "
          f"mean backtest MASE {run.report['mase'].mean():.3f}; load average after: {os.getloadavg()[0]:.1f}")
    if args.no_peers:
        return 0
    try:
        from statsforecast import StatsForecast
        from statsforecast.models import AutoETS
    except ImportError:
        print("statsforecast not installed: peer skipped")
        return 0
    os.environ.setdefault("NIXTLA_ID_AS_COL", "1")
    sub = df[df["unique_id"].isin(df["unique_id"].unique()[: args.peer_series])]
    sf = StatsForecast(models=[AutoETS(season_length=24)], freq="h", n_jobs=args.n_jobs)
    sf.forecast(df=sub.iloc[:1344], h=168)  # compile numba kernels outside the timing
    t0 = time.time()
    sf.forecast(df=sub, h=args.horizon, level=[90, 98])
    sec = time.time() - t0
    print(f"statsforecast AutoETS(24) with intervals, {args.peer_series} series, n_jobs={args.n_jobs}: "
          f"{sec:.1f} s ({args.peer_series / sec:.1f} series/s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
