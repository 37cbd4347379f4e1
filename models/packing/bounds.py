"""Lower bounds on the cost of any valid plan, and the peak-based reference.

Maths. Let ``D_c[t, r] = sum_{i in class c} d[i, t, r] / (1 - h_i)`` be the headroom-inflated
aggregate demand of isolation class ``c`` (classes never share workers). On a worker whose strictest
headroom is ``H``, every group has ``h_i <= H``, so ``sum d_i / (1 - h_i) <= sum d_i / (1 - H) <=
capacity``: the inflated aggregate must fit the raw capacity of the fleet. Hence, with ``n[c, k]``
servers of type ``k`` for class ``c``,

    min  sum_{c,k} cost_k n[c, k]
    s.t. sum_k capacity[k, r] n[c, k] >= D_c[t, r]       for every class c, slot t, resource r
         sum_k n[c, k] >= m_c                           (shards / spread need m_c distinct workers)
         sum_c n[c, k] <= max_count_k

is a lower bound with ``n`` fractional (:func:`aggregate_bound`, the issue's "cheapest fractional
fleet") and a tighter one with ``n`` integer (:func:`fleet_bound`). For this model the LP relaxation of
the assignment formulation aggregates to the same fractional programme, so :func:`fleet_bound` is the
tighter bound we report. :func:`peak_bound` is the same programme on the sum of each group's peaks:
a lower bound for any peak-based packing, not for shape-aware ones.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from models.packing.heuristics import shape_ffd
from models.packing.instance import PackingInstance, dominant_slots
from models.packing.prices import class_demand, dual_prices

__all__ = ["aggregate_bound", "fleet_bound", "peak_bound", "lower_bound", "class_demand", "min_workers",
           "dual_prices", "column_generation", "column_generation_bound", "ColumnGenerationBound", "chord_demand",
           "chord_bound", "aggregate_chord_bound"]


def min_workers(instance: PackingInstance) -> np.ndarray:
    """Fewest workers each isolation class needs: its most-sharded group, its largest spread."""
    items = instance.items()
    n_c = len(instance.isolation_classes)
    need = np.ones(n_c)
    spread = instance.customer_spread()
    for c in range(n_c):
        mine = items.iso_class == c
        need[c] = max(need[c], items.n_shards[mine].max())
        for ci in np.unique(items.customer[mine]):
            need[c] = max(need[c], spread[instance.customers[ci]])
    return need


def _fleet_programme(instance: PackingInstance, demand: np.ndarray, integer: bool) -> float:
    from scipy.optimize import Bounds, LinearConstraint, milp

    n_c, n_t, n_r = demand.shape
    cap, cost, limit = instance.capacity, instance.cost, instance.max_count.astype(float)
    n_k = len(cost)
    n_var = n_c * n_k  # n[c, k] at c * n_k + k
    rows, lo, hi = [], [], []
    for c in range(n_c):
        # Every (non-dominated) slot is kept: with several server types the binding slot of a
        # resource depends on the type mix.
        for t in range(n_t):
            for r in range(n_r):
                row = np.zeros(n_var)
                row[c * n_k:(c + 1) * n_k] = cap[:, r]
                rows.append(row), lo.append(demand[c, t, r]), hi.append(np.inf)
    need = min_workers(instance)
    for c in range(n_c):
        row = np.zeros(n_var)
        row[c * n_k:(c + 1) * n_k] = 1.0
        rows.append(row), lo.append(need[c] if integer else 0.0), hi.append(np.inf)
    for k in range(n_k):
        if limit[k] < 1e8:
            row = np.zeros(n_var)
            row[k::n_k] = 1.0
            rows.append(row), lo.append(-np.inf), hi.append(limit[k])
    A = np.array(rows)
    res = milp(
        c=np.tile(cost, n_c),
        constraints=LinearConstraint(A, lo, hi),
        integrality=np.ones(n_var) if integer else np.zeros(n_var),
        bounds=Bounds(0, np.inf),
        options={"time_limit": 20.0},
    )
    if res.x is None:
        return float("inf")  # the catalog cannot cover the aggregate demand at all
    if integer and res.status != 0:
        # Time limit: fall back to the MIP's dual bound (still valid).
        return float(getattr(res, "mip_dual_bound", np.nan))
    return float(res.fun)


def _reduce(demand: np.ndarray) -> np.ndarray:
    # Per class and resource, slots whose demand is dominated in every resource cannot bind.
    keep = dominant_slots(demand.transpose(1, 0, 2).reshape(demand.shape[1], 1, -1).transpose(1, 0, 2))
    return demand[:, keep, :]


def aggregate_bound(instance: PackingInstance) -> float:
    """Cheapest fractional fleet covering each class's inflated aggregate demand in every slot."""
    return _fleet_programme(instance, _reduce(class_demand(instance)), integer=False)


