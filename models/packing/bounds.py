"""Lower bounds on the cost of any valid plan, and the peak-based reference.

Maths. Let ``D_c[t, r] = sum_{i in class c} d[i, t, r] / (1 - h_i)`` be the headroom-inflated
aggregate demand of isolation class ``c`` (classes never share workers). On a worker whose strictest
headroom is ``H``, every group has ``h_i <= H``, so ``sum d_i / (1 - h_i) <= sum d_i / (1 - H) <=
capacity``: the inflated aggregate must fit the raw capacity of the fleet. Hence, with ``n[c, k]``
servers of type ``k`` for class ``c``,

    min  sum_{c,k} cost_k n[c, k]
    s.t. sum_k capacity[k, r] n[c, k] >= D_c[t, r]       for every class c, slot t, resource r
         sum_k n[c, k] >= m_c                           (shards / spread need m_c distinct workers)
         sum_c n[c, k] <= max_count_k

is a lower bound with ``n`` fractional (:func:`aggregate_bound`, the issue's "cheapest fractional
fleet") and a tighter one with ``n`` integer (:func:`fleet_bound`). For this model the LP relaxation of
the assignment formulation aggregates to the same fractional programme, so :func:`fleet_bound` is the
tighter bound we report. :func:`peak_bound` is the same programme on the sum of each group's peaks:
a lower bound for any peak-based packing, not for shape-aware ones.
"""

from __future__ import annotations

import numpy as np

from models.packing.instance import PackingInstance

__all__ = ["aggregate_bound", "fleet_bound", "peak_bound", "lower_bound", "class_demand", "min_workers",
           "dual_prices"]


def class_demand(instance: PackingInstance, peaks: bool = False) -> np.ndarray:
    """Headroom-inflated aggregate demand per isolation class ``[class, slot, resource]``."""
    items = instance.items()
    d = items.demand / (1.0 - items.headroom)[:, None, None]
    if peaks:
        d = np.broadcast_to(d.max(axis=1, keepdims=True), d.shape)
    out = np.zeros((len(instance.isolation_classes),) + d.shape[1:])
    np.add.at(out, items.iso_class, d)
    return out


def min_workers(instance: PackingInstance) -> np.ndarray:
    """Fewest workers each isolation class needs: its most-sharded group, its largest spread."""
    items = instance.items()
    n_c = len(instance.isolation_classes)
    need = np.ones(n_c)
    spread = instance.customer_spread()
    for c in range(n_c):
        mine = items.iso_class == c
        need[c] = max(need[c], items.n_shards[mine].max())
        for ci in np.unique(items.customer[mine]):
            need[c] = max(need[c], spread[instance.customers[ci]])
    return need


def _fleet_programme(instance: PackingInstance, demand: np.ndarray, integer: bool) -> float:
    from scipy.optimize import Bounds, LinearConstraint, milp

    n_c, n_t, n_r = demand.shape
    cap, cost, limit = instance.capacity, instance.cost, instance.max_count.astype(float)
    n_k = len(cost)
    n_var = n_c * n_k  # n[c, k] at c * n_k + k
    rows, lo, hi = [], [], []
    for c in range(n_c):
        # Every (non-dominated) slot is kept: with several server types the binding slot of a
        # resource depends on the type mix.
        for t in range(n_t):
            for r in range(n_r):
                row = np.zeros(n_var)
                row[c * n_k:(c + 1) * n_k] = cap[:, r]
                rows.append(row), lo.append(demand[c, t, r]), hi.append(np.inf)
    need = min_workers(instance)
    for c in range(n_c):
        row = np.zeros(n_var)
        row[c * n_k:(c + 1) * n_k] = 1.0
        rows.append(row), lo.append(need[c] if integer else 0.0), hi.append(np.inf)
    for k in range(n_k):
        if limit[k] < 1e8:
            row = np.zeros(n_var)
            row[k::n_k] = 1.0
            rows.append(row), lo.append(-np.inf), hi.append(limit[k])
    A = np.array(rows)
    res = milp(
        c=np.tile(cost, n_c),
        constraints=LinearConstraint(A, lo, hi),
        integrality=np.ones(n_var) if integer else np.zeros(n_var),
        bounds=Bounds(0, np.inf),
        options={"time_limit": 20.0},
    )
    if res.x is None:
        return float("inf")  # the catalog cannot cover the aggregate demand at all
    if integer and res.status != 0:
        # Time limit: fall back to the MIP's dual bound (still valid).
        return float(getattr(res, "mip_dual_bound", np.nan))
    return float(res.fun)


def _reduce(demand: np.ndarray) -> np.ndarray:
    # Per class and resource, slots whose demand is dominated in every resource cannot bind.
    from models.packing.instance import dominant_slots

    keep = dominant_slots(demand.transpose(1, 0, 2).reshape(demand.shape[1], 1, -1).transpose(1, 0, 2))
    return demand[:, keep, :]


def aggregate_bound(instance: PackingInstance) -> float:
    """Cheapest fractional fleet covering each class's inflated aggregate demand in every slot."""
    return _fleet_programme(instance, _reduce(class_demand(instance)), integer=False)


def fleet_bound(instance: PackingInstance) -> float:
    """Cheapest integer fleet covering each class's inflated aggregate demand (tighter, still valid)."""
    return _fleet_programme(instance, _reduce(class_demand(instance)), integer=True)


def peak_bound(instance: PackingInstance) -> float:
    """Cheapest fractional fleet covering the sum of each group's peak: a floor for peak-based packing."""
    return _fleet_programme(instance, _reduce(class_demand(instance, peaks=True)), integer=False)


def lower_bound(instance: PackingInstance) -> dict[str, float]:
    """All bounds: ``aggregate`` (fractional), ``fleet`` (integer) and ``best`` (the larger)."""
    agg = aggregate_bound(instance)
    fleet = fleet_bound(instance)
    return {"aggregate": agg, "fleet": fleet, "best": max(agg, fleet)}


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
