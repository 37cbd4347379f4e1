"""Why bike sharing's band over-covers weeks 7-13 (issue 13, session 14): its calibration windows
against the quarters that follow, measured on the score arrays.

For each of K quarterly origins (newest first) the planner forecasts 13 weeks (``forecast_array``,
the defaults) and the band's calibration windows are rebuilt as the engine builds them (the chosen
candidate refitted at origins over the whole history, ``_history_windows``; those of the same
season, ``_season_peers``); the rebuilt band must equal the forecast's to the last digit. Then:

1. per origin, the weeks 7-13 errors of the windows and of the quarter that followed, in units of
   the bucket's actual mean (so the score's scale L plays no part): the level error (bucket mean of
   actual / forecast - 1, root mean square over windows) and the spread of the hours around it;
2. the windows' level error by year of origin (the newest origin's windows, every season) and, at
   the origins of the last two years, the same model fitted on its last 1.5 / 2 / 3 / 4 years only;
3. coverage of the K true quarters by the band rebuilt with other calibration settings (training,
   recency, the score's level, windows whose model put a level shift in its last four weeks);
4. each window of the newest origin's set from mid-2014 on as a pseudo-truth, its band from the
   windows before it (what the engine would have had then), coverage by year.

    PLANNER_DATA=../shared/data python benchmarks/band_weeks7_13.py [--origins 8]
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import models.forecasting.auto as A  # noqa: E402
from benchmarks.forecast_quarter import load_bikesharing  # noqa: E402
from models.forecasting._util import single_blas_thread  # noqa: E402
from models.forecasting.conformal import LeadTimeConformal  # noqa: E402
from models.forecasting.registry import _factories, default_backtest  # noqa: E402

FREQ, H, WEEK, SPD = "1h", 13 * 168, 168, 24
STEP = pd.Timedelta(FREQ)
YH = int(round(A.YEAR * 24))  # hours in a year
BUCKETS = ("w1-2", "w3-6", "w7-13")


class WeightedConformal(LeadTimeConformal):
    """LeadTimeConformal with a fixed weight per window (the new point weighs 1): the τ-quantile of
    a cell is the smallest score whose cumulative weight reaches τ (W + 1). Equal weights give the
    engine's order statistic. Scores must be finite (bike sharing's are)."""

    def fit(self, actual, pred, level, how=None, n_how=1, weights=None):
        self._w = np.broadcast_to(np.asarray(weights, float)[:, None], np.shape(actual)).ravel()
        return super().fit(actual, pred, level, how, n_how)

    def _quantiles(self, z, lead, how, n_how):
        n_lead = len(self.edges_) - 1
        q = np.full((n_lead, n_how + 1, len(self.levels)), np.nan)
        for b in range(n_lead):
            in_b = lead == b
            for c in range(n_how):
                if (in_b & (how == c)).sum() >= self.min_cell:
                    q[b, c] = self._stats(z[in_b & (how == c)], self._w[in_b & (how == c)])
            q[b, n_how] = self._stats(z[in_b], self._w[in_b])
        q = self._extend(np.where(np.isnan(q), q[:, n_how:n_how + 1, :], q))
        upper = np.array(self.levels) > 0.5
        q[:, :, upper] = np.maximum.accumulate(q[:, :, upper], axis=0)
        return q

    def _stats(self, z, w):
        order = np.argsort(z, kind="stable")
        z, cw = z[order], np.cumsum(w[order])
        need = [0.5 * cw[-1] if tau == 0.5 else tau * (cw[-1] + 1.0) for tau in self.levels]
        return z[np.minimum(np.searchsorted(cw, need), len(z) - 1)]


class Origin:
    """One quarterly origin: the forecast, the quarter after it and the band's calibration windows."""

    def __init__(self, y_all, start, k):
        self.k, self.n = k, len(y_all) - (k + 1) * H
        self.y, self.test = y_all[:self.n], y_all[self.n:self.n + H]
        self.start = pd.Timestamp(start)
        with single_blas_thread():
            self.f = A.forecast_array(self.y, H, FREQ, start=start)
            self._rebuild()

    def factories_at(self, lo):
        return _factories(FREQ, start=self.start + lo * STEP)

    def _rebuild(self):
        f = self.f
        self.chosen = f.model
        members = self.chosen[len(A.COMBO) + 1:-1].split(" + ") if self.chosen.startswith(A.COMBO + "[") else None
        self.combos = {self.chosen: members} if members else {}
        self.fits = A._Fits(self.y, self.factories_at(0), self.factories_at, {})
        o, self.actual, self.pred, _ = A._history_windows(self.y, H, default_backtest(FREQ, H)[1], self.fits,
                                                           self.chosen, self.combos, STEP, [])
        self.o = np.asarray(o)
        self.lvl = np.array([A._level(self.y, x, WEEK) for x in self.o])
        self.L = A._level(self.y, self.n, WEEK)
        pos0 = A._week_position(self.start, FREQ, SPD)
        how_of, self.n_how = A._how_buckets(self.pred, self.o, pos0, WEEK, SPD)
        self.how = how_of[(pos0 + self.o[:, None] + np.arange(H)[None, :]) % len(how_of)]
        self.how_f = how_of[(pos0 + self.n + np.arange(H)) % len(how_of)]
        self.edges = list(f.band_edges)
        self.season = A._season_peers(self.o, STEP, A.SEASON_DAYS)(self.n)
        if not np.array_equal(self.band(), f.quantiles):
            print(f"origin {self.k}: the rebuilt band differs from the forecast's (the engine changed?)", flush=True)

    def band(self, use=None, weights=None, lvl=None, L=None, point=None, how_f=None):
        use = self.season if use is None else use
        lvl = self.lvl if lvl is None else lvl
        args = (self.actual[use], self.pred[use], lvl[use], self.how[use], self.n_how)
        if weights is None:
            cq = LeadTimeConformal(A.LEVELS, self.edges, min_cell=400).fit(*args)
        else:
            cq = WeightedConformal(A.LEVELS, self.edges, min_cell=400).fit(*args, weights=weights[use])
        point = self.f.mean if point is None else point
        q = cq.predict(point, self.L if L is None else L, self.how_f if how_f is None else how_f)
        return np.maximum(q, 0.0)

    def when(self, o):
        return self.start + pd.to_timedelta(np.asarray(o), unit="h")


