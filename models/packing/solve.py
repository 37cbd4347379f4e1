"""One interface over every backend: heuristic start, exact model or large-neighbourhood search,
verification on the full slot grid.

* ``peak``: the peak-based baseline (:func:`~models.packing.heuristics.peak_ffd`).
* ``heuristic``: the best shape-aware greedy (:func:`~models.packing.heuristics.best_heuristic`).
* ``cpsat`` / ``milp``: the greedy plan as warm start, then
  - up to ``options.exact_max_items`` items: the exact model on a growing set of slots (start with
    each item's and each class's peak slots among the non-dominated ones, add the slots the plan
    violates on the full grid, re-solve) — exact, because a plan valid on the full grid that is
    optimal on a subset of the constraints is optimal;
  - above: large-neighbourhood search: free the items of a few workers of one isolation class, re-pack
    them optimally on as many fresh workers with the backend (non-dominated slots of those items
    only), keep the result when it is cheaper, until the time limit.
  both after the fleet-shrinking search (:mod:`models.packing.shrink`) and followed by the
  load-balancing pass on the final fleet (:mod:`models.packing.balance`; same cost, less load near
  capacity), which keeps ``options.balance_share`` of the time.

Every returned plan has passed :func:`~models.packing.verify.find_violations`; a plan that fails it
is never returned (status ``error``).

On a chance-constrained instance the backends see a linear stand-in of the chance constraint: each
item's demand becomes ``mean + z_w * share`` where ``share`` is its Euler share of its current
worker's pooled spread, ``max(0, Cov(i, S_w)) * sqrt(V_w) / sum_j max(0, Cov(j, S_w))``; the shares
of a worker sum to ``sqrt(V_w)``, so the current plan is exactly as full in the stand-in as it is
under the chance rule. Every plan a backend returns is then checked under the real rule; where it
fails, the stand-in's risk part is inflated by the excess and the model solved again (the exact
model, up to 3 times) or the step is rejected (neighbourhoods). Bounds of the stand-in model are not
bounds of the real problem and are not used.
"""

from __future__ import annotations

import dataclasses
import time

import numpy as np

from models.packing import bounds as _bounds
from models.packing.balance import balance_load
from models.packing.heuristics import HeuristicFailure, best_heuristic, peak_ffd
from models.packing.instance import PackingInstance, dominant_slots
from models.packing.prices import dual_prices
from models.packing.result import PackingResult, SolveOptions, SolveStatus
from models.packing.shrink import ShrinkOptions, shrink_fleet
from models.packing.solution import Packing, compact, packing_cost, to_placements, violated_slots
from models.packing.subproblem import SubSolution, full_problem, neighbourhood_problem
from models.packing.verify import find_violations

__all__ = ["BACKENDS", "solve_packing", "violated_slots"]

BACKENDS = ("cpsat", "milp", "heuristic", "peak")


def _sub_solver(backend: str):
    if backend == "cpsat":
        from models.packing.cpsat import solve_subproblem_cpsat

        return solve_subproblem_cpsat
    from models.packing.milp import solve_subproblem_milp

    return solve_subproblem_milp


def surrogate_demand(instance: PackingInstance, packing: Packing | None, inflate: float = 1.0) -> np.ndarray:
    """``[item, slot, resource]`` linear stand-in of the chance constraint around ``packing`` (module
    docstring); the items' demand on a linear instance, their load alone without a packing."""
    it = instance.items()
    if not it.chance:
        return it.demand
    if packing is None:
        return it.demand + inflate * (it.standalone() - it.demand)
    mu, phi, psi = it.moments()
    w = packing.item_worker
    n_w = len(packing.worker_kind)
    fsum = np.zeros((n_w,) + phi.shape[1:])
    np.add.at(fsum, w, phi)
    var = np.einsum("wktr,wktr->wtr", fsum, fsum)
    np.add.at(var, w, psi)
    z = np.zeros(n_w)
    np.maximum.at(z, w, it.z)
    share = np.maximum(np.einsum("iktr,iktr->itr", phi, fsum[w]) + psi, 0.0)
    total = np.zeros((n_w,) + mu.shape[1:])
    np.add.at(total, w, share)
    with np.errstate(divide="ignore", invalid="ignore"):
        share = np.where(total[w] > 0, share * np.sqrt(np.maximum(var[w], 0.0)) / total[w], 0.0)
    return mu + inflate * z[w][:, None, None] * share


