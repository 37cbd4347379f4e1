"""Automatic forecast of one series at the plan's horizon: choose a model by a rolling-origin
backtest whose windows are as long as the horizon, refit it on the whole history, and calibrate its
quantiles per lead-time bucket (and hour-of-week bucket) on the backtest errors.

The calibration is checked the same way it is used: each backtest window in turn is held out,
the quantiles are calibrated on the others, and the held-out window's coverage per lead-time
bucket, pinball loss and q99 peak / actual peak are recorded (``SeriesForecast.calibration``).
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import pandas as pd

from models.forecasting._util import single_blas_thread
from models.forecasting.backtest import naive_scale, pinball, smape, window_origins
from models.forecasting.base import ModelUnavailableError, freq_offset
from models.forecasting.conformal import (LeadTimeConformal, band_ratios, bucket_names, bucket_reach,
                                          effective_windows, lead_buckets, shrink_band)
from models.forecasting.registry import _factories, default_backtest, default_models, steps_per_day, weekly_season

__all__ = ["SeriesForecast", "forecast_array", "fit_windows", "launch_offset", "pool_bands", "FALLBACKS", "LEVELS",
           "LAUNCH_RAMP"]

LEVELS = (0.5, 0.9, 0.95, 0.99)
LEVEL_WEEKS = 4  # weeks before an origin whose mean |y| is the scale of the additive score
YEAR = 365.25  # days

# Reasons the normal path (every candidate backtested over the full horizon, the winner refitted)
# was left; the report and the run summary count series per reason.
SHORT_HISTORY = "history too short for a full-horizon backtest"
BACKTEST_FAILED = "every candidate failed in backtest"
FINAL_FIT_FAILED = "chosen model failed on the full history"
FALLBACKS = (SHORT_HISTORY, BACKTEST_FAILED, FINAL_FIT_FAILED)
LAUNCH_RAMP = "launch_ramp"  # model name of the ramp learnt from past launches (a young group's special path)


@dataclass
class SeriesForecast:
    """Forecast of one series: point (``mean``), quantiles (levels × steps) and how it was made."""

    mean: np.ndarray
    quantiles: np.ndarray
    levels: tuple[float, ...]
    model: str
    mase: float
    smape: float
    scores: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    n_windows: int = 0
    quantile_scale: str = ""  # the conformal score's scale: relative or additive
    fallback: str | None = None  # why the normal model choice was not possible (one of FALLBACKS)
    detail: str = ""  # the chosen model's own account (yearly order, level shifts, growth)
    h_backtest: int = 0  # length of the backtest windows (the horizon unless the history is short)
    calibration: list[dict] = field(default_factory=list)  # held-out coverage per lead bucket and level
    pinball: dict[float, float] = field(default_factory=dict)  # held-out pinball loss / level, per level
    peak_ratio: float = float("nan")  # held-out median of max q99 / max actual over windows
    band_level: float = float("nan")  # the level L (mean |y| of the last four weeks) the band is scaled by
    band_edges: tuple[int, ...] = ()  # lead-time bucket edges (steps) of the plan's horizon
    band_windows: np.ndarray | None = None  # per lead bucket, independent quarters of errors behind the band
    band_shrink: float = float("nan")  # weight of the comparable series' band (pool_bands), NaN: not pooled
    fit_window: str = ""  # where fit windows were offered: "whole" or the chosen window's label ("last2y")


@dataclass
class _Backtest:
    origins: list[int]
    actual: np.ndarray  # windows × steps
    preds: dict[str, np.ndarray]  # candidate key -> windows × steps
    scores: dict[str, float]  # candidate key -> mean MASE over windows
    notes: list[str]
    scale: np.ndarray | None = None  # per window, the in-sample seasonal-naive error scaling its MASE


def forecast_array(y: np.ndarray, h: int, freq: str, models: Sequence[str] | None = None, **kwargs) -> "SeriesForecast":
    """Forecast ``h`` steps of ``y`` (see :func:`_forecast_array` for the arguments), with BLAS on one thread."""
    with single_blas_thread():
        return _forecast_array(y, h, freq, models, **kwargs)


def _key(name: str, variant: str | None, window: str | None = None) -> str:
    variant = ",".join(x for x in (variant, window) if x) or None
    return f"{name}({variant})" if variant else name


# Fit windows of a long history (issue 13): a model whose fit reads the whole history (trend,
# yearly cycle, level shifts) is also backtested fitted on its last few years only, as variants
# ``<model>(<variant>,last<k>y)``; a recent regime then wins where it forecasts better.
FIT_WINDOW_YEARS = (2.0, 4.0)
WINDOW_SPARE_YEARS = 1.0  # a window is offered when the history is longer by at least this much
LOCAL_MODELS = ("naive", "seasonal_naive", "seasonal_naive_day", "window_average")  # read the last weeks only
SEASON_DAYS = 45.0  # a long history's band: windows whose origin is within this many days of the forecast's in the year
LONG_HISTORY_YEARS = 3.0  # a history this long has its band calibrated over all of it (calibrate_history)
CAL_STEP = 0.25  # horizons between the origins of a long history's calibration windows (the backtest's step)
# Training before the oldest calibration window. Two years: seasonal_trend caps its yearly term at three
# harmonics and reads its year-ago profile from one year below that, and such fits erred unlike the final
# one (bike sharing, weeks 7-13: level error 0.15 fitted on two years against 0.09 on all, docs/forecast.md).
CAL_MIN_YEARS = 2.0
MIN_SEASON_WINDOWS = 8
# Matched band levels (_held_out): the conformal levels read between, and the held-out windows needed.
LEVEL_GRID = (0.5, 0.6, 0.7, 0.75, 0.8, 0.825, 0.85, 0.875, 0.9, 0.925, 0.95, 0.96, 0.97, 0.98, 0.99, 0.995, 0.999)
MATCH_MIN_WINDOWS = 4  # season-matched calibration needs this many windows, else all are used
_WINDOW = re.compile(r"last(\d+(?:\.\d+)?)y")


def _parse_key(key: str) -> tuple[str, str | None, str | None]:
    """(model name, variant, fit window label) of a single candidate's key."""
    name, _, rest = key.partition("(")
    parts = [p for p in rest.rstrip(")").split(",") if p]
    window = next((p for p in parts if _WINDOW.fullmatch(p)), None)
    return name, ",".join(p for p in parts if p != window) or None, window


def fit_windows(n: int, step, years: Sequence[float] = FIT_WINDOW_YEARS,
                spare_years: float = WINDOW_SPARE_YEARS) -> dict[str, int]:
    """Fit windows offered to a history of ``n`` steps of ``step``: {label: steps} for each
    ``years`` whose window is shorter than the history by at least ``spare_years``."""
    span = n * pd.Timedelta(step) / pd.Timedelta(days=YEAR)
    # A week more than k years: whole years of days, so the model's yearly term is not capped as for a shorter history.
    return {f"last{y:g}y": int(round(pd.Timedelta(days=y * YEAR + 7) / pd.Timedelta(step)))
            for y in sorted(years, reverse=True) if span >= y + spare_years}


