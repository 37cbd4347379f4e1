"""Does the forecast's own held-out check predict the coverage of the quarter that follows?

For each of K quarterly origins (newest first) of bike sharing (hourly, nine years) or wikipedia
(daily), the planner forecasts 13 weeks ahead and reports its held-out check per lead bucket
(``SeriesForecast.calibration``: each backtest window held out in turn); the quarter after the origin
gives the true coverage. Prints both per bucket and level, the worst bucket over all origins and
over the newest three, and the true coverage per origin.

    PLANNER_DATA=../shared/data python benchmarks/forecast_check_vs_heldout.py wikipedia --origins 8 [--match-levels]
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.forecast_quarter import load_bikesharing, load_wikipedia  # noqa: E402
from models.forecasting.auto import forecast_array  # noqa: E402


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("series", choices=("bikesharing", "wikipedia"))
    ap.add_argument("--origins", type=int, default=8)
    ap.add_argument("--match-levels", action="store_true", help="the opt-in matched band levels")
    ap.add_argument("--data", type=Path, default=Path(os.environ.get("PLANNER_DATA", "../shared/data")))
    args = ap.parse_args(argv)
    if not args.data.exists():
        sys.exit(f"no data folder at {args.data}: set PLANNER_DATA to ../shared/data")
    df = load_bikesharing(args.data) if args.series == "bikesharing" else load_wikipedia(args.data)
    freq, h = ("1h", 13 * 168) if args.series == "bikesharing" else ("1D", 91)
    y_all = df["y"].to_numpy(float)
    rows = []
    for k in range(args.origins):
        n = len(y_all) - (k + 1) * h
        y, test = y_all[:n], y_all[n:n + h]
        f = forecast_array(y, h, freq, start=df["ds"].iloc[0], match_levels=args.match_levels)
        edges = np.asarray(f.band_edges)
        names = list(dict.fromkeys(c["bucket"] for c in f.calibration))
        for b, name in enumerate(names):
            lo, hi = edges[b], min(edges[b + 1], h)
            for j, lev in enumerate((0.9, 0.95, 0.99)):
                chk = [c["coverage"] for c in f.calibration if c["bucket"] == name and c["level"] == lev]
                rows.append(dict(origin=k, bucket=name, level=lev, check=chk[0] if chk else np.nan,
                                 true=float((test[lo:hi] <= f.quantiles[j + 1][lo:hi]).mean())))
        print(f"origin {k}: {f.model}", flush=True)
    t = pd.DataFrame(rows)
    print(t.groupby(["bucket", "level"], sort=False)[["check", "true"]].mean().round(3).to_string())
    for part, name in ((t, f"all {args.origins} origins"), (t[t.origin < 3], "newest 3")):
        g = part.groupby(["bucket", "level"])["true"].mean()
        off = (g - g.index.get_level_values("level")).abs().max()
        print(f"{name}: worst bucket {off * 100:.1f} points from nominal")
    print(t.pivot_table(index="origin", columns=["bucket", "level"], values="true").round(2).to_string())


if __name__ == "__main__":
    main()
