"""Lax-deadline work moved inside its window, around the packing (maths in models/deferral.py).

Two ways, compared in docs/faas.md:

* :func:`defer_before_packing` (pre-pass): every lax group is reshaped on its own (``own``: its
  peaks as low as its window allows) or against the fleet's strict load (``joint``: fill the
  valleys of the fleet's total), then the usual packing runs on the reshaped demand;
* :func:`defer_per_worker` (after a packing): on each worker, the lax groups placed there whole are
  reshaped to fit beside the worker's other load (``joint`` with that load as background and the
  worker's usable capacity as scale). The old assignment stays valid (no worker's peak grows), and
  the freed room is used by packing the reshaped demand again.

Either way the returned instance carries a :class:`~models.deferral.Deferral`, so
:func:`~models.packing.verify.find_violations` checks conservation, arrival, deadline and peak rate.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from models.deferral import Deferral, moved_work, reshape_lax
from models.packing.instance import PackingInstance

__all__ = ["defer_before_packing", "defer_per_worker"]


def _with_demand(instance: PackingInstance, demand: np.ndarray, window: np.ndarray, flows: list,
                 method: str) -> PackingInstance:
    original = instance.demand if instance.deferral is None else instance.deferral.original
    info = Deferral(np.array(original), np.asarray(window, dtype=np.int64), moved_work(original, flows), method)
    return dataclasses.replace(instance, demand=demand, deferral=info)


def defer_before_packing(instance: PackingInstance, window, objective: str = "own",
                         slot_cost: np.ndarray | None = None) -> tuple[PackingInstance, list]:
    """The instance with every lax group (``window[g] >= 1`` slots) reshaped before packing, and the
    flows (``None`` for unmoved groups). ``slot_cost``: see :func:`models.deferral.reshape_lax`."""
    window = np.asarray(window, dtype=np.int64)
    # Joint: the fleet's load in units of the largest server, so the resource that binds servers
    # weighs most (a plain per-resource normalisation would trade CPU peaks for memory ones).
    r = reshape_lax(instance.demand, window, objective=objective, capacity=instance.capacity.max(axis=0),
                    slot_cost=slot_cost)
    return _with_demand(instance, r.demand, window, r.flows, f"prepass-{objective}"), r.flows


def defer_per_worker(instance: PackingInstance, assignment, window,
                     slot_cost: np.ndarray | None = None) -> tuple[PackingInstance, list]:
    """Reshape, worker by worker, the lax groups a packing placed whole on one worker.

    Args:
        instance: the packed instance (demand before any move).
        assignment: its Assignment frame (``group_id, fraction, worker_id, server_type``).
        window: per group, slots of delay allowed (0: strict).
        slot_cost: ``[T]`` cost of a unit of CPU demand run in each slot, in units of the dearest server
            type's cost (as for the pre-pass); each worker's LP converts it to its own units.

    A sharded group stays as it is: its shards share one demand shape, so one worker's LP cannot
    move it. Returns the instance with the reshaped demand and the flows.
    """
    window = np.asarray(window, dtype=np.int64)
    frame = assignment.rename(columns={"share": "fraction"}).astype({"group_id": str, "worker_id": str})
    g_index = {g: i for i, g in enumerate(instance.group_ids)}
    types = {s.name: np.asarray(s.capacity, dtype=float) for s in instance.server_types}
    cost_of = {s.name: float(s.cost) for s in instance.server_types}
    dearest = max(cost_of.values())
    demand = np.array(instance.demand, dtype=float)
    flows: list = [None] * instance.n_groups
    whole = frame.groupby("group_id")["fraction"].transform("size") == 1
    for w, rows in frame.groupby("worker_id", sort=True):
        gi = np.array([g_index[g] for g in rows["group_id"]])
        movable = whole[rows.index].to_numpy() & (window[gi] >= 1)
        if not movable.any():
            continue
        frac = rows["fraction"].to_numpy(float)
        background = (frac[~movable, None, None] * instance.demand[gi[~movable]]).sum(axis=0)  # [T, R]
        cap = types[str(rows["server_type"].iloc[0])] * (1.0 - float(instance.headroom[gi].max()))
        lax = gi[movable]
        # The worker's LP counts in units of this worker: rescale from units of the dearest type.
        per_cap = None if slot_cost is None else np.asarray(slot_cost, dtype=float) * dearest / cost_of[
            str(rows["server_type"].iloc[0])]
        r = reshape_lax(instance.demand[lax], window[lax], objective="joint", background=background, capacity=cap,
                        slot_cost=per_cap)
        for j, g in enumerate(lax):
            demand[g] = r.demand[j]
            flows[g] = r.flows[j]
    return _with_demand(instance, demand, window, flows, "worker"), flows
