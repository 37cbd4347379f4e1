"""What chooses against what happens: per rolling origin of the quarter benchmark, each candidate
variant's mean MASE over the planner's own backtest windows on the training history (what the
model choice sees) beside its MASE on the held-out quarter (what the benchmark scores).

Daily wikipedia series only (``forecast_quarter.load_wikipedia``); Prophet (benchmark-only extra)
is scored on the same windows with ``--prophet``.

Run:  PLANNER_DATA=../shared/data PYTHONPATH=. python benchmarks/forecast_quarter_choice.py
          [--origins 8] [--models seasonal_trend,changepoint_trend] [--prophet]
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from forecast_quarter import DEFAULT_DATA, load_wikipedia  # noqa: E402
from models.forecasting import auto  # noqa: E402
from models.forecasting._util import single_blas_thread  # noqa: E402
from models.forecasting.backtest import naive_scale  # noqa: E402
from models.forecasting.registry import _factories, default_backtest  # noqa: E402

H = 91


def _prophet(train: pd.DataFrame, h: int) -> np.ndarray:
    from prophet import Prophet

    m = Prophet(daily_seasonality=False, weekly_seasonality=True, yearly_seasonality=True, uncertainty_samples=0)
    m.fit(train[["ds", "y"]])
    return m.predict(m.make_future_dataframe(periods=h, freq="D", include_history=False))["yhat"].to_numpy()


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=Path(os.environ.get("PLANNER_DATA", DEFAULT_DATA)))
    ap.add_argument("--origins", type=int, default=8)
    ap.add_argument("--models", default="seasonal_trend,changepoint_trend")
    ap.add_argument("--prophet", action="store_true", help="score Prophet (yearly) on the same windows")
    args = ap.parse_args(argv)
    warnings.simplefilter("ignore")
    logging.getLogger("cmdstanpy").setLevel(logging.ERROR)
    df = load_wikipedia(args.data)
    end, day = df["ds"].max(), pd.Timedelta("1D")
    names = args.models.split(",")
    rows: dict[str, list[tuple[float, float]]] = {}
    with single_blas_thread():
        for k in range(args.origins):
            origin = end - (k + 1) * H * day + day
            train = df[df["ds"] < origin].reset_index(drop=True)
            actual = df[(df["ds"] >= origin) & (df["ds"] < origin + H * day)]["y"].to_numpy()
            y = train["y"].to_numpy()
            factories = _factories("1D", start=train["ds"].iloc[0])
            n_windows, step = default_backtest("1D", H)
            _, origins = auto._windows(len(y), H, factories[names[0]]().min_length(), n_windows, step)
            bt = auto._backtest(y, factories, names, H, origins, 7)
            held = {}
            for name in names:
                for v, p in auto._fit_predict(factories[name], y, H).items():
                    held[auto._key(name, v)] = p
            if args.prophet:
                key = "prophet (yearly)"
                bt.scores[key] = float(np.mean([np.mean(np.abs(y[o:o + H] - _prophet(train.iloc[:o], H)))
                                                / naive_scale(y[:o], 7) for o in origins]))
                held[key] = _prophet(train, H)
            scale = naive_scale(y, 7)
            for key, s in bt.scores.items():
                rows.setdefault(key, []).append((s, float(np.mean(np.abs(actual - held[key]))) / scale))
            print(f"origin {k} ({origin.date()}) done", flush=True)
    print(f"\nper origin (newest first): backtest on the training history | held-out quarter; {len(origins)} windows")
    for key, v in rows.items():
        a = np.array(v)
        print(f"{key:32s} " + " ".join(f"{x:.3f}" for x in a[:, 0]) + f"  mean {a[:, 0].mean():.3f} | "
              + " ".join(f"{x:.3f}" for x in a[:, 1]) + f"  mean3 {a[:3, 1].mean():.3f} mean {a[:, 1].mean():.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
