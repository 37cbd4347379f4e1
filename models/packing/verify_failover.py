"""Independent check of a failover plan: remove each failure domain in turn and recompute loads.

It reads only the instance's group demand, the assignment, every worker's server type and zone, the
survival level of each group and the failover map (never the planner's residuals or spares logic).
For each scenario (each zone when some group must survive a zone loss, each worker when some group
must survive a worker loss), every lost shard of a protected group must be mapped, in full, to live
workers; the live workers' own load plus what they receive must fit their physical capacity in every
slot and resource (on a chance-constrained instance the pooled ``mean + z sd`` of everything the
worker then holds); and a worker that receives shards of an isolation class holds no other class.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from models.packing.instance import PackingInstance
from models.packing.verify import REL_TOL, Violation, _as_frame, chance_terms

__all__ = ["find_failover_violations"]


def find_failover_violations(instance: PackingInstance, assignment, workers: pd.DataFrame, level,
                             failover: pd.DataFrame, max_report: int = 50) -> list[Violation]:
    """Every failure scenario the plan does not survive; an empty list means it survives them all.

    Args:
        instance: the packing instance (real demand, server types, isolation keys).
        assignment: the plan (:class:`PackingResult` or a frame with ``group_id, shard, fraction
            (or share), worker_id``).
        workers: ``worker_id, server_type, zone`` of every worker, spares included.
        level: per group of ``instance``, ``None``, ``"worker"`` or ``"zone"``.
        failover: ``group_id, shard, worker_id, target_worker, share`` (share of the shard moved).
        max_report: stop after this many violations.

    Violation families: ``failover_map[group,shard,scenario]`` (a lost shard not mapped in full, or
    mapped into the failed domain), ``failover[scenario,worker,slot,resource]`` (capacity exceeded
    after the failover), ``failover_isolation[scenario,worker]``.
    """
    frame = _as_frame(assignment)
    if "shard" not in frame.columns:
        frame["shard"] = frame.groupby("group_id").cumcount()
    frame = frame.astype({"group_id": str, "worker_id": str})
    g_index = {g: i for i, g in enumerate(instance.group_ids)}
    cap_of = {s.name: np.asarray(s.capacity, dtype=float) for s in instance.server_types}
    wtab = workers.astype({"worker_id": str}).drop_duplicates("worker_id").set_index("worker_id")
    zone = wtab["zone"].astype(str).to_dict()
    wtype = wtab["server_type"].astype(str).to_dict()
    unknown = sorted(set(frame["worker_id"]) - set(wtab.index))
    if unknown:
        raise ValueError(f"workers table lacks worker(s) {unknown[:5]} of the assignment")
    level = list(level)
    levels = {lv for lv in level if lv is not None}
    if not levels:
        return []
    all_workers = sorted(wtab.index)
    classes: dict[str, set] = {w: set() for w in all_workers}
    for g, w in zip(frame["group_id"], frame["worker_id"]):
        classes[w].add(instance.isolation[g_index[g]])
    base = frame[["group_id", "fraction", "worker_id"]].assign(fraction=frame["fraction"].astype(float))
    fmap = failover.rename(columns={"fraction": "share"}).astype({"group_id": str, "worker_id": str,
                                                                  "target_worker": str})
    targets: dict[tuple[str, int], list[tuple[str, float]]] = {}
    for r in fmap.itertuples(index=False):
        targets.setdefault((r.group_id, int(r.shard)), []).append((r.target_worker, float(r.share)))
    scenarios = []
    if "zone" in levels:
        scenarios += [("zone", z, {w for w in all_workers if zone[w] == z}) for z in sorted(set(zone.values()))]
    scenarios += [("worker", w, {w}) for w in all_workers]
    out: list[Violation] = []
    for kind, domain, failed in scenarios:
        name = f"{kind}:{domain}"
        lost = frame[frame["worker_id"].isin(failed)]
        lost = lost[[level[g_index[g]] is not None and (kind == "worker" or level[g_index[g]] == "zone")
                     for g in lost["group_id"]]]
        if lost.empty:
            continue
        alive = [w for w in all_workers if w not in failed]
        moved, received = [], {}
        for r in lost.itertuples(index=False):
            key = (r.group_id, int(r.shard))
            tl = targets.get(key, [])
            total = sum(s for _, s in tl)
            bad = [t for t, _ in tl if t not in alive]
            if abs(total - 1.0) > 1e-6 or bad:
                why = (f"targets {bad} are lost too or unknown" if bad
                       else f"its failover shares sum to {total:.6g}, not 1")
                out.append(Violation("failover_map", (r.group_id, r.shard, name), abs(total - 1.0) or 1.0,
                                     f"shard {r.shard} of group {r.group_id!r} on {r.worker_id} is lost with "
                                     f"{kind} {domain}: {why}"))
                continue
            for t, s in tl:
                moved.append((r.group_id, float(r.fraction) * s, t))
                received.setdefault(t, set()).add(instance.isolation[g_index[r.group_id]])
        # Empty parts left out: pandas warns (and will change dtypes) when concatenating empty frames.
        parts = [f for f in (base[base["worker_id"].isin(alive)],
                             pd.DataFrame(moved, columns=["group_id", "fraction", "worker_id"])) if len(f)]
        after = pd.concat(parts, ignore_index=True) if parts else base.iloc[:0]
        for w, load in _loads(instance, after, alive).items():
            limit = cap_of[wtype[w]]
            excess = load - limit[None, :]
            hits = np.argwhere(excess > REL_TOL * limit[None, :])
            for t, r in hits[:3]:
                out.append(Violation(
                    "failover", (name, w, instance.slots[t], instance.resources[r]), float(excess[t, r]),
                    f"after losing {kind} {domain}, worker {w} ({wtype[w]}, zone {zone[w]}) carries "
                    f"{load[t, r]:.6g} {instance.resources[r]} at slot {instance.slots[t]}, above its capacity "
                    f"{limit[r]:g} by {excess[t, r]:.6g}"))
            mixed = received.get(w, set()) | (classes[w] if w in received else set())
            if len(mixed) > 1:
                out.append(Violation("failover_isolation", (name, w), float(len(mixed) - 1),
                                     f"after losing {kind} {domain}, worker {w} mixes isolation keys "
                                     f"{sorted(str(k) for k in mixed)}"))
            if len(out) >= max_report:
                return out
    return out


def _loads(instance: PackingInstance, frame: pd.DataFrame, workers: list[str]) -> dict[str, np.ndarray]:
    """Each worker's load ``[T, R]`` from ``group_id, fraction, worker_id`` rows (a group may appear
    twice on a worker: its own shard and one it took over): the demand summed, or on a
    chance-constrained instance the pooled ``mean + z sd`` with the dense correlation
    (:func:`models.packing.verify.chance_terms`), the load the capacity rule bounds."""
    g_index = {g: i for i, g in enumerate(instance.group_ids)}
    shape = instance.demand.shape[1:]
    out = {w: np.zeros(shape) for w in workers}
    if not instance.chance:
        for g, f, w in zip(frame["group_id"], frame["fraction"], frame["worker_id"]):
            out[w] += f * instance.demand[g_index[g]]
        return out
    present = sorted(set(frame["worker_id"]))
    mean, sd, z, _, _ = chance_terms(instance, frame, present)
    for i, w in enumerate(present):
        out[w] = mean[i] + z[i] * sd[i]
    return out
