"""Forecast stage: ResourceDemand (group level, hourly) -> Forecast (mean and quantiles per group,
slot and resource), with the model chosen per series by a rolling-origin backtest and quantiles
calibrated on that backtest (see docs/forecast.md).

Series are independent, so the work runs in parallel: joblib on this machine, or a Dask distributed
cluster when a scheduler address is given (``dask`` is imported only then).
"""

from __future__ import annotations

import json
import math
import re
import warnings
from dataclasses import dataclass
from typing import Callable, NamedTuple, Sequence

import numpy as np
import pandas as pd

from planner import columns as C
from planner.errors import InputDataError, PlannerError

__all__ = ["ForecastRun", "forecast_demand", "run_demand_forecast", "forecast_long", "fallback_summary",
           "calibration_summary", "read_holidays", "borrowed_seasons", "past_launches", "group_categories",
           "FORECAST_COLUMNS",
           "REPORT_COLUMNS"]

LEVELS = (0.5, 0.9, 0.95, 0.99)
FORECAST_COLUMNS = (C.UNIQUE_ID, C.DS, C.RESOURCE, C.MEAN, *C.QUANTILES)
REPORT_COLUMNS = (
    C.UNIQUE_ID, C.RESOURCE, "model", "detail", "mase", "smape", "n_windows", "h_backtest", "quantile_scale",
    "coverage_q90", "coverage_q95", "coverage_q99", "pinball_q95", "pinball_q99", "q99_peak_ratio",
    "n_obs", "n_filled", "fallback", "fallback_reason", "notes", "candidates", "band_pooled",
)
CALIBRATION_COLUMNS = (C.UNIQUE_ID, C.RESOURCE, "bucket", "level", "coverage", "coverage_strict", "n")


@dataclass
class ForecastRun:
    """A forecast table and its side reports: one row per series (model chosen, backtest errors,
    held-out calibration, fallbacks taken) and one per series, lead-time bucket and level (the
    held-out coverage of the quantiles; see docs/forecast.md)."""

    forecast: pd.DataFrame
    report: pd.DataFrame
    calibration: pd.DataFrame | None = None


# -- input checks ------------------------------------------------------------------------------
def _check_freq(freq: str) -> pd.Timedelta:
    from models.forecasting.base import freq_offset

    try:
        return freq_offset(freq)
    except ValueError as exc:
        raise InputDataError(str(exc)) from None


def _prepare(df, keys, target, freq, path) -> tuple[list, list[int]]:
    """Validate and regularise: one (key, first ds, y) task per series, gaps and NaN interpolated."""
    missing = [c for c in (*keys, C.DS, target) if c not in df.columns]
    if missing:
        raise InputDataError(f"missing column(s) {missing}; have {list(df.columns)}", path=path, column=missing[0])
    step = _check_freq(freq)
    ds = pd.to_datetime(df[C.DS], errors="coerce")
    if ds.isna().any():
        row = int(np.flatnonzero(ds.isna().to_numpy())[0])
        raise InputDataError("timestamp missing or unreadable", path=path, row=row, column=C.DS)
    y = pd.to_numeric(df[target], errors="coerce")
    if (y < 0).any():
        row = int(np.flatnonzero((y < 0).to_numpy())[0])
        raise InputDataError(f"negative value {y.iloc[row]}; demand is never negative", path=path, row=row, column=target)
    # Series by integer codes (sorted like the keys) and timestamps as integers: one sort finds
    # duplicates and cuts the series (a groupby over millions of rows with object keys is slow).
    gid = pd.DataFrame({k: df[k].to_numpy() for k in keys}).groupby(list(keys), sort=True).ngroup().to_numpy()
    tz = ds.dt.tz
    t = ds.dt.as_unit("ns").array.asi8  # UTC nanoseconds where the timestamps carry a zone
    yv = y.to_numpy(float)
    order = np.lexsort((t, gid))
    order = order[gid[order] >= 0]  # rows with a missing key belong to no series
    gs, ts = gid[order], t[order]
    dup = (gs[1:] == gs[:-1]) & (ts[1:] == ts[:-1])
    if dup.any():
        row = int(np.maximum(order[:-1], order[1:])[dup].min())
        raise InputDataError(f"duplicate timestamp {ds.iloc[row]} for {keys}", path=path, row=row, column=C.DS)
    key_cols = [df[k].to_numpy() for k in keys]
    step_ns = step.value
    tasks, filled = [], []
    for lo, hi in zip(*_runs(gs)):
        rows = order[lo:hi]
        key = tuple(col[rows[0]] for col in key_cols)
        tg, yg = ts[lo:hi], yv[rows]
        have = ~np.isnan(yg)
        if have.any() and not have.all():
            tg, yg = tg[have], yg[have]
        off = (tg - tg[0]) / step_ns
        if not np.allclose(off, np.round(off)):
            raise InputDataError(f"timestamps of {key if len(key) > 1 else key[0]} are not on a {freq} grid", path=path, column=C.DS)
        off = np.round(off).astype(np.int64)
        values = np.full(int(off[-1]) + 1, np.nan)
        values[off] = yg
        n_nan = int(np.isnan(values).sum())
        if len(values) - n_nan < 2:
            raise InputDataError(f"series {key if len(key) > 1 else key[0]} has fewer than 2 observations", path=path, column=target)
        if n_nan:
            values = pd.Series(values).interpolate(method="linear", limit_direction="both").to_numpy(float)
        first = pd.Timestamp(int(tg[0]), tz=tz) if tz is not None else pd.Timestamp(int(tg[0]))
        tasks.append((key, first + int(off[-1]) * step, values, first))
        filled.append(n_nan)
    if not tasks:
        raise InputDataError("no series to forecast (empty table)", path=path)
    gaps = sum(1 for f in filled if f)
    if gaps:
        warnings.warn(f"{gaps} series had missing slots or NaN; filled by linear interpolation (see n_filled in the report)")
    return tasks, filled