class _Fits:
    """Point forecasts (every variant) of a model fitted on ``y[lo:o]`` (its fit window before
    origin ``o``), each fit made once: the backtest and the band's calibration windows share them.
    ``factories_at(lo)``: the model factories of the series starting at slot ``lo``."""

    def __init__(self, y, factories, factories_at=None, windows=None):
        self.y, self.windows = y, dict(windows or {})
        self._factories = {0: factories}
        self._factories_at = factories_at
        self._cache: dict = {}

    def lo(self, window: str | None, o: int) -> int:
        return max(0, o - self.windows[window]) if window else 0

    def factories(self, lo: int):
        if lo not in self._factories:
            self._factories[lo] = self._factories_at(lo)
        return self._factories[lo]

    def variants(self, name: str, window: str | None, o: int, h: int) -> dict:
        lo = self.lo(window, o)
        k = (name, lo, o, h)
        if k not in self._cache:
            try:
                self._cache[k] = _fit_predict(self.factories(lo)[name], self.y[lo:o], h)
            except (ModelUnavailableError, ValueError, np.linalg.LinAlgError) as exc:
                self._cache[k] = exc
        out = self._cache[k]
        if isinstance(out, Exception):
            raise out
        return out

    def point(self, key: str, o: int, h: int, combos: dict | None = None) -> np.ndarray:
        """Forecast of candidate ``key`` (a combination: its members' mean) from origin ``o``."""
        parts = []
        for m in (combos or {}).get(key, [key]):
            name, variant, window = _parse_key(m)
            parts.append(self.variants(name, window, o, h)[variant])
        return np.mean(parts, axis=0)


def launch_offset(y: np.ndarray, per_day: int) -> int:
    """Leading zero slots of a group launched inside the history, which :func:`forecast_array`
    drops (they are not part of its seasonal pattern): all of them when they span at least a day
    (``per_day`` slots) and leave two values; 0 otherwise (an all-zero series too)."""
    first = int(np.flatnonzero(y)[0]) if y.any() else 0
    return first if first >= max(1, per_day) and len(y) - first >= 2 else 0


def _fit_predict(factory, y, h) -> dict[str | None, np.ndarray]:
    m = factory().fit_array(y)
    if hasattr(m, "predict_variants"):
        return dict(m.predict_variants(h))
    return {None: m.predict_array(h)}


MIN_TRAIN = 0.5  # shortest training of a backtest window, in horizons (shorter ones err unlike the final fit)


