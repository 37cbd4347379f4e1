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

__all__ = ["solve_subproblem_cpsat"]

_UNITS = 1_000_000  # integer units per largest capacity of a resource
_COST_UNITS = 100  # cost in cents


def solve_subproblem_cpsat(instance: PackingInstance, sub: SubProblem, options: SolveOptions,
                           time_limit_s: float, det_limit: float | None = None) -> SubSolution:
    """Solve ``sub`` with CP-SAT within ``time_limit_s`` seconds (and ``det_limit`` units of CP-SAT's
    deterministic time when given, which makes the stop reproducible)."""
    from ortools.sat.python import cp_model

    start = time.perf_counter()
    # [START data]
    it, kinds = instance.items(), instance.kinds()
    unit = instance.capacity.max(axis=0) / _UNITS  # [R]
    dem = np.ceil(sub.item_demand(instance)[:, sub.slots, :] / unit[None, None, :] - 1e-9).astype(np.int64)
    cap = np.floor(kinds.capacity / unit[None, :] + 1e-9).astype(np.int64)  # [K, R]
    cost = np.round(kinds.cost * _COST_UNITS).astype(np.int64)
    n_j, n_p, n_k = len(sub.items), len(sub.pool_class), len(kinds)
    pairs = allowed_pairs(instance, sub)
    model = cp_model.CpModel()
    # [END data]

    # [START variables]
    # x[j, p] = 1 if item j is packed on pool worker p; y[p, k] = 1 if worker p is of kind k.
    x = {(j, p): model.new_bool_var(f"x[{j},{p}]") for j, p in pairs}
    y = {(p, k): model.new_bool_var(f"y[{p},{k}]") for p in range(n_p) for k in range(n_k)}
    used = [sum(y[p, k] for k in range(n_k)) for p in range(n_p)]
    by_item: dict[int, list[int]] = {}
    by_worker: dict[int, list[int]] = {}
    for j, p in pairs:
        by_item.setdefault(j, []).append(p)
        by_worker.setdefault(p, []).append(j)
    # [END variables]

    # [START constraints]
    for j in range(n_j):
        model.add_exactly_one(x[j, p] for p in by_item[j]).with_name(f"assign_once[{j}]")
    for p in range(n_p):
        model.add_at_most_one(y[p, k] for k in range(n_k)).with_name(f"one_kind[{p}]")
    for j, p in pairs:
        ok = [y[p, k] for k in range(n_k) if kinds.level[k] >= it.headroom[sub.items[j]] - 1e-12]
        model.add(x[j, p] <= sum(ok)).with_name(f"headroom[{j},{p}]")
    # Coefficients as Python ints, converted once (indexing numpy scalars per term was a tenth of
    # a neighbourhood step); the same rows, in the same order, with the same names.
    cap_rows = cap.T.tolist()  # [R][K]
    slot_names = [f"{instance.slots[s]}" for s in sub.slots]
    for p, js in by_worker.items():
        xs = [x[j, p] for j in js]
        ys_p = [y[p, k] for k in range(n_k)]
        coef = dem[js].transpose(1, 2, 0).tolist()  # [T][R][items of p]
        for ti in range(len(sub.slots)):
            for r in range(dem.shape[2]):
                load = cp_model.LinearExpr.weighted_sum(xs, coef[ti][r])
                model.add(load <= cp_model.LinearExpr.weighted_sum(ys_p, cap_rows[r])
                          ).with_name(f"capacity[p{p},{slot_names[ti]},{instance.resources[r]}]")
    for g, js in shard_sets(instance, sub).items():
        for p in sorted({p for j in js for p in by_item[j]}):
            members = [x[j, p] for j in js if (j, p) in x]
            if len(members) > 1:
                model.add_at_most_one(members).with_name(f"distinct_shards[{g},{p}]")
    for ci, need in sub.spread_need.items():
        js = [j for j, i in enumerate(sub.items) if it.customer[i] == ci]
        us = []
        for p in sorted({p for j in js for p in by_item[j]}):
            u = model.new_bool_var(f"u[{ci},{p}]")
            model.add(u <= sum(x[j, p] for j in js if (j, p) in x))
            us.append(u)
        model.add(sum(us) >= int(need)).with_name(f"spread[{ci}]")
    for st in range(len(instance.server_types)):
        if sub.type_limit[st] < n_p:
            ys = [y[p, k] for p in range(n_p) for k in range(n_k) if kinds.server_type[k] == st]
            model.add(sum(ys) <= int(sub.type_limit[st])).with_name(f"max_count[{st}]")
    for c, (js, bad_kinds) in enumerate(sub.cuts):
        for p in sorted(set.intersection(*(set(by_item[j]) for j in js))):
            escape = [y[p, k] for k in range(n_k) if k not in bad_kinds]
            model.add(sum(x[j, p] for j in js) <= len(js) - 1 + sum(escape)).with_name(f"chance_cut[{c},{p}]")
    if sub.symmetry:
        for c in np.unique(sub.pool_class):
            pool = sub.pool_of(int(c))
            for a, b in zip(pool[:-1], pool[1:]):
                model.add(used[a] >= used[b]).with_name(f"symmetry[{a}]")
    # [END constraints]

    # [START objective]
    # min cost (x M, then the weight of items left on pool worker 0, the one being emptied).
    ys = [y[p, k] for p in range(n_p) for k in range(n_k)]
    coeffs = [int(cost[k]) for p in range(n_p) for k in range(n_k)]
    scale = 1
    if sub.target_weight is not None:
        tw = np.asarray(sub.target_weight, dtype=np.int64)
        scale = int(tw.sum()) + 1
        coeffs = [c * scale for c in coeffs]
        ys += [x[j, 0] for j in range(n_j) if (j, 0) in x]
        coeffs += [int(tw[j]) for j in range(n_j) if (j, 0) in x]
    model.minimize(cp_model.LinearExpr.weighted_sum(ys, coeffs))
    if sub.hint_item_worker is not None:
        for (j, p), var in x.items():
            model.add_hint(var, int(sub.hint_item_worker[j] == p))
        for (p, k), var in y.items():
            model.add_hint(var, int(sub.hint_worker_kind[p] == k))
    # [END objective]

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
        iw = np.full(n_j, -1, dtype=np.int64)
        for (j, p), var in x.items():
            if solver.boolean_value(var):
                iw[j] = p
        wk = np.full(n_p, -1, dtype=np.int64)
        for (p, k), var in y.items():
            if solver.boolean_value(var):
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