def _excess(instance: PackingInstance, packing: Packing) -> float:
    """Largest load above capacity relative to the capacity (0 when the plan holds)."""
    kinds = instance.kinds()
    cap = kinds.capacity[packing.worker_kind][:, None, :]
    loads = instance.effective_loads(packing.item_worker, len(packing.worker_kind))
    return float(np.maximum((loads - cap) / cap, 0.0).max())


def _initial_slots(instance: PackingInstance, candidates: np.ndarray, demand: np.ndarray) -> np.ndarray:
    it = instance.items()
    d = demand[:, candidates, :]
    picks = set(candidates[d.argmax(axis=1).ravel()].tolist())
    for c in np.unique(it.iso_class):
        agg = d[it.iso_class == c].sum(axis=0)
        picks |= set(candidates[agg.argmax(axis=0)].tolist())
    return np.array(sorted(picks), dtype=np.int64)


def _apply(instance: PackingInstance, packing: Packing, sub, sol: SubSolution, workers: np.ndarray) -> Packing:
    """Put the sub-problem's items on the solution's pool workers (pool worker p is workers[p])."""
    p = packing.copy()
    for j, i in enumerate(sub.items):
        p.item_worker[i] = workers[int(sol.item_worker[j])]
    for q, w in enumerate(workers):
        if sol.worker_kind[q] >= 0:
            p.worker_kind[w] = sol.worker_kind[q]
    return p


def _exact(instance, backend, options, start, deadline, stats):
    solve_sub = _sub_solver(backend)
    chance = instance.chance
    inflate = 1.0
    demand = surrogate_demand(instance, start)
    candidates = dominant_slots(demand)
    slots = _initial_slots(instance, candidates, demand)
    best, best_cost = start, (packing_cost(instance, start) if start is not None else np.inf)
    bound, status = -np.inf, SolveStatus.TIMED_OUT
    relax_bound = -np.inf
    if chance:
        # The relaxation first: its bound often meets the plan (proven optimal), and its own plan
        # often holds the real rule.
        half = time.perf_counter() + 0.5 * max(deadline - time.perf_counter(), 0.0)
        relax_bound, relaxed = _relaxation(instance, solve_sub, options, best, half, stats)
        if relaxed is not None and packing_cost(instance, relaxed) < best_cost - 1e-9:
            best, best_cost = relaxed, packing_cost(instance, relaxed)
        if best is not None and best_cost <= relax_bound * (1 + options.mip_gap) + 1e-9:
            stats.update(rounds=0, slots_used=0, slots_nondominated=int(len(candidates)))
            return best, relax_bound, SolveStatus.OPTIMAL
    rounds = retries = 0
    while True:
        rounds += 1
        remaining = deadline - time.perf_counter()
        if remaining <= 0.05:
            break
        sub = full_problem(instance, slots, hint=best)
        if chance:
            sub = dataclasses.replace(sub, demand=surrogate_demand(instance, best, inflate)[sub.items])
        sol = solve_sub(instance, sub, options, remaining)
        if sol.status == SolveStatus.INFEASIBLE:
            if not chance:
                status = SolveStatus.INFEASIBLE  # the stand-in's infeasibility proves nothing
            break
        if np.isfinite(sol.bound) and not chance:
            bound = max(bound, sol.bound)  # a bound on a subset of the constraints is a bound
        if not sol.status.has_solution:
            status = sol.status if best is None else SolveStatus.FEASIBLE
            break
        item_worker = np.empty(len(sub.items), dtype=np.int64)
        item_worker[sub.items] = sol.item_worker
        kinds_of = np.where(sol.worker_kind >= 0, sol.worker_kind, 0)
        cand = Packing(item_worker, kinds_of)
        violated = violated_slots(instance, cand)
        bad = np.setdiff1d(violated, slots)
        if bad.size:
            # Add the violated slots and re-solve (the solver never saw them).
            slots = np.union1d(slots, bad)
            stats["slots_added"] = stats.get("slots_added", 0) + int(bad.size)
            continue
        if violated.size:
            # Only the stand-in of the chance rule can be wrong here: inflate its risk part.
            retries += 1
            stats["surrogate_retries"] = stats.get("surrogate_retries", 0) + 1
            if retries > _SURROGATE_RETRIES:
                status = SolveStatus.FEASIBLE if best is not None else SolveStatus.TIMED_OUT
                break
            inflate *= 1.0 + _excess(instance, cand) + 0.01
            continue
        cand = compact(instance, cand)
        cost = packing_cost(instance, cand)
        if cost <= best_cost + 1e-9:
            best, best_cost = cand, cost
        optimal = sol.status == SolveStatus.OPTIMAL and not chance
        status = SolveStatus.OPTIMAL if optimal else SolveStatus.FEASIBLE
        break
    stats.update(rounds=rounds, slots_used=int(len(slots)), slots_nondominated=int(len(candidates)))
    if best is not None and status == SolveStatus.TIMED_OUT:
        status = SolveStatus.FEASIBLE
    return best, max(bound, relax_bound), status