def fleet_bound(instance: PackingInstance) -> float:
    """Cheapest integer fleet covering each class's inflated aggregate demand (tighter, still valid)."""
    return _fleet_programme(instance, _reduce(class_demand(instance)), integer=True)


def peak_bound(instance: PackingInstance) -> float:
    """Cheapest fractional fleet covering the sum of each group's peak: a floor for peak-based packing."""
    return _fleet_programme(instance, _reduce(class_demand(instance, peaks=True)), integer=False)


def chord_demand(instance: PackingInstance) -> np.ndarray:
    """``[item, slot, resource]`` linear relaxation of the chance constraint: ``mean + z^2 psi / C``
    with ``psi = d sigma^2`` and ``C`` the largest capacity of the resource.

    Valid for every worker: its load ``M + z_w sqrt(V) <= C_w`` lies under the chord of the
    feasible region, ``M / C_w + (z_w sqrt(V) / C_w)^2 <= 1`` (as ``s^2 <= s`` for ``0 <= s <= 1``),
    and ``sum_i z_i^2 psi_i <= z_w^2 V``, ``C_w <= C``; so ``sum_i chord_i <= C_w`` holds for any set
    a worker can hold. Equal to the demand on a linear instance."""
    it = instance.items()
    if not it.chance:
        return it.demand
    psi = it.moments()[2]
    cmax = instance.capacity.max(axis=0)
    return it.demand + (it.z**2)[:, None, None] * psi / cmax[None, None, :]


def chord_bound(instance: PackingInstance, integer: bool = True, exact_items: int | None = None) -> float:
    """Lower bound of a chance-constrained instance from the chord relaxation (:func:`chord_demand`):
    items assigned fractionally to server types ``y[i, k]`` with, for every class ``c``, type ``k``,
    slot and resource, ``sum_i y[i, k] chord_ik / C_ik <= n[c, k]`` (``C_ik`` the type's capacity
    at the item's headroom; ``chord_ik`` with ``C_ik`` in place of ``C``), ``min_workers`` and
    ``max_count``; ``min sum cost_k n[c, k]`` with ``n`` integer (or fractional). 0 on a linear
    instance (the aggregate bounds cover it). With ``exact_items``, an instance of more items gets
    the class-aggregated relaxation :func:`aggregate_chord_bound` instead (weaker or equal; a
    programme of classes x types, where this one grows with items x types x slots: 15 s at 400
    items, its 20 s wall-clock limit reached at a fleet's 1,700 groups a pool)."""
    from scipy.optimize import Bounds, LinearConstraint, milp
    from scipy.sparse import coo_matrix

    it = instance.items()
    if not it.chance:
        return 0.0
    if exact_items is not None and len(it) > exact_items:
        return aggregate_chord_bound(instance, integer)
    n_i, n_k = len(it), len(instance.server_types)
    n_c = len(instance.isolation_classes)
    mu, _, psi = it.moments()
    cap = instance.capacity  # [K, R]
    usable = cap[None, :, :] * (1.0 - it.headroom)[:, None, None]  # [I, K, R]
    rows, cols, vals, lo = [], [], [], []
    row = 0
    # Each item is placed once: sum_k y[i, k] = 1 (y[i, k] at column i * n_k + k).
    for i in range(n_i):
        rows += [row] * n_k
        cols += list(range(i * n_k, (i + 1) * n_k))
        vals += [1.0] * n_k
        row += 1
    eq_rows = row
    n_var = n_i * n_k + n_c * n_k  # n[c, k] at n_i * n_k + c * n_k + k
    for c in range(n_c):
        mine = np.flatnonzero(it.iso_class == c)
        for k in range(n_k):
            cu = usable[mine, k, :][:, None, :]  # [m, 1, R]
            share = (mu[mine] + (it.z[mine]**2)[:, None, None] * psi[mine] / cu) / cu  # [m, T, R]
            keep = dominant_slots(share)
            for t in keep:
                for r in range(share.shape[2]):
                    nz = np.flatnonzero(share[:, t, r] > 0)
                    rows += [row] * (len(nz) + 1)
                    cols += list(mine[nz] * n_k + k) + [n_i * n_k + c * n_k + k]
                    vals += list(share[nz, t, r]) + [-1.0]
                    row += 1
    cap_rows = row
    need = min_workers(instance)
    for c in range(n_c):
        rows += [row] * n_k
        cols += [n_i * n_k + c * n_k + k for k in range(n_k)]
        vals += [1.0] * n_k
        row += 1
    limit = instance.max_count.astype(float)
    lim_rows = []
    for k in range(n_k):
        if limit[k] < 1e8:
            rows += [row] * n_c
            cols += [n_i * n_k + c * n_k + k for c in range(n_c)]
            vals += [1.0] * n_c
            lim_rows.append(limit[k])
            row += 1
    A = coo_matrix((vals, (rows, cols)), shape=(row, n_var)).tocsr()
    lo = np.concatenate([np.ones(eq_rows), np.full(cap_rows - eq_rows, -np.inf), need, np.full(len(lim_rows), -np.inf)])
    hi = np.concatenate([np.ones(eq_rows), np.zeros(cap_rows - eq_rows), np.full(n_c, np.inf), np.array(lim_rows)])
    cost = np.concatenate([np.zeros(n_i * n_k), np.tile(instance.cost, n_c)])
    integrality = np.concatenate([np.zeros(n_i * n_k), np.full(n_c * n_k, 1.0 if integer else 0.0)])
    res = milp(c=cost, constraints=LinearConstraint(A, lo, hi), integrality=integrality,
               bounds=Bounds(0, np.inf), options={"time_limit": 20.0})
    if res.x is None:
        return float("inf") if res.status == 2 else 0.0
    if integer and res.status != 0:
        return float(getattr(res, "mip_dual_bound", 0.0) or 0.0)
    return float(res.fun)


