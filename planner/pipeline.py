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
    risk: object = None  # planner.risk.RiskSummary: the one source of every risk figure
    profiles: pd.DataFrame | None = None
    summary: dict = field(default_factory=dict)
    groups: pd.DataFrame | None = None  # group_id, customer, tier (+ anticipated services): the rules verify reads
    fleet: pd.DataFrame | None = None  # the starting fleet: pool, server_type, inventory, in_transit, installed
    orders: pd.DataFrame | None = None  # planner.review.purchase_orders: what to buy, when to order it
    why: pd.DataFrame | None = None  # planner.review.why_purchases: the groups and weeks that need each order
    deferral: pd.DataFrame | None = None  # per week: lax work moved (planner.deferral.week_figures)
    planned_demand: pd.DataFrame | None = None  # with deferral: the demand packed, after the move
    workers: pd.DataFrame | None = None  # every worker with its zone and role (serving / spare)
    failover: pd.DataFrame | None = None  # the failover map when failure domains apply


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
    """Forecast each group's hourly peaks from the end of the history to the end of the horizon."""
    from planner.forecast import run_demand_forecast

    end = start + pd.Timedelta(days=7 * scenario.horizon.weeks)
    steps = int((end - history.end) / pd.Timedelta(history.slot))
    demand = history.demand
    if scenario.forecast.history_weeks is not None:
        demand = demand[demand[C.DS] >= history.end - pd.Timedelta(weeks=scenario.forecast.history_weeks)]
    n_series = demand[C.GROUP_ID].nunique() * len(C.RESOURCES)

    def tick(done):
        progress(f"forecast {done}/{n_series} series", 0.05 + 0.45 * done / max(n_series, 1))

    run = run_demand_forecast(demand, steps, freq=history.slot, models=scenario.forecast.models,
                              n_windows=scenario.forecast.n_windows, n_jobs=scenario.forecast.n_jobs,
                              scheduler=scenario.forecast.scheduler, progress=tick)
    fc = run.forecast[run.forecast[C.DS] >= start].reset_index(drop=True)
    return fc, run.report


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
        ) for a in scenario.anticipated]
        extra = anticipate_services(forecast, history.demand, services, history.launches)
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
    cust = forecast[C.UNIQUE_ID].map(groups.set_index(C.GROUP_ID)[C.CUSTOMER])
    factor = (scenario.growth.all
              * cust.map(scenario.growth.customers).fillna(1.0).to_numpy()
              * forecast[C.UNIQUE_ID].map(scenario.growth.groups).fillna(1.0).to_numpy())
    values = [C.MEAN, *C.QUANTILES]
    forecast = forecast.copy()
    forecast[values] = forecast[values].to_numpy() * factor[:, None]
    for r in scenario.retired:
        gone = (forecast[C.UNIQUE_ID] == r.group) & (forecast[C.DS] >= pd.Timestamp(r.from_))
        forecast.loc[gone, values] = 0.0
    return forecast, groups


def _customer_log_volume(history) -> dict[str, float]:
    per_fn = pd.Series(history.telemetry.counts.sum(axis=0, dtype="float64"), index=history.telemetry.ids)
    days = len(history.telemetry.index) * history.telemetry.interval_s / 86400
    cust = history.catalog.set_index(C.UNIQUE_ID)[C.CUSTOMER]
    daily = per_fn.groupby(cust.reindex(per_fn.index).to_numpy()).sum() / max(days, 1e-9)
    return {k: float(np.log10(1 + v)) for k, v in daily.items()}


def pack_horizon(forecast, groups, tiers, servers, starts, solver, progress: Progress = _noop, deferral=None,
                 domains=None):
    """Pack every week. The peak week (largest cost bound, then largest demand) is packed first
    with the whole catalog; the other weeks are packed onto a subset of its fleet, so that the fleet
    only grows towards the peak and no server bought for one week idles once the mix changes. A week
    for which the search finds no plan on that fleet keeps the peak week's own assignment when the
    verifier accepts it for the week's demand; otherwise (a different shape) it is packed freely,
    with a note. ``deferral`` (planner.deferral.DeferralSetup) moves lax work in every week."""
    from planner.plan import envelope_servers, pack_week, week_bound

    n = len(starts)
    bounds = [week_bound(forecast, groups, tiers, servers, ws, deferral) for ws in starts]
    peak_w = max(range(n), key=lambda w: bounds[w])  # the first of equal (bound, demand) pairs
    notes: list[str] = []

    def pack(w, catalog):
        try:
            return pack_week(forecast, groups, tiers, catalog, starts[w], w, solver, deferral=deferral,
                             domains=domains)
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
                                    fallback=free[peak_w], deferral=deferral, domains=domains)
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


