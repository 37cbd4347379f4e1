"""Shrink a fleet: take one worker away (or make it a cheaper server type), then repair the overflow.

A verified plan with ``B`` workers is turned into one with ``B - 1`` (or with one worker of a cheaper
type) in three steps:

1. *change*: close worker ``w`` (its items are re-inserted one by one, largest first, where they
   add the least overflow), give it a cheaper server type, whose smaller capacity leaves it
   overfull, or *exchange* ``j`` workers (1-3, of one isolation class) for ``j + 1`` workers of a
   type that is cheaper per unit of capacity (``(j + 1) cost_t < cost of the j``): the ``j`` take
   the new type and one empty worker of it is added;
2. *repair*: tabu search on the infeasible plan (:class:`~models.packing.repair.OverflowRepair`)
   until no worker overflows in any slot and every spread rule holds;
3. *accept* when the repair succeeds and a check from scratch agrees; otherwise keep the old plan
   and try another change.

Removals come first, emptiest worker first; when ``patience`` of them have failed in a row,
downgrades and exchanges, smallest overflow per unit of saving first (the overflow of an exchange is
estimated on the pooled load of its workers). Removals and downgrades alone never add a worker, so
without exchanges a plan of large servers could not reach a catalog's cheaper, smaller type. This is the classic way to minimise bins
(reduce by one, repair by local search): it evaluates hundreds of moves a second where an exact
neighbourhood solve takes a second or more. Deterministic for a given seed and move budget; the
deadline only cuts it short.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from models.packing.instance import PackingInstance
from models.packing.repair import OverflowRepair
from models.packing.solution import Packing, compact, is_valid, kinds_for, packing_cost, worker_state

__all__ = ["ShrinkOptions", "shrink_fleet"]


@dataclass(frozen=True)
class ShrinkOptions:
    """Budget of :func:`shrink_fleet`.

    Args:
        attempt_moves: repair moves per change before it is given up.
        patience: changes that fail in a row before the search stops.
        max_moves: total repair moves (``None``: until ``patience`` or the deadline).
        swap_workers: workers whose items are tried as swap partners of an overfull worker's items
            (those with the most free capacity where it overflows, plus a few at random).
        escalate: when every candidate change has failed, double ``attempt_moves`` and try them
            again (until the deadline or ``max_moves``); otherwise stop.
        seed: random seed (choice of the overfull worker, tabu tenure, random swap partners).
        stall_moves: a change is given up after this many repair moves in a row that did not lower
            its best infeasibility (``None``: only ``attempt_moves`` ends it). Measured: the removals
            that succeeded went at most 45 moves without improving, while failing changes mostly sat
            stuck for the rest of their budget (docs/benchmarks.md).
    """

    attempt_moves: int = 1000
    patience: int = 4
    max_moves: int | None = None
    swap_workers: int = 12
    escalate: bool = True
    seed: int = 0
    stall_moves: int | None = None

    def __post_init__(self) -> None:
        if self.attempt_moves < 1 or self.patience < 1 or self.swap_workers < 1:
            raise ValueError("attempt_moves, patience and swap_workers must be >= 1")
        if self.stall_moves is not None and self.stall_moves < 1:
            raise ValueError(f"stall_moves must be >= 1 or None, got {self.stall_moves}")


@dataclass
class _Counters:
    moves: int = 0
    attempts: int = 0
    removed: int = 0
    downsized: int = 0
    exchanged: int = 0
    log: list = field(default_factory=list)


def shrink_fleet(instance: PackingInstance, packing: Packing, deadline: float,
                 options: ShrinkOptions | None = None, stats: dict | None = None,
                 bound: float = 0.0) -> Packing:
    """Repeatedly remove or downsize one worker of a valid ``packing`` and repair (module docstring).

    Stops when removals and downgrades have each failed ``patience`` times in a row (with
    ``escalate``, the repair budget then doubles and they are tried again), at ``options.max_moves``
    moves, at ``deadline`` (``time.perf_counter()``) or once the cost reaches ``bound`` (a proven
    lower bound). Returns a compacted packing that is never costlier than ``packing``; every accepted
    step has been checked against the full slot grid and every rule. ``stats`` receives ``shrink_*``
    counters and ``shrink_history`` (seconds, cost) of every improvement.
    """
    options = options or ShrinkOptions()
    rng = np.random.default_rng(options.seed)
    unit = instance.capacity.max(axis=0)
    best = compact(instance, packing)
    count = _Counters()
    start = time.perf_counter()
    failed: set[tuple[int, int]] = set()
    attempt_moves = options.attempt_moves
    while time.perf_counter() < deadline and packing_cost(instance, best) > bound + 1e-9:
        if options.max_moves is not None and count.moves >= options.max_moves:
            break
        change = _next_change(instance, best, unit, failed, options.patience)
        if change is None:
            if not options.escalate:
                break
            # Every candidate failed: try them again with twice the repair budget.
            attempt_moves *= 2
            failed.clear()
            continue
        ws, new_type = change
        count.attempts += 1
        budget = attempt_moves
        if options.max_moves is not None:
            budget = min(budget, options.max_moves - count.moves)
        cand, moves = _attempt(instance, best, unit, ws, new_type, rng, options, budget, deadline)
        count.moves += moves
        if cand is not None and is_valid(instance, cand) \
                and packing_cost(instance, cand) < packing_cost(instance, best) - 1e-9:
            best = compact(instance, cand)
            failed.clear()
            count.log.append((round(time.perf_counter() - start, 2), packing_cost(instance, best)))
            if new_type < 0:
                count.removed += 1
            elif len(ws) == 1 and not _exchange(ws):
                count.downsized += 1
            else:
                count.exchanged += 1
        else:
            failed.add(change)
    if stats is not None:
        stats.update(shrink_attempts=count.attempts, shrink_moves=count.moves, shrink_removed=count.removed,
                     shrink_downsized=count.downsized, shrink_exchanged=count.exchanged, shrink_history=count.log)
    return best


# A change is ``(workers, type)``: ``((w,), -1)`` removes w, ``((w,), t)`` downsizes it to type t,
# ``((w1, .., wj, _ADD), t)`` gives them type t and adds one empty worker of type t.
_ADD = -1
_EXCHANGE_MAX = 3  # workers exchanged at once for one more of a cheaper type


def _exchange(ws) -> bool:
    return len(ws) > 0 and ws[-1] == _ADD


def _next_change(instance, packing, unit, failed, patience):
    """The next change to try (see ``_ADD``), or ``None`` when every candidate has failed."""
    loads, stype, level, worker_class = worker_state(instance, packing, unit)
    type_cap = instance.capacity / unit[None, :]  # [S, R]
    cost = instance.cost
    cap = type_cap[stype] * (1.0 - level)[:, None]
    if sum(1 for _, t in failed if t < 0) < patience:
        # Emptiest first: the largest mean share of a resource.
        fill = (loads.mean(axis=1) / cap).max(axis=1)
        for w in np.argsort(fill, kind="stable"):
            if ((int(w),), -1) not in failed:
                return (int(w),), -1
    if sum(1 for _, t in failed if t >= 0) >= patience:
        return None
    used = np.bincount(stype, minlength=len(instance.server_types))
    candidates = []
    for w in range(len(stype)):
        for t in range(len(instance.server_types)):
            saving = cost[stype[w]] - cost[t]
            if saving <= 1e-9 or ((w,), t) in failed or used[t] >= instance.max_count[t]:
                continue
            excess = loads[w] - type_cap[t][None, :] * (1.0 - level[w])
            candidates.append((float(np.maximum(excess, 0.0).sum()) / saving, (w,), t))
    candidates += _exchanges(instance, loads, stype, level, worker_class, type_cap, used, failed)
    if not candidates:
        return None
    _, ws, t = min(candidates)
    return tuple(int(w) for w in ws), int(t)


def _exchanges(instance, loads, stype, level, worker_class, type_cap, used, failed) -> list:
    """Exchange candidates ``(pooled overflow / saving, workers + (_ADD,), type)``: per class, type
    ``t`` and ``j``, the ``j`` costliest workers dearer than ``t`` (the emptiest among equals)."""
    cost = instance.cost
    fill = (loads.max(axis=1) / np.maximum(type_cap[stype] * (1.0 - level)[:, None], 1e-12)).max(axis=1)
    out = []
    for c in np.unique(worker_class):
        mine = np.flatnonzero(worker_class == c)
        for t in range(len(instance.server_types)):
            dear = mine[cost[stype[mine]] > cost[t] + 1e-9]
            dear = dear[np.lexsort((fill[dear], -cost[stype[dear]]))]
            for j in range(1, min(_EXCHANGE_MAX, dear.size) + 1):
                ws = dear[:j]
                saving = float(cost[stype[ws]].sum() - (j + 1) * cost[t])
                key = (tuple(int(w) for w in ws) + (_ADD,), t)
                if saving <= 1e-9 or key in failed:
                    continue
                if used[t] + int((stype[ws] != t).sum()) + 1 > instance.max_count[t]:
                    continue
                pooled = loads[ws].sum(axis=0) - (j + 1) * type_cap[t][None, :] * (1.0 - level[ws].max())
                out.append((float(np.maximum(pooled, 0.0).sum()) / saving, key[0], t))
    return out


def _attempt(instance, packing, unit, ws, new_type, rng, options, budget, deadline):
    """Apply one change and repair; the repaired packing or ``None``, and the moves used."""
    _, stype, _, worker_class = worker_state(instance, packing, unit)
    stype = stype.copy()
    item_worker = packing.item_worker
    if _exchange(ws):
        ws = ws[:-1]
        stype[list(ws)] = new_type
        stype = np.append(stype, new_type)  # the added worker, empty
        worker_class = np.append(worker_class, worker_class[ws[0]])
    elif new_type >= 0:
        stype[ws[0]] = new_type
    open_ = np.ones(len(stype), dtype=bool)
    type_cap = instance.capacity[stype] / unit[None, :]
    removed = ws[0] if new_type < 0 else -1
    if removed >= 0:
        open_[removed] = False
        type_cap[removed] = 0.0
    repair = OverflowRepair(instance, unit, item_worker, type_cap, open_, worker_class, rng,
                            options.swap_workers)
    if removed >= 0:
        members = np.flatnonzero(repair.w_of == removed)
        size = instance.items().standalone()[members] / unit[None, None, :]
        for i in members[np.argsort(-size.sum(axis=(1, 2)), kind="stable")]:
            if not repair.insert(int(i), removed):
                return None, 0
    ok, moves = repair.run(budget, deadline, options.stall_moves)
    if not ok:
        return None, moves
    return Packing(repair.w_of.copy(), kinds_for(instance, stype, repair.level)), moves