def aggregate_chord_bound(instance: PackingInstance, integer: bool = True) -> float:
    """The chord relaxation summed per isolation class before the fleet is chosen (no item -> type
    variables): the fleet programme of :func:`fleet_bound` on
    ``D_c[t, r] = sum_i (mu_i + z_i^2 psi_i / (C_r (1 - h_i))) / (1 - h_i)``, ``C_r`` the largest
    capacity of resource ``r``. A relaxation of :func:`chord_bound`'s programme, so a valid bound
    no larger than it: a worker of type k, strictest headroom H, holds
    ``sum_i (mu_i + z_i^2 psi_i / (cap_k (1 - H))) <= cap_k (1 - H)`` (the chord), and
    ``cap_k (1 - H) <= C_r (1 - h_i)``, ``1 - H <= 1 - h_i`` for each of its items. Its size is
    classes x types, whatever the number of items. 0 on a linear instance."""
    it = instance.items()
    if not it.chance:
        return 0.0
    mu, _, psi = it.moments()
    keep = 1.0 - it.headroom
    cmax = instance.capacity.max(axis=0)  # [R]
    d = (mu + (it.z**2)[:, None, None] * psi / (cmax[None, None, :] * keep[:, None, None])) / keep[:, None, None]
    demand = np.zeros((len(instance.isolation_classes),) + d.shape[1:])
    np.add.at(demand, it.iso_class, d)
    return _fleet_programme(instance, _reduce(demand), integer=integer)


def lower_bound(instance: PackingInstance, chord_items: int | None = None) -> dict[str, float]:
    """All bounds: ``aggregate`` (fractional), ``fleet`` (integer), ``chord`` (chance-constrained
    instances, else 0; aggregated above ``chord_items`` items, see :func:`chord_bound`) and
    ``best`` (the largest). Kept on the instance: a run asks for the bounds of the same instance
    up to three times (a variant's rank, its pruning, its solve), and the chord programme is a MILP."""
    key = ("lower_bound", chord_items)
    if key not in instance._cache:
        agg = aggregate_bound(instance)
        fleet = fleet_bound(instance)
        chord = chord_bound(instance, exact_items=chord_items)
        instance._cache[key] = {"aggregate": agg, "fleet": fleet, "chord": chord, "best": max(agg, fleet, chord)}
    return dict(instance._cache[key])