def _relaxation(instance, solve_sub, options, best, deadline, stats):
    """The exact model on the chord relaxation of the chance constraint
    (:func:`~models.packing.bounds.chord_demand`: every real plan satisfies it), on its
    non-dominated slots, with ``best`` as the hint (feasible there too). Returns its lower bound and
    its plan when that plan also holds the real rule (then it is optimal), else ``None``."""
    from models.packing.bounds import chord_demand

    chord = chord_demand(instance)
    slots = dominant_slots(chord)
    sub = full_problem(instance, slots, hint=best)
    sub = dataclasses.replace(sub, demand=chord[sub.items])
    sol = solve_sub(instance, sub, options, deadline - time.perf_counter())
    value = sol.objective if sol.status == SolveStatus.OPTIMAL else (sol.bound if np.isfinite(sol.bound) else -np.inf)
    stats["bound_relaxation"] = float(value)
    plan = None
    if sol.status.has_solution:
        item_worker = np.empty(len(sub.items), dtype=np.int64)
        item_worker[sub.items] = sol.item_worker
        cand = Packing(item_worker, np.where(sol.worker_kind >= 0, sol.worker_kind, 0))
        if violated_slots(instance, cand).size == 0:
            plan = compact(instance, cand)
    return float(value), plan


def _loads(instance: PackingInstance, packing: Packing) -> np.ndarray:
    return instance.effective_loads(packing.item_worker, len(packing.worker_kind))