def run_plan(scenario: Scenario | None = None, progress: Progress = _noop, history=None,
             prepared: dict | None = None) -> PlanRun:
    """Run the whole plan for ``scenario`` (the embedded default when None). No files are written.
    ``history`` (a planner.history.History) skips reading the scenario's data (backtest origins).
    ``prepared`` (from :func:`prepare_forecast` of a scenario with the same data, horizon and
    forecast sections) skips reading the history and forecasting: variants of tiers, servers,
    energy or solver are then planned on one forecast (benchmarks/plan_objectives.py)."""
    from planner.history import load_history
    from planner.plan import (plan_table, qos_table, required_servers, servers_frame, tiers_of,
                              utilisation_frame, week_starts, worker_loads_of)
    from planner.energy import plan_energy
    from planner.failover import (check_survivable, domain_planner, failover_table, installed_servers,
                                  redundancy_summary, workers_table)
    from planner.fairness import add_fairness, bound_risk_ratio, fairness_summary
    from planner.risk import plan_risk

    scenario = scenario or default_scenario()
    t0 = time.perf_counter()
    timings = {}
    progress("reading history", 0.0)
    if prepared is not None:
        history = prepared["history"]
    history = load_history(scenario) if history is None else history
    timings["history_s"] = time.perf_counter() - t0
    start = horizon_start(scenario, history)
    intensity = carbon_stage(scenario, start)  # before the forecast: a bad carbon file fails fast
    check_survivable(scenario)
    if prepared is None:
        forecast, report = forecast_stage(scenario, history, start, progress)
    else:
        forecast, report = prepared["forecast"], prepared["report"]
    timings["forecast_s"] = time.perf_counter() - t0 - timings["history_s"]
    forecast, groups = adjust_forecast(scenario, history, forecast)

    tiers = tiers_of(scenario)
    servers = servers_frame(scenario)
    pool_of = dict(zip(servers["type"], servers["pool"]))
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
    starts = week_starts(start, scenario.horizon.weeks)

    def pack(packing_groups):
        return pack_horizon(forecast, packing_groups, tiers, pack_servers, starts, scenario.solver, progress,
                            deferral=deferral, domains=domains)

    weeks, notes = pack(groups)
    bounds = {n: t.max_risk_ratio for n, t in scenario.tiers.items() if t.max_risk_ratio is not None}
    fairness_bound = None
    if bounds:
        weeks, bound_notes, fairness_bound = bound_risk_ratio(pack, weeks, groups, tiers, bounds, pool_of)
        notes = bound_notes if bound_notes is not None else notes
    timings["packing_s"] = time.perf_counter() - t1
    deferral_weeks, deferral_summary, planned_demand = _deferral_figures(weeks, deferral, forecast, groups, tiers,
                                                                         servers, scenario, progress)

    progress("procurement", 0.92)
    required = required_servers(weeks, pool_of)
    proc, fleet = procure(scenario, servers, required)

    loads = {wp.week: worker_loads_of(wp) for wp in weeks}
    risk = plan_risk(weeks, loads, groups, pool_of, proc.shortfall, tiers=sorted(set(groups["tier"])))
    risks = {wp.week: risk.contributions[risk.contributions["week"] == wp.week] for wp in weeks}
    utilisation = pd.concat([utilisation_frame(wp, loads[wp.week], pool_of) for wp in weeks], ignore_index=True)
    plan = plan_table(weeks, loads, proc.installed, proc.purchases, risks, servers)
    zone_of_worker = {(wp.week, w): z for wp in weeks if wp.failover is not None
                      for w, z in wp.failover.zone_of_worker.items()}
    energy = plan_energy(weeks, loads, proc.installed, servers, scenario, intensity, zone_of_worker,
                         shortfall=proc.shortfall)
    plan = plan.merge(energy, on=["week", "pool", "server_type"], how="left", validate="one_to_one")
    assignment = pd.concat([wp.result.assignment_frame().assign(week=wp.week) for wp in weeks], ignore_index=True)
    assignment["pool"] = assignment["server_type"].map(pool_of)
    assignment = assignment.rename(columns={"fraction": "share"})
    assignment["tier"] = assignment[C.GROUP_ID].map(groups.drop_duplicates(C.GROUP_ID).set_index(C.GROUP_ID)["tier"])
    first_zone = {s.type: s.zones[0] for s in scenario.servers}
    workers = workers_table(weeks, pool_of, first_zone, installed_servers(scenario))
    assignment = assignment.merge(workers[["week", "worker_id", "zone", "rack"]], on=["week", "worker_id"], how="left")
    qos = qos_table(groups, tiers, risk.by_customer)
    if history.warm is not None:  # cold starts the history had under the scenario's keep-alive policy
        qos = qos.merge(history.warm.customers()[[C.CUSTOMER, "cold_start_rate"]], on=C.CUSTOMER, how="left")
    qos = add_fairness(qos, risk.exposure_by_customer)
    workers_risk = risk.by_worker
    summary = _summary(scenario, history, start, weeks, plan, proc, risk, report, timings, time.perf_counter() - t0)
    summary["packing_notes"] = notes
    summary.update(energy_totals(energy, scenario, intensity, servers))
    summary["fairness"] = fairness_summary(qos)
    if fairness_bound is not None:
        summary["fairness_bound"] = fairness_bound
        for t, ok in fairness_bound["holds"].items():
            if not ok:
                summary["plan_warnings"].append(
                    f"FAIRNESS: tier {t}'s bound max_risk_ratio {fairness_bound['bounds'][t]:g} does not hold after "
                    f"{len(fairness_bound['rounds']) - 1} round(s) (max / mean {fairness_bound['max_over_mean_after'][t]:.3g})")
    redundancy = redundancy_summary(weeks, scenario)
    if redundancy:
        summary["redundancy"] = redundancy
        if redundancy.get("reserve_fallback_weeks"):
            summary["plan_warnings"].append(
                f"REDUNDANCY: the spread form's failover map did not fit week(s) {redundancy['reserve_fallback_weeks']}; "
                "they use the reserve form (spare servers)")
    if history.warm is not None:
        summary["keep_alive"] = history.warm.summary()
    if deferral_summary is not None:
        summary["deferral"] = deferral_summary
    orders, why = review_tables(scenario, weeks, plan, proc, groups, servers)
    summary.update(_review_summary(scenario, servers, fleet, orders, why, workers_risk, groups, summary, weeks))
    progress("shape profiles", 0.97)
    profiles = group_profiles(history)
    progress("done", 1.0)
    run = PlanRun(scenario, history, forecast, report, weeks, required, proc, plan, proc.purchases, assignment,
                  utilisation, qos, workers_risk, risk, profiles, summary, groups, workers=workers,
                  failover=failover_table(weeks) if domains is not None else None)
    run.fleet, run.orders, run.why = fleet, orders, why
    run.deferral, run.planned_demand = deferral_weeks, planned_demand
    return run


