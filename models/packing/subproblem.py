"""The exact model's data, shared by the CP-SAT and MILP backends.

A sub-problem is a set of items to place on a pool of empty workers, each pool worker belonging to
one isolation class. The full instance is the sub-problem with every item and one pool worker per
item (enough for any plan); the large-neighbourhood search uses a few workers' items at a time.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from models.packing.instance import PackingInstance
from models.packing.solution import Packing

__all__ = ["SubProblem", "full_problem", "neighbourhood_problem"]


@dataclass(frozen=True)
class SubProblem:
    """Items (global indices, ordered by class then decreasing size), pool, slots and side rules.

    ``rank[j]`` is item ``j``'s position among the items of its class: with workers numbered by their
    first item, item ``j`` can only sit on the class's pool workers ``0..rank[j]`` (symmetry breaking).
    ``type_limit[k]`` is how many servers of type ``k`` the sub-problem may use; ``spread_need`` maps a
    customer index to the distinct workers it still needs here. ``hint_*`` is a plan to start from,
    renumbered to satisfy the symmetry breaking. With ``symmetry=False`` (neighbourhoods) any item may
    take any pool worker of its class and ``target_weight[j]`` is the (integer) price of leaving
    item ``j`` on pool worker 0, the worker the search tries to empty: the objective becomes
    ``cost * M + sum_j target_weight[j] x[j, 0]`` with ``M`` larger than the second term.
    ``demand`` (``[item, slot, resource]``, all slots) replaces the items' demand in the capacity
    rows (the chord relaxation of the chance constraint, see :mod:`models.packing.solve`), and each
    of ``cuts`` ``(positions, kinds)`` forbids the items at those positions to share a pool worker
    of one of those kinds: ``sum_{j in S} x[j, p] <= |S| - 1 + sum_{k not in kinds} y[p, k]``.
    """

    items: np.ndarray
    rank: np.ndarray
    pool_class: np.ndarray
    slots: np.ndarray
    type_limit: np.ndarray
    spread_need: dict
    hint_item_worker: np.ndarray | None = None
    hint_worker_kind: np.ndarray | None = None
    symmetry: bool = True
    target_weight: np.ndarray | None = None
    demand: np.ndarray | None = None
    cuts: tuple = ()

    def item_demand(self, instance: PackingInstance) -> np.ndarray:
        """``[item, slot, resource]`` demand of the sub-problem's items in the capacity rows."""
        return instance.items().demand[self.items] if self.demand is None else self.demand

    def pool_of(self, cls: int) -> np.ndarray:
        """Pool workers of isolation class ``cls``, in order."""
        return np.flatnonzero(self.pool_class == cls)


