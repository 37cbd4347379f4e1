"""The only module that calls every stage in order: history → demand → forecast (+ anticipated
services, growth, retirements) → a packing per week → procurement → Plan (a :class:`PlanRun`, which
planner.export.run_files.write_run writes out)."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from planner import columns as C
from planner.errors import InfeasiblePlanError, ScenarioError
from planner.memory import release_heap
from planner.scenarios import Scenario, default_scenario, scenario_dict

Progress = Callable[[str, float], None]  # (stage description, fraction done 0..1)


@dataclass
class PlanRun:
    """Everything one planning run produced (tables are pandas DataFrames)."""

    scenario: Scenario
    history: object
    forecast: pd.DataFrame
    forecast_report: pd.DataFrame
    weeks: list
    required: pd.DataFrame
    procurement: object
    plan: pd.DataFrame
    purchases: pd.DataFrame
    assignment: pd.DataFrame
    utilisation: pd.DataFrame
    qos: pd.DataFrame
    workers_risk: pd.DataFrame
    risk: object = None  # planner.risk.RiskSummary: the one source of every risk figure
    profiles: pd.DataFrame | None = None
    summary: dict = field(default_factory=dict)
    groups: pd.DataFrame | None = None  # group_id, customer, tier (+ anticipated services): the rules verify reads
    fleet: pd.DataFrame | None = None  # the starting fleet: pool, server_type, inventory, in_transit, installed
    orders: pd.DataFrame | None = None  # planner.review.purchase_orders: what to buy, when to order it
    why: pd.DataFrame | None = None  # planner.review.why_purchases: the groups and weeks that need each order
    deferral: pd.DataFrame | None = None  # per week: lax work moved (planner.deferral.week_figures)
    planned_demand: pd.DataFrame | None = None  # with deferral: the demand packed, after the move
    forecast_calibration: pd.DataFrame | None = None  # held-out coverage per group, resource, lead bucket
    pools: pd.DataFrame | None = None  # cross-pool totals (planner.pools.pool_totals)
    placement: pd.DataFrame | None = None  # the pool of every group and why
    workers: pd.DataFrame | None = None  # every worker with its zone and role (serving / spare)
    failover: pd.DataFrame | None = None  # the failover map when failure domains apply
    residuals: pd.DataFrame | None = None  # [hour, group] standardised residuals: the pooled groups' correlation


def _noop(stage: str, done: float) -> None:
    pass


def horizon_start(scenario: Scenario, history) -> pd.Timestamp:
    if scenario.horizon.start is not None:
        start = pd.Timestamp(scenario.horizon.start)
        if start < history.end:
            raise ScenarioError(f"{scenario.source_path or 'scenario'}: horizon.start {start.date()} is inside the "
                                f"history (which ends {history.end}); plan from the end of the data or set data.until")
        return start
    return history.end


def forecast_stage(scenario: Scenario, history, start: pd.Timestamp, progress: Progress = _noop):
    """Forecast each group's hourly peaks from the end of the history to the end of the horizon;
    returns (forecast, report). :func:`forecast_stage_run` also gives the calibration table."""
    run = forecast_stage_run(scenario, history, start, progress)
    return run.forecast, run.report


def forecast_stage_run(scenario: Scenario, history, start: pd.Timestamp, progress: Progress = _noop):
    """The forecast stage as a ForecastRun (forecast from ``start``, report, calibration)."""
    from planner.forecast import ForecastRun, group_categories, read_holidays, run_demand_forecast

    end = start + pd.Timedelta(days=7 * scenario.horizon.weeks)
    steps = int((end - history.end) / pd.Timedelta(history.slot))
    demand = history.demand
    if scenario.forecast.history_weeks is not None:
        demand = demand[demand[C.DS] >= history.end - pd.Timedelta(weeks=scenario.forecast.history_weeks)]
    n_series = demand[C.GROUP_ID].nunique() * len(C.RESOURCES)
    holidays = None
    if scenario.forecast.holidays:
        spec = scenario.forecast.holidays
        local = scenario.resolve(Path(spec))
        years = range(pd.Timestamp(demand[C.DS].min()).year, end.year + 1)
        holidays = read_holidays(local if local is not None and local.exists() else spec, years)

    def tick(done):
        progress(f"forecast {done}/{n_series} series", 0.05 + 0.45 * done / max(n_series, 1))

    run = run_demand_forecast(demand, steps, freq=history.slot, models=scenario.forecast.models,
                              n_windows=scenario.forecast.n_windows, n_jobs=scenario.forecast.n_jobs,
                              scheduler=scenario.forecast.scheduler, progress=tick, holidays=holidays,
                              categories=group_categories(history.catalog))  # young groups borrow their trigger's yearly season
    fc = run.forecast[run.forecast[C.DS] >= start].reset_index(drop=True)
    return ForecastRun(fc, run.report, run.calibration)


def _check_launch_dates(scenario: Scenario, forecast: pd.DataFrame) -> None:
    """Warn of an anticipated launch the horizon never sees, or one already past at its start."""
    import warnings

    first, last = pd.Timestamp(forecast[C.DS].min()), pd.Timestamp(forecast[C.DS].max())
    for a in scenario.anticipated:
        launch = pd.Timestamp(a.launch)
        if launch > last:
            warnings.warn(f"anticipated service {a.name!r} launches {launch.date()}, after the horizon ends "
                          f"({last.date()}): it adds no demand to this plan")
        elif launch + pd.Timedelta(weeks=a.ramp_weeks) <= first:
            warnings.warn(f"anticipated service {a.name!r} launched {launch.date()}, before the horizon starts "
                          f"({first.date()}): it is planned at its full size from the first week, with no ramp")


def check_names(scenario: Scenario, groups: pd.DataFrame) -> None:
    """The groups that growth and retirements name exist, in the data or as anticipated services, and
    so do growth's customers. Called on the history's groups before the forecast, so a typo costs
    seconds, not a forecast."""
    where = scenario.source_path or "scenario"
    known = set(groups[C.GROUP_ID]) | {a.name for a in scenario.anticipated}
    for g in list(scenario.growth.groups) + [r.group for r in scenario.retired]:
        if g not in known:
            raise ScenarioError(f"{where}: group {g!r} (growth.groups or retired) "
                                "is not in the data or the anticipated services")
    in_data = sorted(set(groups[C.CUSTOMER]))
    unknown_c = sorted(set(scenario.growth.customers) - set(in_data) - {a.customer for a in scenario.anticipated})
    if unknown_c:
        raise ScenarioError(f"{where}: growth.customers names unknown customer(s) {unknown_c} "
                            f"(the data has {len(in_data)} customers, e.g. {', '.join(in_data[:3])})")


def adjust_forecast(scenario: Scenario, history, forecast: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Add anticipated services, apply growth multipliers and retirements; return (forecast, groups).
    The names growth and retirements use were checked before the forecast (:func:`check_names`)."""
    from planner.anticipate import AnticipatedService, anticipate_services

    groups = history.groups.copy()
    if scenario.anticipated:
        _check_launch_dates(scenario, forecast)
        volume = _customer_log_volume(history)
        services = [AnticipatedService(
            name=a.name, customer=a.customer, analogs=tuple(a.analogs), launch_ds=pd.Timestamp(a.launch),
            scale=a.scale, ramp_weeks=a.ramp_weeks, success_probability=a.success_probability,
            features={"marketing_push": a.marketing_push, "customer_log_volume": volume.get(a.customer, 0.0),
                      "n_functions": 1},
            category=next(iter(a.category.items())) if a.category else None,
        ) for a in scenario.anticipated]
        effects, analog_effects = _calendar_effects(history, services)
        extra = anticipate_services(forecast, history.demand, services, history.launches, effects=effects,
                                    analog_effects=analog_effects)
        forecast = pd.concat([forecast, extra], ignore_index=True)
        tier_of = groups.groupby(C.CUSTOMER)["tier"].first()
        new = pd.DataFrame({C.GROUP_ID: [a.name for a in scenario.anticipated],
                            C.CUSTOMER: [a.customer for a in scenario.anticipated],
                            "n_functions": 1,
                            "tier": [scenario.customers.tiers.get(a.customer, tier_of.get(a.customer, scenario.customers.default_tier))
                                     for a in scenario.anticipated]})
        groups = pd.concat([groups, new], ignore_index=True)
    # One multiplier per row (a curve over the weeks); a run without growth copies nothing.
    factor = _growth_factors(scenario, history, forecast, groups)
    values = [C.MEAN, *C.QUANTILES]
    if factor is not None and not (factor != 1.0).any():
        factor = None
    if factor is not None or scenario.retired:
        forecast = forecast.copy()
    if factor is not None:
        for v in values:
            forecast[v] = (forecast[v].to_numpy() * factor).astype(forecast[v].dtype, copy=False)
    for r in scenario.retired:
        gone = (forecast[C.UNIQUE_ID] == r.group) & (forecast[C.DS] >= pd.Timestamp(r.from_))
        forecast.loc[gone, values] = 0.0
    return forecast, groups


def _calendar_effects(history, services):
    """Weekday and month effects of the catalog categories the anticipated services name, and of
    their analogs (learnt from the history; None when no service names a category)."""
    from planner.anticipate import category_effects, group_effects

    with_cat = [s for s in services if s.category is not None]
    if not with_cat:
        return None, None
    effects = {col: category_effects(history.telemetry, history.catalog, col) for col in {s.category[0] for s in with_cat}}
    analogs = sorted({a for s in with_cat for a in s.analogs} & set(history.demand[C.GROUP_ID]))
    return effects, (group_effects(history.demand, analogs) if analogs else None)