def _deferral_figures(weeks, deferral, forecast, groups, tiers, servers, scenario, progress):
    """Per-week work moved; for the week that sizes the fleet, the capacity deferral saved (that
    week packed again as the work arrives); and the demand packed after the move (what
    ``planner verify`` checks the assignment against). ``(None, None, None)`` without deferral."""
    if deferral is None:
        return None, None, None
    from planner.deferral import deferral_summary, planned_demand, week_figures
    from planner.plan import pack_week

    table = pd.DataFrame([week_figures(wp) for wp in weeks])
    peak = max(weeks, key=lambda wp: wp.result.objective)
    progress("peak week without deferral", 0.91)
    try:
        without = pack_week(forecast, groups, tiers, servers, peak.start, peak.week, scenario.solver).result.objective
    except InfeasiblePlanError as exc:
        import warnings

        warnings.warn(f"the peak week without deferral has no plan ({exc}); capacity saved is not reported", stacklevel=2)
        without = None
    return table, deferral_summary(table, deferral, peak.week, without), planned_demand(weeks)


def procure(scenario: Scenario, servers: pd.DataFrame, required: pd.DataFrame):
    """Orders that cover ``required`` (week, pool, server_type, required) at least cost, from the
    installed fleet (``servers[].initial`` + the inventory). With ``procurement.initial_fleet:
    week0`` orders already in transit top the fleet up where a week inside a type's lead time needs
    more (an order placed now could not reach it). Returns (ProcurementResult, the starting fleet
    ``pool, server_type, inventory, in_transit, installed``)."""
    from models.procurement import ProcurementOptions, ProcurementProblem, solve_procurement
    from planner.scenarios import installed_fleet

    fleet = installed_fleet(scenario).rename(columns={"installed": "inventory"})
    fleet["in_transit"] = 0
    if scenario.procurement.initial_fleet == "week0":
        lead = dict(zip(servers["type"], servers["lead_time_weeks"]))
        within = required[required["week"] < required["server_type"].map(lead).clip(lower=1)]
        cover = fleet["server_type"].map(within.groupby("server_type")["required"].max()).fillna(0).astype(int)
        fleet["in_transit"] = (cover - fleet["inventory"]).clip(lower=0)
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


