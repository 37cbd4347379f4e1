"""CP-SAT backend (OR-tools) for a packing sub-problem, with integer-scaled demands.

Model (``x[j, p] = 1`` if item ``j`` is on pool worker ``p``; ``y[p, k] = 1`` if worker ``p`` is of kind ``k``):

    min  sum_{p,k} cost_k y[p, k]
    s.t. assign_once[j]:        sum_p x[j, p] = 1
         one_kind[p]:           sum_k y[p, k] <= 1
         headroom[j, p]:        x[j, p] <= sum_{k : level_k >= h_j} y[p, k]
         capacity[p, t, r]:     sum_j D[j, t, r] x[j, p] <= sum_k C[k, r] y[p, k]
         distinct_shards[g, p]: sum_{j in g} x[j, p] <= 1
         spread[c]:             sum_p u[c, p] >= need_c,  u[c, p] <= sum_{j in c} x[j, p]
         max_count[type]:       sum_{p, k of type} y[p, k] <= limit
         symmetry[p]:           used[p] >= used[p + 1]; x[j, p] = 0 for p > rank_j

Demands are rounded up and capacities down to integers (1e6 units per largest capacity), so every
plan CP-SAT accepts is valid for the float data; the verifier checks it again on the full grid.
"""

from __future__ import annotations

import time

import numpy as np

from models.packing.instance import PackingInstance
from models.packing.result import SolveOptions, SolveStatus
from models.packing.subproblem import SubProblem, SubSolution, allowed_pairs, shard_sets

__all__ = ["build_model", "solve_subproblem_cpsat"]

_UNITS = 1_000_000  # integer units per largest capacity of a resource
_COST_UNITS = 100  # cost in cents


def solve_subproblem_cpsat(instance: PackingInstance, sub: SubProblem, options: SolveOptions,
                           time_limit_s: float, det_limit: float | None = None) -> SubSolution:
    """Solve ``sub`` with CP-SAT within ``time_limit_s`` seconds (and ``det_limit`` units of CP-SAT's
    deterministic time when given, which makes the stop reproducible)."""
    from ortools.sat.python import cp_model

    start = time.perf_counter()
    model, x, y, scale = build_model(instance, sub)
    kinds = instance.kinds()
    n_j, n_p = len(sub.items), len(sub.pool_class)

    # [START solve]
    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = max(0.05, float(time_limit_s))
    if det_limit is not None:
        # Stop on CP-SAT's work counter, not the wall clock: reproducible under load.
        solver.parameters.max_deterministic_time = max(0.05, float(det_limit))
    solver.parameters.num_workers = int(options.workers)
    solver.parameters.random_seed = int(options.seed)
    solver.parameters.relative_gap_limit = float(options.mip_gap)
    if not sub.symmetry:
        # Neighbourhoods come with a complete feasible hint; CP-SAT's presolve (dominated-linear
        # detection over hundreds of slot rows) would take the whole step before the search starts.
        solver.parameters.cp_model_presolve = False
    code = solver.solve(model)
    # [END solve]

    # [START extract]
    elapsed = time.perf_counter() - start
    if code in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        values = list(solver.response_proto.solution)  # 0/1 per variable index (all of x and y are Booleans)
        iw = np.full(n_j, -1, dtype=np.int64)
        for (j, p), var in x.items():
            if values[var]:
                iw[j] = p
        wk = np.full(n_p, -1, dtype=np.int64)
        for (p, k), var in y.items():
            if values[var]:
                wk[p] = k
        obj = float(kinds.cost[wk[wk >= 0]].sum())
        status = SolveStatus.OPTIMAL if code == cp_model.OPTIMAL else SolveStatus.FEASIBLE
        return SubSolution(status, iw, wk, obj, solver.best_objective_bound / scale / _COST_UNITS, elapsed)
    if code == cp_model.INFEASIBLE:
        return SubSolution(SolveStatus.INFEASIBLE, None, None, float("nan"), float("inf"), elapsed,
                           "CP-SAT proved the model infeasible")
    if code == cp_model.UNKNOWN:
        return SubSolution(SolveStatus.TIMED_OUT, None, None, float("nan"), float("nan"), elapsed,
                           "CP-SAT found no plan within the time limit")
    return SubSolution(SolveStatus.ERROR, None, None, float("nan"), float("nan"), elapsed,
                       f"CP-SAT status {solver.status_name(code)}")
    # [END extract]