def _order_items(instance: PackingInstance, items: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    it = instance.items()
    size = (it.standalone()[items] / instance.capacity.max(axis=0)[None, None, :]).max(axis=(1, 2))
    order = np.lexsort((items, -size, it.iso_class[items]))
    items = items[order]
    rank = np.zeros(len(items), dtype=np.int64)
    for c in np.unique(it.iso_class[items]):
        sel = np.flatnonzero(it.iso_class[items] == c)
        rank[sel] = np.arange(len(sel))
    return items, rank


def _renumber_hint(instance, items, pool_class, item_worker_global, worker_kind_global):
    """Map a global plan of ``items`` onto pool workers numbered by first item within each class."""
    it = instance.items()
    local_w = np.full(len(items), -1, dtype=np.int64)
    kind = np.full(len(pool_class), -1, dtype=np.int64)
    for c in np.unique(it.iso_class[items]):
        pool = np.flatnonzero(pool_class == c)
        mapping: dict[int, int] = {}
        for j in np.flatnonzero(it.iso_class[items] == c):
            g = int(item_worker_global[items[j]])
            if g not in mapping:
                if len(mapping) >= len(pool):
                    return None, None
                mapping[g] = int(pool[len(mapping)])
                kind[mapping[g]] = worker_kind_global[g]
            local_w[j] = mapping[g]
    return local_w, kind


def full_problem(instance: PackingInstance, slots: np.ndarray, hint: Packing | None = None,
                 pool_size: dict | None = None) -> SubProblem:
    """Every item, a pool of one worker per item in each class (or ``pool_size[class]``)."""
    it = instance.items()
    items, rank = _order_items(instance, np.arange(len(it)))
    pool_class = []
    for c in range(len(instance.isolation_classes)):
        n = int((it.iso_class == c).sum())
        if pool_size is not None:
            n = min(n, pool_size.get(c, n))
        pool_class += [c] * n
    pool_class = np.array(pool_class, dtype=np.int64)
    need = {ci: s for ci, c in enumerate(instance.customers) if (s := instance.customer_spread()[c]) > 1}
    hw = hk = None
    if hint is not None:
        hw, hk = _renumber_hint(instance, items, pool_class, hint.item_worker, hint.worker_kind)
    return SubProblem(items, rank, pool_class, np.asarray(slots), instance.max_count.copy(), need, hw, hk)


def neighbourhood_problem(instance: PackingInstance, packing: Packing, workers: np.ndarray,
                          slots: np.ndarray, target_weight: np.ndarray | None = None) -> SubProblem:
    """Re-pack the items of ``workers`` (one isolation class, the first is the one to empty) onto
    as many pool workers; pool worker ``p`` starts as ``workers[p]``."""
    it, kinds = instance.items(), instance.kinds()
    workers = np.asarray(workers, dtype=np.int64)
    inside = np.isin(packing.item_worker, workers)
    items = np.flatnonzero(inside)
    cls = int(it.iso_class[items[0]])
    pool_class = np.full(len(workers), cls, dtype=np.int64)
    rank = np.full(len(items), len(workers) - 1, dtype=np.int64)
    outside_workers = np.setdiff1d(np.unique(packing.item_worker), workers)
    used_types = np.bincount(kinds.server_type[packing.worker_kind[outside_workers]],
                             minlength=len(instance.server_types))
    limit = np.maximum(instance.max_count - used_types, 0)
    need = {}
    spread = instance.customer_spread()
    for ci in np.unique(it.customer[items]):
        s = spread[instance.customers[ci]]
        if s > 1:
            held = np.unique(packing.item_worker[(it.customer == ci) & ~inside])
            if s - len(held) > 0:
                need[int(ci)] = s - len(held)
    pos = {int(w): p for p, w in enumerate(workers)}
    hw = np.array([pos[int(packing.item_worker[i])] for i in items], dtype=np.int64)
    hk = packing.worker_kind[workers].copy()
    tw = None if target_weight is None else np.asarray(target_weight)[items]
    return SubProblem(items, rank, pool_class, np.asarray(slots), limit, need, hw, hk,
                      symmetry=False, target_weight=tw)


@dataclass(frozen=True)
class SubSolution:
    """A backend's answer to a :class:`SubProblem`.

    ``item_worker[j]`` is the pool worker of ``sub.items[j]``; ``worker_kind[p]`` the kind of pool
    worker ``p`` (``-1`` when unused). ``objective``/``bound`` are server costs.
    """

    status: "SolveStatus"  # noqa: F821 (models.packing.result.SolveStatus)
    item_worker: np.ndarray | None
    worker_kind: np.ndarray | None
    objective: float
    bound: float
    runtime_s: float
    message: str = ""


def allowed_pairs(instance: PackingInstance, sub: SubProblem) -> list[tuple[int, int]]:
    """``(j, p)`` pairs an item may take: same class, pool position <= the item's rank."""
    it = instance.items()
    pairs = []
    for j, i in enumerate(sub.items):
        pool = sub.pool_of(int(it.iso_class[i]))
        for p in pool[: int(sub.rank[j]) + 1]:
            pairs.append((j, int(p)))
    return pairs


def shard_sets(instance: PackingInstance, sub: SubProblem) -> dict[int, list[int]]:
    """Sub-problem items of each sharded group (``group index -> item positions``): the shards
    that must land on distinct workers."""
    it = instance.items()
    sets: dict[int, list[int]] = {}
    for j, i in enumerate(sub.items):
        if it.n_shards[i] > 1:
            sets.setdefault(int(it.group[i]), []).append(j)
    return sets
