"""Complementarity-aware packing helpers on plain arrays (no packing-instance types needed).

- :func:`packing_affinity`: the pair affinity of :func:`models.profiles.complementarity.affinity`
  computed on each group's load relative to a server (Σ over resources of demand / capacity).
- :func:`complementary_order`: an item order for first fit: largest first, each followed by the
  remaining item most complementary to it, so anticorrelated pairs reach the same worker.
- :func:`peak_increase_fit`: first fit decreasing that, among the open workers the item fits on
  (every slot and resource), picks the one whose peak relative load rises least: an anticorrelated
  item fills a worker's troughs and barely raises its peak.

``demand`` is ``[groups x slots x resources]`` (≥ 0); ``capacity`` is ``[types x resources]``.
"""

from __future__ import annotations

import numpy as np

from models.profiles.complementarity import affinity as shape_affinity

__all__ = ["complementary_order", "packing_affinity", "peak_increase_fit", "fit_cost"]

_TOL = 1e-9


def _as_demand(demand) -> np.ndarray:
    d = np.asarray(demand, dtype=float)
    if d.ndim == 2:
        d = d[:, :, None]
    if d.ndim != 3 or (d < 0).any() or not np.isfinite(d).all():
        raise ValueError("demand must be a finite, non-negative [groups x slots x resources] array")
    return d


def packing_affinity(demand, capacity, *, method: str = "gain") -> np.ndarray:
    """Pair affinity ``[groups x groups]`` of the groups' relative loads (see module docstring).

    Args:
        capacity: ``[resources]`` or ``[types x resources]`` (the largest type is the reference).
    """
    d = _as_demand(demand)
    cap = np.atleast_2d(np.asarray(capacity, dtype=float)).max(axis=0)
    return shape_affinity((d / cap[None, None, :]).sum(axis=2), method=method)


def complementary_order(demand, capacity, aff: np.ndarray | None = None) -> np.ndarray:
    """Largest item first, then its most complementary remaining partner, then the next largest…

    Size = peak over slots and resources of demand / capacity (largest type). Deterministic.
    """
    d = _as_demand(demand)
    cap = np.atleast_2d(np.asarray(capacity, dtype=float)).max(axis=0)
    size = (d / cap[None, None, :]).max(axis=(1, 2))
    aff = packing_affinity(d, cap) if aff is None else np.asarray(aff, dtype=float)
    left = np.ones(len(d), dtype=bool)
    order = []
    for seed in np.argsort(-size, kind="stable"):
        if not left[seed]:
            continue
        order.append(int(seed))
        left[seed] = False
        cand = np.flatnonzero(left)
        if cand.size and aff[seed, cand].max() > 0:
            partner = int(cand[np.argmax(aff[seed, cand])])
            order.append(partner)
            left[partner] = False
    return np.array(order, dtype=np.int64)


def peak_increase_fit(demand, capacity, cost, order=None) -> tuple[np.ndarray, np.ndarray]:
    """Vector first fit that puts each item where the worker's peak relative load rises least.

    Args:
        demand: ``[groups x slots x resources]``.
        capacity: ``[types x resources]`` usable capacity of each server type.
        cost: ``[types]`` cost of one server of each type.
        order: item order (default decreasing size).

    New workers get the type that covers the whole demand most cheaply
    (``argmin_k cost_k × max_{t,r} Σ_g d / capacity_k``); at the end each worker is given the
    cheapest type that still holds its load. An item that fits no type raises ``ValueError``.

    Returns:
        ``(item_worker [groups], worker_type [workers])``.
    """
    d = _as_demand(demand)
    cap = np.atleast_2d(np.asarray(capacity, dtype=float))
    cost = np.asarray(cost, dtype=float)
    size = (d / cap.max(axis=0)[None, None, :]).max(axis=(1, 2))
    order = np.argsort(-size, kind="stable") if order is None else np.asarray(order, dtype=np.int64)
    agg = d.sum(axis=0)
    preferred = int(np.argmin(cost * (agg[None] / cap[:, None, :]).max(axis=(1, 2))))
    loads: list[np.ndarray] = []
    types: list[int] = []
    item_worker = np.full(len(d), -1, dtype=np.int64)
    for i in order:
        best, best_rise = -1, np.inf
        for w, load in enumerate(loads):
            c = cap[types[w]]
            new = load + d[i]
            if np.all(new <= c[None, :] + _TOL):
                rise = (new / c).max() - (load / c).max()
                if rise < best_rise - 1e-12:
                    best, best_rise = w, rise
        if best < 0:
            fits = [k for k in np.r_[preferred, np.argsort(cost, kind="stable")]
                    if np.all(d[i] <= cap[k][None, :] + _TOL)]
            if not fits:
                raise ValueError(f"item {i} fits no server type; shard it first")
            loads.append(np.zeros(d.shape[1:]))
            types.append(int(fits[0]))
            best = len(loads) - 1
        loads[best] += d[i]
        item_worker[i] = best
    # Downsize each worker to the cheapest type that holds its load.
    for w, load in enumerate(loads):
        ok = [k for k in range(len(cap)) if np.all(load <= cap[k][None, :] + _TOL)]
        types[w] = min(ok, key=lambda k: (cost[k], k))
    return item_worker, np.array(types, dtype=np.int64)


def fit_cost(worker_type: np.ndarray, cost) -> float:
    """Total cost of a fleet given each worker's type."""
    return float(np.asarray(cost, dtype=float)[np.asarray(worker_type, dtype=np.int64)].sum())