_INT_MIN = -(2**63)  # the unbounded side of a "<=" row, as CP-SAT writes it


def build_model(instance: PackingInstance, sub: SubProblem):
    """The CP-SAT model of ``sub`` (module docstring) and the variable indices of ``x[j, p]`` and
    ``y[p, k]`` (dicts), with the objective's scale.

    The many rows (variables, assign_once, one_kind, headroom, capacity, hint) are written into the
    model's proto directly: the linear expressions CP-SAT's Python API builds for them (a weighted
    sum per side, flattened in C++) were most of a neighbourhood step's Python time. They hold what
    the API would write: terms sorted by variable index (the x variables precede the y's), zero
    coefficients dropped, an unbounded side as the int64 limit. The few other rules go through the
    API. tests/unit/models/test_packing_cpsat_model.py compares the serialised model with the API's.
    """
    from ortools.sat.python import cp_model

    # [START data]
    it, kinds = instance.items(), instance.kinds()
    unit = instance.capacity.max(axis=0) / _UNITS  # [R]
    dem = np.ceil(sub.item_demand(instance)[:, sub.slots, :] / unit[None, None, :] - 1e-9).astype(np.int64)
    cap = np.floor(kinds.capacity / unit[None, :] + 1e-9).astype(np.int64)  # [K, R]
    cost = np.round(kinds.cost * _COST_UNITS).astype(np.int64)
    n_j, n_p, n_k = len(sub.items), len(sub.pool_class), len(kinds)
    pairs = allowed_pairs(instance, sub)
    model = cp_model.CpModel()
    proto = model.proto
    # [END data]

    # [START variables]
    # x[j, p] = 1 if item j is packed on pool worker p; y[p, k] = 1 if worker p is of kind k.
    names = [f"x[{j},{p}]" for j, p in pairs] + [f"y[{p},{k}]" for p in range(n_p) for k in range(n_k)]
    variables = proto.variables
    for name in names:
        v = variables.add()
        v.name = name
        v.domain.extend((0, 1))
    x = {pair: i for i, pair in enumerate(pairs)}
    y_of = np.arange(len(pairs), len(names)).reshape(n_p, n_k)  # y[p, k]'s index
    y = {(p, k): int(y_of[p, k]) for p in range(n_p) for k in range(n_k)}
    ys_of = y_of.tolist()

    def var(i: int):
        return cp_model.IntVar(proto, i)

    by_item: dict[int, list[int]] = {}
    by_worker: dict[int, list[int]] = {}
    for j, p in pairs:
        by_item.setdefault(j, []).append(p)
        by_worker.setdefault(p, []).append(j)
    # [END variables]

    # [START constraints]
    constraints = proto.constraints
    for j in range(n_j):
        c = constraints.add()
        c.name = f"assign_once[{j}]"
        c.exactly_one.literals.extend([x[j, p] for p in by_item[j]])
    for p in range(n_p):
        c = constraints.add()
        c.name = f"one_kind[{p}]"
        c.at_most_one.literals.extend(ys_of[p])
    # headroom[j, p]: x[j, p] - sum of the y[p, k] whose level suffices <= 0.
    h_items = it.headroom[sub.items]
    ok_kinds = [[k for k in range(n_k) if kinds.level[k] >= h - 1e-12] for h in h_items]
    for (j, p), xi in x.items():
        ok = ok_kinds[j]
        c = constraints.add()
        c.name = f"headroom[{j},{p}]"
        lin = c.linear
        lin.vars.extend([xi] + [ys_of[p][k] for k in ok])
        lin.coeffs.extend([1] + [-1] * len(ok))
        lin.domain.extend((_INT_MIN, 0))
    # capacity[p, t, r]: sum_j D[j, t, r] x[j, p] - sum_k C[k, r] y[p, k] <= 0, one row per slot and resource.
    slot_names = [f"{instance.slots[s]}" for s in sub.slots]
    n_t, n_r = len(sub.slots), dem.shape[2]
    neg_cap = -cap.T  # [R, K]
    for p, js in by_worker.items():
        ids = np.array([x[j, p] for j in js] + ys_of[p], dtype=np.int64)
        coef = np.concatenate([dem[js].transpose(1, 2, 0),
                               np.broadcast_to(neg_cap[None], (n_t, n_r, n_k))], axis=2)  # [T, R, terms]
        # CP-SAT drops zero terms: the kept terms of every row of p at once, then a slice per row.
        nz = coef != 0
        kept_ids = np.broadcast_to(ids, nz.shape)[nz].tolist()
        kept_coef = coef[nz].tolist()
        ends = np.cumsum(nz.sum(axis=2).ravel()).tolist()
        lo = 0
        for row_no, hi in enumerate(ends):
            ti, r = divmod(row_no, n_r)
            name = f"capacity[p{p},{slot_names[ti]},{instance.resources[r]}]"
            c = constraints.add()
            c.name = name
            lin = c.linear
            lin.vars.extend(kept_ids[lo:hi])  # never empty: the largest kind's y has 10^6 units
            lin.coeffs.extend(kept_coef[lo:hi])
            lo = hi
            lin.domain.extend((_INT_MIN, 0))
    for g, js in shard_sets(instance, sub).items():
        for p in sorted({p for j in js for p in by_item[j]}):
            members = [var(x[j, p]) for j in js if (j, p) in x]
            if len(members) > 1:
                model.add_at_most_one(members).with_name(f"distinct_shards[{g},{p}]")
    for ci, need in sub.spread_need.items():
        js = [j for j, i in enumerate(sub.items) if it.customer[i] == ci]
        us = []
        for p in sorted({p for j in js for p in by_item[j]}):
            u = model.new_bool_var(f"u[{ci},{p}]")
            model.add(u <= sum(var(x[j, p]) for j in js if (j, p) in x))
            us.append(u)
        model.add(sum(us) >= int(need)).with_name(f"spread[{ci}]")
    for st in range(len(instance.server_types)):
        if sub.type_limit[st] < n_p:
            ys = [var(y[p, k]) for p in range(n_p) for k in range(n_k) if kinds.server_type[k] == st]
            model.add(sum(ys) <= int(sub.type_limit[st])).with_name(f"max_count[{st}]")
    for c, (js, bad_kinds) in enumerate(sub.cuts):
        for p in sorted(set.intersection(*(set(by_item[j]) for j in js))):
            escape = [var(y[p, k]) for k in range(n_k) if k not in bad_kinds]
            model.add(sum(var(x[j, p]) for j in js) <= len(js) - 1 + sum(escape)).with_name(f"chance_cut[{c},{p}]")
    if sub.symmetry:
        used = [sum(var(i) for i in ys_of[p]) for p in range(n_p)]
        for c in np.unique(sub.pool_class):
            pool = sub.pool_of(int(c))
            for a, b in zip(pool[:-1], pool[1:]):
                model.add(used[a] >= used[b]).with_name(f"symmetry[{a}]")
    # [END constraints]

    # [START objective]
    # min cost (x M, then the weight of items left on pool worker 0, the one being emptied).
    ys = [var(y[p, k]) for p in range(n_p) for k in range(n_k)]
    coeffs = [int(cost[k]) for p in range(n_p) for k in range(n_k)]
    scale = 1
    if sub.target_weight is not None:
        tw = np.asarray(sub.target_weight, dtype=np.int64)
        scale = int(tw.sum()) + 1
        coeffs = [c * scale for c in coeffs]
        ys += [var(x[j, 0]) for j in range(n_j) if (j, 0) in x]
        coeffs += [int(tw[j]) for j in range(n_j) if (j, 0) in x]
    model.minimize(cp_model.LinearExpr.weighted_sum(ys, coeffs))
    if sub.hint_item_worker is not None:
        hint = proto.solution_hint
        hint.vars.extend(list(x.values()) + list(y.values()))
        hint.values.extend([int(sub.hint_item_worker[j] == p) for j, p in x]
                           + [int(sub.hint_worker_kind[p] == k) for p, k in y])
    # [END objective]
    return model, x, y, scale
