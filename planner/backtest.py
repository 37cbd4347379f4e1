"""Hold plans against what really happened, and against hindsight.

From each origin (the last one ``data.until``, earlier ones ``every`` apart) the planner plans from
the history before it, then the actual demand of the horizon that followed is

* replayed on the plan's assignment and on the peak-based plan's, week by week: per tier and customer
  the overflow slot-hours, their share, the worst overload and the realised utilisation;
* planned **in hindsight**: the same instance builder, packing, rules, catalog and procurement
  applied to the demand that happened (a "forecast" whose mean and quantiles all equal the actual
  hourly peak), so plan and hindsight differ only in their inputs. Its cost is the right amount;
  cost / hindsight cost says how much the forecast made the plan overbuy (or underbuy).

The peak-based plan is compared with its own hindsight (peak-based packing of the actual demand).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from planner import columns as C
from planner.errors import InputDataError, ScenarioError

#: Each origin needs at least this much history before it.
MIN_HISTORY = pd.Timedelta(weeks=2)
_LEVEL = {"mean": 0.5, "q50": 0.5, "q90": 0.90, "q95": 0.95, "q99": 0.99}


def tier_target(tier) -> float:
    """Largest overflow share of slot-hours a tier (a scenario TierSpec) accepts: its
    ``overflow_risk`` (issue 14), or for a tier stated only by a planning quantile (stacked), 1 −
    that quantile's level (the one definition: planner.qos.Tier.target)."""
    from planner.qos import Tier

    return Tier("", tier.quantile, tier.headroom, tier.spread, tier.isolated, tier.overflow_risk, tier.method).target


# ------------------------------------------------------------------------------------------------
# replay of actual demand on an assignment
# ------------------------------------------------------------------------------------------------


def actual_cube(actual: pd.DataFrame, instance, start: pd.Timestamp) -> np.ndarray:
    """Actual demand ``[group, slot, resource]`` of one week, aligned with ``instance``'s groups;
    slots without actuals are NaN, groups of the plan with no actual rows had no demand (0)."""
    slots = pd.date_range(start, periods=len(instance.slots), freq="1h")
    week = actual[(actual[C.DS] >= slots[0]) & (actual[C.DS] <= slots[-1])]
    cube = np.full((instance.n_groups, len(slots), len(instance.resources)), np.nan)
    g = pd.Index(instance.group_ids).get_indexer(week[C.GROUP_ID].astype(str))
    t = slots.get_indexer(pd.DatetimeIndex(week[C.DS]))
    ok = (g >= 0) & (t >= 0)
    cube[g[ok], t[ok]] = week[list(instance.resources)].to_numpy(dtype=float)[ok]
    covered = np.zeros(len(slots), dtype=bool)
    covered[np.unique(t[t >= 0])] = True
    cube[:, covered] = np.nan_to_num(cube[:, covered])
    return cube


def replay(instance, assignment: pd.DataFrame, cube: np.ndarray, groups: pd.DataFrame) -> pd.DataFrame:
    """Per worker and group on it: slot-hours, overflow slot-hours (actual load above the physical
    capacity in some resource), the worst overload (load / capacity) and realised utilisation."""
    from planner.plan import sum_per_worker, worker_capacity

    workers = sorted(assignment["worker_id"].astype(str).unique())
    loads = sum_per_worker(instance, assignment, cube, workers)
    _, cap = worker_capacity(instance, assignment, workers)
    ratio = loads / cap
    worst = ratio.max(axis=2)  # [W, T]
    cust_of = groups.set_index(C.GROUP_ID)[C.CUSTOMER].astype(str).to_dict()
    tier_of = groups.set_index(C.GROUP_ID)["tier"].astype(str).to_dict()
    rows = []
    on = assignment.groupby("worker_id")["group_id"].apply(lambda s: sorted(set(s.astype(str))))
    for i, w in enumerate(workers):
        valid = ~np.isnan(worst[i])
        any_valid = bool(valid.any())
        stats = {"worker_id": w, "slot_hours": int(valid.sum()),
                 "overflow_slot_hours": int((worst[i][valid] > 1.0 + 1e-9).sum()),
                 "worst_overload": float(np.nanmax(worst[i])) if any_valid else np.nan,
                 "cpu_utilisation": float(np.nanmean(ratio[i, :, 0])) if any_valid else np.nan,
                 "memory_utilisation": float(np.nanmean(ratio[i, :, 1])) if any_valid else np.nan}
        for g in on[w]:
            rows.append({**stats, "group_id": g, C.CUSTOMER: cust_of.get(g), "tier": tier_of.get(g)})
    return pd.DataFrame(rows)


