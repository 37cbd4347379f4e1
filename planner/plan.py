"""From the forecast to the long-term plan: a packing per week of the horizon, servers required per
type and pool, a procurement decision, and the Plan table with utilisation and risk.

Risk is the expected number of overflow slot-hours: for each worker, slot and resource the planned
groups' demand is taken as normal with the forecast mean and a spread read off its quantiles
(sigma = max((q99 - q50) / 2.326, (q95 - q50) / 1.645)), the groups of a worker pooled with their
residual correlation (sd = sqrt(s^T rho s), the model the pooled-risk packing uses), and
P(load > physical capacity) is summed over the slots (the worst resource in each slot).
:func:`overflow_probability` is that maths (against the usable capacity, capacity x (1 - headroom),
it is the predicted overflow probability held against the tiers' targets); planner.risk aggregates
it (with the workers a procurement shortfall leaves unserved) into every risk figure of the plan.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.stats import norm

from planner import columns as C
from planner.qos import Tier
from planner.risk import sum_by

@dataclass(frozen=True)
class WeekPlan:
    """The packing of one week of the horizon."""

    week: int
    start: pd.Timestamp
    instance: object  # models.packing.instance.PackingInstance (planned quantiles)
    mean: np.ndarray  # [group, slot, resource] forecast mean, groups as in ``instance``
    spread: np.ndarray  # [group, slot, resource] forecast sigma
    result: object  # models.packing.result.PackingResult
    peak_cost: float  # cost of the peak-based plan of the same week
    peak_result: object = None  # that plan (the baseline of backtests)
    peak_instance: object = None  # its instance (the whole catalog)
    failover: object = None  # models.packing.failover.FailoverPlan (zones, spares, map) when domains apply
    loadings: np.ndarray | None = None  # [group, K] residual-correlation factors (None: independent)
    pool: str = ""  # the pool this packing is of (planner.pipeline.pack_pools)


@dataclass(frozen=True)
class WorkerLoads:
    """Loads of one week's workers, computed once for utilisation, headroom and risk."""

    workers: list[str]
    server_type: np.ndarray  # [W] type of each worker
    capacity: np.ndarray  # [W, 1, R]
    mean: np.ndarray  # [W, T, R] expected load (forecast mean)
    planned: np.ndarray  # [W, T, R] load at the planning quantiles
    sigma: np.ndarray  # [W, T, R] pooled sd of the worker's load, sqrt(s^T rho s)
    usable: np.ndarray | None = None  # [W, 1, R] capacity x (1 - the strictest headroom of its groups)


def tiers_of(scenario) -> dict[str, Tier]:
    """planner.qos tiers from the scenario's tier specs."""
    return {name: Tier(name, t.quantile, t.headroom, t.spread, t.isolated, t.overflow_risk, t.method)
            for name, t in scenario.tiers.items()}


def servers_frame(scenario) -> pd.DataFrame:
    """ServerCatalog table of the scenario."""
    # A type offered in several pools is one row per pool (pools procure their own servers).
    rows = [{**s.model_dump(), "pool": p} for s in scenario.servers for p in s.pools]
    frame = pd.DataFrame(rows)
    frame["max_count"] = frame["max_count"].astype("Int64")
    return frame


def week_starts(start: pd.Timestamp, weeks: int) -> list[pd.Timestamp]:
    return [start + pd.Timedelta(days=7 * w) for w in range(weeks)]


def _week_rows(forecast: pd.DataFrame, start: pd.Timestamp) -> pd.DataFrame:
    end = start + pd.Timedelta(days=7)
    rows = forecast[(forecast[C.DS] >= start) & (forecast[C.DS] < end)]
    # A group with no demand in the week (retired, not launched yet) is not packed.
    live = rows.groupby(C.UNIQUE_ID, observed=True)[list(C.QUANTILES)].transform("max").max(axis=1) > 0
    return rows[live]


# Pool-weeks of more items than this take the class-aggregated chord bound (models.packing.bounds
# chord_bound): the exact item -> type programme costs 1.5 s at 100 items and 15 s at 400 (its 20 s
# wall-clock limit, so a load-dependent bound, at a fleet's 1,700 groups a pool), 3-4 times per
# pool-week. Smaller instances (the default run, tests) keep the exact bound and their plans.
CHORD_BOUND_ITEMS = 150


def week_bound(forecast, groups, tiers, servers, start, deferral=None, residuals=None) -> tuple[float, float]:
    """Lower bound on one week's fleet cost and the week's total inflated demand (cheap: no solve).

    The pair orders the weeks of a horizon to find its peak: the bound first, the demand breaking
    ties (whole-server bounds are often equal while the demand still grows). With a pre-pass
    ``deferral`` (planner.deferral.DeferralSetup) the bound is that of the reshaped demand."""
    from models.packing.bounds import class_demand, lower_bound
    from planner.packing import to_packing_instance

    rows = _week_rows(forecast, start)
    g = groups[groups[C.GROUP_ID].isin(set(rows[C.UNIQUE_ID]))]
    inst = to_packing_instance(rows, g, tiers, servers, residuals=residuals)
    if deferral is not None and deferral.before_packing:
        inst, _ = deferral.prepass(inst, start)
    demand = class_demand(inst)  # [class, slot, resource]
    cap = np.array([s.capacity for s in inst.server_types], dtype=float).max(axis=0)
    return float(lower_bound(inst, CHORD_BOUND_ITEMS)["best"]), float((demand / cap).max(axis=1).sum())


def envelope_servers(servers: pd.DataFrame, peak: WeekPlan) -> pd.DataFrame:
    """The catalog limited to the peak week's fleet: other weeks use a subset of it, so the
    quarter never buys a type only to leave it idle once the peak arrives."""
    return fleet_servers(servers, fleet_counts(peak))