def coverage(test, q, edges):
    out = {(b, lev): float(np.mean(test[lo:hi] <= q[j + 1][lo:hi]))
           for b, lo, hi in zip(BUCKETS, edges[:-1], edges[1:]) for j, lev in enumerate((0.9, 0.95, 0.99))}
    out["peak"] = float(q[-1].max() / test.max()) if test.max() > 0 else np.nan
    return out


def line(rows):
    t = pd.DataFrame(rows)
    cols = [(b, lev) for b in BUCKETS for lev in (0.9, 0.95, 0.99)]
    m = t[cols].mean()
    worst = max(abs(m[c] - c[1]) for c in cols) * 100
    return (" | ".join("/".join(f"{m[(b, lev)]:.3f}" for lev in (0.9, 0.95, 0.99)) for b in BUCKETS)
            + f" | worst {worst:.1f} | peak {np.median(t['peak']):.2f}")


def bucket_errors(actual, pred, lo, hi):
    """Per row: level error (actual mean / forecast mean - 1) and the spread of the hours around the
    level error, both in units of the bucket's actual mean."""
    a, p = np.atleast_2d(actual)[:, lo:hi], np.atleast_2d(pred)[:, lo:hi]
    lvl = a.mean(axis=1)
    rel = (a - p) / lvl[:, None]
    return a.mean(axis=1) / p.mean(axis=1) - 1, (rel - rel.mean(axis=1, keepdims=True)).std(axis=1)


