"""Independent verifier: recompute every worker/slot/resource load from demand and assignment.

It uses only the instance's group-level data and the placements (never the solvers' items, scaled
demands or reduced slots), so a bug in a model cannot hide in its own check.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from models.packing.instance import PackingInstance
from models.packing.result import PackingResult, Placement

__all__ = ["Violation", "find_violations", "worker_loads", "deferral_violations"]

# Loads may exceed capacity by this fraction of the capacity before it counts (float round-off).
REL_TOL = 1e-6


@dataclass(frozen=True)
class Violation:
    """One broken rule. ``name`` reads ``family[key1,key2,...]``, e.g. ``capacity[w017,t0042,cpu_cores]``."""

    family: str
    key: tuple
    amount: float
    message: str

    @property
    def name(self) -> str:
        return f"{self.family}[{','.join(str(k) for k in self.key)}]"

    def __str__(self) -> str:
        return f"{self.name}: {self.message}"


def _as_frame(assignment) -> pd.DataFrame:
    if isinstance(assignment, PackingResult):
        return assignment.assignment_frame()
    if isinstance(assignment, pd.DataFrame):
        frame = assignment.copy()
        if "fraction" not in frame.columns and "share" in frame.columns:
            frame = frame.rename(columns={"share": "fraction"})
        return frame
    rows = [vars(p) if isinstance(p, Placement) else dict(p) for p in assignment]
    return pd.DataFrame(rows, columns=["group_id", "shard", "fraction", "worker_id", "server_type"])


def worker_loads(instance: PackingInstance, assignment) -> tuple[list[str], np.ndarray]:
    """Loads ``[worker, slot, resource]`` of an assignment (workers in sorted order).

    Rows naming unknown groups are ignored here (:func:`find_violations` reports them).
    """
    frame = _as_frame(assignment)
    index = {g: i for i, g in enumerate(instance.group_ids)}
    workers = sorted(frame["worker_id"].astype(str).unique())
    w_index = {w: i for i, w in enumerate(workers)}
    loads = np.zeros((len(workers), len(instance.slots), len(instance.resources)))
    for g, f, w in zip(frame["group_id"].astype(str), frame["fraction"].astype(float), frame["worker_id"].astype(str)):
        if g in index:
            loads[w_index[w]] += f * instance.demand[index[g]]
    return workers, loads


def find_violations(instance: PackingInstance, assignment) -> list[Violation]:
    """Every rule the assignment breaks, on the full slot grid; an empty list means the plan is valid.

    Args:
        instance: the packing instance (group demand, server types, QoS rules).
        assignment: a :class:`PackingResult`, a sequence of :class:`Placement`, or a DataFrame with
            columns ``group_id, shard, fraction (or share), worker_id, server_type``.

    Checks: known groups and server types; one server type per worker; each group's fractions are
    in (0, 1] and sum to 1; shards of a group on distinct workers; capacity with the strictest
    headroom of the worker's groups in every slot and resource; isolation; spread; ``max_count``;
    for an instance whose lax work was moved, :func:`deferral_violations`.
    """
    frame = _as_frame(assignment)
    missing = {"group_id", "fraction", "worker_id", "server_type"} - set(frame.columns)
    if missing:
        raise ValueError(f"assignment lacks columns {sorted(missing)}")
    if "shard" not in frame.columns:
        frame["shard"] = frame.groupby("group_id").cumcount()
    frame = frame.astype({"group_id": str, "worker_id": str, "server_type": str})
    out: list[Violation] = []
    g_index = {g: i for i, g in enumerate(instance.group_ids)}
    types = {s.name: s for s in instance.server_types}

    # Known labels.
    for g in sorted(set(frame["group_id"]) - set(g_index)):
        out.append(Violation("unknown_group", (g,), 1.0, f"group {g!r} is not in the instance"))
    for t in sorted(set(frame["server_type"]) - set(types)):
        out.append(Violation("unknown_server_type", (t,), 1.0, f"server type {t!r} is not in the catalog"))
    frame = frame[frame["group_id"].isin(g_index)]

    # Each group is placed exactly once in total.
    fractions = frame.groupby("group_id")["fraction"].sum()
    for g in instance.group_ids:
        total = float(fractions.get(g, 0.0))
        if abs(total - 1.0) > 1e-6:
            out.append(Violation("assign_once", (g,), abs(total - 1.0),
                                 f"fractions of group {g!r} sum to {total:.6g}, not 1"))
    for row in frame.itertuples(index=False):
        if not (0 < row.fraction <= 1 + 1e-9):
            out.append(Violation("fraction", (row.group_id, row.shard), float(row.fraction),
                                 f"shard {row.shard} of group {row.group_id!r} has fraction {row.fraction:g}"))

    # Shards of a group on distinct workers.
    dup = frame.groupby(["group_id", "worker_id"]).size()
    for (g, w), n in dup[dup > 1].items():
        out.append(Violation("distinct_shards", (g, w), float(n - 1),
                             f"{n} shards of group {g!r} on worker {w}"))

    # One server type per worker.
    wtypes = frame.groupby("worker_id")["server_type"].unique()
    worker_type: dict[str, str] = {}
    for w, ts in wtypes.items():
        if len(ts) > 1:
            out.append(Violation("worker_type", (w,), float(len(ts) - 1),
                                 f"worker {w} is given several server types {sorted(ts)}"))
        worker_type[w] = ts[0]

    # Capacity at the strictest headroom of the worker's groups, every slot and resource.
    workers, loads = worker_loads(instance, frame)
    members = frame.groupby("worker_id")["group_id"].unique()
    for wi, w in enumerate(workers):
        stype = types.get(worker_type[w])
        if stype is None:
            continue
        gs = [g_index[g] for g in members[w]]
        h = float(instance.headroom[gs].max())
        limit = np.asarray(stype.capacity) * (1.0 - h)
        excess = loads[wi] - limit[None, :]
        for t, r in np.argwhere(excess > REL_TOL * limit[None, :]):
            out.append(Violation(
                "capacity", (w, instance.slots[t], instance.resources[r]), float(excess[t, r]),
                f"worker {w} ({stype.name}) carries {loads[wi, t, r]:.6g} {instance.resources[r]} at slot "
                f"{instance.slots[t]}, above {limit[r]:.6g} (capacity {stype.capacity[r]:g} x (1 - headroom {h:g})) "
                f"by {excess[t, r]:.6g}",
            ))

        # Isolation: a worker with an isolated group holds only groups of that key.
        keys = {instance.isolation[g] for g in gs}
        if len(keys) > 1:
            out.append(Violation("isolation", (w,), float(len(keys) - 1),
                                 f"worker {w} mixes isolation keys {sorted(str(k) for k in keys)}"))

    # Spread: a customer's groups on at least `spread` distinct workers.
    cust_of = dict(zip(instance.group_ids, instance.customer))
    frame = frame.assign(customer=frame["group_id"].map(cust_of))
    distinct = frame.groupby("customer")["worker_id"].nunique()
    for c, s in instance.customer_spread().items():
        have = int(distinct.get(c, 0))
        if s > 1 and have < s:
            out.append(Violation("spread", (c,), float(s - have),
                                 f"customer {c!r} uses {have} distinct workers, fewer than its spread {s}"))

    # Server counts.
    counts = pd.Series(worker_type).value_counts()
    for name, s in types.items():
        n = int(counts.get(name, 0))
        if s.max_count is not None and n > s.max_count:
            out.append(Violation("max_count", (name,), float(n - s.max_count),
                                 f"{n} servers of type {name!r}, more than max_count {s.max_count}"))
    if instance.deferral is not None:
        out.extend(deferral_violations(instance))
    return out


def deferral_violations(instance: PackingInstance) -> list[Violation]:
    """Moved work checked against the demand before the move (models/deferral.py): conserved, never
    before arrival, never after the deadline, at most the group's peak rate; strict groups unmoved."""
    from models.deferral import check_reshape

    d = instance.deferral
    return [Violation(family, (instance.group_ids[g] if g >= 0 else "-",
                               instance.slots[t] if t >= 0 else "-", instance.resources[r] if r >= 0 else "-"),
                      amount, message)
            for family, g, t, r, amount, message in check_reshape(d.original, instance.demand, d.window)]