def summarise(exposure: pd.DataFrame, by: str) -> pd.DataFrame:
    """Overflow share = overflow slot-hours / slot-hours of the workers the tier's (customer's)
    groups sit on, each worker counted once per tier (customer) and week."""
    keys = [k for k in ("origin", "plan") if k in exposure.columns]
    per = exposure.drop_duplicates(["worker_id", by, *keys, "week"])
    out = per.groupby([*keys, by]).agg(
        slot_hours=("slot_hours", "sum"), overflow_hours=("overflow_slot_hours", "sum"),
        worst=("worst_overload", "max"), cpu_utilisation=("cpu_utilisation", "mean"),
        memory_utilisation=("memory_utilisation", "mean")).reset_index()
    out["overflow_share"] = out["overflow_hours"] / out["slot_hours"].where(out["slot_hours"] > 0)
    return out


# ------------------------------------------------------------------------------------------------
# hindsight
# ------------------------------------------------------------------------------------------------


def actual_as_forecast(actual: pd.DataFrame, start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
    """The Forecast table a perfect forecaster would have given: mean and every quantile equal to
    the actual hourly peak of each group and resource in ``[start, end)``."""
    part = actual[(actual[C.DS] >= start) & (actual[C.DS] < end)]
    long = part.melt(id_vars=[C.GROUP_ID, C.DS], value_vars=list(C.RESOURCES), var_name="resource", value_name=C.MEAN)
    long = long.rename(columns={C.GROUP_ID: C.UNIQUE_ID})
    for q in C.QUANTILES:
        long[q] = long[C.MEAN]
    long[C.UNIQUE_ID] = long[C.UNIQUE_ID].astype(str)
    return long.sort_values([C.UNIQUE_ID, "resource", C.DS], ignore_index=True)


@dataclass
class Hindsight:
    """The plan that knowing the actual demand would have given (shape-aware and peak-based)."""

    weeks: list
    procurement: object  # ProcurementResult of the shape-aware hindsight packing
    peak_procurement: object  # ... of the peak-based packing of the actual demand
    notes: list


def peak_required(weeks, pool_of: dict[str, str]) -> pd.DataFrame:
    """``week, pool, server_type, required`` of the peak-based packings of ``weeks``."""
    from planner.plan import required_servers

    as_shape = [dataclasses.replace(wp, result=wp.peak_result) for wp in weeks]
    return required_servers(as_shape, pool_of)


def _hindsight_pools(scenario, forecast, groups, starts, servers, catalog) -> Hindsight:
    from planner.pipeline import place_and_pack, procure_pools, required_by_pool

    _, _, _, packed = place_and_pack(scenario, forecast, groups, catalog, starts)
    weeks = [wp for p in sorted(packed) for wp in packed[p][0]]
    notes = [n for p in sorted(packed) for n in packed[p][1]]
    proc, _ = procure_pools(scenario, servers, required_by_pool(weeks, servers, len(starts)))
    peak_proc, _ = procure_pools(scenario, servers, required_by_pool(weeks, servers, len(starts), peak=True))
    return Hindsight(weeks, proc, peak_proc, notes)


def plan_hindsight(scenario, forecast: pd.DataFrame, groups: pd.DataFrame, starts: list, catalog=None) -> Hindsight:
    """Pack and procure the perfect forecast with the plan's own stages (pack_horizon, procure; with
    several pools the placement pass on ``catalog``, packing and procurement per pool)."""
    from planner.pipeline import pack_horizon, procure
    from planner.plan import required_servers, servers_frame, tiers_of

    servers = servers_frame(scenario)
    if servers["pool"].nunique() > 1:  # the run's pools stage: placement, then each pool on its own
        return _hindsight_pools(scenario, forecast, groups, starts, servers, catalog)
    pool_of = dict(zip(servers["type"], servers["pool"]))
    weeks, notes = pack_horizon(forecast, groups, tiers_of(scenario), servers, starts, scenario.solver)
    proc, _ = procure(scenario, servers, required_servers(weeks, pool_of))
    peak_proc, _ = procure(scenario, servers, peak_required(weeks, pool_of))
    return Hindsight(weeks, proc, peak_proc, notes)


def inventory_from_history(scenario, history, executor=None):
    """``scenario`` with ``inventory: {from_history_weeks: N}`` made concrete: per server type the
    most servers any of the history's last N weeks needed in hindsight (the plan's packing, rules
    and catalog applied to their actual demand, as :func:`plan_hindsight` packs). Returns the
    scenario (unchanged when its inventory is given) and what was sized (None when given).
    ``executor`` runs the weeks' packing tasks (the run's own processes: the same plan, sooner)."""
    from planner.pipeline import pack_horizon
    from planner.plan import required_servers, servers_frame, tiers_of
    from planner.scenarios import InventoryItem

    spec = scenario.inventory
    if isinstance(spec, list):
        return scenario, None
    n = spec.from_history_weeks
    first = history.end - pd.Timedelta(weeks=n)
    if first < pd.Timestamp(history.demand[C.DS].min()):
        raise ScenarioError(f"{scenario.source_path or 'scenario'}: inventory from_history_weeks {n} reaches before the "
                            f"history, which starts {history.demand[C.DS].min()} and ends {history.end}")
    check_coverage(history.demand, first, n, "the history")
    starts = [first + pd.Timedelta(weeks=k) for k in range(n)]
    servers = servers_frame(scenario)
    if servers["pool"].nunique() > 1:  # groups would first have to be placed in pools (planner.pools)
        raise ScenarioError(f"{scenario.source_path or 'scenario'}: inventory from_history_weeks sizes one pool; the "
                            f"catalog has pools {sorted(servers['pool'].unique())}: give the inventory per pool")
    pool_of = dict(zip(servers["type"], servers["pool"]))
    forecast = actual_as_forecast(history.demand, first, history.end)
    weeks, _ = pack_horizon(forecast, history.groups, tiers_of(scenario), servers, starts, scenario.solver,
                            executor=executor)
    need = required_servers(weeks, pool_of).groupby("server_type")["required"].max()
    items = [InventoryItem(server_type=t, count=int(need.get(t, 0)), pool=pool_of[t])
             for t in servers["type"] if int(need.get(t, 0)) > 0]
    sized = {"from_history_weeks": n, "weeks_from": str(first.date()), "weeks_to": str(history.end.date()),
             "counts": {i.server_type: i.count for i in items}}
    return scenario.model_copy(update={"inventory": items}), sized


# ------------------------------------------------------------------------------------------------
# origins, coverage, one origin, several
# ------------------------------------------------------------------------------------------------


def parse_every(text) -> pd.Timedelta:
    """``13w``, ``2 weeks``, ``7d``, ``36h`` as a Timedelta; a bad value is a ScenarioError."""
    import re

    if isinstance(text, pd.Timedelta):
        return text
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(w|wk|weeks?|d|days?|h|hours?)\s*", str(text), flags=re.IGNORECASE)
    if not m:
        raise ScenarioError(f"--every {text!r}: not a duration; use e.g. 13w, 1w, 7d or 36h")
    unit = {"w": "weeks", "d": "days", "h": "hours"}[m.group(2)[0].lower()]
    return pd.Timedelta(**{unit: float(m.group(1))})


def origins_of(scenario, history_start: pd.Timestamp, last: pd.Timestamp, n: int, every: pd.Timedelta) -> list:
    """``n`` origins ``every`` apart ending at ``last``; each must leave MIN_HISTORY before it."""
    if n < 1:
        raise ScenarioError(f"--origins {n}: give at least one origin")
    if every <= pd.Timedelta(0):
        raise ScenarioError(f"--every {every}: must be positive")
    origins = [last - (n - 1 - k) * every for k in range(n)]
    earliest = history_start + MIN_HISTORY
    if origins[0] < earliest:
        fit = int((last - earliest) / every) + 1 if last >= earliest else 0
        raise ScenarioError(
            f"--origins {n} --every {_weeks(every)}: the first origin would be {origins[0]}, but the history "
            f"starts {history_start} and each origin needs {_weeks(MIN_HISTORY)} of history before it; "
            f"at most {fit} origin(s) fit")
    return origins


def _weeks(td: pd.Timedelta) -> str:
    w = td / pd.Timedelta(weeks=1)
    return f"{w:g}w" if w == int(w) else str(td)


def check_coverage(actual: pd.DataFrame, start: pd.Timestamp, weeks: int, source: str = "actuals") -> None:
    """Every hour of the horizon ``[start, start + weeks)`` must have actuals; else name the weeks."""
    present = pd.DatetimeIndex(actual[C.DS].unique())
    missing = []
    for w in range(weeks):
        hours = pd.date_range(start + pd.Timedelta(weeks=w), periods=168, freq="1h")
        n = int((~hours.isin(present)).sum())
        if n:
            missing.append(f"week {w} ({hours[0].date()}, {n} of 168 hours missing)")
    if missing:
        span = (f"{present.min()} to {present.max()}" if len(present) else "nothing")
        raise InputDataError(f"the actuals cover {span} but do not cover the horizon from {start} "
                             f"({weeks} week{'s' if weeks != 1 else ''}): {'; '.join(missing)}", path=source)


def groups_with_actuals(plan_groups: pd.DataFrame, actual_groups: pd.DataFrame | None, actual: pd.DataFrame,
                        default_tier: str) -> tuple[pd.DataFrame, list[str]]:
    """The plan's groups plus those with actual demand the plan did not have (tier: their customer's
    in the plan, else the default tier). Returns (groups, the names of the unplanned groups)."""
    seen = set(actual.loc[actual[list(C.RESOURCES)].max(axis=1) > 0, C.GROUP_ID].astype(str))
    unplanned = sorted(seen - set(plan_groups[C.GROUP_ID].astype(str)))
    if not unplanned:
        return plan_groups, []
    cust = {} if actual_groups is None else actual_groups.set_index(C.GROUP_ID)[C.CUSTOMER].astype(str).to_dict()
    tier_of = plan_groups.groupby(C.CUSTOMER)["tier"].first()
    extra = pd.DataFrame({C.GROUP_ID: unplanned, C.CUSTOMER: [cust.get(g, "(unknown)") for g in unplanned]})
    extra["tier"] = extra[C.CUSTOMER].map(tier_of).fillna(default_tier)
    extra["n_functions"] = 1
    return pd.concat([plan_groups, extra], ignore_index=True), unplanned


@dataclass
class OriginResult:
    """The backtest of one origin."""

    origin: pd.Timestamp
    run: object  # PlanRun planned from the history before the origin
    hindsight: Hindsight
    by_tier: pd.DataFrame
    by_customer: pd.DataFrame
    exposure: pd.DataFrame
    weekly: pd.DataFrame  # origin, week, week_start, servers of the plan, the peak plan and hindsight
    costs: dict
    unplanned: list = field(default_factory=list)  # {group, weeks, in_history}: actual demand the plan did not hold
    absent: list = field(default_factory=list)  # planned groups with no actual demand


def backtest_run(run, actual: pd.DataFrame, actual_groups: pd.DataFrame | None = None,
                 source: str = "actuals") -> OriginResult:
    """Replay and plan in hindsight the horizon of a PlanRun (``run``) with ``actual`` demand
    (ResourceDemand, group level, hourly)."""
    missing = [c for c in (C.GROUP_ID, C.DS, *C.RESOURCES) if c not in actual.columns]
    if missing:
        raise InputDataError(f"the actuals are not a ResourceDemand table: missing {missing}", path=source)
    scenario = run.scenario
    starts = sorted({wp.start for wp in run.weeks})  # several pools: each has its weeks
    start, end = starts[0], starts[-1] + pd.Timedelta(days=7)
    check_coverage(actual, start, len(starts), source)
    actual = actual[(actual[C.DS] >= start) & (actual[C.DS] < end)]
    plan_groups = _plan_groups(run)
    groups, unplanned = groups_with_actuals(plan_groups, actual_groups, actual, scenario.customers.default_tier)
    forecast = actual_as_forecast(actual, start, end)
    hindsight = plan_hindsight(scenario, forecast, groups, starts, run.history.catalog)

    parts, unplanned_weeks = [], {}
    live_rows = actual[actual[list(C.RESOURCES)].max(axis=1) > 0]
    for wp in run.weeks:  # actual demand of groups the plan did not hold that week (new or retired)
        week_live = set(live_rows.loc[(live_rows[C.DS] >= wp.start) & (live_rows[C.DS] < wp.start + pd.Timedelta(days=7)),
                                      C.GROUP_ID].astype(str))
        for g in week_live - set(wp.instance.group_ids):
            unplanned_weeks.setdefault(g, []).append(wp.week)
    for label, weeks, attr in (("shape", run.weeks, "result"), ("peak", run.weeks, "peak_result"),
                               ("hindsight", hindsight.weeks, "result")):
        for wp in weeks:
            cube = actual_cube(actual, wp.instance, wp.start)
            exp = replay(wp.instance, getattr(wp, attr).assignment_frame(), cube, groups)
            parts.append(exp.assign(plan=label, week=wp.week))
    exposure = pd.concat(parts, ignore_index=True)
    by_tier = summarise(exposure, "tier")
    targets = {name: tier_target(t) for name, t in scenario.tiers.items()}
    by_tier["target"] = by_tier["tier"].map(targets)
    by_tier["within_target"] = by_tier["overflow_share"] <= by_tier["target"] + 1e-12
    by_tier = _with_prediction(by_tier, run, targets)
    cols = ["plan", "tier", "slot_hours", "overflow_hours", "overflow_share", "target", "worst",
            "within_target", "cpu_utilisation", "memory_utilisation", "predicted_overflow_share",
            "predicted_overflow_probability"]
    by_tier = by_tier[cols]
    planned_ids = set(plan_groups[C.GROUP_ID].astype(str))
    live = set(actual.loc[actual[list(C.RESOURCES)].max(axis=1) > 0, C.GROUP_ID].astype(str))
    absent = sorted(g for g in set(run.forecast[C.UNIQUE_ID].astype(str)) & planned_ids if g not in live)
    costs = _costs(run, hindsight, by_tier)
    weekly = _weekly(run, hindsight)
    unplanned = [{"group": g, "weeks": w, "in_history": g not in set(unplanned)} for g, w in sorted(unplanned_weeks.items())]
    return OriginResult(start, run, hindsight, by_tier, summarise(exposure, C.CUSTOMER), exposure, weekly,
                        costs, unplanned, absent)


def _with_prediction(by_tier: pd.DataFrame, run, targets: dict) -> pd.DataFrame:
    """The plan's own prediction beside the realised share, for the plan (``shape``) rows: its
    expected overflow share and largest predicted overflow probability per tier (planner.risk)."""
    from planner.risk import overflow_vs_target

    out = by_tier.assign(predicted_overflow_share=np.nan, predicted_overflow_probability=np.nan)
    if run.risk is None or run.groups is None:
        return out
    pred = overflow_vs_target(run.risk, "tier", run.groups, targets).set_index("tier")
    shape = out["plan"] == "shape"
    out.loc[shape, "predicted_overflow_share"] = out.loc[shape, "tier"].map(pred["expected_overflow_share"])
    out.loc[shape, "predicted_overflow_probability"] = out.loc[shape, "tier"].map(pred["overflow_probability"])
    return out


def _costs(run, hindsight: Hindsight, by_tier: pd.DataFrame) -> dict:
    from planner.pipeline import procure
    from planner.plan import servers_frame

    servers = servers_frame(run.scenario)
    if servers["pool"].nunique() > 1:
        from planner.pipeline import procure_pools, required_by_pool

        peak_proc, _ = procure_pools(run.scenario, servers, required_by_pool(run.weeks, servers, run.scenario.horizon.weeks,
                                                                              peak=True))
    else:
        peak_proc, _ = procure(run.scenario, servers, peak_required(run.weeks, dict(zip(servers["type"], servers["pool"]))))
    cost, hind = float(run.procurement.total_cost), float(hindsight.procurement.total_cost)
    peak, peak_hind = float(peak_proc.total_cost), float(hindsight.peak_procurement.total_cost)
    ok = by_tier.groupby("plan")["within_target"].all().to_dict()
    return {"cost": round(cost, 2), "hindsight_cost": round(hind, 2), "peak_cost": round(peak, 2),
            "peak_hindsight_cost": round(peak_hind, 2),
            "cost_vs_hindsight": round(cost / hind, 4) if hind > 0 else None,
            "peak_vs_hindsight": round(peak / peak_hind, 4) if peak_hind > 0 else None,
            "peak_cost_vs_hindsight": round(peak / hind, 4) if hind > 0 else None,
            "overflow_within_target": bool(ok.get("shape", True)),
            "peak_overflow_within_target": bool(ok.get("peak", True))}


def _weekly(run, hindsight: Hindsight) -> pd.DataFrame:
    def per_week(weeks, **cols):  # several pools: a week's figures summed over its pools
        return pd.DataFrame([{"week": wp.week, **{k: f(wp) for k, f in cols.items()}} for wp in weeks]
                            ).groupby("week").sum()

    plan = per_week(run.weeks, plan_servers=lambda wp: len(wp.result.workers),
                    peak_servers=lambda wp: len(wp.peak_result.workers),
                    plan_cost_per_month=lambda wp: float(wp.result.objective))
    hind = per_week(hindsight.weeks, hindsight_servers=lambda wp: len(wp.result.workers),
                    hindsight_cost_per_month=lambda wp: float(wp.result.objective))
    out = plan.join(hind, how="outer").fillna(0).reset_index()
    out.insert(1, "week_start", out["week"].map({wp.week: wp.start for wp in run.weeks}))
    for c in ("plan_servers", "peak_servers", "hindsight_servers"):
        out[c] = out[c].astype(int)
    return out[["week", "week_start", "plan_servers", "peak_servers", "hindsight_servers", "plan_cost_per_month",
                "hindsight_cost_per_month"]]


def _plan_groups(run) -> pd.DataFrame:
    """Groups of the plan with customer and tier (the history's plus anticipated services)."""
    g = run.history.groups[[C.GROUP_ID, C.CUSTOMER, "tier", "n_functions"]]
    extra = [a for a in run.scenario.anticipated if a.name not in set(g[C.GROUP_ID])]
    if extra:
        tiers = g.groupby(C.CUSTOMER)["tier"].first()
        sc = run.scenario
        g = pd.concat([g, pd.DataFrame({
            C.GROUP_ID: [a.name for a in extra], C.CUSTOMER: [a.customer for a in extra], "n_functions": 1,
            "tier": [sc.customers.tiers.get(a.customer, tiers.get(a.customer, sc.customers.default_tier)) for a in extra],
        })], ignore_index=True)
    return g


def history_until(history, until: pd.Timestamp):
    """``history`` cut before ``until`` (the telemetry, its demand and the launches seen by then)."""
    from planner.history import _cut

    demand = history.demand[history.demand[C.DS] < until].reset_index(drop=True)
    launches = history.launches
    if launches is not None and len(launches):
        launches = launches[pd.to_datetime(launches["launch_ds"]) < until].reset_index(drop=True)
    return dataclasses.replace(history, telemetry=_cut(history.telemetry, until), demand=demand, launches=launches)


def backtest(scenario, actual: pd.DataFrame, *, history=None, actual_groups: pd.DataFrame | None = None,
             origins: int = 1, every: str | pd.Timedelta = "13w", source: str = "actuals",
             progress=None) -> list[OriginResult]:
    """Plan from each origin and hold the plan against ``actual`` demand and hindsight.

    The last origin is ``data.until`` (or, when unset, the end of the actuals minus the horizon);
    earlier origins step back by ``every``. ``history`` is the scenario's whole history (read once
    and cut at each origin); by default it is loaded from the scenario without ``data.until``."""
    from planner.history import load_history
    from planner.pipeline import run_plan

    every = parse_every(every)
    if scenario.horizon.start is not None:
        raise ScenarioError(f"{scenario.source_path or 'scenario'}: a backtest plans from each origin; "
                            "leave horizon.start unset (set data.until to the last origin)")
    if history is None:
        history = load_history(scenario.model_copy(update={"data": scenario.data.model_copy(update={"until": None})}))
    weeks = scenario.horizon.weeks
    if scenario.data.until is not None:
        last = pd.Timestamp(scenario.data.until)
    else:
        last = (pd.Timestamp(actual[C.DS].max()) + pd.Timedelta(hours=1) - pd.Timedelta(weeks=weeks)).floor("D")
    first = pd.Timestamp(history.demand[C.DS].min())
    results = []
    for k, origin in enumerate(origins_of(scenario, first, last, origins, every)):
        check_coverage(actual, origin, weeks, source)
        sc = scenario.model_copy(update={"data": scenario.data.model_copy(update={"until": origin.to_pydatetime()})})
        hist = history_until(history, origin)
        tick = None
        if progress is not None:
            def tick(stage, done, k=k):
                progress(f"origin {k + 1}/{origins}: {stage}", (k + 0.8 * done) / origins)
        run = run_plan(sc, progress=tick or (lambda s, d: None), history=hist)
        if progress is not None:
            progress(f"origin {k + 1}/{origins}: hindsight", (k + 0.8) / origins)
        results.append(backtest_run(run, actual, actual_groups, source))
    return results


def summary_of(results: list[OriginResult], scenario) -> dict:
    """summary.json of a backtest: the headline costs (per origin under ``origins`` when several)."""
    per = []
    for r in results:
        per.append({"origin": str(r.origin), **r.costs,
                    "unplanned_groups": r.unplanned, "planned_groups_without_actuals": r.absent,
                    "forecast_fallbacks": r.run.summary.get("forecast_fallbacks"),
                    "hindsight_notes": r.hindsight.notes})
    keys = ("cost", "hindsight_cost", "peak_cost", "peak_hindsight_cost")
    total = {k: round(sum(p[k] for p in per), 2) for k in keys}
    out = {"scenario": scenario.name, "weeks": scenario.horizon.weeks, "n_origins": len(per), **total,
           "cost_vs_hindsight": round(total["cost"] / total["hindsight_cost"], 4) if total["hindsight_cost"] else None,
           "peak_vs_hindsight": (round(total["peak_cost"] / total["peak_hindsight_cost"], 4)
                                 if total["peak_hindsight_cost"] else None),
           "peak_cost_vs_hindsight": (round(total["peak_cost"] / total["hindsight_cost"], 4)
                                      if total["hindsight_cost"] else None),
           "overflow_within_target": all(p["overflow_within_target"] for p in per),
           "peak_overflow_within_target": all(p["peak_overflow_within_target"] for p in per)}
    if len(per) == 1:
        out.update({k: v for k, v in per[0].items() if k not in out})
    else:
        out["origins"] = per
    return out


def tables_of(results: list[OriginResult]) -> dict[str, pd.DataFrame]:
    """The CSV tables of a backtest: by_tier, by_customer, cost, weekly, exposure (with ``origin``)."""
    def cat(name):
        return pd.concat([getattr(r, name).assign(origin=r.origin) for r in results], ignore_index=True)

    by_tier = cat("by_tier")
    by_tier = by_tier[["plan", "tier", "slot_hours", "overflow_hours", "overflow_share", "target", "worst",
                       "origin", "within_target", "cpu_utilisation", "memory_utilisation",
                       "predicted_overflow_share", "predicted_overflow_probability"]]
    cost = pd.DataFrame([{"origin": r.origin, **r.costs} for r in results])
    return {"by_tier": by_tier, "by_customer": cat("by_customer"), "cost": cost, "weekly": cat("weekly"),
            "exposure": cat("exposure")}


def write_backtest(results, scenario, out: Path, *, force: bool = False, warnings: list[str] | None = None) -> dict:
    """by_tier.csv, by_customer.csv, cost.csv, weekly.csv, exposure.csv, plan.csv (last origin),
    summary.json, backtest.xlsx and report.html, all or nothing. ``warnings``: what the terminal
    warned of while planning (summary.json ``warnings``, and the report's Warnings)."""
    import json

    from planner.export.report import write_report
    from planner.export.spreadsheet import write_plan_workbook
    from planner.export.tables import backtest_charts, backtest_frames
    from planner.io import atomic_dir, refuse_existing

    refuse_existing(out, force)
    tables = tables_of(results)
    summary = summary_of(results, scenario)
    if warnings:
        from planner.errors import counted

        summary["warnings"] = results[-1].run.summary["warnings"] = counted(warnings)
    with atomic_dir(out) as tmp:
        for name, frame in tables.items():
            frame.to_csv(tmp / f"{name}.csv", index=False)
        results[-1].run.plan.to_csv(tmp / "plan.csv", index=False)
        (tmp / "summary.json").write_text(json.dumps(summary, indent=2, default=str) + "\n")
        frames = backtest_frames(tables, summary)
        write_plan_workbook(tmp / "backtest.xlsx", frames, backtest_charts(frames))
        last = results[-1].run
        write_report(tmp / "report.html", title=f"Backtest: {scenario.name}",
                     backtest={"summary": summary, "tables": tables}, plan=last.plan, summary=last.summary,
                     orders=last.orders, why=last.why, utilisation=last.utilisation, forecast=last.forecast,
                     history=last.history.demand)
    return summary