def _windows(n: int, h: int, min_len: int, n_windows: int, step: int, min_train: float | None = None) -> tuple[int, list[int]]:
    """(backtest length, origins). Windows are as long as the horizon when the history leaves the
    preferred model enough training before one (``min_len``); otherwise as long as half the
    history. Origins keep ``min_train`` horizons of training where the history allows (shorter
    training errs unlike the final fit and widens the quantiles), at least ``min_len``."""
    min_train = MIN_TRAIN if min_train is None else min_train
    h_bt = h if n - h >= min_len else min(h, n // 2, n - min_len)
    if h_bt < 1:
        return h_bt, []
    floor = max(min_len, min(int(h_bt * min_train), n - h_bt), 2)
    return h_bt, window_origins(n, h_bt, n_windows, step, floor)


def _backtest(y, factories, names, h, origins, season, fits: "_Fits | None" = None,
              windowed: Sequence[str] = ()) -> _Backtest:
    """Every candidate (and each of its trend variants) refitted at every origin; a candidate that
    fails at one origin is dropped with a note. The models in ``windowed`` are also fitted on each
    of ``fits``' windows before the origin (variants ``,last<k>y``, after the whole history's)."""
    fits = fits or _Fits(y, factories)
    actual = np.stack([y[o:o + h] for o in origins])
    preds: dict[str, np.ndarray] = {}
    notes: list[str] = []
    for name in names:
        for window in [None] + (list(fits.windows) if name in windowed else []):
            rows: dict[str | None, list] = {}
            try:
                for o in origins:
                    for v, p in fits.variants(name, window, o, h).items():
                        rows.setdefault(v, []).append(p)
            except (ModelUnavailableError, ValueError, np.linalg.LinAlgError) as exc:
                notes.append(f"{_key(name, None, window)}: failed in backtest ({exc})")
                continue
            for v, ps in rows.items():
                if len(ps) == len(origins):  # a variant needing more history (year-ago profile) may miss early windows
                    preds[_key(name, v, window)] = np.stack(ps)
    scale = np.array([naive_scale(y[:o], season) for o in origins])
    scores = {k: float(np.mean(np.abs(actual - p).mean(axis=1) / scale)) for k, p in preds.items()}
    return _Backtest(list(origins), actual, preds, scores, notes, scale)


def _prefer(scores: dict[str, float], order: list[str], margin: float) -> str:
    best = min(scores, key=lambda k: (scores[k], order.index(k)))
    preferred = next(k for k in order if k in scores)
    return preferred if scores[preferred] <= (1 + margin) * scores[best] else best


COMBO = "combo"  # family name of the forecast combinations
COMBO_SIZES = (2, 3)  # combinations of the best 2 and 3 single models are candidates


def _family(key: str) -> str:
    return COMBO if key.startswith(COMBO + "[") else key.partition("(")[0]


def _finalists(scores: dict[str, float], order: list[str], variant_margin: float) -> dict[str, str]:
    """The best variant of each model family (in ``order`` of the families)."""
    families: dict[str, list[str]] = {}
    for k in order:
        families.setdefault(_family(k), []).append(k)
    return {f: _prefer({k: scores[k] for k in ks}, ks, variant_margin) for f, ks in families.items()}


def _choose(scores: dict[str, float], order: list[str], margin: float, variant_margin: float = 0.02,
            combo_margin: float | None = None) -> str:
    """Lowest MASE, with a preference: the first candidate in ``order`` is kept unless another
    beats it by more than ``margin`` (a few windows are noisy and switching on noise costs
    accuracy out of sample). Variants of one model (trend extrapolation, profile) share a fit and
    differ in one choice each, so among them a smaller ``variant_margin`` applies. A combination
    (mean of the best single models, see :func:`_combinations`) replaces the single model chosen
    that way when it beats it by more than ``combo_margin`` (default ``variant_margin``): it
    holds that model, so switching to it risks less than switching to another one."""
    singles = [k for k in order if _family(k) != COMBO]
    fin = _finalists(scores, singles, variant_margin)
    best = _prefer({k: scores[k] for k in fin.values()}, list(fin.values()), margin)
    combos = [k for k in order if _family(k) == COMBO]
    if not combos:
        return best
    cm = variant_margin if combo_margin is None else combo_margin
    top = min(combos, key=lambda k: (scores[k], order.index(k)))
    return top if scores[top] * (1 + cm) < scores[best] else best


def _combo_key(members: Sequence[str]) -> str:
    return f"{COMBO}[{' + '.join(members)}]"


def _combinations(bt: "_Backtest", order: list[str], sizes: Sequence[int],
                  variant_margin: float = 0.02) -> dict[str, list[str]]:
    """Forecast combinations: the mean of the best ``k`` single models (one variant per family,
    ranked by backtest MASE) for each k in ``sizes``; each is added to the backtest as a
    candidate of its own (its windows the mean of its members' windows, scored the same way),
    so its choice and its conformal quantiles come from its own backtest errors. Returns
    {key: member keys}."""
    fin = list(_finalists(bt.scores, order, variant_margin).values())
    fin.sort(key=lambda k: (bt.scores[k], order.index(k)))
    out: dict[str, list[str]] = {}
    for k in sizes:
        if len(fin) < k or k < 2:
            continue
        members = sorted(fin[:k], key=order.index)  # named in preference order: one name per set
        key = _combo_key(members)
        pred = np.mean([bt.preds[m] for m in members], axis=0)
        bt.preds[key] = pred
        bt.scores[key] = float(np.mean(np.abs(bt.actual - pred).mean(axis=1) / bt.scale))
        out[key] = members
    return out


def _final_point(factories, fitted: dict, y: np.ndarray, h: int, key: str, fits: "_Fits | None" = None
                 ) -> tuple[np.ndarray, str]:
    """Point forecast of candidate ``key`` (a model, or one of its variants) fitted on the whole
    history (or on its fit window, ``fits.windows``), and the model's own account; a model is
    fitted once per window however many keys use it."""
    name, variant, window = _parse_key(key)
    lo = fits.lo(window, len(y)) if fits is not None and window else 0
    if (name, lo) not in fitted:
        try:
            f = factories if lo == 0 else fits.factories(lo)
            fitted[name, lo] = f[name]().fit_array(y[lo:])
        except (ModelUnavailableError, ValueError, np.linalg.LinAlgError) as exc:
            fitted[name, lo] = exc
    m = fitted[name, lo]
    if isinstance(m, Exception):
        raise m
    point = m.predict_variants(h)[variant] if variant else m.predict_array(h)
    return point, (m.describe() if hasattr(m, "describe") else "")


def _level(y: np.ndarray, o: int, week: int) -> float:
    lo = max(0, o - LEVEL_WEEKS * week)
    return float(np.mean(np.abs(y[lo:o]))) if o > lo else float(np.mean(np.abs(y)))


HOW_BINS = 4


def _how_buckets(pred: np.ndarray, origins, pos0: int, week: int, spd: int | None) -> tuple[np.ndarray, int]:
    """Hour-of-week buckets: the slots of the week grouped into quartiles of their mean forecast
    over the backtest (peak hours, shoulders, quiet hours), because the spread of errors follows
    the level more closely than the clock; daily data: weekdays and weekends. Returns the bucket
    of each position in the week and the number of buckets."""
    if not spd or week < 2:
        return np.zeros(max(week, 1), int), 1
    if spd < 4:
        return (np.arange(week) // spd % 7 >= 5).astype(int), 2
    pos = (pos0 + np.asarray(origins)[:, None] + np.arange(pred.shape[1])[None, :]) % week
    total = np.bincount(pos.ravel(), weights=pred.ravel(), minlength=week)
    count = np.bincount(pos.ravel(), minlength=week)
    level = np.divide(total, count, out=np.zeros(week), where=count > 0)
    ranks = np.argsort(np.argsort(level, kind="stable"), kind="stable")
    return (ranks * HOW_BINS // week).astype(int), HOW_BINS


def _week_position(start, freq: str, spd: int | None) -> int:
    """Position of slot 0 in its week (slots since Monday 00:00); 0 when the start is unknown."""
    if start is None or not spd:
        return 0
    start = pd.Timestamp(start)
    step = freq_offset(freq)
    into_day = int(round((start - start.normalize()) / step)) if spd > 1 else 0
    return start.day_of_week * spd + into_day


def _forecast_array(
    y: np.ndarray,
    h: int,
    freq: str,
    models: Sequence[str] | None = None,
    *,
    start=None,
    holidays=None,
    yearly_offset=None,
    n_windows: int | None = None,
    step: int | None = None,
    levels: Sequence[float] = LEVELS,
    nonnegative: bool = True,
    margin: float = 0.1,
    min_cell: int = 400,
    combo_sizes: Sequence[int] = COMBO_SIZES,
    combo_margin: float | None = None,
    launches: Sequence[tuple[np.ndarray, object]] | None = None,
    launch_profile: np.ndarray | None = None,
    window_years: Sequence[float] | None = (),
    calibrate_history: bool = True,
    season_days: float | None = SEASON_DAYS,
    match_levels: bool = False,
) -> SeriesForecast:
    """Forecast ``h`` steps of the regular, NaN-free series ``y`` observed at ``freq``.

    Args:
        start: timestamp of ``y[0]`` (aligns days, weeks, years and holidays with the calendar).
        holidays: dates with a holiday effect (models that use them: ``seasonal_trend``).
        yearly_offset: a yearly season to borrow (366 log effects by day of the year − 1, e.g. of
            the series' category) when the history is too short for its own yearly term; the
            seasonal-trend model then offers ``",borrowed"`` variants to the backtest (a mapping
            {name: season} offers each, ``",borrowed-<name>"``).
        n_windows, step: backtest origins (default: up to 12, a quarter of the horizon apart).
        margin: how much better (MASE) a candidate must be to replace the preferred one.
        min_cell: backtest errors needed for an hour-of-week calibration cell of its own.
        combo_sizes: the combinations tried, as numbers of best single models averaged (``()``: none).
        combo_margin: how much better (MASE) a combination must be than the single model chosen.
        launches: for a series launched inside the history, the fleet's past launches as
            (demand from the launch on, timestamp of that first slot); ``()``: none. When the
            history is too short for full-horizon windows, a ramp learnt from them is offered
            (:func:`_launch_ramp`: both it and the short path's choice are scored on the past
            launches at this series' age, the better taken). None: no ramp (not a launch).
        launch_profile: hour-of-week shape (mean 1, from Monday 00:00) for a launch younger
            than a week (its category's or the fleet's).
        window_years: fit windows (years) offered to a long history (:func:`fit_windows`; ``()``:
            none): each model that reads more than the last weeks is also backtested fitted on
            its last k years (variants ``,last<k>y``), and the chosen one is refitted on that window.
        calibrate_history: for a history of ``LONG_HISTORY_YEARS`` or more, the band is calibrated
            on the chosen candidate's errors from origins over the whole history (``CAL_STEP``
            horizons apart, each with ``CAL_MIN_YEARS`` of training), not only the backtest's.
        season_days: with ``calibrate_history``, only the windows whose origin lies within this
            many days of the forecast's origin in the year (None: all).
        match_levels: per lead bucket, read each quantile at the conformal level whose held-out
            coverage over the backtest windows is the nominal one (:func:`_held_out`; opt-in: on
            held-out quarters it helped some series and hurt others, docs/forecast.md).

    Fallbacks (each recorded in ``notes``; the reason in ``fallback``): leading zeros of at least
    a day (a group launched inside the history) are dropped (not a fallback); a constant series
    is repeated with zero-width quantiles (not a fallback); a candidate that cannot fit is
    skipped; a history too short for windows as long as the horizon is backtested on windows half
    as long as the history, later lead times widened from the last calibrated one; with no
    window at all the naive models are backtested on a third of the history. A launch on either
    short path (``launches`` given) may take the ramp of the fleet's past launches instead (model
    ``launch_ramp``, the same fallback reason, a note either way).
    """
    y = np.asarray(y, float)
    levels = tuple(levels)
    if h <= 0:
        raise ValueError(f"horizon must be positive, got {h}")
    if len(y) < 2:
        raise ModelUnavailableError(f"need at least 2 observations to forecast, got {len(y)}")
    if np.ptp(y) == 0:
        # Not a fallback: a constant forecast has no error on any window of a constant history.
        flat = np.full(h, y[-1])
        return SeriesForecast(flat, np.tile(flat, (len(levels), 1)), levels, "constant", 0.0, 0.0,
                              notes=["constant series: last value repeated, zero-width quantiles"])
    step_td = freq_offset(freq)
    spd = steps_per_day(freq)
    week = weekly_season(freq)
    notes: list[str] = []
    # A group launched inside the history has zeros before its launch; they are not part of its
    # seasonal pattern, so the series starts at the first non-zero slot (if a day or more is cut).
    first = launch_offset(y, week // 7)
    if first:
        y = y[first:]
        start = None if start is None else pd.Timestamp(start) + first * step_td
        notes.append(f"{first} leading zero slots (before launch) dropped")
    n = len(y)
    factories = _factories(freq, start=start, holidays=holidays, yearly_offset=yearly_offset)

    def factories_at(lo: int):  # the factories of y[lo:], whose first slot is lo steps later
        at = None if start is None else pd.Timestamp(start) + lo * step_td
        return _factories(freq, start=at, holidays=holidays, yearly_offset=yearly_offset)

    windows = fit_windows(n, step_td, window_years) if window_years else {}
    long_history = n * step_td >= pd.Timedelta(days=LONG_HISTORY_YEARS * YEAR)
    fits = _Fits(y, factories, factories_at, windows)
    names = [m for m in (models or default_models(freq, h)) if models or m in factories]
    mins = {name: factories[name]().min_length() for name in names}
    d_windows, d_step = default_backtest(freq, h)
    n_windows, step = n_windows or d_windows, step or d_step

    fallback = None
    h_bt, origins = _windows(n, h, mins[names[0]], n_windows, step)
    if h_bt < h:
        fallback = SHORT_HISTORY
        notes.append(f"history of {n} steps too short for {h}-step backtest windows: windows of {max(h_bt, 0)} steps")
    eligible = [m for m in names if origins and mins[m] <= origins[0]]
    for m in names:
        if m not in eligible:
            notes.append(f"{m}: history too short ({n} steps) for a {max(h_bt, 0)}-step backtest")
    origins = [o for o in origins if eligible and o >= max(mins[m] for m in eligible)]
    windowed = [m for m in eligible if m not in LOCAL_MODELS] if h_bt == h else []
    bt = _backtest(y, factories, eligible, h_bt, origins, week, fits, windowed) if origins else None
    if bt is not None:
        notes.extend(bt.notes)
    if bt is None or not bt.preds:
        # No window for any candidate: the simplest models on a third of the history.
        fallback = SHORT_HISTORY if (bt is None or not eligible) else BACKTEST_FAILED
        h_bt = max(1, n // 3)
        simple = [m for m in ("seasonal_naive", "naive") if factories[m]().min_length() <= n - h_bt]
        origins = [o for o in (n - h_bt - k * max(1, h_bt // 2) for k in range(max(n_windows, 3))) if o >= 1]
        origins = [o for o in origins if o >= max(factories[m]().min_length() for m in simple)] if simple else []
        if not simple or not origins:
            raise ModelUnavailableError(f"cannot backtest any model on {n} observations")
        bt = _backtest(y, factories, simple, h_bt, origins, week)
        notes.append(f"history of {n} steps too short for a {h}-step backtest: {', '.join(simple)} backtested over {h_bt} steps")
        if not bt.preds:
            raise ModelUnavailableError(f"cannot backtest any model on {n} observations")
    order = list(bt.preds)  # candidates in preference order, each with its variants in order
    combos = _combinations(bt, order, combo_sizes) if fallback is None else {}
    order = list(bt.preds)
    chosen = _choose(bt.scores, order, margin, combo_margin=combo_margin)
    ranked = [chosen] + sorted((k for k in bt.scores if k != chosen), key=bt.scores.get)
    point, detail = None, ""
    fitted: dict[str, object] = {}  # one final fit per model, shared by its variants and combinations
    for key in ranked:
        try:
            parts = [_final_point(factories, fitted, y, h, m, fits) for m in combos.get(key, [key])]
        except (ModelUnavailableError, ValueError, np.linalg.LinAlgError) as exc:
            notes.append(f"{key}: final fit failed ({exc}); next best taken")
            fallback = fallback or FINAL_FIT_FAILED
            continue
        point = np.mean([p for p, _ in parts], axis=0)
        detail = " | ".join(d for _, d in parts if d)
        chosen = key
        break
    if point is None:
        raise ModelUnavailableError("every candidate failed on the full history")
    fit_window = ""
    if windows and windowed:
        fit_window = _window_note(bt.scores, chosen, combos, windows, n * step_td, notes)
    if launches is not None and fallback == SHORT_HISTORY:
        ramp = _launch_ramp(y, h, freq, start=start, launches=launches, profile=launch_profile,
                            yearly_offset=yearly_offset, holidays=holidays, chosen=chosen, levels=levels,
                            margin=margin, notes=notes)
        if ramp is not None:
            ramp.fallback = fallback
            return ramp
    if ",borrowed" in chosen:
        notes.append(f"yearly cycle borrowed: {n * step_td / pd.Timedelta('7D'):.0f} weeks of history, too short "
                     "for its own; the backtest chose the borrowed season")
    elif spd and h * step_td >= pd.Timedelta("28D") and n * step_td < pd.Timedelta("364D") and "seasonal_trend" in chosen:
        notes.append(f"yearly cycle not modelled: {n * step_td / pd.Timedelta('7D'):.0f} weeks of history, "
                     "a yearly term needs 52")

    # -- calibration per lead-time and hour-of-week bucket --------------------------------------
    pos0 = _week_position(start, freq, spd)
    edges = lead_buckets(h, spd or 1)
    cal_origins, actual, pred = bt.origins, bt.actual, bt.preds[chosen]
    bt_step = int(abs(bt.origins[0] - bt.origins[1])) if len(bt.origins) > 1 else h_bt
    cal_step = bt_step
    if long_history and calibrate_history and fallback is None and h_bt == h:
        cal = _history_windows(y, h, bt_step, fits, chosen, combos, step_td, notes)
        if cal is not None:
            cal_origins, actual, pred, cal_step = cal
    lvl = np.array([_level(y, o, week) for o in cal_origins])
    how_of, n_how = _how_buckets(pred, cal_origins, pos0, week, spd)
    how_bt = how_of[(pos0 + np.asarray(cal_origins)[:, None] + np.arange(h_bt)[None, :]) % len(how_of)]
    extended = len(cal_origins) > len(bt.origins)
    near = _season_peers(cal_origins, step_td, season_days) if season_days and extended else None
    use = near(n) if near is not None else np.ones(len(cal_origins), bool)
    if near is not None:
        notes.append(f"band calibrated on the {int(use.sum())} of {len(cal_origins)} windows whose origin is within "
                     f"{season_days:g} days of the forecast's in the year")
    cq = LeadTimeConformal(levels, edges, min_cell=min_cell).fit(actual[use], pred[use], lvl[use], how_bt[use], n_how)
    how_f = how_of[(pos0 + n + np.arange(h)) % len(how_of)]
    quant = cq.predict(point, _level(y, n, week), how_f)
    held = range(min(len(cal_origins), len(bt.origins)))  # the newest windows, as many as the backtest's
    rest = (lambda k: near(cal_origins[k])) if near is not None else None
    match = match_levels and h_bt == h and len(held) >= MATCH_MIN_WINDOWS
    if match and near is not None:
        held = np.flatnonzero(use)  # a season-matched band's levels are matched on its own season's windows
    calibration, pin, peak, level_map = _held_out(actual, pred, lvl, how_bt, n_how, levels, edges, spd or 1,
                                                  cq.scale_, min_cell, held, rest, match=match)
    if level_map is not None:
        grid = _level_grid(levels)
        cg = LeadTimeConformal(grid, edges, min_cell=min_cell, scale=cq.scale_).fit(
            actual[use], pred[use], lvl[use], how_bt[use], n_how)
        quant = _at_levels(cg.predict(point, _level(y, n, week), how_f), grid, level_map, _lead_index(edges, h))
        notes.append(_level_note(levels, level_map, edges, spd or 1))
    if nonnegative:
        point = np.maximum(point, 0.0)
        quant = np.maximum(quant, 0.0)
    mase_c = bt.scores[chosen]
    n_cal = int(use.sum())
    return SeriesForecast(point, quant, levels, chosen, mase_c, smape(bt.actual, bt.preds[chosen]), dict(bt.scores),
                          notes, len(bt.origins), cq.scale_, fallback, detail, h_bt, calibration, pin, peak,
                          _level(y, n, week), tuple(edges), effective_windows(n_cal, cal_step, h_bt, edges),
                          fit_window=fit_window)


def _window_note(scores, chosen, combos, windows, span, notes) -> str:
    """The fit window chosen (``"whole"`` or its label; a combination's members' joined) and a note
    with the best backtest MASE fitted on the whole history and on each window."""
    singles = {k: v for k, v in scores.items() if _family(k) != COMBO}
    best = {w: min((v for k, v in singles.items() if _parse_key(k)[2] == w), default=float("nan"))
            for w in [None, *windows]}
    members = [m for m in combos.get(chosen, [chosen]) if _family(m) not in LOCAL_MODELS]  # these read weeks only
    chosen_w = sorted({_parse_key(m)[2] or "whole" for m in members}) or ["whole"]
    label = "+".join(chosen_w)
    notes.append(f"fit windows offered ({span / pd.Timedelta(days=YEAR):.1f} years of history): best backtest MASE "
                 + ", ".join(f"{w or 'whole history'} {v:.3f}" for w, v in best.items())
                 + f"; fitted on {'the whole history' if label == 'whole' else label}")
    return label


def _history_windows(y, h, bt_step, fits, chosen, combos, step_td, notes):
    """Calibration windows over the whole history: the chosen candidate (its fit window) refitted
    at origins ``CAL_STEP`` horizons apart back to ``CAL_MIN_YEARS`` of training. Returns
    (origins, actual, pred, step) or None (with a note) when they add nothing or a fit fails."""
    n = len(y)
    cal_step = bt_step * max(1, int(round(CAL_STEP * h / bt_step)))
    floor = max(int(round(pd.Timedelta(days=CAL_MIN_YEARS * YEAR) / step_td)), int(h * MIN_TRAIN), 2)
    origins, preds = [], []
    for o in range(n - h, floor - 1, -cal_step):
        try:
            preds.append(fits.point(chosen, o, h, combos))
        except (ModelUnavailableError, ValueError, np.linalg.LinAlgError, KeyError):
            break  # this origin's training is too short for the candidate (a year-ago profile): older ones too
        origins.append(o)
    if len(origins) <= 1:
        notes.append(f"band calibrated on the backtest's windows only: {chosen} has no older origin")
        return None
    pred = np.stack(preds)
    actual = np.stack([y[o:o + h] for o in origins])
    notes.append(f"band calibrated on {len(origins)} windows over the whole history (origins "
                 f"{cal_step * step_td / pd.Timedelta('1D'):.0f} days apart)")
    return origins, actual, pred, cal_step


def _season_peers(origins, step_td, days):
    """A function of an origin giving the mask of ``origins`` within ``days`` of it in the year
    (all of them when fewer than ``MIN_SEASON_WINDOWS``)."""
    o = np.asarray(origins, float)
    year = pd.Timedelta(days=YEAR) / step_td

    def near(a) -> np.ndarray:
        dist = np.abs(((o - a) / year + 0.5) % 1.0 - 0.5) * YEAR
        mask = (dist <= days) & (o != a)
        return mask if mask.sum() >= MIN_SEASON_WINDOWS else o != a

    return near


def _launch_ramp(y, h, freq, *, start, launches, profile, yearly_offset, holidays, chosen, levels, margin,
                 notes) -> SeriesForecast | None:
    """The launch-ramp candidate of a young series ``y`` (from its launch, ``n`` steps): the
    median over the fleet's past launches of their level at ages n..n+h-1 relative to their
    level at age n (:func:`ramp_ratios`), scaled to this series' level, times its hour-of-week
    shape and its borrowed yearly season (the category's, else the fleet's, where offered).

    The honest check is the past launches themselves at the same age: each is forecast from its
    first ``n`` steps by the ramp of the others (leave one out) and by ``chosen`` (what the short
    history path chose for this series), both scored by MASE over the next ``h`` steps; the ramp
    is taken when it beats ``chosen`` by more than ``margin``. Its quantiles are the point times
    the quantiles, per lead bucket, of actual / forecast over those leave-one-out forecasts.
    Returns None (with a note) when not taken."""
    from models.forecasting.launches import (MIN_PAST_LAUNCHES, _season_factor, hour_of_week_profile, hourly_ratios,
                                             ramp_point, ramp_ratios)

    n = len(y)
    step_td = freq_offset(freq)
    spd = steps_per_day(freq) or 1
    week = weekly_season(freq)
    past = [(np.asarray(d, float), s) for d, s in launches if len(d) >= n + h and np.asarray(d[:n]).any()]
    if len(past) < MIN_PAST_LAUNCHES:
        notes.append(f"no launch ramp: {len(past)} past launch(es) of the fleet seen {n + h} steps from their launch "
                     f"(needs {MIN_PAST_LAUNCHES}); short history path kept")
        return None
    if profile is None:  # no category's or fleet's shape given: the past launches' own, over their last weeks
        tail = min(4 * week, n + h)
        profs = [hour_of_week_profile(d[-tail:], _week_position(s, freq, spd) + len(d) - tail, week, spd)
                 for d, s in past]
        profs = [p for p in profs if p is not None]
        profile = np.median(profs, axis=0) if profs else None

    def own_or(d, p0):
        """The shape a series of this age is forecast with: its own from a week, else the lent one."""
        own = hour_of_week_profile(d, p0, week, spd) if len(d) >= week else None
        return own if own is not None else profile

    effect = None
    if isinstance(yearly_offset, dict):
        name = next((k for k in ("category", "fleet") if k in yearly_offset), None)
        effect = yearly_offset[name] if name else None
    elif yearly_offset is not None:
        effect = yearly_offset
    ref = min(n, week)
    pos = [_week_position(s, freq, spd) for _, s in past]
    seasons = [_season_factor(effect, s, step_td, n, h, ref) for _, s in past]
    ratios = ramp_ratios([d for d, _ in past], n, h, week, pos, profile, spd, seasons)
    actual = np.stack([d[n:n + h] for d, _ in past])
    k = len(past)
    loo = np.empty((k, h))
    inc = np.full((k, h), np.nan)
    for i, (d, s) in enumerate(past):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            r = np.nanmedian(np.delete(ratios, i, axis=0), axis=0)
        loo[i] = ramp_point(d[:n], np.nan_to_num(r, nan=1.0), pos[i], week, profile, spd, seasons[i])[0]
        try:
            factories = _factories(freq, start=s, holidays=holidays, yearly_offset=yearly_offset)
            inc[i] = np.maximum(_final_point(factories, {}, d[:n], h, chosen)[0], 0.0)
        except (ModelUnavailableError, ValueError, np.linalg.LinAlgError, KeyError):
            pass
    scale = np.array([naive_scale(d[:n], week) for d, _ in past])
    ok = ~np.isnan(inc).any(axis=1)
    err_ramp = np.abs(actual - loo).mean(axis=1) / scale
    err_inc = np.abs(actual - np.nan_to_num(inc)).mean(axis=1) / scale
    s_ramp = float(err_ramp[ok].mean()) if ok.any() else float(err_ramp.mean())
    s_inc = float(err_inc[ok].mean()) if ok.any() else float("inf")
    age = f"{n * step_td / pd.Timedelta('1D'):.1f} days"
    if not s_ramp * (1 + margin) < s_inc:
        notes.append(f"launch ramp of {k} past launches not taken: MASE {s_ramp:.3f} on them at age {age} against "
                     f"{s_inc:.3f} for {chosen}")
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        ratio = np.nan_to_num(np.nanmedian(ratios, axis=0), nan=1.0)
    pos0 = _week_position(start, freq, spd)
    season = _season_factor(effect, start, step_td, n, h, ref) if effect is not None else None
    point, shape = ramp_point(y, ratio, pos0, week, profile, spd, season)
    edges = lead_buckets(h, spd)
    hourly = hourly_ratios(y, pos0, week, own_or(y, pos0), spd)
    hourly_past = [hourly_ratios(d[:n], p, week, own_or(d[:n], p), spd) for (d, _), p in zip(past, pos)]
    quant, calibration, pin, peak = _ramp_quantiles(actual, loo, point, hourly, hourly_past, levels, edges, spd)
    notes.append(f"launch ramp of {k} past launches taken: {age} old, MASE {s_ramp:.3f} on them at that age against "
                 f"{s_inc:.3f} for {chosen}; level ×{ratio[-min(h, week):].mean():.2f} by the horizon's end, "
                 f"hour-of-week shape {shape}" + (", borrowed yearly season" if season is not None else ""))
    detail = f"ramp of {k} past launches, ×{ratio[-min(h, week):].mean():.2f} at the end; {shape} shape"
    return SeriesForecast(point, quant, tuple(levels), LAUNCH_RAMP, s_ramp, smape(actual, loo),
                          {LAUNCH_RAMP: s_ramp, f"{chosen}@launches": s_inc}, notes, k, "relative (past launches)",
                          None, detail, h, calibration, pin, peak, _level(y, n, week), tuple(edges), None)


def _ramp_quantiles(actual, loo, point, hourly, hourly_past, levels, edges, spd):
    """Quantiles of the ramp forecast ``point``: per lead bucket, the point times the quantiles of
    (level factor × hour factor) over every pair of a past launch's level factor (its actual
    mean over the bucket / its leave-one-out forecast's, from ``actual`` and ``loo``) and an hour
    factor of the young series (``hourly``: its slots over their daily level and shape). Levels
    come from the past launches, hour-by-hour noise from the series itself: a past launch of a
    few spiky invocations would otherwise lend its spikes to a smooth group. Also the held-out
    check (each past launch in turn, its hour factors ``hourly_past``, level factors of the others)."""
    k, h = actual.shape
    nb = len(edges) - 1
    lead = _lead_index(edges, h)
    level = np.full((k, nb), np.nan)
    for b in range(nb):
        m = loo[:, lead == b].mean(axis=1)
        level[:, b] = np.where(m > 0, actual[:, lead == b].mean(axis=1) / np.where(m > 0, m, 1.0), np.nan)

    def qratio(rows, hours):
        out = np.ones((len(levels), h))
        for b in range(nb):
            f = level[rows, b]
            f = f[np.isfinite(f)]
            if f.size:
                out[:, lead == b] = np.quantile(np.outer(f, hours).ravel(), levels)[:, None]
        return out

    quant = np.maximum(point[None, :] * qratio(np.arange(k), hourly), 0.0)
    names = bucket_names(edges, spd)
    hits = np.zeros((nb, len(levels)))
    below = np.zeros_like(hits)
    count = np.zeros(nb)
    loss = np.zeros(len(levels))
    peaks = []
    if k >= 3:
        for i in range(k):
            q = loo[i][None, :] * qratio(np.delete(np.arange(k), i), hourly_past[i])
            a = actual[i]
            lvl = max(float(np.abs(a).mean()), 1e-9)
            for j, tau in enumerate(levels):
                np.add.at(hits[:, j], lead, (a <= q[j]).astype(float))
                np.add.at(below[:, j], lead, (a < q[j]).astype(float))
                loss[j] += pinball(a, q[j], tau) / lvl
            np.add.at(count, lead, 1.0)
            if a.max() > 0:
                peaks.append(float(q[-1].max() / a.max()))
    rows = [{"bucket": name, "level": tau, "coverage": float(hits[b, j] / count[b]),
             "coverage_strict": float(below[b, j] / count[b]), "n": int(count[b])}
            for b, name in enumerate(names) if count[b] for j, tau in enumerate(levels) if tau >= 0.5]
    pin = {tau: float(loss[j] / k) for j, tau in enumerate(levels)} if k >= 3 else {}
    return quant, rows, pin, float(np.median(peaks)) if peaks else float("nan")


def _level_grid(levels) -> tuple:
    """The conformal levels a matched band is read between: the nominal ones and ``LEVEL_GRID``."""
    return tuple(np.union1d(LEVEL_GRID, [t for t in levels if t >= LEVEL_GRID[0]]))


def _lead_index(edges, h) -> np.ndarray:
    """The lead-time bucket of each of ``h`` steps."""
    return np.searchsorted(np.asarray(edges[1:]), np.arange(h), side="right").clip(max=len(edges) - 2)


def _at_levels(qg, grid, level_map, lead) -> np.ndarray:
    """Quantiles [levels, steps] read from grid quantiles ``qg`` [grid, steps] at each bucket's
    matched levels ``level_map`` [bucket, levels] (linear between grid levels)."""
    grid = np.asarray(grid)
    out = np.empty((level_map.shape[1], qg.shape[1]))
    for b in np.unique(lead):
        cols = lead == b
        for j, tau in enumerate(level_map[b]):
            i = int(np.clip(np.searchsorted(grid, tau, side="right") - 1, 0, len(grid) - 2))
            w = float(np.clip((tau - grid[i]) / (grid[i + 1] - grid[i]), 0.0, 1.0))
            out[j, cols] = qg[i, cols] if w == 0.0 else (1 - w) * qg[i, cols] + w * qg[i + 1, cols]
    return out


def _match(levels, grid, le, lt, count) -> np.ndarray:
    """Per lead bucket, the conformal level of each nominal level τ > 0.5: the one whose held-out
    coverage is τ. With ties (hours at zero under a quantile of zero) any level whose strict
    coverage (actual < q) is at most τ and whose coverage (actual <= q) is at least τ is right; the
    one nearest τ is kept. ``le``, ``lt``: hits [bucket, grid]; ``count``: slots per bucket."""
    grid = np.asarray(grid)
    ramp = 1e-12 * np.arange(len(grid))
    out = np.tile(np.asarray(levels, float), (len(count), 1))
    for b in np.flatnonzero(count > 0):
        c_le = np.maximum.accumulate(le[b] / count[b])
        c_lt = np.maximum.accumulate(lt[b] / count[b])
        for j, tau in enumerate(levels):
            if tau <= 0.5:
                continue
            lo = np.interp(tau, c_le + ramp, grid)  # the narrowest level covering τ
            hi = np.interp(tau, c_lt - ramp[::-1], grid)  # the widest level strictly below τ
            out[b, j] = min(max(tau, lo), max(lo, hi))
    return out


def _level_note(levels, level_map, edges, spd) -> str:
    names = bucket_names(edges, spd)
    upper = [j for j, t in enumerate(levels) if t > 0.5]
    return ("band levels matched to the held-out windows' coverage per lead bucket: " + "; ".join(
        f"{names[b]} " + "/".join(f"{level_map[b, j]:.3f}" for j in upper) for b in range(len(names)))
        + " for " + "/".join(f"q{round(levels[j] * 100)}" for j in upper))


def _held_out(actual, pred, lvl, how, n_how, levels, edges, spd, scale, min_cell, held=None, rest_of=None,
              match=False):
    """Coverage per lead bucket, pinball loss and q99 peak ratio of each window when the quantiles
    are calibrated on the other windows (needs three windows). Coverage is the share of slots with
    actual <= quantile, ``coverage_strict`` of actual < quantile: they differ by the ties, which on
    a fleet of intermittent groups are mostly hours at zero under a quantile of zero. ``held``: the
    windows held out in turn (default all); ``rest_of(k)``: the mask of windows calibrating
    window k (default all others).

    With ``match`` the quantiles are also read at a grid of levels, and the fourth value returned
    is the level map [bucket, level] matched on every held-out window (:func:`_match`; else None).
    The coverage reported is then that of the matched band, each window's read at the levels
    matched on the *other* held-out windows, so the check stays out of sample."""
    w, h_bt = actual.shape
    if w < 3:
        return [], {}, float("nan"), None
    held = list(range(w) if held is None else held)
    grid = _level_grid(levels) if match else tuple(levels)
    names = bucket_names(edges, spd)
    lead = _lead_index(edges, h_bt)
    nb = len(edges) - 1
    onehot = (lead[:, None] == np.arange(nb)[None, :]).astype(float)  # steps x buckets
    quantiles, le, lt = [], np.zeros((len(held), nb, len(grid))), np.zeros((len(held), nb, len(grid)))
    count = np.tile(onehot.sum(0), (len(held), 1))  # slots per bucket: every window has all of them
    for i, k in enumerate(held):
        rest = np.arange(w) != k if rest_of is None else rest_of(k)
        cq = LeadTimeConformal(grid, edges, min_cell=min_cell, scale=scale).fit(
            actual[rest], pred[rest], lvl[rest], how[rest], n_how)
        q = np.maximum(cq.predict(pred[k], lvl[k], how[k])[:, :h_bt], 0.0)
        quantiles.append(q)
        if match:
            le[i] = ((actual[k] <= q) @ onehot).T
            lt[i] = ((actual[k] < q) @ onehot).T
    level_map = _match(levels, grid, le.sum(0), lt.sum(0), count.sum(0)) if match else None
    hits = np.zeros((nb, len(levels)))
    below = np.zeros((nb, len(levels)))  # strictly below: a tie (0 at a quantile of 0) is no hit
    loss = np.zeros(len(levels))
    peaks = []
    others = np.ones(len(held), bool)
    for i, k in enumerate(held):
        if match:
            others[:] = True
            others[i] = False
            own_map = _match(levels, grid, le[others].sum(0), lt[others].sum(0), count[others].sum(0))
            q = _at_levels(quantiles[i], grid, own_map, lead)
        else:
            q = quantiles[i]
        a = actual[k]
        for j, tau in enumerate(levels):
            np.add.at(hits[:, j], lead, (a <= q[j]).astype(float))
            np.add.at(below[:, j], lead, (a < q[j]).astype(float))
            loss[j] += pinball(a, q[j], tau) / max(lvl[k], 1e-9)
        if a.max() > 0:
            peaks.append(float(q[-1].max() / a.max()))
    total = count.sum(0)
    rows = []
    for b, name in enumerate(names):
        if total[b] == 0:
            continue
        for j, tau in enumerate(levels):
            if tau >= 0.5:  # the median too: its ties at zero are where <= and < differ most
                rows.append({"bucket": name, "level": tau, "coverage": float(hits[b, j] / total[b]),
                             "coverage_strict": float(below[b, j] / total[b]), "n": int(total[b])})
    pin = {tau: float(loss[j] / len(held)) for j, tau in enumerate(levels)}
    return rows, pin, float(np.median(peaks)) if peaks else float("nan"), level_map


PRIOR_WINDOWS = None  # strength of the prior band per lead bucket, in independent quarters of errors (None: see pool_bands)
PRIOR_SCORES = 24  # strength of the prior first-bucket band, in scores (a day of hours)
NEIGHBOURS = 15  # comparable series: the nearest in level among those with a band of their own
MATURE_WINDOWS = 3.0  # a series whose band rests on this many quarters in every bucket lends it to others


def pool_bands(results: Sequence[SeriesForecast], prior_windows: float | None = PRIOR_WINDOWS,
               prior_scores: float = PRIOR_SCORES, neighbours: int = NEIGHBOURS, mature: float = MATURE_WINDOWS,
               shrink_mature: bool = False) -> int:
    """Empirical-Bayes bands for series whose own backtest says little: a young group whose
    backtest windows are shorter than the horizon (history too short), whose later buckets the
    conformal step extrapolates by the square root of the lead ratio (a random walk's growth,
    from hours ahead to weeks ahead: app00013, two weeks old, got a band 15 times as wide).

    A band is read in relative units per lead bucket (:func:`band_ratios`) as a series' own
    spread in the first bucket (its hourly noise and short-term error: its own, even from a
    few weeks) times how the spread grows with lead time (the level error, which one window
    samples once). So, for each such series:

    * first bucket: a = w1 * own_1 + (1 - w1) * prior_1, w1 = m / (m + ``prior_scores``), m the
      backtest scores the series has in that bucket (a 7-hour backtest window: 7);
    * bucket b: w_b * own_b + (1 - w_b) * a * g_b, g_b the median growth own_b / own_1 of the
      comparable series, for the upper levels (q50 keeps its own offset). With ``prior_windows``
      None (the default) w_b is the share of the bucket the series' backtest windows reach: only
      what was extrapolated is replaced (measured: shrinking the calibrated buckets too, w_b =
      n_b / (n_b + 2) with n_b independent quarters, made the realised pinball loss worse, since a
      young group's level error grows faster than a mature one's; docs/forecast.md);

    the comparable series are the ``neighbours`` nearest in level (log) among the mature ones.
    The band keeps its hour-by-hour shape in proportion to its own weight (:func:`shrink_band`). Changes ``results`` in place
    (quantiles, ``band_shrink`` = the largest prior weight, a note); returns how many series
    were pooled. Results of one horizon and one resource only (their bands are compared)."""
    usable = [r for r in results if r.band_windows is not None and r.band_level > 0 and r.model != "constant"]
    if not usable:
        return 0
    edges = usable[0].band_edges
    usable = [r for r in usable if r.band_edges == edges]
    donors = [r for r in usable if np.all(r.band_windows >= mature)]
    if not donors:
        return 0
    ratios = np.stack([band_ratios(r.mean, r.quantiles, r.band_level, edges) for r in donors])  # donors x levels x buckets
    upper = np.array(donors[0].levels) > 0.5
    with np.errstate(divide="ignore", invalid="ignore"):
        growth = np.where(ratios[:, :, :1] > 0, ratios / ratios[:, :, :1], np.nan)
    log_level = np.log(np.array([r.band_level for r in donors]))
    first_len = edges[1] - edges[0]
    done = 0
    for r in usable:
        own_n = np.asarray(r.band_windows, float)
        short = r.h_backtest < edges[-1]  # windows shorter than the horizon: later buckets were extrapolated
        if not short and (prior_windows is None or (not shrink_mature and np.all(own_n >= mature))):
            continue
        dist = np.abs(log_level - np.log(r.band_level))
        near = [i for i in np.argsort(dist, kind="stable") if donors[i] is not r][:neighbours]
        if not near:
            continue
        own = band_ratios(r.mean, r.quantiles, r.band_level, edges)
        m = min(r.h_backtest, first_len) * r.n_windows
        w1 = m / (m + prior_scores)
        with warnings.catch_warnings():  # all-NaN: no comparable series with a band there (zero-width bands)
            warnings.simplefilter("ignore", RuntimeWarning)
            first = np.nanmedian(ratios[near][:, :, 0], axis=0)
            g = np.nanmedian(growth[near], axis=0)
        a = w1 * own[:, 0] + (1 - w1) * np.where(np.isfinite(first), first, own[:, 0])
        # The median (q50) keeps its own offset (NaN: left as it is): a bias read in one window is the series' own.
        prior = np.where(upper[:, None], a[:, None] * np.where(np.isfinite(g), g, 1.0), np.nan)
        if prior_windows is None:
            w = bucket_reach(r.h_backtest, edges)
        else:
            w = own_n / (own_n + prior_windows)
        w[0] = w1 if own_n[0] < mature else w[0]
        r.quantiles = np.maximum(shrink_band(r.mean, r.quantiles, r.band_level, edges, w, prior), 0.0)
        after = band_ratios(r.mean, r.quantiles, r.band_level, edges)[-1]
        r.band_shrink = float(1.0 - w.min())
        r.notes.append("band from few backtest quarters (" + "/".join(f"{x:.1f}" for x in own_n) + " per lead bucket) "
                       f"shrunk towards {len(near)} series of similar level (their spread's growth with lead time): "
                       "q99 in relative units " + "/".join(f"{x:.2f}" for x in own[-1]) + " -> "
                       + "/".join(f"{x:.2f}" for x in after))
        done += 1
    return done