# ---------------------------------------------------------------------------------------------
# Column generation on the configuration (set-covering) LP
# ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ColumnGenerationBound:
    """Outcome of :func:`column_generation`.

    ``bound``: the valid lower bound (Farley bound of the best dual vector seen, rounded up to the
    cost grid, never below :func:`aggregate_bound`); ``farley``: the unrounded Farley bound;
    ``rmp``: the restricted master's value at the end (an upper bound on the configuration LP);
    ``converged``: pricing proved that no column has negative reduced cost (``farley == rmp``).
    """

    bound: float
    farley: float
    rmp: float
    aggregate: float
    iterations: int
    columns: int
    converged: bool
    time_s: float


def column_generation_bound(instance: PackingInstance, time_limit: float = 60.0, seed: int = 0,
                            workers: int = 1) -> float:
    """Lower bound from column generation on the configuration LP (see :func:`column_generation`)."""
    return column_generation(instance, time_limit=time_limit, seed=seed, workers=workers).bound


def column_generation(instance: PackingInstance, time_limit: float = 60.0, seed: int = 0, workers: int = 1,
                      pricing_time: float = 2.0, greedy_columns: int = 8,
                      exact_every: int = 5, price_aggregate: bool = True) -> ColumnGenerationBound:
    """Column generation on the set-covering (configuration) LP, with a Farley bound valid at any stop.

    Maths. A *pattern* ``p`` is a worker kind ``k`` (server type x headroom level, capacity
    ``C_k = capacity * (1 - level)``) with a set ``S_p`` of items (shards) of one isolation class, each
    accepted by ``k`` (headroom <= level), at most one shard per group, and
    ``sum_{i in S_p} d[i, t, r] <= C_k[r]`` in every slot ``t`` and resource ``r``. Every valid plan
    is a multiset of patterns covering each item, so with ``a_ip = [i in S_p]``

        z_LP = min sum_p cost_p lambda_p   s.t.  sum_p a_ip lambda_p >= 1 (every item i),  lambda >= 0

    is a lower bound on the cost of every plan (the spread rule and ``max_count`` are dropped: a
    relaxation). Its dual is ``max sum_i pi_i  s.t.  sum_{i in S_p} pi_i <= cost_p for all p, pi >= 0``.
    For *any* ``pi >= 0`` let ``theta >= max_p (sum_{i in S_p} pi_i) / cost_p``; then ``pi / theta`` is
    dual feasible, so (Farley 1990)

        LB = sum_i pi_i / theta <= z_LP <= optimum.

    ``pi`` are the duals of the restricted master (RMP, HiGHS LP over the columns generated so far;
    ``sum pi = z_RMP``); ``theta = max_k U_k / cost_k`` where ``U_k`` is the *proven upper bound*
    (CP-SAT ``best_objective_bound``) of the pricing problem ``max sum_i pi_i x_i`` over the patterns
    of kind ``k`` (a 0/1 knapsack with one constraint per non-dominated slot and resource, at most one
    shard per group). In CP-SAT demands are scaled and rounded *down*, capacities rounded *up* and
    prices rounded *up*, so its bound is an upper bound of the real pricing problem. The bound is
    therefore valid when CG stops on its time limit; when pricing proves every reduced cost >= 0 it
    equals ``z_LP``. Columns come from a greedy on the duals (fast) and from CP-SAT's solutions (each
    checked in floating point before it enters the RMP). The configuration LP implies the aggregate
    programme of :func:`aggregate_bound` (a pattern's inflated demand fits raw capacity), so at
    convergence it is at least as tight; ``bound`` is ``max(LB, aggregate_bound)`` rounded up to the
    greatest common divisor of the (integer) server costs, since every plan's cost is a multiple of it.
    """
    import time as _time

    if instance.chance:
        raise ValueError("column generation prices linear patterns; it does not support the chance constraint")
    t_start = _time.perf_counter()
    deadline = t_start + time_limit
    items = instance.items()
    kinds = instance.kinds()
    n_i = len(items)
    agg = aggregate_bound(instance)
    grid = _cost_grid(kinds.cost)
    # Per class: items, non-dominated slots over those items.
    classes = []
    for c in range(len(instance.isolation_classes)):
        mine = np.flatnonzero(items.iso_class == c)
        keep = dominant_slots(items.demand[mine])
        classes.append((mine, items.demand[mine][:, keep, :]))
    cols: list[tuple[int, np.ndarray]] = []  # (kind, item indices)
    seen: set[tuple[int, tuple[int, ...]]] = set()

    def add(k: int, members) -> bool:
        key = (int(k), tuple(sorted(int(i) for i in members)))
        if not key[1] or key in seen:
            return False
        seen.add(key)
        cols.append((int(k), np.array(key[1], dtype=np.int64)))
        return True

    # Feasible start: each item alone on its cheapest accepting kind, plus the greedy plan's workers.
    for i in range(n_i):
        ok = np.flatnonzero(kinds.accepts(items.headroom[i]) & np.all(
            kinds.capacity[:, None, :] >= items.demand[i].max(axis=0)[None, None, :] - 1e-9, axis=(1, 2)))
        add(ok[np.argmin(kinds.cost[ok])], [i])
    try:
        start = shape_ffd(instance)
        for w in range(len(start.worker_kind)):
            members = np.flatnonzero(start.item_worker == w)
            if members.size:
                add(int(start.worker_kind[w]), members)
    except Exception:  # pragma: no cover - the start is only a warm start
        pass

    best_lb, z_rmp, it, converged = 0.0, float("inf"), 0, False
    if price_aggregate:
        # Farley bound of the aggregate programme's item prices pi_i = sum_{t,r} price[c, t, r] d_i / (1 - h_i):
        # theta <= 1 for them (a pattern fits capacity), so this is >= the aggregate bound when the
        # knapsack proves theta < 1.
        price = dual_prices(instance)
        pi0 = np.einsum("itr,itr->i", price[items.iso_class], items.demand / (1.0 - items.headroom)[:, None, None])
        theta0 = 0.0
        for mine, dem in classes:
            for k in range(len(kinds)):
                limit = max(0.2, min(pricing_time * 2, deadline - _time.perf_counter()))
                ub, _, _ = _exact_pricing(pi0, mine, dem, items, kinds, k, limit, seed, workers)
                theta0 = max(theta0, ub / kinds.cost[k])
        if theta0 > 0:
            best_lb = float(pi0.sum()) / theta0
    while True:
        it += 1
        pi, z_rmp = _solve_rmp(cols, n_i, kinds.cost)
        # Greedy pricing every round; exact pricing (and a Farley bound) every ``exact_every`` rounds
        # and whenever the greedy finds nothing.
        found = 0
        for mine, dem in classes:
            for k in range(len(kinds)):
                for members in _greedy_patterns(pi, mine, dem, items, kinds, k, greedy_columns):
                    if pi[members].sum() > kinds.cost[k] * (1 + 1e-9) and add(k, members):
                        found += 1
        if found and it % exact_every and _time.perf_counter() < deadline:
            continue
        theta, exact = 0.0, True
        for mine, dem in classes:
            for k in range(len(kinds)):
                limit = max(0.2, min(pricing_time, deadline - _time.perf_counter()))
                ub, pats, optimal = _exact_pricing(pi, mine, dem, items, kinds, k, limit, seed, workers)
                theta = max(theta, ub / kinds.cost[k])
                exact &= optimal
                for members in pats:
                    if pi[members].sum() > kinds.cost[k] * (1 + 1e-9) and add(k, members):
                        found += 1
        if theta > 0:
            best_lb = max(best_lb, float(pi.sum()) / theta)
        if exact and theta <= 1 + 1e-9:
            converged = True  # no column prices out: the RMP value is the configuration LP
            best_lb = max(best_lb, z_rmp)
            break
        if _time.perf_counter() >= deadline or not found:
            break
    bound = max(best_lb, agg)
    if grid:
        bound = math.ceil(bound / grid - 1e-6) * grid
    return ColumnGenerationBound(bound=float(bound), farley=float(best_lb), rmp=float(z_rmp), aggregate=float(agg),
                                 iterations=it, columns=len(cols), converged=converged,
                                 time_s=_time.perf_counter() - t_start)