def level_shift_late(o: Origin, weeks=4) -> np.ndarray:
    """Per window, whether the chosen model (seasonal_trend) fitted at its origin put a level shift
    in the last ``weeks`` weeks of its history."""
    name = A._parse_key(o.chosen)[0]
    out = []
    for x in o.o:
        m = o.factories_at(0)[name]().fit_array(o.y[:x])
        out.append(any(kind == "step" and b >= m.n_days_ - 7 * weeks for kind, b in getattr(m, "breaks_", [])))
    return np.array(out)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--origins", type=int, default=8)
    ap.add_argument("--data", type=Path, default=Path(os.environ.get("PLANNER_DATA", "../shared/data")))
    args = ap.parse_args(argv)
    if not args.data.exists():
        sys.exit(f"no data folder at {args.data}: set PLANNER_DATA to ../shared/data")
    df = load_bikesharing(args.data)
    y_all, start = df["y"].to_numpy(float), df["ds"].iloc[0]
    origins = []
    for k in range(args.origins):
        origins.append(Origin(y_all, start, k))
        print(f"origin {k} ({origins[-1].when(origins[-1].n).date()}): {origins[-1].f.model}, "
              f"{int(origins[-1].season.sum())} of {len(origins[-1].o)} windows in season", flush=True)
    lo, hi = origins[0].edges[2], origins[0].edges[3]

    print("\n1. Weeks 7-13, in units of the bucket's actual mean: level error (windows: RMS over the season's "
          "windows) and the hours' spread around it")
    rows = []
    for o in origins:
        m_w, s_w = bucket_errors(o.actual[o.season], o.pred[o.season], lo, hi)
        m_t, s_t = bucket_errors(o.test, o.f.mean, lo, hi)
        rows.append(dict(origin=o.k, windows_level_rms=np.sqrt(np.mean(m_w ** 2)), windows_level_mean=m_w.mean(),
                         quarter_level=m_t[0], windows_spread=s_w.mean(), quarter_spread=s_t[0]))
    t = pd.DataFrame(rows)
    print(t.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    print(f"mean: windows' level RMS {t.windows_level_rms.mean():.3f}, the quarters' RMS "
          f"{np.sqrt((t.quarter_level ** 2).mean()):.3f}; spread {t.windows_spread.mean():.3f} against {t.quarter_spread.mean():.3f}")

    o0 = origins[0]
    name, variant, _ = A._parse_key(o0.chosen)
    m_w, _ = bucket_errors(o0.actual, o0.pred, lo, hi)
    t = pd.DataFrame(dict(year=o0.when(o0.o).year, abs_level=np.abs(m_w)))
    print(f"\n2. Origin 0's windows (every season, {o0.chosen} on the whole history before each): mean |level error| "
          "weeks 7-13 by year of origin")
    print(t.groupby("year").abs_level.agg(["mean", "median", "count"]).T.to_string(float_format=lambda v: f"{v:.3f}"))
    if not o0.combos:
        spans = {f"last{k:g}y": int(round(pd.Timedelta(days=k * A.YEAR + 7) / STEP)) for k in (1.5, 2, 3, 4)}
        fits = A._Fits(o0.y, o0.factories_at(0), o0.factories_at, spans)
        recent = o0.o[o0.o >= o0.n - 2 * YH]
        res = {"whole": []}
        with single_blas_thread():
            for x in recent:
                a = o0.y[x:x + H][lo:hi].mean()
                res["whole"].append(abs(a / fits.variants(name, None, x, H)[variant][lo:hi].mean() - 1))
                for lab in spans:
                    res.setdefault(lab, []).append(abs(a / fits.variants(name, lab, x, H)[variant][lo:hi].mean() - 1))
        print(f"   the same {len(recent)} origins of the last two years, fitted on: "
              + ", ".join(f"{lab} {np.mean(v):.3f}" for lab, v in res.items()))

    print(f"\n3. Coverage of the {args.origins} quarters (q90/q95/q99 per bucket), band rebuilt with other settings; "
          "the newest 3 after the bar")
    with single_blas_thread():
        late = [level_shift_late(o) if A._parse_key(o.chosen)[0] == "seasonal_trend" else np.zeros(len(o.o), bool)
                for o in origins]
    print(f"   windows whose model put a level shift in its last 4 weeks: {sum(int(v.sum()) for v in late)} of "
          f"{sum(len(v) for v in late)}")
    settings = {
        "default (rebuilt)": lambda o, i: {},
        "windows with >= 2 years of training": lambda o, i: dict(use=o.season & (o.o >= 2 * YH)),
        "windows with >= 3 years of training": lambda o, i: dict(use=o.season & (o.o >= 3 * YH)),
        "origins of the last 2 years": lambda o, i: dict(use=o.season & (o.o >= o.n - H - 2 * YH)),
        "recency weights, half-life 1 year": lambda o, i: dict(weights=0.5 ** ((o.n - o.o) / YH)),
        "recency weights, half-life 2 years": lambda o, i: dict(weights=0.5 ** ((o.n - o.o) / YH / 2)),
        "score level L over 13 weeks, not 4": lambda o, i: dict(
            lvl=np.array([np.abs(o.y[max(0, x - 13 * WEEK):x]).mean() for x in o.o]),
            L=np.abs(o.y[o.n - 13 * WEEK:o.n]).mean()),
        "no window with a level shift in its last 4 weeks": lambda o, i: dict(use=o.season & ~late[i]),
    }
    for label, kw in settings.items():
        rows = [coverage(o.test, o.band(**kw(o, i)), o.edges) for i, o in enumerate(origins)]
        print(f"   {label:48s} {line(rows)} || {line(rows[:3])}")

    print("\n4. Origin 0's windows from mid-2014 on as pseudo-truths (band from the windows before each); "
          "weeks 7-13 q90 by year")
    for label, extra in (("default", lambda x: np.ones(len(o0.o), bool)),
                         (">= 2 years of training", lambda x: o0.o >= 2 * YH)):
        rows = []
        for i in np.flatnonzero(o0.when(o0.o) >= pd.Timestamp("2014-07-01")):
            past = np.flatnonzero(o0.o <= o0.o[i] - H)
            use = np.zeros(len(o0.o), bool)
            use[past[A._season_peers(o0.o[past], STEP, A.SEASON_DAYS)(o0.o[i])]] = True
            use &= extra(o0.o[i])
            if use.sum() < 3:
                continue
            q = o0.band(use=use, L=o0.lvl[i], point=o0.pred[i], how_f=o0.how[i])
            r = coverage(o0.actual[i], q, o0.edges)
            r["year"] = o0.when(o0.o[i]).year
            rows.append(r)
        t = pd.DataFrame(rows)
        by_year = t.groupby("year")[[("w7-13", 0.9)]].mean().iloc[:, 0]
        print(f"   {label:24s} " + " ".join(f"{y}: {v:.3f}" for y, v in by_year.items())
              + f" | all {len(t)}: {line(rows)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
