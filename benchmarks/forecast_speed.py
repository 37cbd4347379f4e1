"""Forecast speed: N synthetic hourly series of 8 weeks, one week ahead, with the planner's default
model choice by backtest and conformal quantiles; statsforecast (AutoETS, daily season) on the same
series in the same run when it is installed (benchmark-only extra).

Run:  PYTHONPATH=. python benchmarks/forecast_speed.py [--series 1000] [--n-jobs 2] [--no-peers]
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
    """Seeded hourly counts: level × (daily and weekday cycle) with Poisson-like noise."""
    rng = np.random.default_rng(seed)
    n = weeks * 168
    t = np.arange(n)
    level = np.exp(rng.normal(3, 1, n_series))[:, None]
    phase = rng.uniform(0, 24, n_series)[:, None]
    daily = 1 + 0.6 * np.sin(2 * np.pi * (t[None, :] - phase) / 24)
    weekday = np.where((t % 168) < 120, 1.0, rng.uniform(0.4, 1.0, n_series)[:, None])
    y = rng.poisson(level * daily * weekday).astype(float)
    ds = pd.date_range("2026-01-05", periods=n, freq="h")
    return pd.DataFrame({"unique_id": np.repeat([f"s{i:04d}" for i in range(n_series)], n),
                         "ds": np.tile(ds.values, n_series), "y": y.ravel()})


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--series", type=int, default=1000)
    ap.add_argument("--n-jobs", type=int, default=2)
    ap.add_argument("--peer-series", type=int, default=100, help="series given to statsforecast (it is slower)")
    ap.add_argument("--no-peers", action="store_true")
    args = ap.parse_args(argv)
    warnings.simplefilter("ignore")
    df = synthetic(args.series)
    t0 = time.time()
    run = forecast_long(df, 168, freq="1h", n_jobs=args.n_jobs)
    sec = time.time() - t0
    print(f"planner: {args.series} series x {df.groupby('unique_id').size().iloc[0]} h, h=168, n_jobs={args.n_jobs}: "
          f"{sec:.1f} s ({args.series / sec:.1f} series/s); models {run.report['model'].value_counts().to_dict()}; "
          f"mean backtest MASE {run.report['mase'].mean():.3f}")
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
    sf.forecast(df=sub, h=168, level=[90, 98])
    sec = time.time() - t0
    print(f"statsforecast AutoETS(24) with intervals, {args.peer_series} series, n_jobs={args.n_jobs}: "
          f"{sec:.1f} s ({args.peer_series / sec:.1f} series/s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