def fleet_counts(plan: WeekPlan) -> Counter:
    """Servers of each type a week's plan uses."""
    return Counter(str(t) for _, t in plan.result.workers)


def fleet_servers(servers: pd.DataFrame, counts: dict[str, int]) -> pd.DataFrame:
    """The catalog limited to ``counts`` servers of each type (none of a type not named), within
    each type's own ``max_count``."""
    out = servers.copy()
    env = out["type"].map(counts).fillna(0).astype(int)
    limit = out["max_count"].astype("Float64").fillna(np.inf)
    out["max_count"] = np.minimum(env.to_numpy(float), limit.to_numpy(float)).astype(int)
    return out.astype({"max_count": "Int64"})


def shard_alternatives(instance) -> list:
    """The instance again with its sharded groups split finely enough for each smaller server type.

    The default shard count is the smallest that fits *some* server; finer shards can fit a cheaper
    type, and small shards of groups whose peaks do not coincide can share workers. Groups that are
    not sharded keep one shard."""
    import dataclasses

    base = instance.shard_counts()
    sharded = base > 1
    if not sharded.any():
        return []
    cap = np.array([s.capacity for s in instance.server_types], dtype=float)  # [K, R]
    # A shard's size alone on a worker, as instance.shard_counts() sizes it: mean + z sigma on a
    # pooled-risk instance (the mean alone undercounts it and misses the finer split, issue 19).
    peak = instance.standalone().max(axis=1)  # [G, R]
    eff = cap[None, :, :] * (1.0 - instance.headroom)[:, None, None]  # [G, K, R]
    with np.errstate(divide="ignore"):
        need = np.ceil(peak[:, None, :] / eff * (1 - 1e-9)).max(axis=2)  # [G, K] shards to fit type k
    out, seen = [], {tuple(base)}
    for k in np.argsort(cap[:, 0], kind="stable"):
        if not np.isfinite(need[:, k]).all():
            continue
        n = np.where(sharded, np.maximum(base, need[:, k]), base).astype(int)
        if tuple(n) not in seen:
            seen.add(tuple(n))
            out.append(dataclasses.replace(instance, min_shards=np.maximum(instance.min_shards, n)))
    return out


PIPELINE_STALL = 8  # fruitless neighbourhoods in a row that end a week's search
SHRINK_STALL = 50  # repair moves in a row without a lower overflow that end a fleet-shrinking change


def cheapest_variants(instance, backend) -> tuple[list, list]:
    """The instances :func:`_cheapest` solves, in the order it takes them, and the lower bound that
    may prune each (``None``: always solved): ``instance`` first, then its shard alternatives in
    order of their bound (stable). The ``peak`` and ``heuristic`` backends take every alternative
    in catalog order, none pruned (they are fast)."""
    from models.packing.bounds import lower_bound

    alternatives = shard_alternatives(instance)
    if backend in ("heuristic", "peak"):
        return [instance, *alternatives], [None] * (1 + len(alternatives))
    bounds = [float(lower_bound(a, CHORD_BOUND_ITEMS)["best"]) for a in alternatives]
    order = np.argsort(bounds, kind="stable")
    return [instance, *(alternatives[i] for i in order)], [None, *(bounds[i] for i in order)]


def select_cheapest(variants: list, bounds: list, outcome):
    """The rule of :func:`_cheapest`: take the variants in order; one whose bound is not below the
    best plan so far (less 1e-9) is skipped as if it did not exist; a plan replaces the best only
    when cheaper by more than 1e-9 (the earlier variant wins ties). ``outcome(i)`` is variant ``i``'s
    result (raising InfeasiblePlanError when it has none), asked only for variants not skipped, in
    order. Returns (instance, result); raises the first error when no variant has a plan."""
    from planner.errors import InfeasiblePlanError

    best, first_error = None, None
    for i, inst in enumerate(variants):
        if best is not None and bounds[i] is not None and bounds[i] >= best[1].objective - 1e-9:
            continue
        try:
            result = outcome(i)
        except InfeasiblePlanError as exc:
            first_error = first_error or exc
            continue
        if best is None or result.objective < best[1].objective - 1e-9:
            best = (inst, result)
    if best is None:
        raise first_error
    return best


def _cheapest(instance, backend, solved: dict | None = None, **options):
    """Solve ``instance`` and its shard alternatives; keep the cheapest plan (the default on ties).

    Alternatives are taken in order of their lower bound and get the full solve unless their
    bound shows that they cannot beat the best plan so far (exact pruning). A cheaper gate (the
    greedy's cost against the best plan, or against its greedy start) skipped the variant that
    reaches a catalog's cheaper type: greedy costs rank shard counts poorly (issue 19). The
    ``peak`` and ``heuristic`` backends solve every variant (they are fast). Raises the default
    instance's error when no variant has a plan.

    ``solved`` maps a variant's index (:func:`cheapest_variants` order) to its result, or to the
    InfeasiblePlanError its solve raised, solved elsewhere (:func:`solve_variant`, side by side in
    other processes); the rest are solved here. Solves are deterministic (counted budgets), so the
    choice is the one made solving every variant here, whichever were solved in advance."""
    from planner.packing import solve

    variants, bounds = cheapest_variants(instance, backend)

    def outcome(i):
        if solved is not None and i in solved:
            if isinstance(solved[i], Exception):
                raise solved[i]
            return solved[i]
        return solve(variants[i], backend, **options)

    return select_cheapest(variants, bounds, outcome)


