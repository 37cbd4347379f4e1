"""The only module that calls every stage in order: history → demand → forecast (+ anticipated
services, growth, retirements) → a packing per week → procurement → Plan → outputs."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from planner import columns as C
from planner.errors import InfeasiblePlanError, ScenarioError
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
    profiles: pd.DataFrame | None = None
    summary: dict = field(default_factory=dict)
    forecast_calibration: pd.DataFrame | None = None  # held-out coverage per group, resource, lead bucket


def _noop(stage: str, done: float) -> None:
    pass


def horizon_start(scenario: Scenario, history) -> pd.Timestamp:
    if scenario.horizon.start is not None:
        start = pd.Timestamp(scenario.horizon.start)
        if start < history.end:
            raise ScenarioError(f"horizon.start {start.date()} is inside the history (which ends {history.end}); "
                                "plan from the end of the data or set data.until")
        return start
    return history.end


def forecast_stage(scenario: Scenario, history, start: pd.Timestamp, progress: Progress = _noop):
    """Forecast each group's hourly peaks from the end of the history to the end of the horizon;
    returns (forecast, report). :func:`forecast_stage_run` also gives the calibration table."""
    run = forecast_stage_run(scenario, history, start, progress)
    return run.forecast, run.report


def forecast_stage_run(scenario: Scenario, history, start: pd.Timestamp, progress: Progress = _noop):
    """The forecast stage as a ForecastRun (forecast from ``start``, report, calibration)."""
    from planner.forecast import ForecastRun, read_holidays, run_demand_forecast

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
                              scheduler=scenario.forecast.scheduler, progress=tick, holidays=holidays)
    fc = run.forecast[run.forecast[C.DS] >= start].reset_index(drop=True)
    return ForecastRun(fc, run.report, run.calibration)


def adjust_forecast(scenario: Scenario, history, forecast: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Add anticipated services, apply growth multipliers and retirements; return (forecast, groups)."""
    from planner.anticipate import AnticipatedService, anticipate_services

    groups = history.groups.copy()
    if scenario.anticipated:
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
    known = set(groups[C.GROUP_ID])
    for g in list(scenario.growth.groups) + [r.group for r in scenario.retired]:
        if g not in known:
            raise ScenarioError(f"{scenario.source_path or 'scenario'}: group {g!r} (growth.groups or retired) "
                                "is not in the data or the anticipated services")
    unknown_c = sorted(set(scenario.growth.customers) - set(groups[C.CUSTOMER]))
    if unknown_c:
        raise ScenarioError(f"{scenario.source_path or 'scenario'}: growth.customers names unknown customer(s) {unknown_c}")
    factor = _growth_factors(scenario, history, forecast, groups)
    values = [C.MEAN, *C.QUANTILES]
    forecast = forecast.copy()
    forecast[values] = forecast[values].to_numpy() * factor[:, None]
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
    week = ((forecast[C.DS] - horizon_start(scenario, history)) // pd.Timedelta("7D")).to_numpy(float)
    factor = growth_curve(g.all, week)
    cust = forecast[C.UNIQUE_ID].map(groups.set_index(C.GROUP_ID)[C.CUSTOMER]).to_numpy()
    for name, spec in g.customers.items():
        rows = cust == name
        factor[rows] *= growth_curve(spec, week[rows])
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


def pack_horizon(forecast, groups, tiers, servers, starts, solver, progress: Progress = _noop):
    """Pack every week. The peak week (largest cost bound, then largest demand) is packed first
    with the whole catalog; the other weeks are packed onto a subset of its fleet, so that the fleet
    only grows towards the peak and no server bought for one week idles once the mix changes. A week
    for which the search finds no plan on that fleet keeps the peak week's own assignment when the
    verifier accepts it for the week's demand; otherwise (a different shape) it is packed freely,
    with a note."""
    from planner.plan import envelope_servers, pack_week, week_bound

    n = len(starts)
    bounds = [week_bound(forecast, groups, tiers, servers, ws) for ws in starts]
    peak_w = max(range(n), key=lambda w: bounds[w])  # the first of equal (bound, demand) pairs
    notes: list[str] = []

    def pack(w, catalog):
        try:
            return pack_week(forecast, groups, tiers, catalog, starts[w], w, solver)
        except InfeasiblePlanError as exc:
            raise InfeasiblePlanError(f"week {w} (from {starts[w].date()}): {exc}") from None

    free: dict[int, object] = {}  # weeks packed with the whole catalog
    while True:
        progress(f"packing peak week {peak_w + 1}/{n}", 0.5)
        if peak_w not in free:
            free[peak_w] = pack(peak_w, servers)
        done = {peak_w: free[peak_w]}
        envelope = envelope_servers(servers, free[peak_w])
        new_peak = None
        for i, w in enumerate(w for w in range(n) if w != peak_w):
            progress(f"packing week {w + 1}/{n}", 0.5 + 0.4 * (i + 1) / n)
            try:
                done[w] = pack_week(forecast, groups, tiers, envelope, starts[w], w, solver, baseline_servers=servers,
                                    fallback=free[peak_w])
            except InfeasiblePlanError:
                if w not in free:
                    free[w] = pack(w, servers)
                done[w] = free[w]
                if free[w].result.objective > free[peak_w].result.objective + 1e-9:
                    new_peak = w  # the bound misjudged the peak: start again from the real one
                    break
                notes.append(f"week {w} does not fit the peak week's fleet; packed with the whole catalog")
        if new_peak is None:
            break
        peak_w = new_peak
        notes.clear()
    return [done[w] for w in range(n)], notes


def run_plan(scenario: Scenario | None = None, progress: Progress = _noop) -> PlanRun:
    """Run the whole plan for ``scenario`` (the embedded default when None). No files are written."""
    from models.procurement import ProcurementOptions, ProcurementProblem, solve_procurement
    from planner.history import load_history
    from planner.plan import (plan_table, qos_table, required_servers, servers_frame, tiers_of,
                              utilisation_frame, week_starts, worker_loads_of, worker_risk)

    scenario = scenario or default_scenario()
    t0 = time.perf_counter()
    timings = {}
    progress("reading history", 0.0)
    history = load_history(scenario)
    timings["history_s"] = time.perf_counter() - t0
    start = horizon_start(scenario, history)
    fc_run = forecast_stage_run(scenario, history, start, progress)
    forecast, report = fc_run.forecast, fc_run.report
    timings["forecast_s"] = time.perf_counter() - t0 - timings["history_s"]
    forecast, groups = adjust_forecast(scenario, history, forecast)

    tiers = tiers_of(scenario)
    servers = servers_frame(scenario)
    pool_of = dict(zip(servers["type"], servers["pool"]))
    t1 = time.perf_counter()
    weeks, notes = pack_horizon(forecast, groups, tiers, servers, week_starts(start, scenario.horizon.weeks),
                                scenario.solver, progress)
    timings["packing_s"] = time.perf_counter() - t1

    progress("procurement", 0.92)
    required = required_servers(weeks, pool_of)
    proc_servers = servers.assign(granularity=scenario.procurement.granularity)
    initial = servers[["pool", "type", "initial"]].rename(columns={"type": "server_type", "initial": "installed"})
    if scenario.procurement.initial_fleet == "week0":
        # Today's fleet plus last quarter's orders still in transit cover every week that an
        # order placed now could not reach: the most any week inside the type's lead time needs.
        lead = dict(zip(servers["type"], servers["lead_time_weeks"]))
        within = required[required["week"] < required["server_type"].map(lead).clip(lower=1)]
        cover = within.groupby("server_type")["required"].max()
        initial["installed"] = initial["installed"] + initial["server_type"].map(cover).fillna(0).astype(int)
    problem = ProcurementProblem(proc_servers, required, initial, n_weeks=scenario.horizon.weeks,
                                 budget=scenario.procurement.budget, substitution=scenario.procurement.substitution)
    proc = solve_procurement(problem, ProcurementOptions(time_limit_s=max(10.0, scenario.solver.time_limit_s)))
    if not proc.status.has_solution:
        raise InfeasiblePlanError(f"procurement: status {proc.status}; " + "; ".join(proc.messages))

    loads = {wp.week: worker_loads_of(wp) for wp in weeks}
    risks = {wp.week: worker_risk(wp, loads[wp.week]) for wp in weeks}
    utilisation = pd.concat([utilisation_frame(wp, loads[wp.week], pool_of) for wp in weeks], ignore_index=True)
    plan = plan_table(weeks, loads, proc.installed, proc.purchases, risks, servers)
    assignment = pd.concat([wp.result.assignment_frame().assign(week=wp.week) for wp in weeks], ignore_index=True)
    assignment["pool"] = assignment["server_type"].map(pool_of)
    assignment = assignment.rename(columns={"fraction": "share"})
    qos = qos_table(weeks, risks, groups, tiers)
    workers_risk = pd.concat([r.assign(week=w) for w, r in risks.items()], ignore_index=True)
    summary = _summary(scenario, history, start, weeks, plan, proc, qos, report, timings, time.perf_counter() - t0)
    summary["packing_notes"] = notes
    from planner.forecast import calibration_summary

    summary["forecast_calibration"] = calibration_summary(fc_run)
    progress("shape profiles", 0.97)
    profiles = group_profiles(history)
    progress("done", 1.0)
    return PlanRun(scenario, history, forecast, report, weeks, required, proc, plan, proc.purchases, assignment,
                   utilisation, qos, workers_risk, profiles, summary, fc_run.calibration)


def group_profiles(history) -> pd.DataFrame:
    """Shape features and clusters of each group's hourly CPU demand (the workbook's Profiles sheet)."""
    from planner.profile import profile_functions

    return profile_functions(history.demand, history.catalog, slot=history.slot, level="group",
                             value=C.CPU_CORES).profiles


def _summary(scenario, history, start, weeks, plan, proc, qos, report, timings, total_s) -> dict:
    from planner.forecast import fallback_summary

    peak_cost = sum(wp.peak_cost for wp in weeks)
    shape_cost = sum(wp.result.objective for wp in weeks)
    last = plan[plan["week"] == plan["week"].max()]
    return {
        "scenario": scenario.name,
        "source": history.source,
        "groups": int(history.groups.shape[0]),
        "functions": int(history.telemetry.n_functions),
        "history_end": str(history.end),
        "horizon_start": str(start),
        "weeks": scenario.horizon.weeks,
        "total_cost": round(float(proc.total_cost), 2),
        "purchase_cost": round(float(proc.purchase_cost), 2),
        "servers_end": {r.server_type: int(r.installed) for r in last.itertuples()},
        "servers_purchased": int(plan["purchased"].sum()),
        "shape_vs_peak_packing_cost": round(shape_cost / peak_cost, 4) if peak_cost else None,
        "packing": [{"week": wp.week, "status": str(wp.result.status), "cost_per_month": round(wp.result.objective, 2),
                     "bound": round(wp.result.bound, 2), "gap": None if np.isnan(wp.result.gap) else round(wp.result.gap, 4),
                     "peak_cost_per_month": round(wp.peak_cost, 2), "runtime_s": round(wp.result.runtime_s, 2)}
                    for wp in weeks],
        "procurement": {"status": str(proc.status), "backend": proc.backend, "messages": list(proc.messages),
                        "shortfall_server_weeks": float(proc.shortfall["shortfall"].sum()) if len(proc.shortfall) else 0.0},
        "risk_slot_hours_by_tier": {t: round(float(v), 3) for t, v in qos.groupby("tier")["risk"].sum().items()},
        "cpu_utilisation_mean": round(float(np.average(plan["cpu_utilisation"], weights=plan["installed"].astype(float).clip(lower=1e-9))), 4),
        "forecast_models": report["model"].value_counts().to_dict() if "model" in report else {},
        "forecast_fallbacks": fallback_summary(report),
        "timings_s": {k: round(v, 2) for k, v in {**timings, "total_s": total_s}.items()},
        "scenario_definition": scenario_dict(scenario),
    }


def write_run(run: PlanRun, out: Path, *, force: bool = False, plots: bool = True) -> list[Path]:
    """Write the run's tables (CSV and Parquet), summary.json, plan.xlsx and plots, all or nothing."""
    import json

    from planner.export.spreadsheet import write_plan_workbook
    from planner.export.tables import default_charts, plan_to_frames
    from planner.io import atomic_dir

    out = Path(out)
    from planner.io import refuse_existing

    refuse_existing(out, force)
    tables = {
        "plan": run.plan, "purchases": run.purchases, "assignment": run.assignment,
        "utilisation": run.utilisation, "qos": run.qos, "forecast": run.forecast,
        "required": run.required, "shortfall": run.procurement.shortfall, "forecast_models": run.forecast_report,
    }
    if run.profiles is not None:
        tables["profiles"] = run.profiles
    if run.forecast_calibration is not None:
        tables["forecast_calibration"] = run.forecast_calibration
    with atomic_dir(out) as tmp:
        for name, frame in tables.items():
            frame.to_csv(tmp / f"{name}.csv", index=False)
            frame.to_parquet(tmp / f"{name}.parquet", index=False)
        (tmp / "summary.json").write_text(json.dumps(run.summary, indent=2, default=str) + "\n")
        frames = plan_to_frames(run.plan, purchases=run.purchases, assignment=run.assignment,
                                utilisation=run.utilisation, qos=run.qos, forecast=run.forecast,
                                profiles=run.profiles, summary={k: v for k, v in run.summary.items()
                                                                 if k not in ("packing", "scenario_definition", "forecast_calibration")})
        write_plan_workbook(tmp / "plan.xlsx", frames, default_charts(frames))
        if plots:
            _plots(run, tmp)
        names = sorted(p.name for p in tmp.iterdir())
    return [out / n for n in names]


def _plots(run: PlanRun, folder: Path) -> None:
    from planner.export.plots import write_plots

    write_plots(folder, plan=run.plan, forecast=run.forecast, history=run.history.demand,
                utilisation=run.utilisation)


def run_default(out: Path, force: bool = False) -> PlanRun:
    """Plan the embedded default and write it to ``out``."""
    run = run_plan(default_scenario())
    write_run(run, out, force=force)
    return run
