"""Explain why an instance has no plan: which group or customer, which rule family, by how much.

The checks are necessary conditions, each cheap and each naming its constraint family the way the
models do (``distinct_shards[g17]``, ``spread[acme]``, ``capacity[shared,t042,cpu_cores]``).
"""

from __future__ import annotations

import numpy as np

from models.packing.bounds import min_workers, class_demand
from models.packing.instance import PackingInstance
from models.packing.verify import Violation

__all__ = ["explain_infeasibility"]

_UNLIMITED = 10**8


def explain_infeasibility(instance: PackingInstance) -> list[Violation]:
    """Reasons no plan can exist (an empty list when none of the checks fires)."""
    out: list[Violation] = []
    cap, limit = instance.capacity, instance.max_count
    finite = limit < _UNLIMITED
    total_servers = int(limit.sum()) if finite.all() else None
    n = instance.shard_counts()

    # Shards of a group need distinct servers that can each hold one shard.
    for g, gid in enumerate(instance.group_ids):
        shard_peak = instance.demand[g].max(axis=0) / n[g]
        holds = np.all(shard_peak[None, :] <= cap * (1 - instance.headroom[g]) + 1e-9, axis=1)
        if not finite[holds].all():
            continue
        avail = int(limit[holds].sum())
        if avail < n[g]:
            out.append(Violation(
                "distinct_shards", (gid,), float(n[g] - avail),
                f"group {gid!r} needs {n[g]} shards on distinct workers (peak "
                f"{', '.join(f'{v:g} {r}' for v, r in zip(instance.demand[g].max(axis=0), instance.resources))}, "
                f"headroom {instance.headroom[g]:g}) but only {avail} servers that hold a shard are allowed",
            ))

    # Spread needs that many servers; isolation classes need disjoint ones.
    if total_servers is not None:
        for c, s in instance.customer_spread().items():
            if s > total_servers:
                out.append(Violation("spread", (c,), float(s - total_servers),
                                     f"customer {c!r} must use {s} workers but only {total_servers} servers are allowed"))
        need = min_workers(instance)
        if need.sum() > total_servers:
            keys = [str(k) if k is not None else "shared" for k in instance.isolation_classes]
            out.append(Violation(
                "isolation", tuple(keys), float(need.sum() - total_servers),
                f"{len(keys)} isolated pools ({', '.join(keys)}) need at least {int(need.sum())} workers "
                f"in total but only {total_servers} servers are allowed",
            ))

    # Aggregate capacity: all allowed servers together, every slot and resource.
    if finite.all():
        demand = class_demand(instance).sum(axis=0)  # [T, R]
        supply = (cap * limit[:, None]).sum(axis=0)  # [R]
        excess = demand - supply[None, :]
        for r in range(len(instance.resources)):
            t = int(np.argmax(excess[:, r]))
            if excess[t, r] > 1e-9:
                out.append(Violation(
                    "capacity", ("all", instance.slots[t], instance.resources[r]), float(excess[t, r]),
                    f"at slot {instance.slots[t]} the groups need {demand[t, r]:.6g} {instance.resources[r]} "
                    f"(with headroom) but all allowed servers offer {supply[r]:.6g}: short by {excess[t, r]:.6g}",
                ))
    return out