def reuse_plan(instance, plan: WeekPlan):
    """``plan``'s assignment applied to ``instance`` (another week of the same groups), or ``None``
    when the groups differ or the independent verifier finds a violation. Returns (instance with
    ``plan``'s shard counts, result)."""
    import dataclasses

    from models.packing.result import PackingResult, SolveStatus
    from models.packing.verify import find_violations

    if set(instance.group_ids) != set(plan.instance.group_ids):
        return None
    shards = dict(zip(plan.instance.group_ids, plan.instance.shard_counts()))
    inst = dataclasses.replace(instance, min_shards=np.array([shards[g] for g in instance.group_ids]))
    if not np.array_equal(inst.shard_counts(), [shards[g] for g in inst.group_ids]):
        return None  # this week needs more shards than the plan has
    from models.packing.bounds import lower_bound

    old = plan.result
    bound = min(float(lower_bound(inst, CHORD_BOUND_ITEMS)["best"]), old.objective)
    result = PackingResult(SolveStatus.FEASIBLE, old.backend, old.objective, bound, 0.0, old.placements,
                           old.workers, message=f"the plan of week {plan.week} reused")
    if find_violations(inst, result):
        return None
    return inst, result


def solve_options(solver) -> dict:
    """The solve options of a week's packing (planner.packing.solve) from the scenario's solver."""
    if solver.iterations is not None:
        # Counted budgets (the plan must not depend on the machine's load): the neighbourhood search
        # stops after `iterations` steps or 8 fruitless ones in a row, the fleet-shrinking search
        # after 1,500 repair moves (on the default fleet neither found more past these: docs/packing.md),
        # a change after 50 moves that do not lower its overflow (docs/benchmarks.md: the removals that
        # succeeded, synthetic ones included, never went more than 45 moves without improving).
        search = dict(workers=1, lns_max_iterations=solver.iterations, deterministic=True, lns_stall=PIPELINE_STALL,
                      shrink_moves=250, shrink_max_moves=1500, shrink_stall=SHRINK_STALL)
    else:
        search = dict(workers=solver.workers)
    # pack_week packs the peak-based baseline on its own catalog: the solve need not pack it again.
    return dict(time_limit_s=solver.time_limit_s, seed=0, mip_gap=solver.mip_gap, chord_exact_items=CHORD_BOUND_ITEMS,
                peak_reference=False, **search)


def _week_instance(forecast, groups, tiers, servers, start, deferral=None, domains=None, residuals=None):
    """One week's packing instances: (rows, as the demand arrives, after a pre-pass deferral, the
    instance solved (failure domains applied), the deferral's flows, the domains' info)."""
    from planner.packing import to_packing_instance

    rows = _week_rows(forecast, start)
    g = groups[groups[C.GROUP_ID].isin(set(rows[C.UNIQUE_ID]))]
    default = arrived = to_packing_instance(rows, g, tiers, servers, residuals=residuals)
    flows = None
    if deferral is not None and deferral.before_packing:
        default, flows = deferral.prepass(default, start)
    to_solve, info = domains.prepare(default) if domains is not None else (default, None)
    return rows, arrived, default, to_solve, flows, info


def solve_variant(forecast, groups, tiers, servers, start, solver, k: int, deferral=None, domains=None,
                  residuals=None):
    """The solve of variant ``k`` (:func:`cheapest_variants` order) of the week :func:`pack_week`
    packs with the same arguments: its result, the InfeasiblePlanError the solve raised, or ``None``
    when the week has no variant ``k`` (or no instance: pack_week raises that error itself). Passed
    to pack_week as ``solved={k: ...}``, so that a week's variants can be solved side by side."""
    from planner.errors import InfeasiblePlanError
    from planner.packing import solve

    try:
        to_solve = _week_instance(forecast, groups, tiers, servers, start, deferral, domains, residuals)[3]
    except InfeasiblePlanError:
        return None
    if k == 0:  # the default instance: no alternative's bound is needed to know it
        variant = to_solve
    else:
        variants = cheapest_variants(to_solve, solver.backend)[0]
        if k >= len(variants):
            return None
        variant = variants[k]
    try:
        return solve(variant, solver.backend, **solve_options(solver))
    except InfeasiblePlanError as exc:
        return exc