def _cost_grid(cost: np.ndarray) -> float:
    """The largest g with every cost an integer multiple of g (0 when costs are not integers)."""
    if not np.allclose(cost, np.round(cost)):
        return 0.0
    return float(np.gcd.reduce(np.round(cost).astype(np.int64)))


def _solve_rmp(cols, n_i: int, kind_cost: np.ndarray) -> tuple[np.ndarray, float]:
    from scipy.optimize import linprog
    from scipy.sparse import csc_matrix

    rows = np.concatenate([m for _, m in cols])
    colidx = np.repeat(np.arange(len(cols)), [len(m) for _, m in cols])
    A = csc_matrix((-np.ones(rows.size), (rows, colidx)), shape=(n_i, len(cols)))
    cost = np.array([kind_cost[k] for k, _ in cols])
    res = linprog(cost, A_ub=A, b_ub=-np.ones(n_i), bounds=(0, None), method="highs")
    if res.status != 0:
        raise RuntimeError(f"restricted master failed: {res.message}")
    pi = np.maximum(-np.asarray(res.ineqlin.marginals), 0.0)
    return pi, float(res.fun)


def _greedy_patterns(pi, mine, dem, items, kinds, k, n_cols):
    """Up to ``n_cols`` disjoint patterns of kind ``k`` built greedily by dual value per size."""
    cap = kinds.capacity[k]
    accept = items.headroom[mine] <= kinds.level[k] + 1e-12
    size = (dem / cap[None, None, :]).max(axis=1).sum(axis=1)  # [n] peak share per resource
    score = np.where(accept & (pi[mine] > 1e-12), pi[mine] / np.maximum(size, 1e-12), -1.0)
    order = [j for j in np.argsort(-score, kind="stable") if score[j] > 0]
    used = np.zeros(len(mine), dtype=bool)
    out = []
    for _ in range(n_cols):
        load = np.zeros(dem.shape[1:])
        groups: set[int] = set()
        members = []
        for j in order:
            if used[j]:
                continue
            g = int(items.group[mine[j]])
            if g in groups:
                continue
            new = load + dem[j]
            if np.all(new <= cap[None, :] + 1e-9):
                load = new
                groups.add(g)
                members.append(j)
        if not members:
            break
        used[members] = True
        out.append(mine[np.array(members)])
    return out


