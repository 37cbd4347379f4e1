"""MILP backend through PuLP: HiGHS (highspy) where installed, else the bundled CBC.

Same model as :mod:`models.packing.cpsat` (see its docstring), on the float data, with every
constraint named by family and keys (``capacity[p3,t042,cpu_cores]``) so LP dumps are readable.
"""

from __future__ import annotations

import time

import numpy as np

from models.highs import silence_highs_banner
from models.packing.instance import PackingInstance
from models.packing.result import SolveOptions, SolveStatus
from models.packing.subproblem import SubProblem, SubSolution, allowed_pairs, shard_sets

__all__ = ["solve_subproblem_milp", "milp_solver"]


def milp_solver(options: SolveOptions, time_limit_s: float):
    """HiGHS via highspy when available, else CBC; both quiet, with time limit, gap and threads."""
    import pulp

    limit = max(0.1, float(time_limit_s))
    highs = pulp.HiGHS(msg=False, timeLimit=limit, gapRel=options.mip_gap, threads=options.workers,
                       random_seed=options.seed)
    if highs.available():
        silence_highs_banner()
        return highs
    return pulp.PULP_CBC_CMD(msg=False, timeLimit=limit, gapRel=options.mip_gap, threads=options.workers,
                             options=[f"randomSeed {options.seed}"])