def pack_week(forecast, groups, tiers, servers, start, week, solver, baseline_servers=None,
              fallback: WeekPlan | None = None, deferral=None, domains=None, residuals=None,
              solved: dict | None = None) -> WeekPlan:
    """Pack one week: the representative week is the horizon's own 168 hourly slots.

    Sharded groups are tried at their default shard count and split finer for each smaller server
    type (:func:`shard_alternatives`); the cheapest verified plan is kept, for the shape-aware plan
    and for the baseline alike. ``baseline_servers`` (default ``servers``) is the catalog of the
    peak-based baseline, which is never limited to the planned fleet. When no plan is found and
    ``fallback`` (the peak week's plan) holds this week's demand too, that plan is used.
    ``deferral`` (planner.deferral.DeferralSetup) moves lax work before or after the packing; the
    forecast mean and spread move with it, the baseline keeps the demand as it arrives.
    ``domains`` (planner.failover.DomainPlanner) adds failure domains: zones, survival rules and
    the failover plan (after any deferral), checked by models.packing.verify_failover.
    ``residuals`` (planner.packing.residual_scenarios) give the groups' correlation. ``solved``:
    variants of the week already solved (:func:`solve_variant`), by index; the plan is the same."""
    import dataclasses

    from models.packing.risk import FACTOR_LIMIT
    from planner.errors import InfeasiblePlanError
    from planner.packing import demand_cube, residual_loadings
    from planner.servers import server_types

    rows, arrived, default, to_solve, flows, info = _week_instance(forecast, groups, tiers, servers, start, deferral,
                                                                   domains, residuals)
    loadings = None if residuals is None else residual_loadings(residuals, list(arrived.group_ids), FACTOR_LIMIT)[0]
    # Cubes share the instance's sorted group and slot order.
    mean, q50, q95, q99 = (demand_cube(rows, None, q, arrived.resources)[2] for q in (C.MEAN, "q50", "q95", "q99"))
    options = solve_options(solver)
    try:
        planned, result = _cheapest(to_solve, solver.backend, solved=solved, **options)
    except InfeasiblePlanError:
        reused = reuse_plan(default, fallback) if fallback is not None else None
        if reused is None:
            raise
        (planned, result), info = reused, {"kind": "plain"}
    if domains is not None:
        planned, result, info = domains.to_real(default, planned, result, info)
    if deferral is not None and not deferral.before_packing:
        planned, result, flows = _defer_per_worker(planned, result, deferral, solver.backend, options)
    if flows is not None:
        from models.deferral import apply_flows

        mean, q50, q95, q99 = (apply_flows(c, flows) for c in (mean, q50, q95, q99))
    sigma = np.maximum((q99 - q50) / 2.326, (q95 - q50) / 1.645)
    failover = None
    if domains is not None:
        limits = dict(zip(servers["type"], servers["max_count"].astype("Float64").fillna(np.nan)))
        limits = {t: (None if pd.isna(m) else int(m)) for t, m in limits.items()}
        planned, result, failover = domains.finish(planned, result, info, limits)
    # The baseline: each group sized by its own peak, first fit decreasing ("requests = peak").
    # The same groups and rows on the baseline's catalog: the arrived instance with other server
    # types (its demand and sigma arrays shared, not built and held a second time).
    base_inst = arrived if baseline_servers is None else dataclasses.replace(
        arrived, server_types=server_types(baseline_servers, arrived.resources))
    base_inst, peak = _cheapest(base_inst, "peak", time_limit_s=solver.time_limit_s, workers=1, seed=0,
                                chord_exact_items=CHORD_BOUND_ITEMS)
    # float32 cubes: the forecast's own precision (compact tables), half the memory of a run's 52
    # pool-weeks (4.6 MB a cube at 1,700 groups); sums over them (loads, risk) are taken in float64.
    return WeekPlan(week, start, planned, mean.astype(np.float32), np.maximum(sigma, 0.0).astype(np.float32), result,
                    float(peak.objective), peak, base_inst, failover, loadings)


def _defer_per_worker(planned, result, deferral, backend, options):
    """Reshape the lax groups worker by worker (each worker's peak can only fall, so the plan stays
    valid), then pack the reshaped demand again; keep the cheaper verified plan."""
    from models.packing.deferral import defer_per_worker
    from models.packing.verify import find_violations
    from planner.errors import InfeasiblePlanError

    shaped, flows = defer_per_worker(planned, result.assignment_frame(), deferral.window_of(planned),
                                     slot_cost=deferral.cost_of(planned))
    broken = find_violations(shaped, result)
    if broken:  # never expected: the per-worker LP keeps every worker within capacity
        import warnings

        warnings.warn(f"per-worker deferral broke the plan ({broken[0]}); this week keeps its work as it arrives",
                      stacklevel=2)
        return planned, result, None
    try:
        inst, repacked = _cheapest(shaped, backend, **options)
    except InfeasiblePlanError:
        return shaped, result, flows
    if repacked.objective < result.objective - 1e-9:
        return inst, repacked, flows
    return shaped, result, flows


def sum_per_worker(instance, assignment: pd.DataFrame, values: np.ndarray, workers: list[str]) -> np.ndarray:
    """``[worker, slot, resource]`` sums of per-group ``values`` ``[group, slot, resource]`` (groups in
    ``instance`` order) weighted by the assignment's shares; the verifier's load rule applied to any
    per-group quantity (mean, sigma, actual demand)."""
    frame = assignment.rename(columns={"share": "fraction"})
    g_index = {g: i for i, g in enumerate(instance.group_ids)}
    w_index = {w: i for i, w in enumerate(workers)}
    out = np.zeros((len(workers),) + values.shape[1:])
    for g, f, w in zip(frame["group_id"].astype(str), frame["fraction"].astype(float), frame["worker_id"].astype(str)):
        out[w_index[w]] += f * values[g_index[g]]
    return out