def _exact_pricing(pi, mine, dem, items, kinds, k, time_limit, seed, workers):
    """CP-SAT on ``max sum pi_i x_i`` over patterns of kind ``k``: (proven upper bound, patterns, optimal)."""
    from ortools.sat.python import cp_model

    cap = kinds.capacity[k]
    accept = (items.headroom[mine] <= kinds.level[k] + 1e-12) & (pi[mine] > 1e-12)
    cand = np.flatnonzero(accept)
    if cand.size == 0:
        return 0.0, [], True
    price = pi[mine][cand]
    d = dem[cand]  # [n, T, R]
    scale_d = 1e4 / cap  # per resource: capacity -> 10,000 units
    di = np.floor(d * scale_d[None, None, :]).astype(np.int64)  # rounded down: a relaxation
    ci = np.ceil(cap * scale_d - 1e-9).astype(np.int64)
    scale_p = 1e6 / price.max()
    pint = np.ceil(price * scale_p).astype(np.int64)  # rounded up: an over-estimate
    m = cp_model.CpModel()
    x = [m.NewBoolVar(f"x{j}") for j in range(cand.size)]
    for t in range(d.shape[1]):
        for r in range(d.shape[2]):
            coef = di[:, t, r]
            nz = np.flatnonzero(coef)
            if coef.sum() > ci[r]:
                m.Add(sum(int(coef[j]) * x[j] for j in nz) <= int(ci[r]))
    by_group: dict[int, list[int]] = {}
    for j, i in enumerate(mine[cand]):
        by_group.setdefault(int(items.group[i]), []).append(j)
    for js in by_group.values():
        if len(js) > 1:
            m.AddAtMostOne([x[j] for j in js])
    m.Maximize(sum(int(pint[j]) * x[j] for j in range(cand.size)))
    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = float(time_limit)
    solver.parameters.num_search_workers = int(workers)
    solver.parameters.random_seed = int(seed)
    status = solver.Solve(m)
    ub_scaled = solver.BestObjectiveBound()
    if status == cp_model.OPTIMAL:
        ub_scaled = solver.ObjectiveValue()
    ub = float(ub_scaled) / scale_p
    pats = []
    if status in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        chosen = [j for j in range(cand.size) if solver.Value(x[j])]
        # Repair in floating point (rounding may admit a slightly overfull pattern).
        load = np.zeros(d.shape[1:])
        keep = []
        for j in sorted(chosen, key=lambda j: -price[j]):
            new = load + d[j]
            if np.all(new <= cap[None, :] + 1e-9):
                load, keep = new, keep + [j]
        if keep:
            pats.append(mine[cand[np.array(keep)]])
    return ub, pats, status == cp_model.OPTIMAL
