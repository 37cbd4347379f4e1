"""Internal plan representation shared by the heuristics and solvers: item -> worker, worker -> kind."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from models.packing.instance import PackingInstance
from models.packing.result import Placement

__all__ = ["Packing", "to_placements", "packing_cost", "compact", "violated_slots", "is_valid", "worker_state",
           "kinds_for", "worker_loads"]


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


def worker_loads(instance: PackingInstance, packing: Packing) -> np.ndarray:
    """``[worker, slot, resource]`` loads (the chance constraint's ``M + z sqrt(V)`` where the
    instance has one; see :meth:`PackingInstance.effective_loads`)."""
    return instance.effective_loads(packing.item_worker, len(packing.worker_kind))


def violated_slots(instance: PackingInstance, packing: Packing) -> np.ndarray:
    """Slots (indices) where some worker of ``packing`` exceeds its kind's capacity."""
    kinds = instance.kinds()
    loads = worker_loads(instance, packing)
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
    peaks = instance.effective_loads(item_worker, len(worker_kind)).max(axis=1)  # [W, R]
    for w in range(len(worker_kind)):
        members = np.flatnonzero(item_worker == w)
        load = peaks[w]
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


def is_valid(instance: PackingInstance, packing: Packing) -> bool:
    """Recheck from scratch what the moves maintain: capacity on every slot, spread, distinct shards,
    one isolation class and accepted headroom per worker."""
    it, kinds = instance.items(), instance.kinds()
    if violated_slots(instance, packing).size:
        return False
    w = packing.item_worker
    if np.any(kinds.level[packing.worker_kind[w]] < it.headroom - 1e-12):
        return False
    pairs = np.unique(np.stack([w, it.group]), axis=1)
    if pairs.shape[1] != len(w):
        return False  # two shards of a group on one worker
    classes = np.unique(np.stack([w, it.iso_class]), axis=1)
    if len(np.unique(classes[0])) != classes.shape[1]:
        return False  # a worker with two isolation classes
    spread = instance.customer_spread()
    for ci, c in enumerate(instance.customers):
        if spread[c] > 1 and len(np.unique(w[it.customer == ci])) < spread[c]:
            return False
    return True


def worker_state(instance: PackingInstance, packing: Packing, unit: np.ndarray):
    """Loads ``[W, T, R]`` (divided by ``unit`` per resource), server type, level (strictest
    headroom) and class of each worker."""
    it, kinds = instance.items(), instance.kinds()
    n_w = len(packing.worker_kind)
    loads = worker_loads(instance, packing) / np.asarray(unit)[None, None, :]
    level = np.zeros(n_w)
    np.maximum.at(level, packing.item_worker, it.headroom)
    worker_class = np.zeros(n_w, dtype=np.int64)
    worker_class[packing.item_worker] = it.iso_class
    return loads, kinds.server_type[packing.worker_kind], level, worker_class


def kinds_for(instance: PackingInstance, stype: np.ndarray, level: np.ndarray) -> np.ndarray:
    """The kind (server type x headroom level) of each worker; levels are item headrooms, so they
    are among the instance's kinds."""
    kinds = instance.kinds()
    out = np.zeros(len(stype), dtype=np.int64)
    for w, (t, lv) in enumerate(zip(stype, level)):
        match = np.flatnonzero((kinds.server_type == t) & np.isclose(kinds.level, lv, atol=1e-12))
        out[w] = match[0] if match.size else int(np.flatnonzero(kinds.server_type == t)[-1])
    return out