def worker_capacity(instance, assignment: pd.DataFrame, workers: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Server type ``[W]`` and capacity ``[W, 1, R]`` of each worker of an assignment."""
    types = {s.name: np.array(s.capacity, dtype=float) for s in instance.server_types}
    w_type = assignment.drop_duplicates("worker_id").set_index("worker_id")["server_type"].astype(str)
    server_type = np.array([w_type[w] for w in workers])
    return server_type, np.stack([types[t] for t in server_type])[:, None, :]


def pooled_sd(instance, assignment: pd.DataFrame, sigma: np.ndarray, loadings: np.ndarray | None,
              workers: list[str]) -> np.ndarray:
    """``[worker, slot, resource]`` standard deviation of each worker's load: ``sqrt(s^T rho s)``
    with ``s`` its groups' ``fraction x sigma`` and ``rho = B B^T + diag(1 - |B|^2)`` from the
    factor ``loadings`` B (groups in ``instance`` order; ``None``: independent groups)."""
    frame = assignment.rename(columns={"share": "fraction"})
    g_index = {g: i for i, g in enumerate(instance.group_ids)}
    w_index = {w: i for i, w in enumerate(workers)}
    n_g = len(instance.group_ids)
    b = np.zeros((n_g, 0)) if loadings is None else np.asarray(loadings)
    idio = np.clip(1.0 - (b**2).sum(axis=1), 0.0, 1.0)
    shape = (len(workers),) + sigma.shape[1:]
    factor = np.zeros((len(workers), b.shape[1]) + sigma.shape[1:])
    var = np.zeros(shape)
    for g, f, w in zip(frame["group_id"].astype(str), frame["fraction"].astype(float), frame["worker_id"].astype(str)):
        gi, wi = g_index[g], w_index[w]
        s = f * sigma[gi]
        factor[wi] += b[gi][:, None, None] * s[None]
        var[wi] += idio[gi] * s**2
    var += np.einsum("wktr,wktr->wtr", factor, factor)
    return np.sqrt(np.maximum(var, 0.0))


def worker_loads_of(wp: WeekPlan) -> WorkerLoads:
    """Expected, planned and sigma loads of the week's workers (the plan's own assignment)."""
    from models.packing.verify import worker_loads

    frame = wp.result.assignment_frame()
    workers, planned = worker_loads(wp.instance, frame)
    server_type, capacity = worker_capacity(wp.instance, frame, workers)
    h_of = dict(zip(wp.instance.group_ids, wp.instance.headroom))
    level = frame.groupby(frame["worker_id"].astype(str))["group_id"].agg(lambda s: max(h_of[str(g)] for g in s))
    usable = capacity * (1.0 - np.array([level[w] for w in workers]))[:, None, None]
    # The cubes are float32 (WeekPlan); the loads and variances are summed in float64.
    return WorkerLoads(workers, server_type, capacity, sum_per_worker(wp.instance, frame, wp.mean.astype(float), workers),
                       planned, pooled_sd(wp.instance, frame, wp.spread.astype(float), wp.loadings, workers), usable)


def overflow_probability(wp: WeekPlan, loads: WorkerLoads, usable: bool = False) -> np.ndarray:
    """``[W, T]`` probability that each worker's load exceeds its capacity in each slot (the worst
    resource of the slot); ``usable``: its usable capacity, capacity x (1 - headroom), the capacity
    the tiers' ``overflow_risk`` targets refer to. planner.risk aggregates it into every risk figure
    of the plan."""
    mu, sigma = loads.mean, loads.sigma
    cap = loads.usable if usable and loads.usable is not None else loads.capacity
    with np.errstate(divide="ignore", invalid="ignore"):
        z = (cap - mu) / sigma
    p = np.where(sigma > 0, norm.sf(z), (mu > cap).astype(float))
    return p.max(axis=2)


def utilisation_frame(wp: WeekPlan, loads: WorkerLoads, pool_of: dict[str, str]) -> pd.DataFrame:
    """Per worker and slot: expected (mean forecast) utilisation of CPU and memory."""
    util = loads.mean / loads.capacity
    n_w, n_t, _ = util.shape
    r = list(wp.instance.resources)
    return pd.DataFrame({
        "week": wp.week,
        "pool": np.repeat([pool_of[t] for t in loads.server_type], n_t),
        "worker_id": np.repeat(loads.workers, n_t),
        "server_type": np.repeat(loads.server_type, n_t),
        "slot": np.tile(np.arange(n_t), n_w),
        "cpu_utilisation": util[:, :, r.index(C.CPU_CORES)].reshape(-1),
        "memory_utilisation": util[:, :, r.index(C.MEMORY_GB)].reshape(-1),
    })


def required_servers(weeks: list[WeekPlan], pool_of: dict[str, str]) -> pd.DataFrame:
    """``week, pool, server_type, required`` from the workers of each week's packing."""
    rows = []
    for wp in weeks:
        counts = pd.Series([t for _, t in wp.result.workers]).value_counts()
        for stype in pool_of:
            rows.append((wp.week, pool_of[stype], stype, int(counts.get(stype, 0))))
    return pd.DataFrame(rows, columns=["week", "pool", "server_type", "required"])


def plan_table(weeks: list[WeekPlan], loads: dict[int, WorkerLoads], installed: pd.DataFrame,
               purchases: pd.DataFrame, risks: dict[int, pd.DataFrame], servers: pd.DataFrame,
               overflow: pd.DataFrame | None = None) -> pd.DataFrame:
    """The Plan table: ``week, pool, server_type, required, installed, purchased, cost,
    cpu_utilisation, memory_utilisation, headroom, risk, overflow_risk, overflow_probability``
    (+ ``week_start``).

    cpu/memory_utilisation: mean expected load of the type's workers over the week's slots divided
    by the installed capacity of the type; headroom: 1 - the busiest slot's planned load over the
    installed capacity; risk: expected overflow slot-hours of the type's workers; overflow_probability
    and overflow_risk: the predicted overflow probability in a slot and the target of the type's
    worker with the largest ratio of the two (``overflow``: planner.risk.overflow_vs_target by
    ``server_type``), so that the row meets its targets exactly when every worker of the type does.
    """
    cap = servers.set_index("type")[[C.CPU_CORES, C.MEMORY_GB]]
    bought = purchases.groupby(["week", "pool", "server_type"])["purchased"].sum() if len(purchases) else pd.Series(dtype=float)
    rows = []
    for wp in weeks:
        wl = loads[wp.week]
        risk = sum_by(risks[wp.week], "server_type", "risk")["risk"]  # exact: the same bits with any pandas
        inst = installed[installed["week"] == wp.week]
        for rec in inst.itertuples(index=False):
            mask = wl.server_type == rec.server_type
            n_inst = max(int(rec.installed), 0)
            c = cap.loc[rec.server_type].to_numpy()
            if n_inst and mask.any():
                exp_load = wl.mean[mask].sum(axis=0)  # [T, R]
                plan_load = wl.planned[mask].sum(axis=0)
                util = exp_load.mean(axis=0) / (n_inst * c)
                headroom = 1.0 - (plan_load / (n_inst * c)).max()
            else:
                util, headroom = np.zeros(2), 1.0 if n_inst else 0.0
            rows.append({
                "week": wp.week, "week_start": wp.start, "pool": rec.pool, "server_type": rec.server_type,
                "required": int(rec.required), "installed": n_inst,
                "purchased": int(bought.get((wp.week, rec.pool, rec.server_type), 0)),
                "cost": float(rec.cost), "cpu_utilisation": float(util[0]), "memory_utilisation": float(util[1]),
                "headroom": float(headroom), "risk": float(risk.get(rec.server_type, 0.0)),
                **_type_overflow(overflow, wp.week, rec.server_type),
            })
    cols = ["week", "pool", "server_type", "required", "installed", "purchased", "cost", "cpu_utilisation",
            "memory_utilisation", "headroom", "risk", "overflow_risk", "overflow_probability", "week_start"]
    return pd.DataFrame(rows)[cols]


