"""The spread form of failure domains (models/packing/failover.py has the rules, zones and the
reserve form): spread across domains plus failover capacity inside the packing.

Worker level: a protected group gets at least two shards (distinct workers, the engine's rule),
each planned at ``n / (n - 1)`` of its share (mean and sigma), so the ``n - 1`` others can take a
lost one over. Zone level: group ``g`` becomes a part ``g@z`` in each of its ``Z`` allowed zones
(``1 / (Z - 1)`` of the group, isolation class of zone ``z``) and every other customer is pinned to
one zone. :func:`sibling_map` sends a lost shard to its siblings in other domains, equally.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd

from models.packing.failover import (FAILOVER_COLUMNS, FailoverInfeasible, FailoverPlan, FailoverRules,
                                     zone_isolation)
from models.packing.instance import PackingInstance
from models.packing.result import PackingResult, Placement

__all__ = ["spread_instance", "spread_result", "sibling_map"]


def spread_instance(instance: PackingInstance, rules: FailoverRules) -> tuple[PackingInstance, dict]:
    """The spread form's instance: protected groups split over distinct domains and planned at
    ``n / (n - 1)`` of their share; returns (instance to solve, info for :func:`spread_result`).

    Worker level: at least two shards (distinct workers, the engine's rule), demand × n/(n-1),
    repeated until the shard count is stable. Zone level: group ``g`` becomes ``g@z`` in each of its
    ``Z`` allowed zones (demand / (Z - 1), isolation class of zone ``z``); every other customer is
    pinned to the zone of least planned load among its allowed zones.
    """
    inst = zone_isolation(instance, rules)
    level = rules.level
    if "zone" not in level:
        return _spread_worker(inst, level), {"kind": "worker"}
    zones_all = rules.all_zones
    # Zones of each protected group, and a zone per other customer (balanced by peak demand).
    cap = inst.capacity.max(axis=0)
    size = (inst.demand / cap).max(axis=(1, 2))
    load = {z: 0.0 for z in zones_all}
    zone_of_group: dict[int, list[str]] = {}
    for g in range(inst.n_groups):
        if level[g] == "zone":
            zs = sorted(rules.zones[g] or zones_all)
            if len(zs) < 2:
                raise FailoverInfeasible(f"group {inst.group_ids[g]!r} must survive a zone loss but may only run in "
                                         f"zone(s) {zs}: no other zone to fail over to")
            zone_of_group[g] = zs
            for z in zs:
                load[z] += size[g] / (len(zs) - 1)
    by_customer: dict[str, list[int]] = {}
    for g, c in enumerate(inst.customer):
        if level[g] != "zone":
            by_customer.setdefault(c, []).append(g)
    for c in sorted(by_customer, key=lambda c: (-sum(size[g] for g in by_customer[c]), c)):
        gs = by_customer[c]
        zs = set(zones_all)
        for g in gs:
            zs &= set(rules.zones[g] or zones_all)
        z = min(sorted(zs), key=lambda z: (round(load[z], 9), z))
        for g in gs:
            zone_of_group[g] = [z]
        load[z] += sum(size[g] for g in gs)
    gids, demand, head, cust, spread, iso, mins, origin = [], [], [], [], [], [], [], []
    risk_rows: list[tuple[float, int]] = []
    for g in range(inst.n_groups):
        zs = zone_of_group[g]
        for z in zs:
            split = len(zs) > 1
            gids.append(f"{inst.group_ids[g]}@{z}" if split else inst.group_ids[g])
            demand.append(inst.demand[g] / (len(zs) - 1) if split else inst.demand[g])
            risk_rows.append((1.0 / (len(zs) - 1) if split else 1.0, g))
            head.append(inst.headroom[g])
            cust.append(f"{inst.customer[g]}@{z}" + ("/parts" if split else ""))  # parts keep spread 1
            spread.append(1 if split else inst.spread[g])
            iso.append(f"{inst.isolation[g] or ''}|zone:{z}")
            mins.append(1)
            origin.append((g, z, len(zs)))
    risk = {}
    if inst.sigma is not None:  # the parts keep their group's spread (scaled), target, method and factors
        scale = np.array([k for k, _ in risk_rows])
        src = np.array([g for _, g in risk_rows])
        risk = dict(sigma=inst.sigma[src] * scale[:, None, None], overflow_risk=inst.overflow_risk[src],
                    risk_method=tuple(inst.risk_method[g] for g in src), loadings=inst.loadings[src],
                    scenarios=None if inst.scenarios is None else inst.scenarios[:, src])
    out = PackingInstance(tuple(gids), inst.slots, inst.resources, np.array(demand), inst.server_types,
                          np.array(head), tuple(cust), np.array(spread), tuple(iso), np.array(mins), **risk)
    # Worker-level groups inside their zone: shards across workers, sized to take over.
    out = _spread_worker(out, tuple("worker" if level[g] == "worker" else None for g, _, _ in origin))
    return out, {"kind": "zone", "origin": origin, "base": inst}


def _spread_worker(inst: PackingInstance, level) -> PackingInstance:
    protect = np.array([lv is not None for lv in level])
    if not protect.any():
        return inst
    mins = np.where(protect, np.maximum(inst.min_shards, 2), inst.min_shards)
    base, sigma = inst.demand, inst.sigma
    for _ in range(20):
        cur = dataclasses.replace(inst, min_shards=mins, deferral=None)
        n = cur.shard_counts()
        factor = np.where(protect, n / np.maximum(n - 1, 1), 1.0)
        # Mean and spread scale together: a shard planned at n/(n-1) of its share, in every moment.
        trial = dataclasses.replace(inst, demand=base * factor[:, None, None], deferral=None, min_shards=n,
                                    sigma=None if sigma is None else sigma * factor[:, None, None])
        if np.array_equal(trial.shard_counts(), n):
            return trial
        mins = trial.shard_counts()
    raise FailoverInfeasible("the spread form found no stable shard count (a group keeps growing past a server)")


def spread_result(real: PackingInstance, solved: PackingInstance, result: PackingResult, info: dict):
    """Map a solve of :func:`spread_instance` back to the real groups: (instance with the shard
    counts used, result on it, zone of each worker (zone form) or ``None``)."""
    if info["kind"] == "worker":
        inst = dataclasses.replace(real, min_shards=solved.shard_counts())
        return inst, result, None
    origin = info["origin"]
    counts = solved.shard_counts()
    n_real = np.zeros(real.n_groups, dtype=np.int64)
    for (g, _, _), n in zip(origin, counts):
        n_real[g] += n
    index = {gid: i for i, gid in enumerate(solved.group_ids)}
    next_shard = np.zeros(real.n_groups, dtype=np.int64)
    placements, zone_of = [], {}
    for p in sorted(result.placements, key=lambda p: (index[p.group_id], p.shard)):
        g, z, _ = origin[index[p.group_id]]
        placements.append(Placement(real.group_ids[g], int(next_shard[g]), 1.0 / n_real[g], p.worker_id,
                                    p.server_type))
        next_shard[g] += 1
        zone_of[p.worker_id] = z
    inst = dataclasses.replace(real, min_shards=n_real)
    # Groups of one zone split unevenly would break equal shards: the counts per zone must agree.
    for g in range(real.n_groups):
        per_zone = {n for (gg, _, _), n in zip(origin, counts) if gg == g}
        if len(per_zone) > 1:
            raise FailoverInfeasible(f"group {real.group_ids[g]!r}: shard counts differ between zones {sorted(per_zone)}")
    return inst, dataclasses.replace(result, placements=tuple(placements)), zone_of


def sibling_map(instance: PackingInstance, result: PackingResult, rules: FailoverRules,
                zone_of: dict[str, str]) -> FailoverPlan:
    """The spread form's map: a lost shard moves to its group's shards in other domains, equally."""
    index = {g: i for i, g in enumerate(instance.group_ids)}
    frame = result.assignment_frame()
    rows = []
    for gid, part in frame.groupby("group_id", sort=True):
        lv = rules.level[index[gid]]
        if lv is None:
            continue
        for r in part.itertuples(index=False):
            home = zone_of[r.worker_id] if lv == "zone" else r.worker_id
            others = [o for o in part.itertuples(index=False)
                      if (zone_of[o.worker_id] if lv == "zone" else o.worker_id) != home]
            if not others:
                raise FailoverInfeasible(f"group {gid!r}: every shard is in {lv} {home}; nothing can take over")
            for o in others:
                rows.append((gid, int(r.shard), r.worker_id, lv, o.worker_id, 1.0 / len(others)))
    return FailoverPlan(pd.DataFrame(rows, columns=list(FAILOVER_COLUMNS)), (), dict(zone_of), 0.0, {}, "spread")
