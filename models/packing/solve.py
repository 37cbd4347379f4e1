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

On a chance-constrained instance the backends see the chord relaxation of the chance constraint
(:func:`~models.packing.bounds.chord_demand`, linear, satisfied by every real plan) plus *cover cuts*:
each plan a backend returns is checked under the real rule; for every worker that overflows, its
items are reduced to a minimal set that still overflows the worker's kinds, and a cut forbids that
set on a worker of those kinds; the model is solved again until its plan holds (lazy constraint
generation). When no two groups are negatively correlated, feasibility is monotone (a set that
overflows overflows with anything added), so the cuts remove no real plan: the procedure is exact
and the backend's bound is a bound. With negative correlations a cut may remove real plans (never
an invalid one is accepted) and the bounds are not used.
"""

from __future__ import annotations

import dataclasses
import time

import numpy as np

from models.packing import bounds as _bounds
from models.packing.balance import balance_load
from models.packing.heuristics import HeuristicFailure, best_heuristic, peak_ffd
from models.packing.instance import PackingInstance, dominant_slots, sum_by
from models.packing.prices import dual_prices
from models.packing.repair import release_cross_tables
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


def infeasible_sets(instance: PackingInstance, packing: Packing, workers=None) -> list[tuple[tuple[int, ...], tuple[int, ...]]]:
    """Cover cuts of a plan (module docstring): for each worker of ``packing`` (or of ``workers``)
    that overflows, ``(items, kinds)``: a minimal subset of its items that still overflows every kind
    in ``kinds`` (the kinds too small or too strict for the worker's whole set). Items are dropped
    smallest first while the rest still overflows those kinds."""
    kinds = instance.kinds()
    it = instance.items()
    cap = kinds.capacity  # [K, R]
    size = (it.standalone() / instance.capacity.max(axis=0)[None, None, :]).max(axis=(1, 2))
    out = []
    ws = np.unique(packing.item_worker) if workers is None else workers
    for w in ws:
        members = np.flatnonzero(packing.item_worker == w)
        if members.size == 0:
            continue
        load = instance.set_load(members)  # [T, R]
        bad = np.flatnonzero((load[None] > cap[:, None, :] * (1 + 1e-9) + 1e-12).any(axis=(1, 2)))
        if int(packing.worker_kind[w]) not in bad:
            continue
        keep = list(members[np.argsort(-size[members], kind="stable")])
        for i in sorted(members, key=lambda i: (size[i], i)):
            if len(keep) <= 1:
                break
            rest = [j for j in keep if j != i]
            rest_load = instance.set_load(np.array(rest))
            if np.all((rest_load[None] > cap[bad][:, None, :] * (1 + 1e-9) + 1e-12).any(axis=(1, 2))):
                keep = rest
        out.append((tuple(sorted(int(i) for i in keep)), tuple(int(k) for k in bad)))
    return out


def _with_cuts(sub, cut_pool, instance) -> object:
    """``sub`` with the chord relaxation as demand and the pool's cuts among its items."""
    from models.packing.bounds import chord_demand

    pos = {int(i): j for j, i in enumerate(sub.items)}
    cuts = tuple((tuple(pos[i] for i in items), kinds) for items, kinds in cut_pool if all(i in pos for i in items))
    return dataclasses.replace(sub, demand=chord_demand(instance)[sub.items], cuts=cuts)


def _initial_slots(instance: PackingInstance, candidates: np.ndarray, demand: np.ndarray | None = None) -> np.ndarray:
    it = instance.items()
    d = (it.demand if demand is None else demand)[:, candidates, :]
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
    if instance.chance:
        return _exact_chance(instance, backend, options, start, deadline, stats)
    solve_sub = _sub_solver(backend)
    candidates = dominant_slots(instance.items().demand)
    slots = _initial_slots(instance, candidates)
    best, best_cost = start, (packing_cost(instance, start) if start is not None else np.inf)
    bound, status = -np.inf, SolveStatus.TIMED_OUT
    rounds = 0
    while True:
        rounds += 1
        remaining = deadline - time.perf_counter()
        if remaining <= 0.05:
            _clock_stop(options, stats, "exact model")
            break
        sub = full_problem(instance, slots, hint=best)
        sol = solve_sub(instance, sub, options, remaining, det_limit=_exact_det_limit(options))
        if sol.status == SolveStatus.INFEASIBLE:
            status = SolveStatus.INFEASIBLE
            break
        if np.isfinite(sol.bound):
            bound = max(bound, sol.bound)  # a bound on a subset of the constraints is a bound
        if not sol.status.has_solution:
            status = sol.status if best is None else SolveStatus.FEASIBLE
            break
        item_worker = np.empty(len(sub.items), dtype=np.int64)
        item_worker[sub.items] = sol.item_worker
        kinds_of = np.where(sol.worker_kind >= 0, sol.worker_kind, 0)
        cand = Packing(item_worker, kinds_of)
        bad = np.setdiff1d(violated_slots(instance, cand), slots)
        if bad.size:
            # Add the violated slots and re-solve (the solver never saw them).
            slots = np.union1d(slots, bad)
            stats["slots_added"] = stats.get("slots_added", 0) + int(bad.size)
            continue
        cand = compact(instance, cand)
        cost = packing_cost(instance, cand)
        if cost <= best_cost + 1e-9:
            best, best_cost = cand, cost
        status = SolveStatus.OPTIMAL if sol.status == SolveStatus.OPTIMAL else SolveStatus.FEASIBLE
        break
    stats.update(rounds=rounds, slots_used=int(len(slots)), slots_nondominated=int(len(candidates)))
    if best is not None and status == SolveStatus.TIMED_OUT:
        status = SolveStatus.FEASIBLE
    return best, bound, status


def _exact_chance(instance, backend, options, start, deadline, stats):
    """The exact model of a chance-constrained instance: the chord relaxation on its non-dominated
    slots with cover cuts added until the plan holds (module docstring). Exact, with a valid bound,
    when the risk is monotone; otherwise a heuristic whose plans are still checked."""
    from models.packing.bounds import chord_demand

    solve_sub = _sub_solver(backend)
    monotone = instance.monotone_risk
    chord = chord_demand(instance)
    candidates = dominant_slots(chord)
    slots = _initial_slots(instance, candidates, chord)  # slot generation, as in the linear model
    best, best_cost = start, (packing_cost(instance, start) if start is not None else np.inf)
    bound, status = -np.inf, SolveStatus.TIMED_OUT
    cut_pool: list = []
    rounds = 0
    while True:
        remaining = deadline - time.perf_counter()
        if remaining <= 0.05:
            _clock_stop(options, stats, "exact model")
            break
        rounds += 1
        sub = _with_cuts(full_problem(instance, slots, hint=best), cut_pool, instance)
        sol = solve_sub(instance, sub, options, remaining, det_limit=_exact_det_limit(options))
        if sol.status == SolveStatus.INFEASIBLE:
            status = SolveStatus.INFEASIBLE if monotone else (SolveStatus.FEASIBLE if best is not None else status)
            break
        if monotone and np.isfinite(sol.bound):
            bound = max(bound, sol.bound)  # a bound of a relaxation is a bound
        if not sol.status.has_solution:
            status = sol.status if best is None else SolveStatus.FEASIBLE
            break
        item_worker = np.empty(len(sub.items), dtype=np.int64)
        item_worker[sub.items] = sol.item_worker
        cand = Packing(item_worker, np.where(sol.worker_kind >= 0, sol.worker_kind, 0))
        loads = sum_by(cand.item_worker, chord, len(cand.worker_kind))
        over = loads > instance.kinds().capacity[cand.worker_kind][:, None, :] * (1 + 1e-9) + 1e-12
        missing = np.setdiff1d(np.flatnonzero(over.any(axis=(0, 2))), slots)
        if missing.size:  # the relaxation itself fails on slots the model did not see
            slots = np.union1d(slots, missing)
            stats["slots_added"] = stats.get("slots_added", 0) + int(missing.size)
            continue
        cuts = infeasible_sets(instance, cand)
        if cuts:
            cut_pool += cuts
            stats["chance_cuts"] = stats.get("chance_cuts", 0) + len(cuts)
            continue
        cand = compact(instance, cand)
        cost = packing_cost(instance, cand)
        if cost <= best_cost + 1e-9:
            best, best_cost = cand, cost
        optimal = sol.status == SolveStatus.OPTIMAL and monotone
        status = SolveStatus.OPTIMAL if optimal else SolveStatus.FEASIBLE
        break
    stats.update(rounds=rounds, slots_used=int(len(slots)), slots_nondominated=int(len(candidates)))
    if best is not None and status == SolveStatus.TIMED_OUT:
        status = SolveStatus.FEASIBLE
    return best, bound, status


def _exact_det_limit(options) -> float | None:
    """CP-SAT's deterministic-time budget of the exact model in deterministic mode (as much as the
    neighbourhood steps it stands in for), else ``None`` (the wall clock decides)."""
    if not options.deterministic:
        return None
    return options.lns_step_s * max(options.lns_max_iterations or 0, 10)


def _clock_stop(options, stats: dict, phase: str) -> None:
    """Record that ``phase`` stopped at the wall clock. In deterministic mode that is news: the
    counted budget did not finish, so the plan can differ from run to run (the pipeline reports it)."""
    if options.deterministic:
        stats.setdefault("clock_stops", []).append(phase)


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
    cut_pool: list = []  # cover cuts of the chance constraint, kept for later neighbourhoods
    if instance.chance:
        from models.packing.bounds import chord_demand

        row_demand = chord_demand(instance)
    else:
        row_demand = it.demand
    if max_iterations is None:
        max_iterations = options.lns_max_iterations
    iterations = improved = emptied = stalled = 0
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
        slots = dominant_slots(row_demand[members])
        sub = neighbourhood_problem(instance, best, workers, slots, weight)
        old_cost = float(kinds.cost[best.worker_kind[workers]].sum())
        old_left = int(weight[best.item_worker == target].sum())
        sol = _solve_step(instance, solve_sub, sub, options, deadline, cut_pool, stats)
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
        stalled = 0 if accepted else stalled + 1
        if options.lns_stall is not None and stalled >= options.lns_stall:
            break  # that many neighbourhoods in a row found nothing: the rest would be spent the same way
    if max_iterations is not None and iterations < max_iterations and time.perf_counter() >= deadline - 0.1:
        _clock_stop(options, stats, f"neighbourhood search ({iterations} of {max_iterations} steps)")
    stats.update(lns_iterations=iterations, lns_improvements=improved, lns_emptied=emptied)
    return compact(instance, best)


def _solve_step(instance, solve_sub, sub, options, deadline, cut_pool, stats):
    """One neighbourhood solve; on a chance-constrained instance with cover cuts until its plan
    holds (rounds share the step's time; the cuts found join ``cut_pool``)."""
    def once(problem):
        remaining = deadline - time.perf_counter()
        if options.deterministic:
            return solve_sub(instance, problem, options, remaining, det_limit=options.lns_step_s)
        return solve_sub(instance, problem, options, min(options.lns_step_s, remaining))

    if not instance.chance:
        return once(sub)
    step_end = time.perf_counter() + options.lns_step_s
    rounds = 0
    while True:
        rounds += 1
        sol = once(_with_cuts(sub, cut_pool, instance))
        if not sol.status.has_solution:
            return sol
        local = Packing(np.asarray(sol.item_worker, dtype=np.int64), np.where(sol.worker_kind >= 0, sol.worker_kind, 0))
        sub_inst_cuts = []
        for items_local, bad in _local_cuts(instance, sub, local):
            sub_inst_cuts.append((tuple(int(sub.items[j]) for j in items_local), bad))
        if not sub_inst_cuts:
            return sol
        cut_pool += sub_inst_cuts
        stats["chance_cuts"] = stats.get("chance_cuts", 0) + len(sub_inst_cuts)
        out_of_budget = rounds >= _CUT_ROUNDS if options.deterministic else time.perf_counter() >= step_end
        if out_of_budget or time.perf_counter() >= deadline - 0.1:
            return dataclasses.replace(sol, status=SolveStatus.TIMED_OUT)


def _local_cuts(instance, sub, local: Packing):
    """Cover cuts of a sub-problem's plan, in sub-problem positions."""
    pos = {int(i): j for j, i in enumerate(sub.items)}
    plan = Packing(np.full(len(instance.items()), -1, dtype=np.int64), local.worker_kind)
    plan.item_worker[sub.items] = local.item_worker
    return [(tuple(pos[i] for i in items), bad)
            for items, bad in infeasible_sets(instance, plan, workers=np.unique(local.item_worker))]


# Neighbourhood search: failures in a row before the target changes; steps a given-up target rests.
_PATIENCE = 4
_TABU = 20
# Deterministic mode: cover-cut rounds of one neighbourhood step (the wall-clock mode uses lns_step_s).
_CUT_ROUNDS = 8


def _shrink(instance, plan, options, deadline, stats, bound):
    """The fleet-shrinking search on its share of the time left (see :mod:`models.packing.shrink`)."""
    exact = len(instance.items()) <= options.exact_max_items
    now = time.perf_counter()
    if options.deterministic:  # a budget of moves; the deadline is only the run's ceiling
        stop, max_moves = deadline, options.shrink_max_moves
    else:
        stop, max_moves = now + options.shrink_share * max(deadline - now, 0.0), None
    shrink_opts = ShrinkOptions(attempt_moves=options.shrink_moves, seed=options.seed, max_moves=max_moves,
                                escalate=not (exact or options.deterministic), stall_moves=options.shrink_stall)
    plan = shrink_fleet(instance, plan, stop, shrink_opts, stats, bound=bound * (1 + options.mip_gap))
    if time.perf_counter() >= stop:
        _clock_stop(options, stats, "fleet-shrinking search")
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
    lb = _bounds.lower_bound(instance, options.chord_exact_items)
    stats.update(bound_aggregate=lb["aggregate"], bound_fleet=lb["fleet"])
    bound = lb["best"]
    status = SolveStatus.FEASIBLE
    message = ""
    peak, stats["peak_cost"] = None, float("nan")
    if backend == "peak" or options.peak_reference:
        try:
            peak = peak_ffd(instance)
            stats["peak_cost"] = packing_cost(instance, peak)
        except HeuristicFailure as exc:
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
                if time.perf_counter() >= final_deadline:
                    _clock_stop(options, stats, "load balancing")
        release_cross_tables(instance)
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