def _type_overflow(overflow: pd.DataFrame | None, week: int, server_type: str) -> dict:
    row = None if overflow is None else overflow[(overflow["week"] == week) & (overflow["server_type"] == server_type)]
    if row is None or not len(row):
        return {"overflow_risk": np.nan, "overflow_probability": np.nan}
    return {"overflow_risk": float(row["overflow_risk"].iloc[0]),
            "overflow_probability": float(row["overflow_probability"].iloc[0])}


def qos_table(groups: pd.DataFrame, tiers: dict[str, Tier], risk_by_customer: pd.Series,
              overflow: pd.DataFrame | None = None) -> pd.DataFrame:
    """Per customer: tier, its method and target ``overflow_risk`` (epsilon), the predicted overflow
    probability and expected overflow share of the workers its groups sit on over the horizon
    (``overflow``: planner.risk.overflow_vs_target by customer), the stacked quantile (empty for
    pooled tiers), headroom, spread, groups and its share of the plan's expected overflow
    slot-hours over the horizon (planner.risk: the shares add up to the total)."""
    per = groups.groupby(C.CUSTOMER).agg(tier=("tier", "first"), groups=(C.GROUP_ID, "size")).reset_index()
    per["method"] = per["tier"].map(lambda t: tiers[t].method)
    per["overflow_risk"] = per["tier"].map(lambda t: tiers[t].target).astype(float)
    by = (pd.DataFrame(columns=[C.CUSTOMER, "overflow_probability", "expected_overflow_share"]) if overflow is None
          else overflow).set_index(C.CUSTOMER)
    per["overflow_probability"] = per[C.CUSTOMER].map(by["overflow_probability"]).astype(float)
    per["expected_overflow_share"] = per[C.CUSTOMER].map(by["expected_overflow_share"]).astype(float)
    per["quantile"] = per["tier"].map(lambda t: tiers[t].quantile if not tiers[t].pooled else "")
    per["headroom"] = per["tier"].map(lambda t: tiers[t].headroom)
    per["spread"] = per["tier"].map(lambda t: tiers[t].spread)
    per["risk"] = per[C.CUSTOMER].map(risk_by_customer).fillna(0.0).astype(float)
    return per[[C.CUSTOMER, "tier", "method", "overflow_risk", "overflow_probability", "expected_overflow_share",
                "quantile", "headroom", "risk", "groups", "spread"]]


# Pools of more groups than this are packed in chunks of at most this many groups, each chunk a
# sub-plan of its own (its own peak week and fleet) whose workers are merged into the pool's: a
# greedy packing costs ~items^2 x slots, so a 1,700-group pool-week costs ~18x a 400-group one
# (docs/scale.md). Chunks lose the complementarity between groups of different chunks. Pools of
# at most this many groups (the default run, the tests) are packed whole, as before.
CHUNK_ITEMS = 400