def _lns(instance, backend, options, start, deadline, stats, max_iterations=None, bound=-np.inf):
    """Large-neighbourhood search that empties workers one at a time.

    A *target* worker (the least efficient: value of its items at the fractional programme's
    shadow prices / its cost) is kept until it is empty or has failed ``_PATIENCE`` times in a row.
    Each step picks ``lns_workers - 1`` partner workers of the same class whose residual capacity
    covers most of the target's load shape (sampled, so retries differ), and re-packs all their
    items with the backend, minimising cost and then the weight left on the target. Cheaper plans
    and plans that move load off the target are kept; an emptied target disappears. Workers keep
    their numbers during the search (no compaction) so the target stays the same worker.
    """
    solve_sub = _sub_solver(backend)
    it, kinds = instance.items(), instance.kinds()
    rng = np.random.default_rng(options.seed)
    prices = dual_prices(instance)
    value = np.einsum("itr,itr->i", it.standalone() / (1.0 - it.headroom)[:, None, None], prices[it.iso_class])
    weight = np.ceil(1000.0 * value / max(value.max(), 1e-12)).astype(np.int64) + 1
    best = compact(instance, start)
    cls = np.zeros(len(best.worker_kind), dtype=np.int64)
    for i, w in enumerate(best.item_worker):
        cls[w] = it.iso_class[i]
    tabu_until: dict[int, int] = {}
    target, misses = -1, 0
    if max_iterations is None:
        max_iterations = options.lns_max_iterations
    iterations = improved = emptied = 0
    while time.perf_counter() < deadline - 0.1 and (max_iterations is None or iterations < max_iterations):
        if packing_cost(instance, best) <= bound * (1 + options.mip_gap) + 1e-9:
            break  # proven optimal by the bound
        n_w = len(best.worker_kind)
        count = np.bincount(best.item_worker, minlength=n_w)
        live = np.flatnonzero(count > 0)
        if live.size < 2:
            break
        iterations += 1
        loads = _loads(instance, best)
        cap = kinds.capacity[best.worker_kind]  # [W, R]
        if target < 0 or count[target] == 0 or misses >= _PATIENCE:
            if target >= 0 and count[target] > 0:
                tabu_until[target] = iterations + _TABU
            w_value = np.bincount(best.item_worker, weights=value, minlength=n_w)
            efficiency = w_value / kinds.cost[best.worker_kind]
            free = [w for w in live if tabu_until.get(int(w), 0) <= iterations
                    and np.any(cls[live] == cls[w]) and (cls[live] == cls[w]).sum() > 1]
            if not free:
                tabu_until.clear()
                continue
            target = int(min(free, key=lambda w: (efficiency[w], w)))
            misses = 0
        peers = live[(cls[live] == cls[target]) & (live != target)]
        # Partners whose residual capacity covers most of the target's load shape.
        resid = np.maximum(cap[peers][:, None, :] - loads[peers], 0.0)
        fit = (np.minimum(resid, loads[target][None]).sum(axis=1) / cap[peers]).mean(axis=1)
        m = min(options.lns_workers - 1, peers.size)
        shortlist = peers[np.argsort(-fit, kind="stable")[: min(peers.size, 2 * m + misses)]]
        partners = rng.choice(shortlist, size=m, replace=False)
        workers = np.concatenate([[target], np.sort(partners)]).astype(np.int64)
        members = np.flatnonzero(np.isin(best.item_worker, workers))
        demand = surrogate_demand(instance, best)
        slots = dominant_slots(demand[members])
        sub = neighbourhood_problem(instance, best, workers, slots, weight)
        if instance.chance:
            sub = dataclasses.replace(sub, demand=demand[sub.items])
        old_cost = float(kinds.cost[best.worker_kind[workers]].sum())
        old_left = int(weight[best.item_worker == target].sum())
        remaining = deadline - time.perf_counter()
        if options.deterministic:
            sol = solve_sub(instance, sub, options, remaining, det_limit=options.lns_step_s)
        else:
            sol = solve_sub(instance, sub, options, min(options.lns_step_s, remaining))
        accepted = False
        if sol.status.has_solution:
            new_left = int(sum(weight[i] for j, i in enumerate(sub.items) if sol.item_worker[j] == 0))
            used = np.unique(sol.item_worker)
            new_cost = float(kinds.cost[sol.worker_kind[used]].sum())
            if new_cost < old_cost - 1e-6 or (new_cost <= old_cost + 1e-6 and new_left < old_left):
                cand = _apply(instance, best, sub, sol, workers)
                if violated_slots(instance, cand).size:
                    stats["lns_rejected"] = stats.get("lns_rejected", 0) + 1
                else:
                    emptied += int(new_left == 0)
                    best = cand
                    improved += 1
                    accepted = True
        misses = 0 if accepted else misses + 1
    stats.update(lns_iterations=iterations, lns_improvements=improved, lns_emptied=emptied)
    return compact(instance, best)


# Neighbourhood search: failures in a row before the target changes; steps a given-up target rests.
_PATIENCE = 4
_TABU = 20
_SURROGATE_RETRIES = 3  # re-solves of the exact model with an inflated stand-in of the chance rule


def _shrink(instance, plan, options, deadline, stats, bound):
    """The fleet-shrinking search on its share of the time left (see :mod:`models.packing.shrink`)."""
    exact = len(instance.items()) <= options.exact_max_items
    now = time.perf_counter()
    stop = now + options.shrink_share * max(deadline - now, 0.0)
    shrink_opts = ShrinkOptions(attempt_moves=options.shrink_moves, seed=options.seed,
                                escalate=not (exact or options.deterministic))
    plan = shrink_fleet(instance, plan, stop, shrink_opts, stats, bound=bound * (1 + options.mip_gap))
    stats["shrink_cost"] = packing_cost(instance, plan)
    stats["shrink_s"] = time.perf_counter() - now
    return plan


