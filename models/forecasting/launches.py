"""Anticipated-service models: launch ramp, success probability (statsmodels Logit on a launches
history), weekday and month effects of demand by category (Poisson GLM), and the quantiles of a
success/fizzle mixture.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

from models.forecasting._util import quiet

__all__ = ["launch_ramp", "LaunchSuccessModel", "weekday_month_effects", "mixture_quantiles"]

LAUNCH_FEATURES = ("marketing_push", "customer_log_volume", "n_functions", "primary_trigger")


def launch_ramp(ds, launch_ds, ramp_weeks: float) -> np.ndarray:
    """Share of the full demand reached at ``ds``: 0 before the launch, a linear ramp over
    ``ramp_weeks``, then 1 (a step when ``ramp_weeks`` is 0)."""
    age = (pd.DatetimeIndex(ds) - pd.Timestamp(launch_ds)) / pd.Timedelta("7D")
    age = np.asarray(age, float)
    if ramp_weeks <= 0:
        return (age >= 0).astype(float)
    return np.clip(age / ramp_weeks, 0.0, 1.0)


class LaunchSuccessModel:
    """P(a launch takes off | its attributes): a statsmodels Logit.

    Numeric features enter as they are (booleans as 0/1); text features (``primary_trigger``)
    as indicator columns against the most common level. Falls back to an L2-regularised fit when the
    plain MLE does not exist (perfect separation) or is singular.

    Args:
        features: columns of the launches table to use (missing ones are skipped at fit).
        target: the outcome column (bool).
    """

    def __init__(self, features: Sequence[str] = LAUNCH_FEATURES, target: str = "took_off"):
        self.features = tuple(features)
        self.target = target

    def _design(self, df: pd.DataFrame) -> pd.DataFrame:
        X = pd.DataFrame(index=df.index)
        for f in self.numeric_:
            X[f] = pd.to_numeric(df[f], errors="coerce").astype(float)
        for f, levels in self.levels_.items():
            for lev in levels[1:]:
                X[f"{f}[{lev}]"] = (df[f].astype(str) == lev).astype(float)
        X.insert(0, "const", 1.0)
        return X

    def fit(self, launches: pd.DataFrame) -> "LaunchSuccessModel":
        """Fit on a Launches table (docs/contracts.md); returns ``self``.

        Raises:
            ValueError: no outcome column, fewer than 10 launches, or only one outcome seen.
        """
        import statsmodels.api as sm

        if self.target not in launches.columns:
            raise ValueError(f"launches table has no {self.target!r} column")
        df = launches.dropna(subset=[self.target])
        y = df[self.target].astype(bool).astype(float)
        if len(df) < 10 or y.nunique() < 2:
            raise ValueError(f"need at least 10 launches with both outcomes to fit the success model, got {len(df)} "
                             f"({int(y.sum())} took off)")
        used = [f for f in self.features if f in df.columns]
        self.numeric_ = [f for f in used if pd.api.types.is_numeric_dtype(df[f]) or pd.api.types.is_bool_dtype(df[f])]
        self.levels_ = {f: list(df[f].astype(str).value_counts().index) for f in used if f not in self.numeric_}
        self.means_ = {f: float(pd.to_numeric(df[f], errors="coerce").astype(float).mean()) for f in self.numeric_}
        X = self._design(df)
        X = X.loc[:, (X.std() > 0) | (X.columns == "const")]  # a constant feature adds nothing
        self.columns_ = list(X.columns)
        with quiet():
            try:
                res = sm.Logit(y, X).fit(disp=0, maxiter=200)
                if not np.isfinite(res.params).all() or (np.abs(res.params) > 30).any():
                    raise np.linalg.LinAlgError("separation")
                self.regularised_ = False
            except (np.linalg.LinAlgError, ValueError):  # PerfectSeparation is a ValueError subclass
                res = sm.Logit(y, X).fit_regularized(alpha=1.0, disp=0)
                self.regularised_ = True
        self.result_ = res
        self.params_ = pd.Series(np.asarray(res.params), index=self.columns_)
        return self

    def predict_proba(self, df: pd.DataFrame) -> np.ndarray:
        """Probability of success of each row of ``df``.

        A feature missing from ``df`` (or NaN) takes the launches history's mean (numeric) or its
        most common level (text), i.e. "a typical launch" on that attribute.
        """
        if not hasattr(self, "params_"):
            raise ValueError("LaunchSuccessModel: call fit before predict_proba")
        df = df.copy()
        for f in self.numeric_:  # a feature the caller does not know takes the history's mean
            df[f] = df[f].fillna(self.means_[f]) if f in df.columns else self.means_[f]
        for f, levels in self.levels_.items():  # ... or its most common level
            df[f] = df[f].fillna(levels[0]) if f in df.columns else levels[0]
        X = self._design(df).reindex(columns=self.columns_, fill_value=0.0)
        z = X.to_numpy(float) @ self.params_.to_numpy()
        return 1.0 / (1.0 + np.exp(-z))


def weekday_month_effects(daily: pd.DataFrame, *, category: str = "category", ds: str = "ds", y: str = "y",
                          trend: bool = False) -> pd.DataFrame:
    """Multiplicative weekday and month effects of demand per category (Poisson GLM, log link).

    log E[y] = α_category (+ δ_category·t) + β_category,weekday + γ_category,month, fitted per
    category on daily totals; with ``trend`` the growth term δ·t (t in years) keeps a growing
    category's later months from looking like its busy season. Returns one row per category and
    effect (``effect`` = ``weekday`` 0–6 / ``month`` 1–12, ``level``, ``factor`` relative to the
    category's geometric mean over the levels seen; NaN for a month never seen).
    """
    import statsmodels.api as sm

    rows = []
    for cat, g in daily.groupby(category, sort=True):
        t = pd.DatetimeIndex(g[ds])
        wd = pd.get_dummies(pd.Categorical(t.day_of_week, categories=range(7)), prefix="wd", drop_first=True, dtype=float)
        mo = pd.get_dummies(pd.Categorical(t.month, categories=range(1, 13)), prefix="mo", drop_first=True, dtype=float)
        X = pd.concat([wd, mo], axis=1)
        X = X.loc[:, X.std() > 0]
        if trend:
            X["trend"] = np.asarray((t - t.min()) / pd.Timedelta("365.25D"), float)
        X.insert(0, "const", 1.0)
        with quiet():
            res = sm.GLM(g[y].to_numpy(float), X, family=sm.families.Poisson()).fit()
        p = pd.Series(np.asarray(res.params), index=X.columns)
        for name, levels, prefix in (("weekday", range(7), "wd"), ("month", range(1, 13), "mo")):
            b = np.array([p.get(f"{prefix}_{lev}", 0.0) for lev in levels])
            seen = {0} if name == "weekday" else {1}
            seen |= {lev for lev in levels if f"{prefix}_{lev}" in p.index}
            mask = np.array([lev in seen for lev in levels])
            b = b - b[mask].mean()
            for lev, val, ok in zip(levels, b, mask):
                rows.append({category: cat, "effect": name, "level": lev, "factor": float(np.exp(val)) if ok else np.nan})
    return pd.DataFrame(rows)


def _knots(q: np.ndarray, levels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Piecewise-linear CDF knots through the quantiles, with tails added at 0 and 1."""
    lo = np.maximum(0.0, q[:, 0] - (q[:, 1] - q[:, 0]))  # mirror of the upper spread below the median
    hi = q[:, -1] + 2 * (q[:, -1] - q[:, -2])
    values = np.column_stack([lo, q, hi])
    probs = np.concatenate([[0.0], levels, [1.0]])
    return values, probs


def mixture_quantiles(quantiles: np.ndarray, levels: Sequence[float], p_success: float, fizzle: float) -> np.ndarray:
    """Quantiles of the mixture "success with probability p, else the fizzle fraction of it".

    Args:
        quantiles: rows × levels quantiles of demand if the launch succeeds (ascending levels).
        levels: their levels, e.g. (0.5, 0.9, 0.95, 0.99).
        p_success: probability of success.
        fizzle: demand of a failed launch as a fraction of the successful one (0 = nothing).

    Returns:
        rows × levels quantiles solving p·F_s(x) + (1 − p)·F_s(x / fizzle) = τ, with F_s the
        piecewise-linear CDF through the given quantiles.
    """
    levels = np.asarray(levels, float)
    q = np.asarray(quantiles, float)
    vs, ps = _knots(q, levels)
    out = np.empty_like(q)
    for i in range(len(q)):
        x = np.unique(np.concatenate([vs[i], vs[i] * fizzle, [0.0]]))
        cdf_s = np.interp(x, vs[i], ps, left=0.0, right=1.0)
        cdf_f = np.interp(x, vs[i] * fizzle, ps, left=0.0, right=1.0) if fizzle > 0 else (x >= 0).astype(float)
        cdf = np.maximum.accumulate(p_success * cdf_s + (1 - p_success) * cdf_f)
        out[i] = np.interp(levels, cdf, x)
        # np.interp needs strictly increasing cdf for an exact inverse; flat stretches are fine here.
    return out


# -- launch ramp of a young series, learnt from the fleet's past launches ------------------------------
MIN_PAST_LAUNCHES = 3  # past launches a ramp needs (fewer: no ramp candidate, a note)


def _window_mean(y: np.ndarray, t: np.ndarray, width: int) -> np.ndarray:
    """Mean of ``y`` over the window of ``width`` slots centred on each ``t`` (cut at the ends)."""
    c = np.concatenate([[0.0], np.cumsum(y)])
    lo = np.clip(t - width // 2, 0, len(y))
    hi = np.clip(t - width // 2 + width, 0, len(y))
    return np.where(hi > lo, (c[hi] - c[lo]) / np.maximum(hi - lo, 1), np.nan)


def hour_of_week_profile(y: np.ndarray, pos0: int, week: int, day: int) -> np.ndarray | None:
    """Hour-of-week shape of ``y`` (mean 1, indexed from Monday 00:00; ``pos0``: position of y[0]):
    each slot over its centred daily mean (so a ramp inside the week is not read as a weekday
    effect), averaged per position. None when ``y`` holds less than a week or no demand."""
    y = np.asarray(y, float)
    if len(y) < week or week < 2 or not y.any():
        return None
    level = _window_mean(y, np.arange(len(y)), max(day, 1))
    ratio = np.divide(y, level, out=np.ones_like(y), where=level > 0)
    pos = (pos0 + np.arange(len(y))) % week
    prof = np.bincount(pos, weights=ratio, minlength=week) / np.maximum(np.bincount(pos, minlength=week), 1)
    return prof / prof.mean() if prof.mean() > 0 else None


def _season_factor(effect, start, step, n: int, h: int, ref: int) -> np.ndarray:
    """exp(yearly effect) of steps n..n+h-1 relative to its mean over the reference steps n-ref..n-1
    (``effect``: 366 log effects by day of the year − 1; ones without one or a start)."""
    if effect is None or start is None:
        return np.ones(h)
    doy = pd.date_range(pd.Timestamp(start), periods=n + h, freq=step).dayofyear.to_numpy() - 1
    e = np.asarray(effect, float)[np.clip(doy, 0, 365)]
    return np.exp(e[n:] - e[n - ref:n].mean())


def _reference(y: np.ndarray, n: int, prof_at: np.ndarray, week: int) -> float:
    """Level of ``y`` over its last week (or all of it when younger) with the hour-of-week shape
    taken out: a group seen at its busy hours only is not read as a busier one."""
    ref = min(n, week)
    w = prof_at[n - ref:n]
    return float(y[n - ref:n].sum() / w.sum()) if w.sum() > 0 else float(y[n - ref:n].mean())


def ramp_ratios(past: Sequence[np.ndarray], n: int, h: int, week: int, positions: Sequence[int],
                profile: np.ndarray | None, day: int, seasons: Sequence[np.ndarray] | None = None) -> np.ndarray:
    """Each past launch's level at ages n..n+h-1 (its centred weekly mean) over its level at age n
    (:func:`_reference`, its own hour-of-week shape when it was a week old by then, else
    ``profile``), divided by its yearly season over the same steps where ``seasons`` gives one.
    Returns launches × h. ``past``: demand from each launch on, each at least ``n + h`` long;
    ``positions``: each one's position of its launch slot in the week."""
    out = np.empty((len(past), h))
    t = np.arange(n, n + h)
    for i, (d, p0) in enumerate(zip(past, positions)):
        d = np.asarray(d, float)
        prof = hour_of_week_profile(d[:n], p0, week, day) if n >= week else profile
        at = prof[(p0 + np.arange(n)) % week] if prof is not None else np.ones(n)
        ref = _reference(d, n, at, week)
        r = _window_mean(d, t, week) / ref if ref > 0 else np.full(h, np.nan)
        out[i] = r / (seasons[i] if seasons is not None else 1.0)
    return out


def ramp_point(y: np.ndarray, ratio: np.ndarray, pos0: int, week: int, profile: np.ndarray | None, day: int,
               season: np.ndarray | None = None) -> tuple[np.ndarray, str]:
    """Point forecast of the next ``len(ratio)`` steps of a young series ``y`` (from its launch):
    its level (:func:`_reference`) × the ramp ``ratio`` × its hour-of-week shape (its own from a
    week of history, else ``profile``; flat without) × its yearly ``season`` factor. Returns the
    point and which shape was used."""
    n, h = len(y), len(ratio)
    own = hour_of_week_profile(y, pos0, week, day) if n >= week else None
    prof, which = (own, "own") if own is not None else (profile, "borrowed") if profile is not None else (None, "flat")
    at = prof[(pos0 + np.arange(n + h)) % week] if prof is not None else np.ones(n + h)
    ref = _reference(np.asarray(y, float), n, at[:n], week)
    point = ref * ratio * at[n:] * (season if season is not None else 1.0)
    return np.maximum(point, 0.0), which


def hourly_ratios(y: np.ndarray, pos0: int, week: int, profile: np.ndarray | None, day: int) -> np.ndarray:
    """Each slot of ``y`` over its centred daily mean times its hour-of-week shape (``profile``,
    relative to the shape's mean over the same day): the hour-by-hour spread of a series around
    its level, ramp and shape taken out (the last week at most; ones when nothing is left)."""
    y = np.asarray(y, float)
    pos0 += max(len(y) - week, 0)  # the position of the first slot kept
    y = y[-week:]
    t = np.arange(len(y))
    level = _window_mean(y, t, max(day, 1))
    if profile is not None:
        at = profile[(pos0 + t) % week]
        shape = at / np.maximum(_window_mean(at, t, max(day, 1)), 1e-12)
    else:
        shape = np.ones(len(y))
    den = level * shape
    ok = den > 0
    return y[ok] / den[ok] if ok.any() else np.ones(1)