def _runs(codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(starts, ends) of the runs of equal values in a sorted array."""
    if not len(codes):
        return np.array([], int), np.array([], int)
    cut = np.flatnonzero(codes[1:] != codes[:-1]) + 1
    return np.r_[0, cut], np.r_[cut, len(codes)]


# -- per-batch work (runs in joblib or Dask workers) ----------------------------------------------
def _forecast_batch(tasks, h, freq, models, n_windows, step, holidays=None):
    from models.forecasting._util import single_blas_thread
    from models.forecasting.auto import forecast_array
    from models.forecasting.base import ModelUnavailableError

    out = []
    with single_blas_thread():
        for key, _last, y, first, *extra in tasks:
            try:  # extra: the series' own keyword arguments (a borrowed season, past launches)
                out.append(forecast_array(y, h, freq, models, n_windows=n_windows, step=step, levels=LEVELS,
                                          start=first, holidays=holidays, **(extra[0] if extra else {})))
            except ModelUnavailableError as exc:
                raise PlannerError(f"cannot forecast series {key}: {exc}") from None
    return out


def _batches(tasks, n_jobs):
    size = max(1, math.ceil(len(tasks) / max(1, 4 * n_jobs)))
    return [tasks[i:i + size] for i in range(0, len(tasks), size)]


def _run_joblib(batches, work, n_jobs, progress):
    if n_jobs == 1:
        results = []
        for b in batches:
            results.append(work(b))
            if progress:
                progress(len(b))
        return results
    from joblib import Parallel, delayed

    results = []
    gen = Parallel(n_jobs=n_jobs, return_as="generator")(delayed(work)(b) for b in batches)
    for b, r in zip(batches, gen):
        results.append(r)
        if progress:
            progress(len(b))
    return results


def _run_dask(batches, work, scheduler, progress):
    try:
        from dask.distributed import Client, as_completed
    except ImportError:
        raise PlannerError(
            "a Dask scheduler was given but dask.distributed is not installed; "
            "install it with: pip install 'planner[dask]' (or drop --scheduler to run locally)"
        ) from None
    client = scheduler if hasattr(scheduler, "submit") else Client(scheduler, timeout="30s")
    try:
        futures = [client.submit(work, b, pure=False) for b in batches]
        index = {f.key: i for i, f in enumerate(futures)}
        results = [None] * len(batches)
        for fut in as_completed(futures):
            i = index[fut.key]
            results[i] = fut.result()
            if progress:
                progress(len(batches[i]))
        return results
    finally:
        if client is not scheduler:
            client.close()


# -- public API ----------------------------------------------------------------------------------
def forecast_long(
    df: pd.DataFrame,
    horizon: int,
    *,
    freq: str = "1h",
    keys: Sequence[str] = (C.UNIQUE_ID,),
    target: str = C.Y,
    models: Sequence[str] | None = None,
    n_windows: int | None = None,
    step: int | None = None,
    n_jobs: int = 1,
    scheduler=None,
    progress: Callable[[int], None] | None = None,
    path=None,
    holidays=None,
    pool_bands: bool = True,
    categories=None,
    borrow_seasons: bool = True,
    launch_ramps: bool = True,
) -> ForecastRun:
    """Forecast every series of a long table (one series per value of ``keys``).

    Args:
        df: long table with ``keys``, ``ds`` and ``target`` columns (e.g. Telemetry).
        horizon: steps ahead (168 = a week of hours; 91 = a quarter of days).
        freq: spacing of ``ds`` (``"1h"``, ``"1D"``...).
        models: candidate model names (default: per frequency, see ``models.forecasting.registry``).
        n_windows, step: backtest windows (as long as the horizon) and the spacing of their
            origins (default: as many as the history allows up to 12, a quarter of a horizon apart).
        n_jobs: joblib workers (-1 = all cores); ignored when ``scheduler`` is given.
        scheduler: Dask scheduler address (``"tcp://host:8786"``) or a ``dask.distributed.Client``.
        progress: called with the number of series finished after each batch.
        path: file the table came from, for error messages.
        holidays: dates with a holiday effect (see :func:`planner.forecast.read_holidays`).
        pool_bands: series whose band rests on few backtest quarters (young groups) take a band
            shrunk towards that of series of similar level (``models.forecasting.auto.pool_bands``;
            the report's ``band_pooled`` is the prior's weight, NaN where the own band was kept).
        categories: category of each series by its first key (e.g. each group's trigger,
            :func:`group_categories`): a series too young for its own yearly term is offered the
            yearly season of its category's mature series (of the fleet's without a category or
            with too few of them) for the backtest to take or leave (:func:`borrowed_seasons`).
        borrow_seasons: False: no borrowed yearly seasons (for an A/B).
        launch_ramps: a series launched inside the history and too young for full-horizon
            backtest windows is offered the ramp of the fleet's past launches (:func:`past_launches`;
            the report's model ``launch_ramp`` where the backtest on those launches took it); False:
            not offered (for an A/B).

    Returns:
        ForecastRun: ``forecast`` with ``keys``, ``ds``, ``mean``, ``q50``, ``q90``, ``q95``,
        ``q99`` (never negative, quantiles ordered), ``report`` (one row per series) and
        ``calibration`` (held-out coverage per series, lead-time bucket and level).

    Raises:
        InputDataError: bad horizon or frequency, missing columns, duplicates, negative values,
            series with fewer than 2 observations, unknown model names.
    """
    from models.forecasting.registry import make_model

    if not isinstance(horizon, (int, np.integer)) or horizon <= 0:
        raise InputDataError(f"horizon must be a positive number of steps, got {horizon!r}")
    step_td = _check_freq(freq)
    for name in models or ():
        try:
            make_model(name, freq)
        except ValueError as exc:
            raise InputDataError(str(exc)) from None
    keys = tuple(keys)
    tasks, filled = _prepare(df, keys, target, freq, path)
    models = tuple(models) if models else None
    offsets, borrow_notes = borrowed_seasons(tasks, freq, categories) if borrow_seasons else ({}, {})
    ramps = past_launches(tasks, freq, int(horizon), categories) if launch_ramps else {}
    extra = [{**({"yearly_offset": offsets[i]} if i in offsets else {}), **ramps.get(i, {})} for i in range(len(tasks))]
    items = [t + (e,) if e else t for t, e in zip(tasks, extra)]
    batches = _batches(items, 1 if scheduler is not None else n_jobs)
    work = _BatchWork(int(horizon), freq, models, n_windows, step, None if holidays is None else tuple(holidays))
    if scheduler is not None:
        results = _run_dask(batches, work, scheduler, progress)
    else:
        results = _run_joblib(batches, work, n_jobs, progress)
    flat = [r for batch in results for r in batch]
    for i, note in borrow_notes.items():
        if i in offsets:
            taken = [name for name in ("category", "fleet") if f",borrowed-{name}" in flat[i].model]
            note += (f"; the backtest took the {' and '.join(taken)}'s" if taken else "; not taken by the backtest")
        flat[i].notes.append(note)
    if pool_bands:
        _pool_bands(tasks, flat)
    from models.forecasting.auto import LAUNCH_RAMP

    ramped = sum(r.model == LAUNCH_RAMP for r in flat)
    if ramped:
        warnings.warn(f"{ramped} of {len(flat)} series launched inside the history, too young for a full-horizon "
                      "backtest, forecast by the ramp of the fleet's past launches (report model 'launch_ramp')")
    weeks = [int(m.group(1)) for r in flat for n in r.notes
             if (m := re.match(r"yearly cycle not modelled: (\d+) weeks", n))]
    if weeks:
        span = f"{min(weeks)}" if min(weeks) == max(weeks) else f"{min(weeks)}–{max(weeks)}"
        warnings.warn(f"{len(weeks)} of {len(flat)} series forecast without a yearly cycle: they hold {span} weeks "
                      f"of history (from their first non-zero value), a yearly term needs 52; a "
                      f"{horizon * step_td / pd.Timedelta('7D'):.0f}-week horizon may reach seasons they have not seen")
    return _assemble(tasks, filled, flat, keys, int(horizon), step_td)


# -- what the launch ramps and the borrowed seasons both need to know of each series -----------------------
class _Facts(NamedTuple):
    index: int  # the task's position
    part: tuple  # its keys after the first (the resource): series of one part share a unit
    category: str | None
    start: int  # steps from the table's first timestamp to the series' first
    offset: int  # leading zero steps forecast_array drops (launch_offset); the whole length when all zero
    length: int
    launched: bool  # first non-zero ESTABLISHED_DAYS or more into the table: a launch inside the history


def _task_facts(tasks, step: pd.Timedelta, spd: int, categories) -> tuple[pd.Timestamp, list[_Facts]]:
    """The table's first timestamp and each series' :class:`_Facts`: one walk over the tasks for
    :func:`past_launches` and :func:`borrowed_seasons`, so both read a launch the same way (an
    intermittent group's first quiet day is no launch: ``launch_offset``)."""
    from models.forecasting.auto import launch_offset

    t0 = min(pd.Timestamp(first) for *_, first in tasks)
    facts = []
    for i, (key, _last, y, first) in enumerate(tasks):
        start = int(round((pd.Timestamp(first) - t0) / step))
        offset = launch_offset(y, spd) if y.any() else len(y)
        facts.append(_Facts(i, tuple(key[1:]), None if categories is None else categories.get(key[0]), start, offset,
                            len(y), (start + offset) * step >= pd.Timedelta(days=ESTABLISHED_DAYS)))
    return t0, facts


# -- launch ramps of young groups -----------------------------------------------------------------------
PROFILE_WEEKS = 4  # weeks of an established series whose hour-of-week shape is lent to a launch younger than a week


def past_launches(tasks, freq: str, h: int, categories=None) -> dict[int, dict]:
    """For each series launched inside the history (first non-zero ``ESTABLISHED_DAYS`` or more
    after the table's first timestamp, as for :func:`borrowed_seasons`: an intermittent group's
    first quiet day is no launch) that is younger than two horizons: the fleet's other launches of the same
    resource (keys after the first), each as (demand from its launch on, timestamp of its launch),
    for ``forecast_array``'s launch-ramp candidate (which keeps those seen for its age plus the
    horizon, and notes when there are too few); and the hour-of-week shape of its category's
    established series (the fleet's with fewer than ``MIN_LENDERS``), for a launch younger than a week.

    Returns {task index: {"launches": [...], "launch_profile": array or None}}."""
    from models.forecasting.auto import _week_position
    from models.forecasting.launches import hour_of_week_profile
    from models.forecasting.registry import steps_per_day, weekly_season

    spd = steps_per_day(freq)
    if not spd:
        return {}
    week = weekly_season(freq)
    step = _check_freq(freq)
    t0, facts = _task_facts(tasks, step, spd, categories)
    # (index, part, category, launched, launch timestamp, post-launch demand); all-zero series have none
    info = [(f.index, f.part, f.category, f.launched, t0 + (f.start + f.offset) * step, tasks[f.index][2][f.offset:])
            for f in facts if f.offset < f.length]
    out, shapes = {}, {}

    def shape(part, cat):
        """Median hour-of-week shape of the established series' last weeks (None: the fleet's)."""
        if (part, cat) not in shapes:
            profs = []
            for _i, p, c, launched, at, d in info:
                old = len(d) >= PROFILE_WEEKS * week + (2 * h if launched else 0)  # a launch: once past its ramp
                if p == part and (cat is None or c == cat) and old:
                    tail = d[-PROFILE_WEEKS * week:]
                    pos0 = _week_position(at + (len(d) - len(tail)) * step, freq, spd)
                    pr = hour_of_week_profile(tail, pos0, week, spd)
                    if pr is not None:
                        profs.append(pr)
            need = MIN_LENDERS if cat is not None else 1
            shapes[part, cat] = np.median(profs, axis=0) if len(profs) >= need else None
        return shapes[part, cat]

    for i, part, cat, launched, _at, d in info:
        if not launched or len(d) >= 2 * h:
            continue
        donors = [(dd, at) for j, p, _c, ll, at, dd in info if j != i and p == part and ll]
        prof = shape(part, cat) if cat is not None else None
        out[i] = {"launches": donors, "launch_profile": prof if prof is not None else shape(part, None)}
    return out


# -- borrowed yearly seasons -------------------------------------------------------------------------
YEAR_WEEKS = 52  # history (from the first non-zero value) the seasonal-trend model needs for a yearly term
ESTABLISHED_DAYS = 28  # a lender is non-zero within this many days of the history's start (no launch inside it)
MIN_LENDERS = 3  # mature series a category needs to lend its season (fewer: the fleet's)


def group_categories(catalog: pd.DataFrame, column: str = C.TRIGGER) -> dict | None:
    """Each group's category: the most common value of catalog ``column`` among its functions
    (ties: the first in sort order); None when the catalog has no such column."""
    if catalog is None or column not in catalog.columns or C.GROUP_ID not in catalog.columns:
        return None
    counts = catalog.groupby([C.GROUP_ID, column], observed=True).size().reset_index(name="n")
    counts = counts.sort_values([C.GROUP_ID, "n", column], ascending=[True, False, True], kind="stable")
    counts = counts.drop_duplicates(C.GROUP_ID)  # the most common value first
    return dict(zip(counts[C.GROUP_ID], counts[column].astype(str)))


def borrowed_seasons(tasks, freq: str, categories=None) -> tuple[dict[int, dict[str, np.ndarray]], dict[int, str]]:
    """Yearly seasons for series too young for their own (under ``YEAR_WEEKS`` weeks from their
    first non-zero value), learnt from the mature ones of the same resource (keys after the first).

    The lenders of a category are its established mature series (non-zero within
    ``ESTABLISHED_DAYS`` of the start, so no launch inside the history passes for a season, as in
    :func:`planner.anticipate.category_effects`); their sum over their common span (the category's
    demand, weighted by volume) is fitted by the seasonal-trend model on daily levels, and its
    yearly term (log, by day of the year) is the season offered. A category with fewer than
    ``MIN_LENDERS`` lenders (or no category) borrows the fleet's; a category with its own season is
    offered the fleet's as well (the backtest picks; variants ``,borrowed-category`` and
    ``,borrowed-fleet``); no lender at all: no season, a note.

    Returns:
        ({task index: {"category" | "fleet": 366 log effects by day of the year − 1}},
        {task index: note}) for young series.
    """
    from models.forecasting.seasonal_trend import SeasonalTrend

    step = _check_freq(freq)
    day = pd.Timedelta("1D")
    if step > day or day % step != pd.Timedelta(0):
        return {}, {}  # the model's yearly term is on whole days
    spd = int(day / step)
    need = int(YEAR_WEEKS * 7 * spd)
    t0, facts = _task_facts(tasks, step, spd, categories)
    # (index, part, category, start step, first non-zero step, length): the history forecast_array keeps
    info = [(f.index, f.part, f.category, f.start, f.offset, f.length) for f in facts]
    young = [r for r in info if r[5] - r[4] < need and r[5] - r[4] > 0]
    if not young:
        return {}, {}
    offsets, notes, cache = {}, {}, {}

    def season(part, cat):
        """(effect, how many lenders) of category ``cat`` (None: the fleet) of resource ``part``."""
        if (part, cat) in cache:
            return cache[part, cat]
        lenders = [r for r, f in zip(info, facts) if r[1] == part and r[5] - r[4] >= need and not f.launched
                   and (cat is None or r[2] == cat)]
        out = (None, len(lenders))
        if len(lenders) >= (MIN_LENDERS if cat is not None else 1):
            lo = max(r[3] + r[4] for r in lenders)  # their common span, on the shared clock
            hi = min(r[3] + r[5] for r in lenders)
            into_day = int(((t0 + lo * step) - (t0 + lo * step).normalize()) // step)
            lo += (spd - into_day) % spd  # from midnight: whole days
            n_days = (hi - lo) // spd
            if n_days * spd >= need:
                total = np.zeros(n_days * spd)
                for i, _p, _c, s0, _nz, _n in lenders:
                    total += tasks[i][2][lo - s0:lo - s0 + n_days * spd]
                daily = total.reshape(n_days, spd).mean(axis=1)
                m = SeasonalTrend(1, start=(t0 + lo * step).normalize(), step=day).fit_array(daily)
                out = (m.yearly_effect(np.arange(1, 367)) if m.order_ else np.zeros(366), len(lenders))
        cache[part, cat] = out
        return out

    for i, part, cat, *_ in young:
        effect, n = season(part, cat) if cat is not None else (None, 0)
        source = f"category {cat!r}"
        if effect is None:
            effect, n = season(part, None)
            source = "the fleet" + (f" (category {cat!r} has {season(part, cat)[1]} mature series, needs {MIN_LENDERS})"
                                    if cat is not None else "")
        if effect is None:
            notes[i] = (f"no borrowed yearly season: no established series of {YEAR_WEEKS} weeks or more to learn one from")
        elif not effect.any():
            notes[i] = f"no borrowed yearly season: {source} shows none ({n} mature series)"
        else:
            offsets[i] = {"category" if source.startswith("category") else "fleet": effect}
            notes[i] = (f"yearly season of {source} ({n} mature series, ±{np.ptp(effect) / 2:.0%}, peak on day "
                        f"{int(np.argmax(effect)) + 1}) offered")
            fleet, n_fleet = season(part, None) if "category" in offsets[i] else (None, 0)
            if fleet is not None and fleet.any():
                # The fleet's too: more lenders, and a category need not share a season (measured on the
                # synthetic fleet, whose seasons ignore the trigger, each alone did worse than both).
                offsets[i]["fleet"] = fleet
                notes[i] += (f", and the fleet's ({n_fleet} mature series, ±{np.ptp(fleet) / 2:.0%}, peak on day "
                             f"{int(np.argmax(fleet)) + 1})")
    return offsets, notes


def _pool_bands(tasks, results) -> None:
    """Empirical-Bayes bands across the series of each resource (keys after the first: the
    series of one resource share a unit and a horizon)."""
    from models.forecasting.auto import pool_bands

    by: dict = {}
    for (key, *_), r in zip(tasks, results):
        by.setdefault(tuple(key[1:]), []).append(r)
    for part in by.values():
        pool_bands(part)


class _BatchWork:
    """Picklable callable for the workers (a closure would not travel to Dask)."""

    def __init__(self, h, freq, models, n_windows, step, holidays=None):
        self.args = (h, freq, models, n_windows, step, holidays)

    def __call__(self, batch):
        return _forecast_batch(batch, *self.args)


def _assemble(tasks, filled, results, keys, h, step_td) -> ForecastRun:
    n = len(tasks)
    ds = np.concatenate([pd.date_range(last + step_td, periods=h, freq=step_td).to_numpy() for _, last, _, _ in tasks])
    cols = {k: np.repeat([t[0][i] for t in tasks], h) for i, k in enumerate(keys)}
    cols[C.DS] = ds
    cols[C.MEAN] = np.concatenate([r.mean for r in results])
    for j, q in enumerate(C.QUANTILES):
        cols[q] = np.concatenate([r.quantiles[j] for r in results])
    forecast = pd.DataFrame(cols)
    rows, cal = [], []
    for (key, _last, y, _first), n_fill, r in zip(tasks, filled, results):
        notes = list(r.notes)
        if n_fill:
            notes.insert(0, f"{n_fill} missing slots interpolated")
        ids = dict(zip(keys, key))
        pooled = {}
        for lev in (0.9, 0.95, 0.99):
            part = [c for c in r.calibration if c["level"] == lev]
            n_lev = sum(c["n"] for c in part)
            pooled[lev] = sum(c["coverage"] * c["n"] for c in part) / n_lev if n_lev else np.nan
        rows.append({
            **ids, "model": r.model, "detail": r.detail, "mase": r.mase, "smape": r.smape, "n_windows": r.n_windows,
            "h_backtest": r.h_backtest, "quantile_scale": r.quantile_scale,
            "coverage_q90": pooled[0.9], "coverage_q95": pooled[0.95], "coverage_q99": pooled[0.99],
            "pinball_q95": r.pinball.get(0.95, np.nan), "pinball_q99": r.pinball.get(0.99, np.nan),
            "q99_peak_ratio": r.peak_ratio, "n_obs": len(y), "n_filled": n_fill,
            "fallback": r.fallback is not None, "fallback_reason": r.fallback or "", "notes": "; ".join(notes),
            "candidates": json.dumps({k: round(v, 4) for k, v in r.scores.items()}, sort_keys=True),
            "band_pooled": r.band_shrink,
        })
        cal.extend({**ids, **c} for c in r.calibration)
    report = pd.DataFrame(rows)
    assert len(report) == n
    calibration = pd.DataFrame(cal, columns=[*keys, "bucket", "level", "coverage", "coverage_strict", "n"])
    return ForecastRun(forecast, report, calibration)


def fallback_summary(report: pd.DataFrame) -> dict:
    """How many series left the normal model choice, and why (for summary.json and the terminal).

    Returns:
        ``{"series": N, "fallbacks": n, "share": n / N, "reasons": {reason: count}, "launch_ramp": k}``,
        reasons sorted by count (most frequent first); ``launch_ramp``: the short-history series
        forecast by the ramp of the fleet's past launches (counted among the fallbacks too).
    """
    n = int(len(report))
    fb = report[report["fallback"].astype(bool)] if n else report
    reasons = fb["fallback_reason"].replace("", "unspecified").value_counts() if len(fb) else pd.Series(dtype=int)
    from models.forecasting.auto import LAUNCH_RAMP

    ramp = int((report["model"] == LAUNCH_RAMP).sum()) if "model" in report else 0
    return {"series": n, "fallbacks": int(len(fb)), "share": len(fb) / n if n else 0.0,
            "reasons": {str(k): int(v) for k, v in reasons.items()}, "launch_ramp": ramp}


def calibration_summary(run: ForecastRun) -> dict:
    """Held-out coverage per lead-time bucket and level over all series (weighted by their slots):
    ``coverage`` counts actual <= quantile, ``coverage_strict`` actual < quantile (the gap is ties,
    mostly hours at zero under a quantile of zero, which <= counts as covered); and the median q99
    peak / actual peak (for summary.json)."""
    cal = run.calibration
    out: dict = {"coverage": {}, "coverage_strict": {}, "q99_peak_ratio_median": None}
    if cal is not None and len(cal):
        for (bucket, level), g in cal.groupby(["bucket", "level"], sort=False):
            key = f"q{int(round(level * 100))}"
            out["coverage"].setdefault(str(bucket), {})[key] = round(float(np.average(g["coverage"], weights=g["n"])), 4)
            if "coverage_strict" in g:
                out["coverage_strict"].setdefault(str(bucket), {})[key] = round(
                    float(np.average(g["coverage_strict"], weights=g["n"])), 4)
    peak = run.report["q99_peak_ratio"].dropna() if "q99_peak_ratio" in run.report else pd.Series(dtype=float)
    if len(peak):
        out["q99_peak_ratio_median"] = round(float(peak.median()), 3)
    return out


def read_holidays(spec, years) -> list[pd.Timestamp]:
    """Holiday dates from a file (CSV with a ``ds`` or ``date`` column, or one date per line) or,
    for a country code such as ``US`` or ``DE-BY`` (country-subdivision), from the ``holidays``
    package over ``years``.

    Raises:
        InputDataError: unreadable file or date (names the file and row).
        PlannerError: a country code without the ``holidays`` package installed.
    """
    from pathlib import Path

    path = Path(str(spec))
    if path.exists():
        if path.is_dir():
            raise InputDataError("expected a file of holiday dates, got a folder", path=path)
        try:
            frame = pd.read_csv(path, header=None, dtype=str, comment="#", skip_blank_lines=True)
        except pd.errors.EmptyDataError:
            frame = pd.DataFrame()
        except (UnicodeDecodeError, pd.errors.ParserError) as exc:
            raise InputDataError(f"not a file of dates ({exc}); expected one date a line or a ds/date column", path=path) from None
        if frame.empty or frame.shape[1] == 0:
            raise InputDataError("no holiday dates in the file (expected one date a line, YYYY-MM-DD)", path=path)
        first = str(frame.iloc[0, 0]).strip().lower() if len(frame) else ""
        if first in ("ds", "date"):
            frame = frame.iloc[1:]
        dates = pd.to_datetime(frame.iloc[:, 0].str.strip(), errors="coerce")
        if dates.isna().any():
            row = int(np.flatnonzero(dates.isna().to_numpy())[0])
            raise InputDataError(f"not a date: {frame.iloc[row, 0]!r} (expected YYYY-MM-DD)", path=path,
                                 row=row + 1 + (first in ("ds", "date")), column="ds")
        return sorted(set(dates.dt.normalize()))
    code = str(spec).strip()
    if not code.replace("-", "").isalpha() or not 2 <= len(code.split("-")[0]) <= 3:
        raise InputDataError(f"holidays {spec!r}: neither an existing file nor a country code such as US or DE-BY")
    try:
        import holidays as hol
    except ImportError:
        raise PlannerError(f"holidays {code!r} needs the holidays package: pip install 'planner[holidays]' "
                           "(or give a file of dates)") from None
    country, _, subdiv = code.upper().partition("-")
    try:
        cal = hol.country_holidays(country, subdiv=subdiv or None, years=list(years))
    except (NotImplementedError, KeyError) as exc:
        raise InputDataError(f"holidays {code!r}: unknown country or subdivision ({exc})") from None
    return sorted(pd.Timestamp(d) for d in cal)


def run_demand_forecast(
    demand: pd.DataFrame,
    horizon: int,
    *,
    resources: Sequence[str] = C.RESOURCES,
    id_col: str = C.GROUP_ID,
    **kwargs,
) -> ForecastRun:
    """Forecast each group's peak demand of each resource (a ResourceDemand table, group level).

    Each (group, resource) is its own series: the group's aggregate is forecast, never a sum of
    its members' quantiles. Keyword arguments are those of :func:`forecast_long`.

    Returns:
        ForecastRun whose ``forecast`` has the Forecast columns ``unique_id`` (the group), ``ds``,
        ``resource``, ``mean``, ``q50``, ``q90``, ``q95``, ``q99``.
    """
    path = kwargs.pop("path", None)
    missing = [c for c in (id_col, C.DS, *resources) if c not in demand.columns]
    if missing:
        raise InputDataError(f"not a ResourceDemand table: missing {missing}", path=path, column=missing[0])
    long = demand[[id_col, C.DS, *resources]].melt(
        id_vars=[id_col, C.DS], value_vars=list(resources), var_name=C.RESOURCE, value_name=C.Y
    ).rename(columns={id_col: C.UNIQUE_ID})
    run = forecast_long(long, horizon, keys=(C.UNIQUE_ID, C.RESOURCE), target=C.Y, path=path, **kwargs)
    fc = run.forecast[list(FORECAST_COLUMNS)].sort_values([C.UNIQUE_ID, C.RESOURCE, C.DS], kind="stable")
    return ForecastRun(fc.reset_index(drop=True), run.report[list(REPORT_COLUMNS)], run.calibration)


def forecast_demand(demand: pd.DataFrame, horizon: int, **kwargs) -> pd.DataFrame:
    """The Forecast table of :func:`run_demand_forecast` (without its report)."""
    return run_demand_forecast(demand, horizon, **kwargs).forecast