def _growth_factors(scenario: Scenario, history, forecast: pd.DataFrame, groups: pd.DataFrame) -> np.ndarray:
    """Growth multiplier of each forecast row: global × customer × group, each a number or a curve
    over the weeks of the horizon (scenarios.growth_curve)."""
    from planner.scenarios import growth_curve

    g = scenario.growth
    if isinstance(g.all, (int, float)) and float(g.all) == 1.0 and not g.customers and not g.groups:
        return None  # no growth: no per-row arrays (at 20,000 functions 30 million rows, ~1 GB of them)
    week = ((forecast[C.DS] - horizon_start(scenario, history)) // pd.Timedelta("7D")).to_numpy(float)
    factor = growth_curve(g.all, week)
    if g.customers:
        cust = forecast[C.UNIQUE_ID].map(groups.set_index(C.GROUP_ID)[C.CUSTOMER]).to_numpy()
        for name, spec in g.customers.items():
            rows = cust == name
            factor[rows] *= growth_curve(spec, week[rows])
    if g.groups:
        ids = forecast[C.UNIQUE_ID].to_numpy()
        for name, spec in g.groups.items():
            rows = ids == name
            factor[rows] *= growth_curve(spec, week[rows])
    return factor


def _customer_log_volume(history) -> dict[str, float]:
    per_fn = pd.Series(history.telemetry.counts.sum(axis=0, dtype="float64"), index=history.telemetry.ids)
    days = len(history.telemetry.index) * history.telemetry.interval_s / 86400
    cust = history.catalog.set_index(C.UNIQUE_ID)[C.CUSTOMER]
    daily = per_fn.groupby(cust.reindex(per_fn.index).to_numpy()).sum() / max(days, 1e-9)
    return {k: float(np.log10(1 + v)) for k, v in daily.items()}


def _week_task(task: tuple):
    """One packing of one pool's week (a Dask task when the run has a cluster). ``task`` is
    ``(kind, rows, groups, tiers, catalog, start, week, solver, baseline, fallback, deferral, domains,
    residuals, extra)``; kind
    ``bound`` returns :func:`planner.plan.week_bound`; ``variant`` :func:`planner.plan.solve_variant`
    of variant ``extra``; ``free`` and ``fleet`` return a WeekPlan (``extra``: variants solved
    already, or None), or the InfeasiblePlanError's message as a string (the driver decides what
    follows)."""
    from models.forecasting._util import single_blas_thread

    with single_blas_thread():  # two BLAS threads per task oversubscribe a 2-core machine
        out = _week_task_body(*task)
    _trim_in_worker()
    return out


def _trim_in_worker() -> None:
    """:func:`release_heap` in a worker process (loky, Dask), which otherwise keeps the freed pages
    of its tasks' arrays in glibc's heap between tasks (0.5-0.7 GiB each at 20,000 functions,
    counted in the run's memory). The driver trims its own heap between stages instead: a trim
    walks the whole heap, which is the fleet's there."""
    import multiprocessing

    if multiprocessing.current_process().name != "MainProcess":
        release_heap()


class _TrimAfter:
    """``fn`` as a task that trims its worker's heap once done (picklable: a module-level class
    holding a module-level function)."""

    def __init__(self, fn: Callable):
        self.fn = fn

    def __call__(self, arg):
        out = self.fn(arg)
        _trim_in_worker()
        return out


class _TrimmingExecutor:
    """``executor`` whose tasks trim their worker's heap once done (the batch forecast's blocks:
    ~0.7 GiB of transients each at 4,000 series, in both workers while the driver assembles the
    forecast, the run's peak); everything else is the executor's."""

    def __init__(self, executor):
        self._executor = executor

    def __getattr__(self, name):
        return getattr(self._executor, name)

    def map(self, fn: Callable, items, progress=None, prepare=None) -> list:
        return self._executor.map(_TrimAfter(fn), items, progress=progress, prepare=prepare)


def _week_task_body(kind, rows, groups, tiers, catalog, start, week, solver, baseline, fallback, deferral, domains,
                    residuals=None, extra=None):
    from planner.plan import pack_week, solve_variant, week_bound

    if kind == "bound":
        return week_bound(rows, groups, tiers, catalog, start, deferral, residuals)
    if kind == "variant":
        return solve_variant(rows, groups, tiers, catalog, start, solver, extra, deferral, domains, residuals)
    try:
        if kind == "free":
            wp = pack_week(rows, groups, tiers, catalog, start, week, solver, deferral=deferral, domains=domains,
                           residuals=residuals, solved=extra)
        else:
            wp = pack_week(rows, groups, tiers, catalog, start, week, solver, baseline_servers=baseline,
                           fallback=fallback, deferral=deferral, domains=domains, residuals=residuals, solved=extra)
    except InfeasiblePlanError as exc:
        return str(exc)
    return release_items(wp)


def release_items(wp):
    """``wp`` with its instances' cached item arrays dropped (rebuilt on demand, same values) and
    their joint residual scenarios (``[hours, groups]``, for the verifier's Monte Carlo, which
    ``planner verify`` rebuilds from residuals.parquet; nothing after the packing reads them). A
    run holds every pool-week's plan: at 20,000 functions 4 x 13 weeks of 1,700 groups, where the
    factor parts are 36 MB and the scenarios 18 MB an instance."""
    for inst in (wp.instance, wp.peak_instance):
        if inst is not None:
            inst._cache.pop("items", None)
            object.__setattr__(inst, "scenarios", None)  # a frozen dataclass; the field is optional
    return wp


def _week_slices(forecast: pd.DataFrame, starts) -> "WeekSlices":
    """The forecast rows of each planning week (what a week's task needs, and no more)."""
    return pool_week_slices(forecast, None, [""], starts)[""]


class WeekSlices(Sequence):
    """The forecast rows of one pool's planning weeks, held as row positions into the fleet's
    forecast (4 bytes a row) rather than as a reordered copy of it (34 bytes a row: 1 GB at 20,000
    functions); ``slices[w]`` builds week ``w``'s table when a task needs it."""

    def __init__(self, forecast: pd.DataFrame, positions: np.ndarray, bounds: np.ndarray):
        self.forecast, self.positions, self.bounds = forecast, positions, bounds

    def __len__(self) -> int:
        return len(self.bounds) - 1

    def __getitem__(self, w):
        if isinstance(w, slice):
            return [self[i] for i in range(*w.indices(len(self)))]
        if not -len(self) <= w < len(self):
            raise IndexError(w)
        w %= len(self)
        return self.forecast.take(self.positions[self.bounds[w]:self.bounds[w + 1]])

    def rows(self) -> int:
        return int(self.bounds[-1] - self.bounds[0])


def pool_week_slices(forecast: pd.DataFrame, pool_of: dict | None, pools, starts) -> dict[str, WeekSlices]:
    """pool -> the forecast rows of each planning week (:class:`WeekSlices`: positions into
    ``forecast``, no copy of it per pool or week)."""
    n = len(starts)
    # int32 keys and one array freed as the next is made: at 20,000 functions each int64 array of
    # the forecast's 30 million rows is 240 MB, and this ran at the run's peak before packing.
    week = ((pd.to_datetime(forecast[C.DS]) - starts[0]) // pd.Timedelta(days=7)).to_numpy()
    week = np.clip(week, -1, n).astype(np.int32)
    if pool_of is None:
        code = np.zeros(len(forecast), dtype=np.int32)
    else:
        from planner.pools import label_codes

        index = {p: i for i, p in enumerate(pools)}
        ids = list(pool_of)
        per_group = np.array([index[pool_of[g]] for g in ids] + [-1], dtype=np.int32)
        code = per_group[label_codes(forecast[C.UNIQUE_ID], ids)]  # -1 (not placed) reads the last entry
    key = np.where((code >= 0) & (week >= 0) & (week < n), code * n + week, -1).astype(np.int32)
    del week, code
    order = np.argsort(key, kind="stable")
    keys = key[order]
    del key
    valid = keys >= 0
    positions = order[valid].astype(np.int32 if len(forecast) < 2**31 else np.int64)
    del order
    bounds = np.searchsorted(keys[valid], np.arange(len(pools) * n + 1))
    return {p: WeekSlices(forecast, positions, bounds[i * n:(i + 1) * n + 1]) for i, p in enumerate(pools)}


def pack_pools(jobs: dict, tiers, starts, solver, progress: Progress = _noop, executor=None, deferral=None,
               domains=None, residuals=None, chunk_items: int | None = None) -> dict:
    """Pack every week of every pool; ``jobs`` maps a pool to ``(forecast, groups, servers)``, the
    forecast as one table or already split per week (:func:`pool_week_slices`).

    Per pool, the peak week (largest cost bound, then largest demand) is packed first with the
    pool's whole catalog; the other weeks are packed onto a subset of its fleet, so that the fleet
    only grows towards the peak and no server bought for one week idles once the mix changes. A week
    for which the search finds no plan on that fleet keeps the peak week's own assignment when the
    verifier accepts it for the week's demand; otherwise (a different shape) it is packed freely,
    with a note, and if that free packing costs more than the peak week's, it is the real peak and
    the pool starts again from it.

    The packings of one phase (peak weeks of all pools, then every other week of every pool) are
    independent tasks run by ``executor`` (in this process by default, or on Dask); each depends on
    its inputs only, so the plan is the same wherever they run. ``deferral``
    (planner.deferral.DeferralSetup) moves lax work in every week; ``domains``
    (planner.failover.DomainPlanner) adds failure domains; ``residuals``
    (planner.packing.residual_scenarios) correlate the pooled groups. Returns pool -> (weeks, notes).

    A pool of more than ``chunk_items`` groups (default ``solver.chunk_items``, else
    :data:`planner.plan.CHUNK_ITEMS`) is split
    into chunks (:func:`planner.plan.chunk_members`, the same in every week) planned as pools of
    their own, as independent tasks: each its own peak week and fleet; each week's chunk plans are
    then merged into one pool plan (:func:`planner.plan.merge_week_plans`, worker ids
    ``partK/w003``), with a note.
    """
    from planner.parallel import LocalExecutor
    from planner.plan import envelope_servers, fleet_counts, fleet_servers, merge_week_plans, repack_seams

    ex = executor or LocalExecutor()
    n = len(starts)
    whole = list(jobs)
    slices = {p: jobs[p][0] if isinstance(jobs[p][0], (list, WeekSlices)) else _week_slices(jobs[p][0], starts)
              for p in whole}
    if chunk_items is None:
        chunk_items = getattr(solver, "chunk_items", None)
    jobs, slices, parts, chunk_notes = _chunk_jobs(jobs, slices, tiers, n, chunk_items, deferral, domains)
    pools = list(jobs)
    label = (lambda p: f"pool {_chunk_label(p)}, ") if len(pools) > 1 else (lambda p: "")
    # Each pool's tasks carry the residuals of its own groups only.
    mine = {p: set(jobs[p][1][C.GROUP_ID].astype(str)) for p in pools}  # once per pool, not per column
    res = {p: None if residuals is None else residuals[[c for c in residuals.columns if c in mine[p]]] for p in pools}

    def task(kind, p, w, catalog=None, fallback=None, extra=None):
        # A spec: the task (with its week's rows, built from the slices) is made when it runs.
        return (kind, p, w, catalog, fallback, extra)

    def build(spec):
        kind, p, w, catalog, fallback, extra = spec
        _, groups, servers = jobs[p]
        return (kind, slices[p][w], groups, tiers, servers if catalog is None else catalog, starts[w], w, solver,
                servers, fallback, deferral, domains, res[p], extra)

    total = len(pools) * (2 * n)
    done_tasks = [0]

    def tick(k):
        done_tasks[0] += k
        progress(f"packing {done_tasks[0]}/{total} pool-weeks", 0.5 + 0.4 * min(done_tasks[0] / total, 1.0))

    keys = [(p, w) for p in pools for w in range(n)]
    bounds = dict(zip(keys, ex.map(_week_task, [task("bound", p, w) for p, w in keys], progress=tick, prepare=build)))
    peak = {p: max(range(n), key=lambda w: bounds[(p, w)]) for p in pools}  # first of equal pairs
    free: dict = {p: {} for p in pools}  # weeks packed with the whole catalog
    out: dict = {}
    pending = list(pools)

    def pack_free(pairs):
        pairs = [(p, w) for p, w in pairs if w not in free[p]]
        # Fewer weeks than processes (the peak week of one pool): each week's first shard variants
        # are solved as tasks side by side, then its packing (planner.plan.pack_week) takes their
        # results and picks by _cheapest's own rule, solving any variant left: the same plan.
        per = ex.workers // len(pairs) if pairs else 0
        solved = dict.fromkeys(pairs)
        if per > 1:
            specs = [(p, w, k) for p, w in pairs for k in range(per)]
            for (p, w, k), r in zip(specs, ex.map(_week_task, [task("variant", p, w, extra=k) for p, w, k in specs],
                                                  prepare=build)):
                if r is not None:
                    solved[(p, w)] = {**(solved[(p, w)] or {}), k: r}
        results = ex.map(_week_task, [task("free", p, w, extra=solved[(p, w)]) for p, w in pairs], progress=tick,
                         prepare=build)
        for (p, w), r in zip(pairs, results):
            if isinstance(r, str):
                raise InfeasiblePlanError(f"{label(p)}week {w} (from {starts[w].date()}): {r}")
            free[p][w] = r

    def held_first(p, weeks) -> list[str]:
        """Servers are not decommissioned inside the horizon, so a week that leaves servers of earlier
        weeks idle while needing more of another type buys early what only a later week may need (a
        year's plan switches mix from week to week). Such a week is packed again, in time order, on
        the servers the earlier weeks hold; that plan replaces its own when it exists. Returns a note
        per week replaced."""
        held = Counter()
        notes = []
        for w, wp in enumerate(weeks):
            need = fleet_counts(wp)
            if need - held and held - need:  # buys a type while servers it holds stand idle
                r = ex.map(_week_task, [task("fleet", p, w, fleet_servers(jobs[p][2], held))], prepare=build)[0]
                if not isinstance(r, str):
                    notes.append(f"{label(p)}week {w} packed on the servers earlier weeks hold ({_fleet_text(held)}) "
                                 f"instead of its own mix ({_fleet_text(need)}), which would have bought servers early")
                    weeks[w] = r
                    need = fleet_counts(r)
            held |= need  # the largest count of each type so far
        return notes

    while pending:
        progress(f"packing the peak week of {len(pending)} pool(s)", 0.5)
        pack_free([(p, peak[p]) for p in pending])
        envelopes = {p: envelope_servers(jobs[p][2], free[p][peak[p]]) for p in pending}
        # Longest expected first (the week's cost bound, then its demand; the peak week's order), so
        # that no long week starts last while the other processes idle. Results are keyed by week.
        pairs = sorted(((p, w) for p in pending for w in range(n) if w != peak[p]), key=lambda pw: bounds[pw],
                       reverse=True)
        fleet = dict(zip(pairs, ex.map(_week_task, [task("fleet", p, w, envelopes[p], free[p][peak[p]])
                                                    for p, w in pairs], progress=tick, prepare=build)))
        pack_free([(p, w) for (p, w), r in fleet.items() if isinstance(r, str)])
        still = []
        for p in pending:
            base = free[p][peak[p]].result.objective
            worse = [w for w in range(n) if (p, w) in fleet and isinstance(fleet[(p, w)], str)
                     and free[p][w].result.objective > base + 1e-9]
            if worse:  # the bound misjudged the peak: start the pool again from the real one
                peak[p] = worse[0]
                still.append(p)
                continue
            weeks, notes = [], []
            for w in range(n):
                if w == peak[p]:
                    weeks.append(free[p][w])
                elif isinstance(fleet[(p, w)], str):
                    weeks.append(free[p][w])
                    # what it means: that week's servers are its own mix, at this cost against the peak's
                    notes.append(f"{label(p)}week {w} does not fit the peak week's fleet (week {peak[p]}); packed "
                                 f"with the whole catalog: {free[p][w].result.objective:,.0f} a month against the "
                                 f"peak week's {base:,.0f}, with its own mix of server types")
                else:
                    weeks.append(fleet[(p, w)])
            out[p] = (weeks, notes + held_first(p, weeks))
        pending = still
    merged = {}
    for p in whole:
        keys = parts[p]
        if len(keys) == 1:
            weeks, notes = out[keys[0]]
        else:  # one pool plan per week from its chunks' plans; worker ids prefixed by the chunk
            labels = [k.rsplit(CHUNK_SEP, 1)[1] for k in keys]
            weeks, saved = [], []
            for w in range(n):
                wp, kept = repack_seams(merge_week_plans([out[k][0][w] for k in keys], labels), labels, solver)
                weeks.append(wp)
                if kept:
                    saved.append(wp.result.stats["seam_saving"])
            notes = [x for k in keys for x in out[k][1]]
            where = f"pool {p}: " if p else ""
            if saved:
                notes.append(f"{where}the emptiest worker of each chunk re-packed together in {len(saved)} of {n} "
                             f"weeks ({sum(saved):,.2f} a month saved in all)")
        merged[p] = ([_in_pool(wp, p, rename=len(whole) > 1) for wp in weeks], chunk_notes.get(p, []) + notes)
    return merged


def concat_rows(frames: Sequence[pd.DataFrame]) -> pd.DataFrame:
    """The frames' rows, one after another; frames without rows add none (pandas no longer lets an
    empty frame set the result's dtypes), and with no rows at all the first frame's columns stay."""
    return pd.concat([f for f in frames if len(f)] or list(frames[:1]), ignore_index=True)


def _fleet_text(counts: dict[str, int]) -> str:
    return ", ".join(f"{c} × {t}" for t, c in sorted(counts.items()) if c)


CHUNK_SEP = "#"  # pool#partK: a chunk's key inside pack_pools (never a pool name of the outputs)


def _chunk_label(key: str) -> str:
    if CHUNK_SEP not in key:
        return key
    pool, part = key.rsplit(CHUNK_SEP, 1)
    return f"{pool} ({part})" if pool else part


def _group_sizes(week_rows, ids: list[str], resources, capacity: np.ndarray) -> pd.Series:
    """Each group's largest forecast q99 over the weeks, in units of the largest server type's
    capacity (the larger resource): the size the chunks are dealt by."""
    best = np.zeros((len(ids), len(resources)))
    index, res_index = pd.Index(ids), pd.Index(resources)
    for rows in week_rows:
        if not len(rows):
            continue
        peak = rows.groupby([C.UNIQUE_ID, C.RESOURCE], observed=True)["q99"].max()
        gi = index.get_indexer(peak.index.get_level_values(0).astype(str))
        ri = res_index.get_indexer(peak.index.get_level_values(1))
        ok = (gi >= 0) & (ri >= 0)  # groups and resources of this pool only
        np.maximum.at(best, (gi[ok], ri[ok]), peak.to_numpy(dtype=float)[ok])
    return pd.Series((best / capacity[None, :]).max(axis=1), index=ids)


def _chunk_jobs(jobs: dict, slices: dict, tiers, n: int, chunk_items: int | None, deferral, domains):
    """``jobs`` and ``slices`` with each pool of more than ``chunk_items`` groups replaced by its
    chunks (``pool#part1``...), pool -> its keys in order, and pool -> notes. Pools with failure
    domains, deferral or a server type with a ``max_count`` are packed whole (their rules bind the
    pool as a whole), with a note."""
    from planner.plan import CHUNK_ITEMS, chunk_members

    limit = CHUNK_ITEMS if chunk_items is None else int(chunk_items)
    out_jobs, out_slices, parts, notes = {}, {}, {}, {}
    for p, (fc, groups, servers) in jobs.items():
        ids = sorted(set(groups[C.GROUP_ID].astype(str)))
        if len(ids) <= limit:
            out_jobs[p], out_slices[p], parts[p] = jobs[p], slices[p], [p]
            continue
        where = f"pool {p}: " if p else ""
        why = ("failure domains" if domains is not None else "deferral" if deferral is not None else
               "a server type's max_count" if servers["max_count"].notna().any() else None)
        if why:
            out_jobs[p], out_slices[p], parts[p] = jobs[p], slices[p], [p]
            notes[p] = [f"{where}{len(ids)} groups packed whole, not in chunks of {limit}: {why} bind the pool as a whole"]
            continue
        resources = list(C.RESOURCES)
        capacity = servers[resources].to_numpy(float).max(axis=0)
        members = chunk_members(_group_sizes((slices[p][w] for w in range(n)), ids, resources, capacity), limit,
                                _chunk_units(groups, tiers))
        keys = [f"{p}{CHUNK_SEP}part{k + 1}" for k in range(len(members))]
        for key, m, piece in zip(keys, members, _split_slices(slices[p], members, n)):
            out_jobs[key] = (piece, groups[groups[C.GROUP_ID].astype(str).isin(set(m))], servers)
            out_slices[key] = piece
        parts[p] = keys
        notes[p] = [f"{where}{len(ids)} groups packed in {len(members)} chunks of at most {limit} "
                    f"(consecutive sizes, a customer's isolated or spread groups together; each chunk its own peak week and fleet, merged)"]
    return out_jobs, out_slices, parts, notes


def _chunk_units(groups: pd.DataFrame, tiers) -> pd.Series:
    """group -> the unit it is chunked with: ``customer/tier`` for tiers that isolate a customer's
    groups or spread them over several workers (rules that bind the customer's groups together),
    else the group itself."""
    g = groups.drop_duplicates(C.GROUP_ID)
    binding = {name for name, t in tiers.items() if t.isolated or t.spread > 1}
    key = [f"{c}/{t}" if t in binding else str(gid)
           for gid, c, t in zip(g[C.GROUP_ID].astype(str), g[C.CUSTOMER].astype(str), g["tier"].astype(str))]
    return pd.Series(key, index=g[C.GROUP_ID].astype(str).to_numpy())


def _split_slices(sl, members: list[list[str]], n: int) -> list:
    """The week slices of each chunk of groups (``members``), in chunk order."""
    if not isinstance(sl, WeekSlices):
        sets = [set(m) for m in members]
        return [[rows[rows[C.UNIQUE_ID].astype(str).isin(s)] for rows in sl] for s in sets]
    from planner.pools import label_codes

    ids = [g for m in members for g in m]
    chunk_of = np.array([c for c, m in enumerate(members) for _ in m] + [-1], dtype=np.int32)
    pos = sl.positions[sl.bounds[0]:sl.bounds[-1]]
    code = chunk_of[label_codes(sl.forecast[C.UNIQUE_ID].take(pos), ids)]
    week = np.repeat(np.arange(n, dtype=np.int32), np.diff(sl.bounds))
    out = []
    for c in range(len(members)):
        mask = code == c
        counts = np.bincount(week[mask], minlength=n)
        out.append(WeekSlices(sl.forecast, pos[mask], np.concatenate([[0], np.cumsum(counts)])))
    return out


def clock_stop_notes(weeks, pool: str | None, limit_s: float) -> list[str]:
    """A note per week whose counted search (solver.iterations) was cut short by the wall-clock
    ceiling: its plan depends on the machine's speed and load, which the user must know."""
    out = []
    for wp in weeks:
        stops = (wp.result.stats or {}).get("clock_stops")
        if stops:
            where = f"pool {pool}, " if pool else ""
            out.append(f"{where}week {wp.week}: {', '.join(stops)} stopped at the {limit_s:g} s time limit before "
                       f"its counted budget, so this week's plan may differ between runs (raise solver.time_limit_s)")
    return out


def _in_pool(wp, pool: str, rename: bool = True):
    """``wp`` tagged with its pool and, with ``rename``, its worker ids prefixed by the pool
    (``eu/w003``): ids stay unique across pools."""
    import dataclasses

    def renamed(result):
        if result is None or not rename:
            return result
        return dataclasses.replace(
            result, placements=tuple(dataclasses.replace(x, worker_id=f"{pool}/{x.worker_id}") for x in result.placements),
            workers=tuple((f"{pool}/{w}", t) for w, t in result.workers))

    failover = getattr(wp, "failover", None)
    if failover is not None and rename:  # the failover map names workers too
        ids = {w: f"{pool}/{w}" for w in failover.zone_of_worker}
        targets = failover.targets.copy()
        for col in ("worker_id", "target_worker"):
            targets[col] = targets[col].map(lambda w: ids.get(w, f"{pool}/{w}") if isinstance(w, str) else w)
        failover = dataclasses.replace(failover, targets=targets,
                                       spares=tuple((ids.get(w, f"{pool}/{w}"), t, z) for w, t, z in failover.spares),
                                       zone_of_worker={ids[w]: z for w, z in failover.zone_of_worker.items()})
    return dataclasses.replace(wp, result=renamed(wp.result), peak_result=renamed(wp.peak_result), pool=pool,
                               failover=failover)


def place_and_pack(scenario: Scenario, forecast: pd.DataFrame, groups: pd.DataFrame, catalog, starts,
                   progress: Progress = _noop, executor=None, deferral=None, domains=None, pack_servers=None,
                   residuals=None):
    """The pools stage: which pools each group may run in (planner.pools.allowed_pools), the first
    pass that places groups allowed in several (place_groups), then every pool's weeks packed
    (:func:`pack_pools`). Returns (placement, slices, jobs, packed): the forecast rows of each pool
    and week, pool -> (week slices, groups, servers) of the pools with groups, pool -> (weeks, notes).
    ``pack_servers`` (default: the catalog) are the types as the packing prices them (carbon);
    ``residuals`` the groups' residual correlation for pooled risk (planner.packing)."""
    from planner.plan import servers_frame, tiers_of
    from planner.pools import allowed_pools, place_groups

    tiers, servers = tiers_of(scenario), servers_frame(scenario)
    pack_servers = servers if pack_servers is None else pack_servers
    analogs = {a.name: list(a.analogs) for a in scenario.anticipated}
    placement = place_groups(allowed_pools(groups, catalog, scenario, servers, analogs), forecast, groups,
                             tiers, servers, starts[0], len(starts))
    pools = sorted(servers["pool"].unique())
    slices = pool_week_slices(forecast, placement.pool_of, pools, starts)
    jobs = {}
    for p in pools:
        ids = set(placement.groups_in(p))
        if ids:
            jobs[p] = (slices[p], groups[groups[C.GROUP_ID].isin(ids)], pack_servers[pack_servers["pool"] == p])
    packed = pack_pools(jobs, tiers, starts, scenario.solver, progress, executor, deferral=deferral, domains=domains,
                        residuals=residuals)
    return placement, slices, jobs, packed


def required_by_pool(weeks, servers: pd.DataFrame, n_weeks: int, peak: bool = False) -> pd.DataFrame:
    """``week, pool, server_type, required`` of packings of several pools (WeekPlan.pool), from
    each week's plan or, with ``peak``, its peak-based plan; a pool without packings requires none."""
    import dataclasses

    from planner.plan import required_servers

    parts = []
    for p in sorted(servers["pool"].unique()):
        mine = [dataclasses.replace(wp, result=wp.peak_result) if peak else wp for wp in weeks if wp.pool == p]
        sub = servers[servers["pool"] == p]
        parts.append(required_servers(mine, dict.fromkeys(sub["type"], p)) if mine else _no_requirement(sub, n_weeks))
    return pd.concat(parts, ignore_index=True)


def pack_horizon(forecast, groups, tiers, servers, starts, solver, progress: Progress = _noop, deferral=None,
                 executor=None, domains=None, residuals=None):
    """Pack every week of one pool (see :func:`pack_pools`); returns (weeks, notes)."""
    return pack_pools({"": (forecast, groups, servers)}, tiers, starts, solver, progress, executor, deferral,
                      domains, residuals)[""]


@dataclass(frozen=True)
class PoolsProcurement:
    """The procurement of several pools, each solved on its own, read as one result (the fields
    the plan, summary and export use, as on ``models.procurement.ProcurementResult``)."""

    status: object
    total_cost: float
    purchase_cost: float
    purchases: pd.DataFrame
    installed: pd.DataFrame
    shortfall: pd.DataFrame
    backend: str
    runtime_s: float
    messages: tuple = ()
    per_pool: dict = field(default_factory=dict)

    @property
    def has_shortfall(self) -> bool:
        return not self.shortfall.empty


def _procure_task(task: tuple):
    """One pool's procurement (a Dask task when the run has a cluster): (result, starting fleet)."""
    scenario, servers, required, fleet = task
    return procure(scenario, servers, required, fleet)


def procure_pools(scenario, servers: pd.DataFrame, required: pd.DataFrame, executor=None):
    """Procurement per pool (independent tasks), or one joint problem when a budget binds the pools
    together; one pool gives :func:`procure`'s result unchanged. Returns (result, starting fleet)."""
    from models.packing.result import SolveStatus
    from planner.parallel import LocalExecutor
    from planner.scenarios import installed_fleet

    pools = sorted(servers["pool"].unique())
    if len(pools) == 1 or scenario.procurement.budget is not None:
        return procure(scenario, servers, required)
    fleet = installed_fleet(scenario)
    ex = executor or LocalExecutor()
    results = ex.map(_procure_task, [(scenario, servers[servers["pool"] == p], required[required["pool"] == p],
                                      fleet[fleet["pool"] == p]) for p in pools])
    per = dict(zip(pools, (r for r, _ in results)))
    rank = [SolveStatus.ERROR, SolveStatus.INFEASIBLE, SolveStatus.TIMED_OUT, SolveStatus.FEASIBLE, SolveStatus.OPTIMAL]
    status = min((r.status for r in per.values()), key=rank.index)
    proc = PoolsProcurement(
        status=status, total_cost=float(sum(r.total_cost for r in per.values())),
        purchase_cost=float(sum(r.purchase_cost for r in per.values())),
        purchases=concat_rows([r.purchases for r in per.values()]),
        installed=concat_rows([r.installed for r in per.values()]),
        shortfall=concat_rows([r.shortfall for r in per.values()]),
        backend=",".join(sorted({r.backend for r in per.values()})),
        runtime_s=float(sum(r.runtime_s for r in per.values())),
        messages=tuple(f"pool {p}: {m}" for p, r in per.items() for m in r.messages), per_pool=per)
    return proc, concat_rows([f for _, f in results])


def run_plan(scenario: Scenario | None = None, progress: Progress = _noop, history=None,
             prepared: dict | None = None, *, scheduler: str | None = None, workers: int | None = None,
             jobs: int | None = 1, executor=None, keep_telemetry: bool = True) -> PlanRun:
    """Run the whole plan for ``scenario`` (the embedded default when None). No files are written.
    ``keep_telemetry=False`` drops the history's invocation matrix (0.7 GB at 20,000 functions) as
    soon as nothing of the run needs it: the returned ``PlanRun.history.telemetry`` then keeps the
    function ids and the grid but no counts, and ``PlanRun.history.demand`` the columns of
    :data:`DEMAND_AFTER_FORECAST` only (``planner run`` without ``--backtest``).
    ``history`` (a planner.history.History) skips reading the scenario's data (backtest origins).
    ``prepared`` (from :func:`prepare_forecast` of a scenario with the same data, horizon and
    forecast sections) skips reading the history and forecasting: variants of tiers, servers,
    energy or solver are then planned on one forecast (benchmarks/plan_objectives.py).

    Forecasting and the packing of each pool and week run as Dask tasks on the cluster at
    ``scheduler``, or on a LocalCluster of ``workers`` processes, or in ``jobs`` local processes
    (``None``: the cores, at most 4), or in this process (the default); the plan is the same in
    every case."""
    import contextlib

    from planner.parallel import open_executor

    scenario = scenario or default_scenario()
    ctx = contextlib.nullcontext(executor) if executor is not None else open_executor(scheduler, workers, jobs=jobs)
    with ctx as ex:
        return _run_plan(scenario, progress, history, ex, prepared, keep_telemetry)


def without_counts(history):
    """``history`` with an empty invocation matrix (ids and interval kept: the summary's function
    count) and no keep-alive matrices (:func:`without_matrices`). The forecast works on the group
    demand; only anticipated services (customer volume, calendar effects) and a backtest of the
    run (which cuts the history again) read the counts."""
    import dataclasses

    from planner.telemetry import Telemetry

    tel = history.telemetry
    empty = Telemetry(pd.DatetimeIndex(tel.index[:0], freq=tel.index.freq), tel.ids, tel.counts[:0].copy(), tel.repairs)
    return dataclasses.replace(history, telemetry=empty, warm=without_matrices(history.warm))


def without_matrices(warm):
    """``warm`` (planner.keepalive.WarmDemand) without its ``[group, slot]`` matrices (kept with no
    slots): the demand was derived from them when the history was read, and a run reads only the
    per-app cold starts afterwards (the QoS table's cold-start rate, the summary's keep_alive). At
    20,000 functions the matrices are 0.95 GB (float64 memory and its mean)."""
    return None if warm is None else warm.without_matrices()


# The demand columns a run reads once its forecast is made: the residual correlation, the Profiles
# table and the report's forecast-against-history figure.
DEMAND_AFTER_FORECAST = (C.GROUP_ID, C.UNIQUE_ID, C.DS, C.CPU_CORES, C.INVOCATIONS)


def slim_demand(history, columns=DEMAND_AFTER_FORECAST):
    """``history`` with its demand table cut to ``columns`` (default :data:`DEMAND_AFTER_FORECAST`).
    The float columns kept are copied out of the table's shared float block, so that the block of
    the others is freed (at 20,000 functions 60 million rows: concurrency, memory and the means,
    ~0.9 GB)."""
    import dataclasses

    demand = history.demand
    keep = [c for c in demand.columns if c in columns]
    if len(keep) == len(demand.columns):
        return history
    slim = pd.DataFrame({c: demand[c].to_numpy(copy=True) if demand[c].dtype.kind == "f" else demand[c].array
                         for c in keep}, index=demand.index, copy=False)
    return dataclasses.replace(history, demand=slim)


def profiled_demand(history, forecast: pd.DataFrame, max_groups: int | None = None):
    """``history`` with its demand cut to what is read of it once the packing starts: the rows of
    the Profiles table's groups (the ``max_groups``, default :data:`PROFILE_GROUPS`, largest CPU
    peaks; :func:`group_profiles`) and of the forecast-against-history figure's (the largest CPU
    peaks among ``forecast``'s groups; planner.export.plots.forecast_vs_history_figure), cut as
    group_profiles cuts them (:func:`_rows_of`), so that both read the same table as from the whole
    demand: at 20,000 functions 2,000 of 6,825 groups, ~0.6 GB less from the packing to the last
    file. A fleet of at most ``max_groups`` groups is kept whole. Call it once the residual
    correlation (which reads every group's last weeks) is made."""
    import dataclasses

    from planner.demand import group_max
    from planner.export.plots import FIGURE_RESOURCE, figure_groups

    max_groups = PROFILE_GROUPS if max_groups is None else int(max_groups)
    demand = history.demand
    peaks = group_max(demand, C.GROUP_ID, C.CPU_CORES)
    if len(peaks) <= max_groups:
        return history
    keep = set(peaks.sort_values(ascending=False, kind="stable").index[:max_groups])
    # The figure's own choice of groups, on the peaks computed here when it shows CPU.
    keep |= set(figure_groups(demand, forecast, peaks=peaks if FIGURE_RESOURCE == C.CPU_CORES else None))
    return dataclasses.replace(history, demand=_rows_of(demand, keep))


def _run_plan(scenario: Scenario, progress: Progress, history, ex, prepared=None, keep_telemetry=True) -> PlanRun:
    from planner.history import load_history
    from planner.plan import (plan_table, qos_table, servers_frame, tiers_of, utilisation_frame, week_starts,
                              worker_loads_of)
    from planner.energy import plan_energy
    from planner.failover import (check_survivable, domain_planner, failover_table, installed_servers,
                                  redundancy_summary, workers_table)
    from planner.fairness import add_fairness, bound_risk_ratio, fairness_summary
    from planner.packing import RESIDUAL_WEEKS, residual_scenarios
    from planner.pools import pool_totals
    from planner.risk import aggregate_risk, overflow_vs_target, plan_risk

    t0 = time.perf_counter()
    timings = {}
    progress("reading history", 0.0)
    if prepared is not None:
        history = prepared["history"]
    # Without the counts the run drops the keep-alive matrices too (without_counts): not made at all.
    history = load_history(scenario, keep_matrices=keep_telemetry) if history is None else history
    timings["history_s"] = time.perf_counter() - t0
    start = horizon_start(scenario, history)
    check_names(scenario, history.groups)  # before the forecast, like the carbon file below
    intensity = carbon_stage(scenario, start)  # before the forecast: a bad carbon file fails fast
    check_survivable(scenario)
    sized_inventory = None
    if not isinstance(scenario.inventory, list):
        from planner.backtest import inventory_from_history

        progress("installed fleet from the history's last weeks", 0.02)
        t_inv = time.perf_counter()
        scenario, sized_inventory = inventory_from_history(scenario, history, ex)
        timings["inventory_s"] = time.perf_counter() - t_inv
    if not keep_telemetry and not scenario.anticipated:
        history = without_counts(history)  # before the forecast's transients, the run's peak
    from planner.forecast import ForecastRun
    from planner.forecast_batch import batch_forecast_stage, use_batch

    n_series = int(history.groups.shape[0]) * len(C.RESOURCES)
    if not keep_telemetry and not scenario.anticipated and prepared is None and use_batch(scenario, n_series):
        # The batch forecast reads the resources' columns only; the columns nobody reads go before
        # its transients (concurrency and the means: 0.7 GB at 20,000 functions).
        history = slim_demand(history, DEMAND_AFTER_FORECAST + tuple(C.RESOURCES))
    release_heap()  # reading the history's transients (keep-alive demand) and the counts
    fc_scenario = scenario
    if ex.address is not None and scenario.forecast.scheduler is None:
        # The forecast stage sends its series to the same cluster.
        fc_scenario = scenario.model_copy(update={"forecast": scenario.forecast.model_copy(update={"scheduler": ex.address})})
    if prepared is not None:
        fc_run = prepared.get("run") or ForecastRun(prepared["forecast"], prepared["report"])
        forecast, report = fc_run.forecast, fc_run.report
    elif use_batch(scenario, n_series):
        forecast, report = batch_forecast_stage(scenario, history, start, progress, _TrimmingExecutor(ex))
        fc_run = ForecastRun(forecast, report)  # the batch path keeps no per-bucket calibration table
    else:
        fc_run = forecast_stage_run(fc_scenario, history, start, progress)
        forecast, report = fc_run.forecast, fc_run.report
    timings["forecast_s"] = time.perf_counter() - t0 - timings["history_s"] - timings.get("inventory_s", 0.0)
    forecast, groups = adjust_forecast(scenario, history, forecast)
    if not keep_telemetry and scenario.anticipated:
        history = without_counts(history)
    residuals = None
    if not keep_telemetry:  # before packing: the run's memory through packing and outputs
        # The groups' residual correlation (pooled risk, from every group's last weeks) is the last
        # reader of the whole demand; the Profiles table and the report read its largest groups.
        residuals = residual_scenarios(history.demand, C.CPU_CORES, weeks=RESIDUAL_WEEKS)
        history = slim_demand(profiled_demand(history, forecast))
    release_heap()  # the forecast's transients

    tiers = tiers_of(scenario)
    servers = servers_frame(scenario)
    starts = week_starts(start, scenario.horizon.weeks)
    t1 = time.perf_counter()
    from planner.deferral import deferral_setup

    deferral = deferral_setup(scenario, history)
    if deferral is not None:  # carbon-aware shifting: the deferral LP weighs each hour's carbon at its price
        from planner.energy import carbon_slot_cost

        deferral.slot_cost = carbon_slot_cost(scenario, intensity, servers)
    # Failure domains and the carbon price shape the packing (issue 17); procurement pays money only.
    zone_cost = {z: intensity.mean(z) for z in intensity.values} if scenario.energy.carbon_price > 0 else None
    domains = domain_planner(scenario, groups, zone_cost)
    pack_servers = carbon_priced_servers(servers, scenario, intensity)
    if residuals is None:  # the groups' residual correlation (pooled risk) from the history's last weeks
        residuals = residual_scenarios(history.demand, C.CPU_CORES, weeks=RESIDUAL_WEEKS)
    placement, slices, jobs, packed = place_and_pack(scenario, forecast, groups, history.catalog, starts, progress, ex,
                                                     deferral, domains=domains, pack_servers=pack_servers,
                                                     residuals=residuals)
    pools = sorted(servers["pool"].unique())
    bounds = {n: t.max_risk_ratio for n, t in scenario.tiers.items() if t.max_risk_ratio is not None}
    fairness_bound = None
    if bounds:  # within each pool: a customer's groups that share a pool share its workers' risk
        reports = {}
        for p in packed:
            def pack(packing_groups, p=p):
                return pack_pools({p: (slices[p], packing_groups, jobs[p][2])}, tiers, starts, scenario.solver,
                                  progress, ex, deferral=deferral, domains=domains, residuals=residuals)[p]

            weeks_p, bound_notes, reports[p] = bound_risk_ratio(pack, packed[p][0], jobs[p][1], tiers, bounds,
                                                                dict.fromkeys(jobs[p][2]["type"], p))
            packed[p] = (weeks_p, bound_notes if bound_notes is not None else packed[p][1])
        fairness_bound = next(iter(reports.values())) if len(reports) == 1 else reports
    timings["packing_s"] = time.perf_counter() - t1
    deferred = {p: _deferral_figures(packed[p][0], deferral, pd.concat(slices[p], ignore_index=True), jobs[p][1],
                                     tiers, servers[servers["pool"] == p], scenario, progress, residuals)
                for p in packed} if deferral is not None else {}
    jobs = {p: (None, g, sv) for p, (_, g, sv) in jobs.items()}  # the week slices are done with
    slices = None  # released (the closures above are done with them)
    release_heap()

    progress("procurement", 0.92)
    required = required_by_pool([wp for p in packed for wp in packed[p][0]], servers, scenario.horizon.weeks)
    proc, fleet = procure_pools(scenario, servers, required, ex)
    if not proc.status.has_solution:
        raise InfeasiblePlanError(f"procurement: status {proc.status}; " + "; ".join(proc.messages))

    plans, utils, assigns, contributions, weeks_all, notes, per_pool, reviews = [], [], [], [], [], [], {}, []
    targets = {name: t.target for name, t in tiers.items()}
    worker_stats = []  # each worker's predicted overflow probability and target (planner.risk)
    energy_parts, workers_parts, first_zone, installed_by_zone = [], [], {s.type: s.zones[0] for s in scenario.servers}, installed_servers(scenario)
    for p in pools:
        sub = servers[servers["pool"] == p]
        pool_of = dict.fromkeys(sub["type"], p)
        weeks = packed[p][0] if p in packed else []
        notes += packed[p][1] if p in packed else []
        notes += clock_stop_notes(weeks, p if len(pools) > 1 else None, scenario.solver.time_limit_s)
        loads = {wp.week: worker_loads_of(wp) for wp in weeks}
        short = proc.shortfall[proc.shortfall["pool"] == p] if len(proc.shortfall) else proc.shortfall
        pool_risk = plan_risk(weeks, loads, groups, pool_of, short, targets=targets,
                              reference_headroom={name: t.headroom for name, t in tiers.items()})
        contributions.append(pool_risk.contributions)
        if len(pool_risk.by_worker):
            worker_stats.append(pool_risk.by_worker[["week", "worker_id", "slot_hours", "overflow_probability",
                                                     "overflow_risk"]])
        risks = {wp.week: pool_risk.contributions[pool_risk.contributions["week"] == wp.week] for wp in weeks}
        inst = proc.installed[proc.installed["pool"] == p]
        bought = proc.purchases[proc.purchases["pool"] == p] if len(proc.purchases) else proc.purchases
        if weeks:
            plans.append(plan_table(weeks, loads, inst, bought, risks, sub, overflow_vs_target(pool_risk, "server_type")))
            zone_of_worker = {(wp.week, w): z for wp in weeks if wp.failover is not None
                              for w, z in wp.failover.zone_of_worker.items()}
            energy = plan_energy(weeks, loads, inst, sub, scenario, intensity, zone_of_worker, shortfall=short)
            energy_parts.append(energy)
            plans[-1] = plans[-1].merge(energy, on=["week", "pool", "server_type"], how="left", validate="one_to_one")
            workers_parts.append(workers_table(weeks, pool_of, first_zone, installed_by_zone))
            if len(pools) > 1:
                reviews.append(review_tables(scenario, weeks, plans[-1], getattr(proc, "per_pool", {}).get(p, proc), groups, sub))
            utils += [utilisation_frame(wp, loads[wp.week], pool_of) for wp in weeks]
            assigns += [wp.result.assignment_frame().assign(week=wp.week, pool=p) for wp in weeks]
        else:
            plans.append(_idle_plan(inst, starts))
        weeks_all += weeks
        per = getattr(proc, "per_pool", {}).get(p)
        per_pool[p] = {"purchase_cost": float(per.purchase_cost) if per is not None else
                       float(proc.purchase_cost if len(pools) == 1 else 0.0),
                       "shape_cost": sum(wp.result.objective for wp in weeks),
                       "peak_cost": sum(wp.peak_cost for wp in weeks)}
        for wp in weeks:  # this pool's tables are built: its item arrays go (one pool's at a time)
            release_items(wp)
    plan = pd.concat(plans, ignore_index=True)
    utilisation = pd.concat(utils, ignore_index=True)
    assignment = pd.concat(assigns, ignore_index=True).rename(columns={"fraction": "share"})
    assignment["tier"] = assignment[C.GROUP_ID].map(groups.drop_duplicates(C.GROUP_ID).set_index(C.GROUP_ID)["tier"])
    workers = pd.concat(workers_parts, ignore_index=True)
    assignment = assignment.merge(workers[["week", "worker_id", "zone", "rack"]], on=["week", "worker_id"], how="left")
    risk = aggregate_risk(pd.concat(contributions, ignore_index=True), tiers=sorted(set(groups["tier"])),
                          workers=pd.concat(worker_stats, ignore_index=True) if worker_stats else None)
    qos = qos_table(groups, tiers, risk.by_customer, overflow_vs_target(risk, C.CUSTOMER, groups, targets))
    if history.warm is not None:  # cold starts the history had under the scenario's keep-alive policy
        qos = qos.merge(history.warm.customers()[[C.CUSTOMER, "cold_start_rate"]], on=C.CUSTOMER, how="left")
    qos = add_fairness(qos, risk.exposure_by_customer, risk.breach_by_customer)
    workers_risk = risk.by_worker
    pools_table = pool_totals(plan, placement, per_pool)
    summary = _summary(scenario, history, start, weeks_all, plan, proc, risk, report, timings, time.perf_counter() - t0)
    summary["packing_notes"] = notes
    if sized_inventory is not None:
        summary["inventory_from_history"] = sized_inventory
    summary.update(energy_totals(pd.concat(energy_parts, ignore_index=True), scenario, intensity, servers))
    summary["fairness"] = fairness_summary(qos)
    if fairness_bound is not None:
        summary["fairness_bound"] = fairness_bound
        for label, fb in (fairness_bound.items() if len(packed) > 1 else [("", fairness_bound)]):
            for t, ok in fb["holds"].items():
                if not ok:
                    summary["plan_warnings"].append(
                        f"FAIRNESS: {label and f'pool {label}, '}tier {t}'s bound max_risk_ratio {fb['bounds'][t]:g} does "
                        f"not hold: {fb['not_held'].get(t, '')}")
    redundancy = redundancy_summary(weeks_all, scenario)
    if redundancy:
        summary["redundancy"] = redundancy
        if redundancy.get("reserve_fallback_weeks"):
            summary["plan_warnings"].append(
                f"REDUNDANCY: the spread form's failover map did not fit week(s) {redundancy['reserve_fallback_weeks']}; "
                "they use the reserve form (spare servers)")
    from planner.forecast import calibration_summary

    summary["forecast_calibration"] = calibration_summary(fc_run)
    if history.warm is not None:
        summary["keep_alive"] = history.warm.summary()
    deferral_weeks = planned_demand = None
    if deferred:
        parts = {p: d for p, d in deferred.items() if d[0] is not None}
        if len(pools) == 1:
            deferral_weeks, summary["deferral"], planned_demand = next(iter(parts.values()))
        elif parts:
            deferral_weeks = pd.concat([d[0].assign(pool=p) for p, d in parts.items()], ignore_index=True)
            summary["deferral"] = {p: d[1] for p, d in parts.items()}
            planned_demand = pd.concat([d[2] for d in parts.values()], ignore_index=True)
    if len(pools) == 1:
        orders, why = review_tables(scenario, weeks_all, plan, proc, groups, servers)
    else:
        orders = pd.concat([o for o, _ in reviews], ignore_index=True) if reviews else None
        why = pd.concat([w for _, w in reviews], ignore_index=True) if reviews else None
    if orders is not None:
        summary.update(_review_summary(scenario, servers, fleet, orders, why, risk, groups, tiers, summary))
    if len(pools) > 1:
        labels = [p for p in pools for _ in (packed[p][0] if p in packed else [])]
        for entry, p in zip(summary.get("packing", []), labels):
            entry["pool"] = p
        summary["pools"] = pools_table.to_dict("records")
    summary["parallel"] = {"executor": ex.name, "workers": ex.workers}
    summary["forecast_method"] = "batch" if use_batch(scenario, n_series) else "per_series"
    progress("shape profiles", 0.97)
    release_heap()
    profiles = group_profiles(history)
    release_heap()
    n_groups = int(history.groups.shape[0])
    if n_groups > PROFILE_GROUPS:
        summary["profiles_note"] = (f"shape profiles of the {PROFILE_GROUPS:,} groups with the largest CPU peak "
                                    f"of {n_groups:,} (planner.pipeline.PROFILE_GROUPS)")
    progress("done", 1.0)
    run = PlanRun(scenario, history, forecast, report, weeks_all, required, proc, plan, proc.purchases, assignment,
                  utilisation, qos, workers_risk, risk, profiles, summary, groups, pools=pools_table,
                  placement=placement.table, workers=workers,
                  failover=failover_table(weeks_all) if domains is not None else None)
    run.fleet, run.orders, run.why = fleet, orders, why
    run.residuals = residuals
    run.deferral, run.planned_demand = deferral_weeks, planned_demand
    run.forecast_calibration = fc_run.calibration
    return run


def _deferral_figures(weeks, deferral, forecast, groups, tiers, servers, scenario, progress, residuals=None):
    """Per-week work moved; for the week that sizes the fleet, the capacity deferral saved (that
    week packed again as the work arrives); and the demand packed after the move (what
    ``planner verify`` checks the assignment against). ``(None, None, None)`` without deferral."""
    if deferral is None:
        return None, None, None
    from planner.deferral import deferral_summary, planned_demand, week_figures
    from planner.plan import pack_week, week_bound

    table = pd.DataFrame([week_figures(wp) for wp in weeks])
    top = max(wp.result.objective for wp in weeks)
    tied = [wp for wp in weeks if wp.result.objective >= top - 1e-9]
    # Among weeks of equal cost the fleet is sized by the one pack_pools packed freely (largest
    # bound, first of equals); the others were packed onto its fleet, and their free packing
    # without deferral is no like-for-like comparison.
    peak = tied[0] if len(tied) == 1 else max(
        tied, key=lambda wp: week_bound(forecast, groups, tiers, servers, wp.start, deferral, residuals))
    progress("peak week without deferral", 0.91)
    try:
        without = pack_week(forecast, groups, tiers, servers, peak.start, peak.week, scenario.solver,
                            residuals=residuals).result.objective
    except InfeasiblePlanError as exc:
        import warnings

        warnings.warn(f"the peak week without deferral has no plan ({exc}); capacity saved is not reported", stacklevel=2)
        without = None
    return table, deferral_summary(table, deferral, peak.week, without), planned_demand(weeks)


def procure(scenario: Scenario, servers: pd.DataFrame, required: pd.DataFrame, fleet: pd.DataFrame | None = None):
    """Orders that cover ``required`` (week, pool, server_type, required) at least cost, from the
    installed fleet (``servers[].initial`` + the inventory). With ``procurement.initial_fleet:
    week0`` orders already in transit top the fleet up where a week inside a type's lead time needs
    more (an order placed now could not reach it). Returns (ProcurementResult, the starting fleet
    ``pool, server_type, inventory, in_transit, installed``). ``fleet`` (``pool, server_type,
    installed``; default :func:`planner.scenarios.installed_fleet`) is one pool's part of it."""
    from models.procurement import ProcurementOptions, ProcurementProblem, solve_procurement
    from planner.scenarios import installed_fleet

    fleet = (installed_fleet(scenario) if fleet is None else fleet).rename(columns={"installed": "inventory"})
    fleet["in_transit"] = 0
    if scenario.procurement.initial_fleet == "week0":
        lead = dict(zip(servers["type"], servers["lead_time_weeks"]))
        within = required[required["week"] < required["server_type"].map(lead).clip(lower=1)]
        cover = fleet["server_type"].map(within.groupby("server_type")["required"].max()).fillna(0).astype(int)
        fleet["in_transit"] = (cover - fleet["inventory"]).clip(lower=0)
        # the first week inside the lead time that needs more than the inventory: what they are for
        fleet["in_transit_week"] = [
            int(within.loc[(within["server_type"] == t) & (within["required"] > inv), "week"].min()) if n else None
            for t, inv, n in zip(fleet["server_type"], fleet["inventory"], fleet["in_transit"])]
    fleet["installed"] = fleet["inventory"] + fleet["in_transit"]
    proc_servers = servers.assign(granularity=scenario.procurement.granularity)
    problem = ProcurementProblem(proc_servers, required, fleet[["pool", "server_type", "installed"]],
                                 n_weeks=scenario.horizon.weeks, budget=scenario.procurement.budget,
                                 substitution=scenario.procurement.substitution)
    proc = solve_procurement(problem, ProcurementOptions(time_limit_s=max(10.0, scenario.solver.time_limit_s)))
    if not proc.status.has_solution:
        raise InfeasiblePlanError(f"procurement: status {proc.status}; " + "; ".join(proc.messages))
    return proc, fleet


def review_tables(scenario, weeks, plan, proc, groups, servers) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The orders with their dates and the groups and weeks that need each (planner.review)."""
    from planner.review import purchase_orders, why_purchases

    orders = purchase_orders(proc.purchases, servers, [wp.start for wp in weeks])
    return orders, why_purchases(orders, weeks, plan, groups, servers)


def _review_summary(scenario, servers, fleet, orders, why, risk, groups, tiers, summary) -> dict:
    """summary.json's review block: the starting fleet and its cost, the orders, what drives them,
    and per tier its target against the plan's prediction (planner.risk.overflow_vs_target)."""
    from models.procurement import MONTHS_PER_WEEK
    from planner.review import drivers, installed_by_type
    from planner.risk import overflow_vs_target

    cpm = dict(zip(servers["type"], servers["cost_per_month"]))
    fleet_cost = float((fleet["installed"] * fleet["server_type"].map(cpm)).sum() * MONTHS_PER_WEEK * scenario.horizon.weeks)
    targets = {name: t.target for name, t in tiers.items()}
    per = overflow_vs_target(risk, "tier", groups, targets).set_index("tier")
    vs_target = {}
    for t in sorted(set(risk.by_tier) | set(per.index)):
        row = per.loc[t] if t in per.index else None
        share = None if row is None or pd.isna(row["expected_overflow_share"]) else round(float(row["expected_overflow_share"]), 6)
        vs_target[t] = {"method": tiers[t].method if t in tiers else None,
                        "target": round(targets[t], 6) if t in targets else None,
                        "predicted_overflow_probability": None if row is None else round(float(row["overflow_probability"]), 6),
                        "expected_overflow_share": share,
                        "risk_slot_hours": round(risk.by_tier.get(t, 0.0), 3),
                        "slot_hours": 0 if row is None else int(row["slot_hours"])}
    total = float(summary["total_cost"])
    return {
        "installed_fleet": installed_by_type(fleet),
        "installed_fleet_cost": round(fleet_cost, 2),
        "cost_change_vs_installed": round(total - fleet_cost, 2),
        "orders": [{k: (str(v.date()) if isinstance(v, pd.Timestamp) else v.item() if hasattr(v, "item") else v)
                    for k, v in row.items()} for row in orders.to_dict("records")],
        "drivers": drivers(why),
        "risk_vs_target": vs_target,
    }


def _no_requirement(servers: pd.DataFrame, n_weeks: int) -> pd.DataFrame:
    return pd.DataFrame([(w, p, t, 0) for w in range(n_weeks) for p, t in zip(servers["pool"], servers["type"])],
                        columns=["week", "pool", "server_type", "required"])


def _idle_plan(installed: pd.DataFrame, starts) -> pd.DataFrame:
    """Plan rows of a pool no group uses: whatever is installed costs, nothing is used."""
    out = installed[["week", "pool", "server_type", "required", "installed", "cost"]].copy()
    out["purchased"] = 0
    for c in ("cpu_utilisation", "memory_utilisation", "risk"):
        out[c] = 0.0
    out["headroom"] = 1.0
    out["week_start"] = [starts[w] for w in out["week"]]
    return out[["week", "pool", "server_type", "required", "installed", "purchased", "cost", "cpu_utilisation",
                "memory_utilisation", "headroom", "risk", "week_start"]]


PROFILE_GROUPS = 2000  # a fleet's Profiles sheet covers its largest groups (by CPU peak)


def prepare_forecast(scenario: Scenario | None = None, progress: Progress = _noop) -> dict:
    """The history and the raw forecast of ``scenario``, for :func:`run_plan`'s ``prepared``."""
    from planner.history import load_history

    scenario = scenario or default_scenario()
    history = load_history(scenario)
    run = forecast_stage_run(scenario, history, horizon_start(scenario, history), progress)
    return {"history": history, "run": run, "forecast": run.forecast, "report": run.report}


def carbon_stage(scenario: Scenario, start: pd.Timestamp):
    """Hourly carbon intensity of every zone over the horizon (planner.energy.zone_intensity)."""
    from planner.energy import zone_intensity

    zones: dict[str, list[str]] = {}
    for s in scenario.servers:
        for pool in s.pools:
            zones.setdefault(pool, [])
            zones[pool] += [z for z in s.zones if z not in zones[pool]]
    return zone_intensity(scenario, start, zones)


def carbon_priced_servers(servers: pd.DataFrame, scenario: Scenario, intensity) -> pd.DataFrame:
    """The catalog the packing prices: with ``energy.carbon_price`` each server's monthly cost gains
    the price of its embodied carbon and its idle draw's operational carbon (in its greenest zone,
    where the zone choice puts workers when carbon has a price). Load-dependent power is reported,
    not priced: per core it differs little between types (docs/objectives.md)."""
    price = scenario.energy.carbon_price
    if not price:
        return servers
    from planner.energy import DAYS_PER_MONTH, power_specs

    specs = power_specs(servers)
    zones = {s.type: s.zones for s in scenario.servers}
    kg = {t: spec.embodied_kg_per_month + spec.idle_watts * scenario.energy.pue * 24 * DAYS_PER_MONTH / 1000
          * min(intensity.mean(z) for z in zones[t]) / 1000 for t, spec in specs.items()}
    return servers.assign(cost_per_month=servers["cost_per_month"] + servers["type"].map(kg) * price / 1000)


def energy_totals(energy: pd.DataFrame, scenario: Scenario, intensity, servers: pd.DataFrame) -> dict:
    """summary.json keys ``energy_kwh``, ``carbon_kg`` (the horizon's totals) and the ``energy`` block."""
    from planner.energy import energy_summary

    block = energy_summary(energy, scenario, intensity, servers)
    return {"energy_kwh": block["energy_kwh"], "carbon_kg": block["carbon_kg"], "energy": block}


def group_profiles(history, max_groups: int | None = None) -> pd.DataFrame:
    """Shape features and clusters of each group's hourly CPU demand (the workbook's Profiles sheet).

    Above ``max_groups`` groups only the largest by CPU peak are profiled (the rest are a fleet's
    long tail of near-idle groups; the summary says how many were left out)."""
    from planner.demand import group_max
    from planner.profile import profile_functions

    max_groups = PROFILE_GROUPS if max_groups is None else int(max_groups)
    demand = history.demand
    peaks = group_max(demand, C.GROUP_ID, C.CPU_CORES)
    if len(peaks) > max_groups:
        demand = _rows_of(demand, peaks.sort_values(ascending=False, kind="stable").index[:max_groups])
    return profile_functions(demand, history.catalog, slot=history.slot, level="group",
                             value=C.CPU_CORES).profiles


def _rows_of(demand: pd.DataFrame, groups) -> pd.DataFrame:
    """The rows of ``groups`` (in the table's order, unused categories dropped) and the columns the
    profile and the forecast-against-history figure read: a fleet's year of demand has more, and
    this copies."""
    cols = [c for c in (C.GROUP_ID, C.DS, C.CPU_CORES, C.INVOCATIONS) if c in demand.columns]
    demand = demand.loc[demand[C.GROUP_ID].isin(groups).to_numpy(), cols]
    if isinstance(demand[C.GROUP_ID].dtype, pd.CategoricalDtype):
        demand = demand.assign(**{C.GROUP_ID: demand[C.GROUP_ID].cat.remove_unused_categories()})
    return demand


def _summary(scenario, history, start, weeks, plan, proc, risk, report, timings, total_s) -> dict:
    from planner.forecast import fallback_summary

    peak_cost = sum(wp.peak_cost for wp in weeks)
    shape_cost = sum(wp.result.objective for wp in weeks)
    last = plan[plan["week"] == plan["week"].max()]
    return {
        "plan_warnings": shortfall_warnings(proc.shortfall, risk),
        "scenario": scenario.name,
        "source": history.source,
        "groups": int(history.groups.shape[0]),  # measured in the history; the plan adds the anticipated ones
        "anticipated_groups": len(scenario.anticipated),
        "functions": int(history.telemetry.n_functions),
        "history_end": str(history.end),
        "horizon_start": str(start),
        "weeks": scenario.horizon.weeks,
        "total_cost": round(float(proc.total_cost), 2),
        "purchase_cost": round(float(proc.purchase_cost), 2),
        # summed over pools: a type offered in several pools has a row in each
        "servers_end": {t: int(n) for t, n in last.groupby("server_type", sort=False)["installed"].sum().items()},
        "servers_purchased": int(plan["purchased"].sum()),
        "shape_vs_peak_packing_cost": round(shape_cost / peak_cost, 4) if peak_cost else None,
        "packing": [{"week": wp.week, "status": str(wp.result.status), "cost_per_month": round(wp.result.objective, 2),
                     "bound": round(wp.result.bound, 2), "gap": None if np.isnan(wp.result.gap) else round(wp.result.gap, 4),
                     "peak_cost_per_month": round(wp.peak_cost, 2), "runtime_s": round(wp.result.runtime_s, 2)}
                    for wp in weeks],
        "procurement": {"status": str(proc.status), "backend": proc.backend, "messages": list(proc.messages),
                        "shortfall_server_weeks": float(proc.shortfall["shortfall"].sum()) if len(proc.shortfall) else 0.0},
        "risk": risk.to_summary(),
        "risk_slot_hours_by_tier": risk.to_summary()["by_tier"],
        "cpu_utilisation_mean": round(float(np.average(plan["cpu_utilisation"], weights=plan["installed"].astype(float).clip(lower=1e-9))), 4),
        "forecast_models": report["model"].value_counts().to_dict() if "model" in report else {},
        "forecast_fallbacks": fallback_summary(report),
        "timings_s": {k: round(v, 2) for k, v in {**timings, "total_s": total_s}.items()},
        "scenario_definition": scenario_dict(scenario),
    }


def shortfall_warnings(shortfall: pd.DataFrame, risk) -> list[str]:
    """What the person who owns the plan must read first: weeks in which the procurement installs
    less than the packing needs, and the unserved demand this leaves (counted in the risk)."""
    if shortfall is None or shortfall.empty:
        return []
    parts = []
    for (pool, stype, resource), rows in shortfall.groupby(["pool", "server_type", "resource"], sort=True):
        weeks = sorted(int(w) for w in rows["week"].unique())
        span = f"week {weeks[0]}" if len(weeks) == 1 else f"{len(weeks)} weeks ({weeks[0]}-{weeks[-1]})"
        what = f"{stype} servers" if resource == "servers" else f"{resource} of pool {pool}"
        parts.append(f"{what} short by up to {rows['shortfall'].max():,.6g} in {span}")
    return [f"SHORTFALL: the plan installs less than it needs ({'; '.join(parts)}); workers left without a "
            f"server serve nothing: {risk.unserved:,.1f} of the {risk.total:,.1f} expected overflow slot-hours "
            "are this unserved demand (shortfall.csv and the procurement messages say why)"]


def run_default(out: Path, force: bool = False) -> PlanRun:
    """Plan the embedded default and write it to ``out``."""
    from planner.export.run_files import write_run

    run = run_plan(default_scenario())
    write_run(run, out, force=force)
    return run