def chunk_members(size: pd.Series, limit: int = CHUNK_ITEMS, unit: pd.Series | None = None) -> list[list[str]]:
    """The groups ``size.index`` cut into ``k = ceil(n / limit)`` chunks of consecutive sizes: the
    largest groups fill the first chunk up to ``ceil(n / k)`` groups, the next the second, and so
    on. ``unit`` (group -> key) names groups that stay together (a customer's groups of a tier that
    isolates them or spreads them over several workers: cut across chunks, each piece needs its own
    workers); a unit is placed whole, by its largest group. Deterministic; one chunk when
    ``n <= limit``.

    Measured (benchmarks/chunk_split.py, the largest pool-week of the 5,000-function fleet, 550
    groups; docs/scale.md): chunks of consecutive sizes lost 8.5 % (2 chunks) and 17 % (3) against
    the pool packed whole; groups dealt round-robin by size, so that every chunk gets every size,
    lost 14 % and 24 %; a random split 8.5 % and 18 %."""
    ids = [str(g) for g in size.index]
    if len(ids) <= limit:
        return [sorted(ids)]
    k = -(-len(ids) // limit)
    per = -(-len(ids) // k)
    sz = dict(zip(ids, size.astype(float)))
    units: dict[str, list[str]] = {}
    for g in ids:
        units.setdefault(g if unit is None else str(unit.get(g, g)), []).append(g)
    order = sorted(units, key=lambda u: (-max(sz[g] for g in units[u]), u))
    chunks: list[list[str]] = [[]]
    for u in order:
        if len(chunks[-1]) >= per and len(chunks) < k:
            chunks.append([])
        chunks[-1] += units[u]
    return [sorted(c) for c in chunks if c]


def _block_loadings(blocks: list, rows: list[int], dtype) -> np.ndarray:
    """Factor loadings of merged chunks, block-diagonal (groups of different chunks share no
    factor); a chunk without loadings (``None``) adds its rows and no factor."""
    out = np.zeros((sum(rows), sum(0 if b is None else b.shape[1] for b in blocks)), dtype=dtype)
    r0 = c0 = 0
    for b, n in zip(blocks, rows):
        if b is not None:
            out[r0:r0 + n, c0:c0 + b.shape[1]] = b
            c0 += b.shape[1]
        r0 += n
    return out


def merge_instances(parts: list):
    """One PackingInstance of the groups of ``parts`` (chunks of one pool-week, disjoint groups, the
    same slots, resources and server types): each group keeps its chunk's shard count; a type's
    ``max_count`` is the sum of the chunks' (none if any chunk has none). Factor loadings are set
    block by block (groups of different chunks uncorrelated: no worker holds two chunks' groups,
    so no load the verifier checks depends on it)."""
    from models.packing.instance import PackingInstance, ServerType

    first = parts[0]
    if len(parts) == 1:
        return first
    types: dict[str, list] = {}
    for inst in parts:
        if inst.slots != first.slots or inst.resources != first.resources:
            raise ValueError("chunks of one pool-week differ in slots or resources")
        for s in inst.server_types:
            types.setdefault(s.name, []).append(s)
    server_types = tuple(ServerType(n, ss[0].capacity, ss[0].cost,
                                    None if any(s.max_count is None for s in ss) or len(ss) < len(parts)
                                    else sum(s.max_count for s in ss))
                         for n, ss in types.items())
    chance = any(inst.sigma is not None for inst in parts)
    risk = {}
    if chance:
        loadings = _block_loadings([None if inst.sigma is None else inst.loadings for inst in parts],
                                   [inst.n_groups for inst in parts], float)
        risk = dict(
            sigma=np.concatenate([np.zeros_like(inst.demand) if inst.sigma is None else inst.sigma for inst in parts]),
            overflow_risk=np.concatenate([np.full(inst.n_groups, np.nan) if inst.sigma is None else inst.overflow_risk
                                          for inst in parts]),
            risk_method=sum((("gaussian",) * inst.n_groups if inst.sigma is None else inst.risk_method
                             for inst in parts), ()),
            loadings=loadings)
    return PackingInstance(
        group_ids=sum((inst.group_ids for inst in parts), ()), slots=first.slots, resources=first.resources,
        demand=np.concatenate([inst.demand for inst in parts]), server_types=server_types,
        headroom=np.concatenate([inst.headroom for inst in parts]),
        customer=sum((inst.customer for inst in parts), ()),
        spread=np.concatenate([inst.spread for inst in parts]),
        isolation=sum((inst.isolation for inst in parts), ()),
        min_shards=np.concatenate([inst.shard_counts() for inst in parts]), **risk)


def merge_results(parts: list, labels: list[str]):
    """One PackingResult of chunk results: workers renamed ``label/worker`` (unique across chunks),
    cost and time summed, the worst status, the chunks' clock stops kept. The bound is the largest
    chunk's: the pool-week holds every chunk's groups, so it costs at least what any chunk needs;
    the sum of the chunks' bounds is not a bound on the whole (groups of different chunks could
    share a worker), so a chunked pool-week reports a wide gap."""
    import dataclasses

    from models.packing.result import PackingResult, SolveStatus

    if len(parts) == 1:
        return parts[0]
    if any(r is None for r in parts):
        return None
    placements, workers, stops = [], [], []
    for r, lab in zip(parts, labels):
        placements += [dataclasses.replace(x, worker_id=f"{lab}/{x.worker_id}") for x in r.placements]
        workers += [(f"{lab}/{w}", t) for w, t in r.workers]
        stops += [f"{lab}: {s}" for s in (r.stats or {}).get("clock_stops", [])]
    rank = [SolveStatus.OPTIMAL, SolveStatus.FEASIBLE, SolveStatus.TIMED_OUT, SolveStatus.INFEASIBLE, SolveStatus.ERROR]
    status = max((r.status for r in parts), key=lambda s: rank.index(SolveStatus(s)))
    stats = {"chunks": len(parts), "groups": sum((r.stats or {}).get("groups") or 0 for r in parts),
             "items": sum((r.stats or {}).get("items") or 0 for r in parts)}
    if stops:
        stats["clock_stops"] = stops
    message = f"packed in {len(parts)} chunks: " + "; ".join(f"{lab}: {r.message}" for r, lab in zip(parts, labels)
                                                              if r.message)
    return PackingResult(status, parts[0].backend, float(sum(r.objective for r in parts)),
                         float(max(r.bound for r in parts)), float(sum(r.runtime_s for r in parts)),
                         tuple(placements), tuple(workers), message, stats)


def merge_week_plans(parts: list[WeekPlan], labels: list[str]) -> WeekPlan:
    """The WeekPlan of a pool-week packed in chunks (``parts``, one per chunk, each on its own
    groups; ``labels`` name the chunks and prefix their worker ids): instances, forecast cubes,
    plans and peak-based baselines joined, so everything after the packing (verification, the Plan
    table, risk, procurement) sees one pool fleet."""
    if len(parts) == 1:
        return parts[0]
    if any(wp.failover is not None for wp in parts):
        raise ValueError("chunked packing does not merge failover plans (failure domains are packed whole)")
    week = {wp.week for wp in parts}
    if len(week) != 1:
        raise ValueError(f"chunks of different weeks merged: {sorted(week)}")
    loadings = None
    if any(wp.loadings is not None for wp in parts):
        loadings = _block_loadings([wp.loadings for wp in parts], [len(wp.instance.group_ids) for wp in parts],
                                   parts[0].loadings.dtype if parts[0].loadings is not None else float)
    peak_parts = [wp.peak_instance for wp in parts]
    instance = merge_instances([wp.instance for wp in parts])
    peak = None if any(p is None for p in peak_parts) else merge_instances(peak_parts)
    if peak is not None:
        # Each chunk's peak-based instance shares its demand and sigma cubes with its planned
        # instance (pack_week); the merged pair shares them too, instead of holding a second copy
        # (float64 [group, slot, resource]: ~0.4 GiB over a 20,000-function run's 52 pool-weeks).
        for name in ("demand", "sigma"):
            mine = getattr(instance, name)
            if (all(getattr(p, name) is getattr(wp.instance, name) for p, wp in zip(peak_parts, parts))
                    and mine is not None and np.array_equal(getattr(peak, name), mine)):
                object.__setattr__(peak, name, mine)  # a frozen dataclass; the same values, one array
    return WeekPlan(
        parts[0].week, parts[0].start, instance,
        np.concatenate([wp.mean for wp in parts]), np.concatenate([wp.spread for wp in parts]),
        merge_results([wp.result for wp in parts], labels), float(sum(wp.peak_cost for wp in parts)),
        merge_results([wp.peak_result for wp in parts], labels), peak, None, loadings, parts[0].pool)


# The emptiest workers of each chunk re-packed together (repack_seams). Off: measured, it saved
# nothing in any week at 5,000 and 20,000 functions (each chunk's emptiest worker was more than half
# full; docs/scale.md), at the cost of one solve per chunked pool-week. 1 turns it on.
SEAM_WORKERS = 0


def sub_instance(instance, groups: list[int], server_types=None):
    """The instance restricted to the groups at positions ``groups`` (each keeps its shard count),
    optionally on other ``server_types``."""
    from models.packing.instance import PackingInstance

    idx = np.asarray(groups, dtype=int)
    risk = {}
    if instance.sigma is not None:
        risk = dict(sigma=instance.sigma[idx], overflow_risk=instance.overflow_risk[idx],
                    risk_method=tuple(instance.risk_method[i] for i in idx), loadings=instance.loadings[idx])
    return PackingInstance(
        group_ids=tuple(instance.group_ids[i] for i in idx), slots=instance.slots, resources=instance.resources,
        demand=instance.demand[idx], server_types=instance.server_types if server_types is None else server_types,
        headroom=instance.headroom[idx], customer=tuple(instance.customer[i] for i in idx),
        spread=instance.spread[idx], isolation=tuple(instance.isolation[i] for i in idx),
        min_shards=instance.shard_counts()[idx], **risk)


def repack_seams(wp: WeekPlan, labels: list[str], solver, per_chunk: int | None = None) -> tuple[WeekPlan, bool]:
    """Win back some of what chunking loses: each chunk's fleet ends in part-filled workers, so the
    ``per_chunk`` emptiest workers of every chunk (largest planned load over capacity, the least)
    give up the groups that sit wholly on them, which are packed together (the solver's backend,
    the week's catalog less the workers kept) onto workers ``seam/w…``. Kept when it costs less and
    the independent verifier accepts the whole pool-week; returns (plan, whether it was kept)."""
    import dataclasses

    from models.packing.instance import ServerType
    from models.packing.result import PackingResult
    from models.packing.verify import find_violations, worker_loads
    from planner.errors import InfeasiblePlanError

    per_chunk = SEAM_WORKERS if per_chunk is None else per_chunk
    if per_chunk < 1:
        return wp, False
    inst, res = wp.instance, wp.result
    frame = res.assignment_frame()
    workers, loads = worker_loads(inst, frame)
    type_of = dict(res.workers)
    cap = {s.name: np.array(s.capacity, dtype=float) for s in inst.server_types}
    fill = {w: float((loads[i] / cap[type_of[w]][None, :]).max()) for i, w in enumerate(workers)}
    chosen = set()
    for lab in labels:
        mine = sorted((fill[w], w) for w in workers if w.startswith(f"{lab}/"))
        chosen.update(w for _, w in mine[:per_chunk])
    on = frame.groupby("group_id")["worker_id"].agg(lambda s: set(s.astype(str)) <= chosen)
    moved = sorted(str(g) for g, whole in on.items() if whole)
    if len(chosen) < 2 or not moved:
        return wp, False
    kept = frame[~frame["group_id"].astype(str).isin(set(moved))]
    kept_workers = [(w, t) for w, t in res.workers if w in set(kept["worker_id"].astype(str))]
    freed = [(w, t) for w, t in res.workers if w not in {k for k, _ in kept_workers}]
    used = pd.Series([t for _, t in kept_workers], dtype=object).value_counts()
    types = tuple(ServerType(s.name, s.capacity, s.cost, None if s.max_count is None
                             else max(0, s.max_count - int(used.get(s.name, 0)))) for s in inst.server_types)
    index = {g: i for i, g in enumerate(inst.group_ids)}
    sub = sub_instance(inst, [index[g] for g in moved], types)
    try:
        _, seam = _cheapest(sub, solver.backend, **solve_options(solver))
    except InfeasiblePlanError:
        return wp, False
    cost_of = {s.name: s.cost for s in inst.server_types}
    before = sum(cost_of[t] for _, t in freed)
    if seam.objective >= before - 1e-9:
        return wp, False
    placements = tuple(x for x in res.placements if x.group_id not in set(moved)) + tuple(
        dataclasses.replace(x, worker_id=f"seam/{x.worker_id}") for x in seam.placements)
    new_workers = tuple(kept_workers) + tuple((f"seam/{w}", t) for w, t in seam.workers)
    merged = PackingResult(res.status, res.backend, float(res.objective - before + seam.objective), res.bound,
                           res.runtime_s + seam.runtime_s, placements, new_workers,
                           f"{res.message}; seams: {len(moved)} groups of {len(freed)} workers re-packed on "
                           f"{len(seam.workers)}", {**(res.stats or {}), "seam_saving": before - seam.objective})
    if find_violations(inst, merged):  # never expected: the seam's groups are checked by their own solve
        return wp, False
    return dataclasses.replace(wp, result=merged), True