def solve_packing(instance: PackingInstance, backend: str = "cpsat", options: SolveOptions | None = None,
                  affinity: np.ndarray | None = None, max_lns_iterations: int | None = None) -> PackingResult:
    """Pack ``instance`` with ``backend`` (one of :data:`BACKENDS`) and verify the plan.

    Args:
        instance: the packing instance.
        backend: ``cpsat``, ``milp``, ``heuristic`` or ``peak``.
        options: time limit, threads, seed, gap; defaults to :class:`SolveOptions()`.
        affinity: optional ``[group, group]`` complementarity scores passed to the greedy.
        max_lns_iterations: cap on neighbourhoods (for reproducible runs independent of speed).

    Returns:
        A :class:`PackingResult`; ``bound`` is the best of the solver's bound and
        :func:`~models.packing.bounds.fleet_bound`; ``stats`` holds the heuristic and peak-based costs,
        every bound and the search counters.
    """
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    options = options or SolveOptions()
    t0 = time.perf_counter()
    balance = backend in ("cpsat", "milp") and options.balance_moves > 0
    final_deadline = t0 + options.time_limit_s
    deadline = final_deadline - (options.balance_share * options.time_limit_s if balance else 0.0)
    stats: dict = {"items": len(instance.items()), "groups": instance.n_groups,
                   "slots": len(instance.slots)}
    lb = _bounds.lower_bound(instance)
    stats.update(bound_aggregate=lb["aggregate"], bound_fleet=lb["fleet"])
    bound = lb["best"]
    status = SolveStatus.FEASIBLE
    message = ""
    try:
        peak = peak_ffd(instance)
        stats["peak_cost"] = packing_cost(instance, peak)
    except HeuristicFailure as exc:
        peak, stats["peak_cost"] = None, float("nan")
        message = f"peak-based packing failed: {exc}"
    if backend == "peak":
        plan = peak
    else:
        try:
            plan = best_heuristic(instance, affinity)
            stats["heuristic_cost"] = packing_cost(instance, plan)
        except HeuristicFailure as exc:
            plan, stats["heuristic_cost"] = None, float("nan")
            message = f"greedy packing failed: {exc}"
        stats["heuristic_s"] = time.perf_counter() - t0
        if backend in ("cpsat", "milp"):
            if plan is not None and options.shrink_share > 0:
                plan = _shrink(instance, plan, options, deadline, stats, bound)
            if len(instance.items()) <= options.exact_max_items:
                plan, solver_bound, status = _exact(instance, backend, options, plan, deadline, stats)
                if np.isfinite(solver_bound):
                    bound = max(bound, solver_bound)
            elif plan is not None:
                plan = _lns(instance, backend, options, plan, deadline, stats, max_lns_iterations, bound)
            if plan is not None and balance:
                plan = balance_load(instance, plan, final_deadline, options.balance_moves,
                                    options.balance_ceiling, options.seed, stats)
    runtime = time.perf_counter() - t0
    if plan is None:
        if status not in (SolveStatus.INFEASIBLE, SolveStatus.TIMED_OUT):
            status = SolveStatus.TIMED_OUT if backend in ("cpsat", "milp") else SolveStatus.ERROR
        return PackingResult(status, backend, float("nan"), bound, runtime, message=message or str(status), stats=stats)
    cost = packing_cost(instance, plan)
    placements, workers = to_placements(instance, plan)
    result = PackingResult(status, backend, cost, min(bound, cost), runtime, placements, workers, message, stats)
    violations = find_violations(instance, result)
    if violations:
        return PackingResult(SolveStatus.ERROR, backend, float("nan"), bound, runtime,
                             message="verifier rejected the plan: " + "; ".join(str(v) for v in violations[:5]),
                             stats=stats)
    if status == SolveStatus.FEASIBLE and cost <= bound * (1 + options.mip_gap) + 1e-9:
        result = PackingResult(SolveStatus.OPTIMAL, backend, cost, min(bound, cost), runtime, placements, workers,
                               message, stats)
    return result