def _review_summary(scenario, servers, fleet, orders, why, workers_risk, groups, summary, weeks) -> dict:
    """summary.json's review block: the starting fleet and its cost, the orders, what drives them,
    and each tier's expected overflow share of its workers' slot-hours against its target."""
    from models.procurement import MONTHS_PER_WEEK
    from planner.backtest import tier_target
    from planner.review import drivers

    cpm = dict(zip(servers["type"], servers["cost_per_month"]))
    fleet_cost = float((fleet["installed"] * fleet["server_type"].map(cpm)).sum() * MONTHS_PER_WEEK * scenario.horizon.weeks)
    slots = len(weeks[0].instance.slots) if weeks else 168
    tier_of = groups.drop_duplicates(C.GROUP_ID).set_index(C.GROUP_ID)["tier"].to_dict()
    exposure: dict[str, int] = {}
    for rec in workers_risk.itertuples(index=False):
        for t in {tier_of.get(g) for g in rec.groups} - {None}:
            exposure[t] = exposure.get(t, 0) + slots
    risk = summary.get("risk_slot_hours_by_tier", {})
    vs_target = {}
    for t in sorted(set(risk) | set(exposure)):
        share = risk.get(t, 0.0) / exposure[t] if exposure.get(t) else None
        vs_target[t] = {"risk_slot_hours": risk.get(t, 0.0), "slot_hours": exposure.get(t, 0),
                        "expected_overflow_share": None if share is None else round(share, 6),
                        "target": round(tier_target(scenario.tiers[t]), 6) if t in scenario.tiers else None}
    total = float(summary["total_cost"])
    return {
        "installed_fleet": {r.server_type: {"pool": r.pool, "inventory": int(r.inventory), "in_transit": int(r.in_transit)}
                            for r in fleet.itertuples(index=False)},
        "installed_fleet_cost": round(fleet_cost, 2),
        "cost_change_vs_installed": round(total - fleet_cost, 2),
        "orders": [{k: (str(v.date()) if isinstance(v, pd.Timestamp) else v.item() if hasattr(v, "item") else v)
                    for k, v in row.items()} for row in orders.to_dict("records")],
        "drivers": drivers(why),
        "risk_vs_target": vs_target,
    }


def prepare_forecast(scenario: Scenario | None = None, progress: Progress = _noop) -> dict:
    """The history and the raw forecast of ``scenario``, for :func:`run_plan`'s ``prepared``."""
    from planner.history import load_history

    scenario = scenario or default_scenario()
    history = load_history(scenario)
    forecast, report = forecast_stage(scenario, history, horizon_start(scenario, history), progress)
    return {"history": history, "forecast": forecast, "report": report}