def solve_subproblem_milp(instance: PackingInstance, sub: SubProblem, options: SolveOptions,
                          time_limit_s: float, det_limit: float | None = None) -> SubSolution:
    """Solve ``sub`` with PuLP (HiGHS or CBC) within ``time_limit_s`` seconds (``det_limit`` is
    accepted for interface parity and ignored: HiGHS and CBC stop on the wall clock)."""
    import pulp

    start = time.perf_counter()
    # [START data]
    it, kinds = instance.items(), instance.kinds()
    dem = sub.item_demand(instance)[:, sub.slots, :]
    cap = kinds.capacity
    n_j, n_p, n_k = len(sub.items), len(sub.pool_class), len(kinds)
    pairs = allowed_pairs(instance, sub)
    prob = pulp.LpProblem("packing", pulp.LpMinimize)
    # [END data]

    # [START variables]
    # x[j, p] = 1 if item j is packed on pool worker p; y[p, k] = 1 if worker p is of kind k.
    x = {(j, p): _binary(prob, f"x_{j}_{p}") for j, p in pairs}
    y = {(p, k): _binary(prob, f"y_{p}_{k}") for p in range(n_p) for k in range(n_k)}
    by_item: dict[int, list[int]] = {}
    by_worker: dict[int, list[int]] = {}
    for j, p in pairs:
        by_item.setdefault(j, []).append(p)
        by_worker.setdefault(p, []).append(j)
    used = {p: pulp.lpSum(y[p, k] for k in range(n_k)) for p in range(n_p)}
    # [END variables]

    # [START constraints]
    for j in range(n_j):
        prob += pulp.lpSum(x[j, p] for p in by_item[j]) == 1, f"assign_once[{j}]"
    for p in range(n_p):
        prob += used[p] <= 1, f"one_kind[p{p}]"
    for j, p in pairs:
        ok = [y[p, k] for k in range(n_k) if kinds.level[k] >= it.headroom[sub.items[j]] - 1e-12]
        prob += x[j, p] <= pulp.lpSum(ok), f"headroom[{j},p{p}]"
    for p, js in by_worker.items():
        for ti in range(len(sub.slots)):
            for r in range(dem.shape[2]):
                load = pulp.LpAffineExpression([(x[j, p], float(dem[j, ti, r])) for j in js if dem[j, ti, r] > 0])
                supply = pulp.LpAffineExpression([(y[p, k], float(cap[k, r])) for k in range(n_k)])
                prob += load - supply <= 0, f"capacity[p{p},{instance.slots[sub.slots[ti]]},{instance.resources[r]}]"
    for g, js in shard_sets(instance, sub).items():
        for p in sorted({p for j in js for p in by_item[j]}):
            members = [x[j, p] for j in js if (j, p) in x]
            if len(members) > 1:
                prob += pulp.lpSum(members) <= 1, f"distinct_shards[{instance.group_ids[g]},p{p}]"
    for ci, need in sub.spread_need.items():
        js = [j for j, i in enumerate(sub.items) if it.customer[i] == ci]
        us = []
        for p in sorted({p for j in js for p in by_item[j]}):
            u = _binary(prob, f"u_{ci}_{p}")
            prob += u - pulp.lpSum(x[j, p] for j in js if (j, p) in x) <= 0, f"spread_link[{ci},p{p}]"
            us.append(u)
        prob += pulp.lpSum(us) >= int(need), f"spread[{instance.customers[ci]}]"
    for st in range(len(instance.server_types)):
        if sub.type_limit[st] < n_p:
            ys = [y[p, k] for p in range(n_p) for k in range(n_k) if kinds.server_type[k] == st]
            prob += pulp.lpSum(ys) <= int(sub.type_limit[st]), f"max_count[{instance.server_types[st].name}]"
    for c, (js, bad_kinds) in enumerate(sub.cuts):
        for p in sorted(set.intersection(*(set(by_item[j]) for j in js))):
            escape = [y[p, k] for k in range(n_k) if k not in bad_kinds]
            prob += (pulp.lpSum(x[j, p] for j in js) - pulp.lpSum(escape) <= len(js) - 1,
                     f"chance_cut[{c},p{p}]")
    if sub.symmetry:
        for c in np.unique(sub.pool_class):
            pool = sub.pool_of(int(c))
            for a, b in zip(pool[:-1], pool[1:]):
                prob += used[int(a)] - used[int(b)] >= 0, f"symmetry[p{a}]"
    # [END constraints]

    # [START objective]
    # min cost (then, with a small weight, the items left on pool worker 0, the one being emptied).
    objective = pulp.lpSum(float(kinds.cost[k]) * y[p, k] for p in range(n_p) for k in range(n_k))
    eps = 0.0
    if sub.target_weight is not None:
        tw = np.asarray(sub.target_weight, dtype=float)
        eps = float(kinds.cost.min()) / (10.0 * (tw.sum() + 1.0))
        objective += pulp.lpSum(eps * tw[j] * x[j, 0] for j in range(n_j) if (j, 0) in x)
    prob += objective
    # [END objective]

    # [START solve]
    solver = milp_solver(options, time_limit_s - (time.perf_counter() - start))
    try:
        prob.solve(solver)
    except pulp.PulpSolverError as exc:
        return SubSolution(SolveStatus.ERROR, None, None, float("nan"), float("nan"),
                           time.perf_counter() - start, f"MILP solver failed: {exc}")
    # [END solve]

    # [START extract]
    elapsed = time.perf_counter() - start
    bound, proven = _bound_and_status(prob, solver)
    status_name = pulp.LpStatus[prob.status]
    if status_name == "Infeasible":
        return SubSolution(SolveStatus.INFEASIBLE, None, None, float("nan"), float("inf"), elapsed,
                           "the MILP solver proved the model infeasible")
    values_ok = all(v.varValue is not None for v in x.values())
    if status_name != "Optimal" or not values_ok or prob.sol_status not in (1, 2):
        return SubSolution(SolveStatus.TIMED_OUT, None, None, float("nan"), bound, elapsed,
                           f"the MILP solver found no plan within the time limit ({status_name})")
    iw = np.full(n_j, -1, dtype=np.int64)
    for (j, p), var in x.items():
        if var.varValue > 0.5:
            iw[j] = p
    wk = np.full(n_p, -1, dtype=np.int64)
    for (p, k), var in y.items():
        if var.varValue > 0.5:
            wk[p] = k
    if (iw < 0).any():
        return SubSolution(SolveStatus.ERROR, None, None, float("nan"), bound, elapsed,
                           "the MILP solution leaves an item unplaced")
    obj = float(kinds.cost[wk[wk >= 0]].sum())
    status = SolveStatus.OPTIMAL if proven else SolveStatus.FEASIBLE
    if not np.isfinite(bound):
        bound = obj if proven else float("nan")
    return SubSolution(status, iw, wk, obj, bound, elapsed)
    # [END extract]


def _binary(prob, name: str):
    """A binary variable (``prob.add_variable`` where PuLP has it, the PuLP 4 spelling)."""
    import pulp

    if hasattr(prob, "add_variable"):
        return prob.add_variable(name, 0, 1, cat=pulp.LpBinary)
    return pulp.LpVariable(name, 0, 1, cat=pulp.LpBinary)


def _bound_and_status(prob, solver) -> tuple[float, bool]:
    """Best bound and whether optimality was proven (HiGHS exposes both; CBC only the status)."""
    model = getattr(prob, "solverModel", None)
    if model is not None and hasattr(model, "getInfo"):
        import highspy

        info = model.getInfo()
        proven = model.getModelStatus() == highspy.HighsModelStatus.kOptimal
        bound = float(getattr(info, "mip_dual_bound", float("nan")))
        return bound, proven
    return float("nan"), prob.sol_status == 1
