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
    """Headroom-inflated aggregate demand per isolation class ``[class, slot, resource]``.

    On a chance-constrained instance it is a floor of the capacity any plan needs (used by the
    bounds): a worker holds ``M_w + z_w sqrt(V_w) <= C_w (1 - h_w)``, ``V_w`` is at least its
    items' idiosyncratic variance ``Psi_w = sum d_i sigma_i^2`` and ``z_w`` at least the smallest
    multiplier ``z_min`` of the class, and ``sum_w sqrt(Psi_w) >= sqrt(sum_w Psi_w)``, so the
    class's workers hold at least ``sum_i mean_i / (1 - h_i) + z_min sqrt(sum_i d_i sigma_i^2)``.
    With ``peaks`` each item's demand is its peak alone (``mean + z sigma``): the floor of a
    peak-based packing.
    """
    items = instance.items()
    inflate = (1.0 - items.headroom)[:, None, None]
    n_c = len(instance.isolation_classes)
    if peaks:
        d = items.standalone() / inflate
        d = np.broadcast_to(d.max(axis=1, keepdims=True), d.shape)
    else:
        d = items.demand / inflate
    out = np.zeros((n_c,) + d.shape[1:])
    np.add.at(out, items.iso_class, d)
    if items.chance and not peaks:
        psi = items.moments()[2]
        for c in range(n_c):
            mine = (items.iso_class == c) & (items.z > 0)
            if mine.any():
                out[c] += items.z[mine].min() * np.sqrt(psi[mine].sum(axis=0))
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