def carbon_stage(scenario: Scenario, start: pd.Timestamp):
    """Hourly carbon intensity of every zone over the horizon (planner.energy.zone_intensity)."""
    from planner.energy import zone_intensity

    zones: dict[str, list[str]] = {}
    for s in scenario.servers:
        zones.setdefault(s.pool, [])
        zones[s.pool] += [z for z in s.zones if z not in zones[s.pool]]
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


def group_profiles(history) -> pd.DataFrame:
    """Shape features and clusters of each group's hourly CPU demand (the workbook's Profiles sheet)."""
    from planner.profile import profile_functions

    return profile_functions(history.demand, history.catalog, slot=history.slot, level="group",
                             value=C.CPU_CORES).profiles


def _summary(scenario, history, start, weeks, plan, proc, risk, report, timings, total_s) -> dict:
    from planner.forecast import fallback_summary

    peak_cost = sum(wp.peak_cost for wp in weeks)
    shape_cost = sum(wp.result.objective for wp in weeks)
    last = plan[plan["week"] == plan["week"].max()]
    return {
        "plan_warnings": shortfall_warnings(proc.shortfall, risk),
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


def write_run(run: PlanRun, out: Path, *, force: bool = False, plots: bool = True, backtest=None) -> list[Path]:
    """Write the run's tables (CSV and Parquet), summary.json, plan.xlsx, report.html and plots,
    all or nothing. ``backtest`` (planner.backtest.OriginResult list) adds its tables, the Backtest
    sheets and the report's backtest section."""
    import json

    from planner.export.report import write_report
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
    if run.orders is not None:
        tables["orders"], tables["why"] = run.orders, run.why
    if run.profiles is not None:
        tables["profiles"] = run.profiles
    if run.deferral is not None:
        tables["deferral"] = run.deferral
    if run.planned_demand is not None:
        tables["planned_demand"] = run.planned_demand
    if run.groups is not None:  # the run's rules, so that `planner verify` checks the plan as planned
        from planner.plan import servers_frame, tiers_of
        from planner.qos import tiers_frame
        from planner.servers import SERVER_COLUMNS

        tables["groups"] = run.groups
        tables["tiers"] = tiers_frame(tiers_of(run.scenario)).assign(  # + survive: planner verify's failover check
            survive=lambda f: f["name"].map({n: t.survive for n, t in run.scenario.tiers.items()}))
        tables["servers"] = servers_frame(run.scenario)[list(SERVER_COLUMNS)]
    for name in ("workers", "failover"):
        if getattr(run, name, None) is not None:
            tables[name] = getattr(run, name)
    with atomic_dir(out) as tmp:
        for name, frame in tables.items():
            frame.to_csv(tmp / f"{name}.csv", index=False)
            frame.to_parquet(tmp / f"{name}.parquet", index=False)
        past = None
        if backtest:
            from planner.backtest import summary_of, tables_of

            past = {"summary": summary_of(backtest, run.scenario), "tables": tables_of(backtest)}
            for name, frame in past["tables"].items():
                frame.to_csv(tmp / f"backtest_{name}.csv", index=False)
        summary = run.summary if past is None else {**run.summary, "backtest": past["summary"]}
        (tmp / "summary.json").write_text(json.dumps(summary, indent=2, default=str) + "\n")
        frames = plan_to_frames(run.plan, purchases=run.purchases, assignment=run.assignment,
                                utilisation=run.utilisation, qos=run.qos, forecast=run.forecast,
                                profiles=run.profiles, orders=run.orders, why=run.why,
                                summary={k: v for k, v in run.summary.items() if k not in ("packing", "scenario_definition")})
        charts = default_charts(frames)
        if past is not None:
            from planner.export.tables import backtest_charts, backtest_frames

            extra = backtest_frames(past["tables"], past["summary"])
            frames.update(extra)
            charts += backtest_charts(extra)
        write_plan_workbook(tmp / "plan.xlsx", frames, charts)
        write_report(tmp / "report.html", title=f"Capacity plan: {run.scenario.name}", plan=run.plan,
                     summary=run.summary, orders=run.orders, why=run.why, utilisation=run.utilisation,
                     forecast=run.forecast, history=run.history.demand, backtest=past)
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
