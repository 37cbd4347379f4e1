"""Internal plan representation shared by the heuristics and solvers: item -> worker, worker -> kind."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from models.packing.instance import PackingInstance
from models.packing.result import Placement

__all__ = ["Packing", "to_placements", "packing_cost", "compact", "violated_slots"]


@dataclass
class Packing:
    """``item_worker[i]`` is the worker of item ``i``; ``worker_kind[w]`` the kind of worker ``w``."""

    item_worker: np.ndarray
    worker_kind: np.ndarray

    def copy(self) -> "Packing":
        return Packing(self.item_worker.copy(), self.worker_kind.copy())


def packing_cost(instance: PackingInstance, packing: Packing) -> float:
    """Total cost of the workers that carry at least one item."""
    kinds = instance.kinds()
    used = np.unique(packing.item_worker)
    return float(kinds.cost[packing.worker_kind[used]].sum())


def violated_slots(instance: PackingInstance, packing: Packing) -> np.ndarray:
    """Slots (indices) where some worker of ``packing`` exceeds its kind's capacity."""
    it, kinds = instance.items(), instance.kinds()
    loads = np.zeros((len(packing.worker_kind),) + it.demand.shape[1:])
    np.add.at(loads, packing.item_worker, it.demand)
    over = loads > kinds.capacity[packing.worker_kind][:, None, :] * (1 + 1e-9) + 1e-12
    return np.flatnonzero(over.any(axis=(0, 2)))


def compact(instance: PackingInstance, packing: Packing) -> Packing:
    """Drop empty workers and give each worker the cheapest kind that still holds its load.

    Workers are renumbered in order of their first (lowest-index) item, which is deterministic.
    """
    items, kinds = instance.items(), instance.kinds()
    used_sorted = []
    seen = set()
    for w in packing.item_worker:
        if w not in seen:
            seen.add(w)
            used_sorted.append(int(w))
    remap = {w: i for i, w in enumerate(used_sorted)}
    item_worker = np.array([remap[int(w)] for w in packing.item_worker], dtype=np.int64)
    worker_kind = np.array([packing.worker_kind[w] for w in used_sorted], dtype=np.int64)
    counts = np.bincount(kinds.server_type[worker_kind], minlength=len(instance.server_types))
    limit = instance.max_count
    for w in range(len(worker_kind)):
        members = np.flatnonzero(item_worker == w)
        load = items.demand[members].sum(axis=0).max(axis=0)  # [R]
        h = items.headroom[members].max()
        ok = kinds.accepts(h) & np.all(kinds.capacity >= load[None, :] - 1e-9, axis=1)
        cur = worker_kind[w]
        for k in np.argsort(kinds.cost, kind="stable"):
            if not ok[k] or kinds.cost[k] >= kinds.cost[cur]:
                continue
            st = kinds.server_type[k]
            if st != kinds.server_type[cur] and counts[st] >= limit[st]:
                continue
            counts[kinds.server_type[cur]] -= 1
            counts[st] += 1
            worker_kind[w] = k
            break
    return Packing(item_worker, worker_kind)


def to_placements(instance: PackingInstance, packing: Packing) -> tuple[tuple[Placement, ...], tuple[tuple[str, str], ...]]:
    """Placements and ``(worker_id, server_type)`` pairs of a (compacted) packing."""
    items, kinds = instance.items(), instance.kinds()
    width = max(3, len(str(len(packing.worker_kind))))
    names = [f"w{w:0{width}d}" for w in range(len(packing.worker_kind))]
    stype = [instance.server_types[kinds.server_type[k]].name for k in packing.worker_kind]
    placements = tuple(
        Placement(
            group_id=instance.group_ids[items.group[i]],
            shard=int(items.shard[i]),
            fraction=float(items.fraction[i]),
            worker_id=names[packing.item_worker[i]],
            server_type=stype[packing.item_worker[i]],
        )
        for i in range(len(items))
    )
    used = sorted(set(int(w) for w in packing.item_worker))
    return placements, tuple((names[w], stype[w]) for w in used)
