"""Headroom-inflated class demand and the shadow prices of the fractional fleet programme.

Shared by the greedy heuristics, the neighbourhood search and the lower bounds (kept apart from
:mod:`models.packing.bounds` so that the heuristics need not import the bounds, which use a greedy
plan as the warm start of column generation: imports run bounds -> heuristics -> prices).
"""

from __future__ import annotations

import numpy as np

from models.packing.instance import PackingInstance

__all__ = ["class_demand", "dual_prices"]


def class_demand(instance: PackingInstance, peaks: bool = False) -> np.ndarray:
    """Headroom-inflated aggregate demand per isolation class ``[class, slot, resource]``."""
    items = instance.items()
    d = items.demand / (1.0 - items.headroom)[:, None, None]
    if peaks:
        d = np.broadcast_to(d.max(axis=1, keepdims=True), d.shape)
    out = np.zeros((len(instance.isolation_classes),) + d.shape[1:])
    np.add.at(out, items.iso_class, d)
    return out


def dual_prices(instance: PackingInstance) -> np.ndarray:
    """Shadow prices ``[class, slot, resource]`` of the fractional fleet programme (per class, no
    count limits): the value of one unit of demand in each slot and resource. An item's value
    ``sum_{t,r} price[t, r] d[t, r]`` sums to the aggregate bound over all items, so value / cost
    measures how well a worker is filled."""
    from scipy.optimize import linprog

    demand = class_demand(instance)
    cap, cost = instance.capacity, instance.cost
    n_c, n_t, n_r = demand.shape
    out = np.zeros(demand.shape)
    for c in range(n_c):
        # min cost . n  s.t.  -cap[:, r] . n <= -D[t, r]
        A = -np.repeat(cap.T[None, :, :], n_t, axis=0).reshape(n_t * n_r, len(cost))
        b = -demand[c].reshape(-1)
        res = linprog(cost, A_ub=A, b_ub=b, bounds=(0, None), method="highs")
        if res.status == 0:
            out[c] = (-res.ineqlin.marginals).reshape(n_t, n_r)
    return out
