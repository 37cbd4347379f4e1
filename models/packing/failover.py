"""Failure domains: a plan whose protected groups survive losing any one worker or any one zone.

A group may carry a survival *level*: ``worker`` (losing any one worker) or ``zone`` (losing any one
zone, hence also any one worker). When a domain fails, every shard of a protected group on it is
*lost* and moves to the *targets* named by the failover map, each taking a share of the shard;
the surviving workers must then hold their own load plus what they receive within their physical
capacity (headroom may be used up in a failure) in every slot and resource. The map is static: a
shard's targets lie outside its own domain, so they are alive whenever the shard is lost.

Two forms build the map (docs/objectives.md compares their cost):

* **reserve** (:func:`plan_reserve`, the N+1 form): pack as usual, then for each failed domain in
  turn water-fill the lost shards into the residual physical capacity of the surviving workers of
  the same isolation class, and open spare servers (empty in normal operation, shared by every
  failure scenario) for what does not fit.
* **spread** (:mod:`models.packing.failover_spread`): split each protected group into ``n``
  shards on distinct domains and plan each shard at ``n / (n - 1)`` of its share, so the ``n - 1``
  survivors can take the lost shard over: spread across domains plus failover capacity inside the
  packing. For zones every other group is pinned to one zone as well (isolation classes by zone),
  so that shards of one zone share workers only with groups of that zone.

:func:`models.packing.verify_failover.find_failover_violations` checks either map independently.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import pandas as pd

from models.packing.instance import PackingInstance
from models.packing.result import PackingResult

__all__ = ["FailoverRules", "FailoverPlan", "assign_zones", "plan_reserve", "FAILOVER_COLUMNS", "allowed_zones",
           "zone_isolation", "FailoverInfeasible"]

#: Columns of the failover map: the shard (group, shard, home worker), the target and its share.
FAILOVER_COLUMNS = ("group_id", "shard", "worker_id", "level", "target_worker", "share")

_TOL = 1e-9


class FailoverInfeasible(ValueError):
    """No failover plan exists under the rules (the message says which group and why)."""


@dataclass(frozen=True)
class FailoverRules:
    """Who must survive what, and where servers may run.

    Args:
        level: per group of the instance, ``None``, ``"worker"`` or ``"zone"``.
        zones: per group, the zones its workers may be in (``None``: any zone).
        type_zones: server type -> zones it may be installed in (first = default).
        form: ``"reserve"`` or ``"spread"``.
        label: per group, a label the cost of spares is attributed to (e.g. its tier).
        zone_cost: zone -> a per-server preference added when choosing zones (e.g. carbon); 0 = none.
    """

    level: tuple[str | None, ...]
    zones: tuple[frozenset | None, ...]
    type_zones: dict[str, tuple[str, ...]]
    form: str = "reserve"
    label: tuple[str, ...] | None = None
    zone_cost: dict[str, float] | None = None

    @property
    def all_zones(self) -> tuple[str, ...]:
        return tuple(sorted({z for zs in self.type_zones.values() for z in zs}))

    def any_survive(self) -> bool:
        return any(lv is not None for lv in self.level)


@dataclass(frozen=True)
class FailoverPlan:
    """A failover map, the spare servers it needs and where every worker runs.

    ``targets`` has :data:`FAILOVER_COLUMNS`; ``spares`` lists ``(worker_id, server_type, zone)``
    of empty reserve servers; ``zone_of_worker`` covers every worker, spares included;
    ``spare_cost`` is the spares' cost per period and ``cost_by_label`` splits it by the labels of the
    groups whose shards need them (by their share of each spare's largest load in any scenario).
    """

    targets: pd.DataFrame
    spares: tuple[tuple[str, str, str], ...]
    zone_of_worker: dict[str, str]
    spare_cost: float = 0.0
    cost_by_label: dict[str, float] = dataclasses.field(default_factory=dict)
    form: str = "reserve"

    def with_spares(self, result: PackingResult, cost_of: dict[str, float]) -> PackingResult:
        """``result`` with the spares added to its workers and their cost to its objective."""
        if not self.spares:
            return result
        workers = tuple(result.workers) + tuple((w, t) for w, t, _ in self.spares)
        extra = sum(cost_of[t] for _, t, _ in self.spares)
        return dataclasses.replace(result, workers=workers, objective=result.objective + extra,
                                   message=(result.message + "; " if result.message else "")
                                   + f"{len(self.spares)} spare server(s) for failover")


def allowed_zones(rules: FailoverRules, server_type: str, groups: list[int]) -> list[str]:
    """Zones a worker of ``server_type`` holding ``groups`` (instance indices) may be in."""
    zones = list(rules.type_zones.get(server_type, ()))
    for g in groups:
        if rules.zones[g] is not None:
            zones = [z for z in zones if z in rules.zones[g]]
    return zones


def zone_isolation(instance: PackingInstance, rules: FailoverRules) -> PackingInstance:
    """Groups restricted to different zone sets never share a worker (their isolation keys get the
    zone set), so every worker has a zone that all its groups accept."""
    if all(z is None for z in rules.zones):
        return instance
    keys = []
    for g, key in enumerate(instance.isolation):
        zs = rules.zones[g]
        if zs is None:
            keys.append(key)
        else:
            keys.append(f"{key or ''}|zones:{'+'.join(sorted(zs))}")
    # A customer's groups share one key: a customer whose groups disagree takes the strictest set.
    by_customer: dict[str, str] = {}
    for c, k in zip(instance.customer, keys):
        if k is not None and (c not in by_customer or len(str(k)) > len(str(by_customer[c]))):
            by_customer[c] = k
    keys = [by_customer.get(c, k) for c, k in zip(instance.customer, keys)]
    return dataclasses.replace(instance, isolation=tuple(keys))


def _worker_groups(result: PackingResult, index: dict[str, int]) -> dict[str, list[int]]:
    out: dict[str, list[int]] = {}
    for p in result.placements:
        out.setdefault(p.worker_id, []).append(index[p.group_id])
    return out


def assign_zones(instance: PackingInstance, result: PackingResult, rules: FailoverRules,
                 fixed: dict[str, str] | None = None, installed: dict[str, dict[str, int]] | None = None
                 ) -> dict[str, str]:
    """A zone for every worker of ``result``.

    Workers are taken by decreasing load of zone-protected groups (peak over slots of the load over
    capacity), then the rest by decreasing load; each goes to the allowed zone with the least
    protected load so far (a zone loss takes as little protected load as the fleet allows), then
    a zone with an installed server of the worker's type still free (``installed``: type -> zone ->
    count), then the lowest ``zone_cost`` when one is given (e.g. carbon intensity under a carbon
    price), then the fewest workers, then by name. ``fixed`` zones are kept.
    Raises :class:`FailoverInfeasible` when a worker has no allowed zone.
    """
    index = {g: i for i, g in enumerate(instance.group_ids)}
    members = _worker_groups(result, index)
    wtype = dict(result.workers)
    cap = {s.name: np.asarray(s.capacity, dtype=float) for s in instance.server_types}
    protected = np.array([lv == "zone" for lv in rules.level])
    shape = instance.demand.shape[1:]
    load = {w: np.zeros(shape) for w in members}
    prot = {w: np.zeros(shape) for w in members}
    for p in result.placements:
        g = index[p.group_id]
        load[p.worker_id] += p.fraction * instance.demand[g]
        if protected[g]:
            prot[p.worker_id] += p.fraction * instance.demand[g]
    weight = {w: float((prot[w] / cap[wtype[w]]).max()) for w in members}
    size = {w: float((load[w] / cap[wtype[w]]).max()) for w in members}
    zone_cost = rules.zone_cost or {}
    out = dict(fixed or {})
    free_installed = {t: dict(zs) for t, zs in (installed or {}).items()}
    for w, z in out.items():
        if free_installed.get(wtype.get(w), {}).get(z, 0) > 0:
            free_installed[wtype[w]][z] -= 1
    load_in = {z: 0.0 for z in rules.all_zones}
    count_in = {z: 0 for z in rules.all_zones}
    for w, z in out.items():
        load_in[z] = load_in.get(z, 0.0) + weight.get(w, 0.0)
        count_in[z] = count_in.get(z, 0) + 1
    order = sorted(members, key=lambda w: (-weight[w], -size[w], w))
    for w in order:
        if w in out:
            continue
        zones = allowed_zones(rules, wtype[w], members[w])
        if not zones:
            raise FailoverInfeasible(
                f"worker {w} ({wtype[w]}) holds groups whose zones exclude every zone of its type "
                f"{list(rules.type_zones.get(wtype[w], ()))}")
        # Protected load first (only for workers that carry some), then a price on the zone (carbon)
        # when there is one, then the number of workers.
        balance = weight[w] > 0
        free = free_installed.get(wtype[w], {})
        z = min(zones, key=lambda z: (round(load_in[z], 9) if balance else 0.0, 0 if free.get(z, 0) > 0 else 1,
                                      zone_cost.get(z, 0.0), count_in[z], z))
        if free.get(z, 0) > 0:
            free[z] -= 1
        out[w] = z
        load_in[z] += weight[w]
        count_in[z] += 1
    return out


def _scenarios(workers: list[str], zone_of: dict[str, str], levels: set[str]):
    """Failure scenarios: (level, domain, failed workers); zones first (the larger losses)."""
    out = []
    if "zone" in levels:
        for z in sorted(set(zone_of.values())):
            out.append(("zone", z, {w for w in workers if zone_of[w] == z}))
    for w in sorted(workers):
        out.append(("worker", w, {w}))
    return out


def plan_reserve(instance: PackingInstance, result: PackingResult, rules: FailoverRules, zone_of: dict[str, str],
                 max_spares: dict[str, int] | None = None) -> FailoverPlan:
    """The reserve (N+1) form: water-fill each failure's lost shards into the surviving workers'
    residual physical capacity (same isolation class), open spare servers for the rest.

    Scenarios run zones first, then single workers; a shard's targets are chosen in the first
    scenario that loses it and count in every later one that loses it too (a worker failure loses
    the zone-level shards of its worker, already mapped). A spare serves one isolation class per
    scenario. New spares: the type of least cost per unit of the lost shard's peak share that
    holds it, in an allowed zone other than the failed one with the fewest spares.
    ``max_spares``: type -> how many spares may be opened (``None``: unlimited).
    """
    index = {g: i for i, g in enumerate(instance.group_ids)}
    types = {s.name: s for s in instance.server_types}
    cap = {n: np.asarray(s.capacity, dtype=float) for n, s in types.items()}
    wtype = dict(result.workers)
    workers = sorted(wtype)
    frame = result.assignment_frame()
    shard_rows = list(frame.itertuples(index=False))
    piece, loads = _linear_loads(instance, frame, workers)
    demand_of = [r.fraction * piece[index[r.group_id]] for r in shard_rows]  # [T, R] each
    w_class: dict[str, str | None] = {}
    for r in shard_rows:
        w_class[r.worker_id] = instance.isolation[index[r.group_id]]
    levels = {lv for lv in rules.level if lv is not None}
    label = rules.label or tuple(instance.group_ids)
    spares: list[tuple[str, str, str]] = []
    spare_peak_by_label: dict[str, dict[str, float]] = {}
    width = max(3, len(str(len(workers) + 50)))
    limit = dict(max_spares or {})
    mapped: dict[int, list[tuple[str, float]]] = {}  # shard row -> [(target, share)]
    mapped_level: dict[int, str] = {}

    def lost_in(level: str, failed: set[str]) -> list[int]:
        out = []
        for i, r in enumerate(shard_rows):
            lv = rules.level[index[r.group_id]]
            if r.worker_id in failed and lv is not None and (level == "worker" or lv == "zone"):
                out.append(i)
        return out

    for level, domain, failed in _scenarios(workers, zone_of, levels):
        lost = lost_in(level, failed)
        if not lost:
            continue
        alive = [w for w in workers if w not in failed]
        residual = {w: cap[wtype[w]][None, :] - loads[w] for w in alive}
        spare_res = {s[0]: np.broadcast_to(cap[s[1]][None, :], loads[workers[0]].shape).copy()
                     for s in spares if s[2] != domain or level == "worker"}
        spare_cls: dict[str, object] = {}
        spare_load: dict[str, dict[str, float]] = {}
        # Shards mapped in an earlier scenario take their targets' room first.
        pending = []
        for i in lost:
            if i in mapped:
                for t, share in mapped[i]:
                    if t in residual:
                        residual[t] = residual[t] - share * demand_of[i]
                    elif t in spare_res:
                        spare_res[t] = spare_res[t] - share * demand_of[i]
                        spare_cls[t] = instance.isolation[index[shard_rows[i].group_id]]
                    else:
                        raise FailoverInfeasible(f"failover target {t} of {shard_rows[i].group_id} is in the failed "
                                                 f"domain {domain}")
            else:
                pending.append(i)
        pending.sort(key=lambda i: (-float(demand_of[i].max()), i))
        for i in pending:
            r = shard_rows[i]
            g = index[r.group_id]
            d = demand_of[i]
            cls = instance.isolation[g]
            remaining, chosen = 1.0, []

            def take(res: np.ndarray) -> float:
                pos = d > _TOL
                if not pos.any():
                    return 1.0
                return float(max(0.0, np.min(res[pos] / d[pos])))

            cands = sorted((w for w in alive if w_class.get(w) == cls), key=lambda w: (-take(residual[w]), w))
            for w in cands:
                f = min(take(residual[w]), remaining)
                if f > 1e-6:
                    residual[w] = residual[w] - f * d
                    chosen.append((w, f))
                    remaining -= f
                if remaining <= _TOL:
                    break
            for s in sorted(spare_res, key=lambda s: (-take(spare_res[s]), s)):
                if remaining <= _TOL:
                    break
                if spare_cls.get(s, cls) != cls or not _spare_zone_ok(rules, s, spares, g):
                    continue
                f = min(take(spare_res[s]), remaining)
                if f > 1e-6:
                    spare_res[s] = spare_res[s] - f * d
                    spare_cls[s] = cls
                    chosen.append((s, f))
                    remaining -= f
            while remaining > _TOL:
                new = _open_spare(instance, rules, g, d * remaining, domain if level == "zone" else None,
                                  zone_of.get(r.worker_id), spares, limit, width, len(workers))
                if new is None:
                    raise FailoverInfeasible(
                        f"group {r.group_id!r} (shard {r.shard}, {rules.level[g]} level) cannot fail over when "
                        f"{level} {domain} is lost: {remaining:.0%} of its shard fits no surviving worker and no "
                        f"spare server can be added (zones {sorted(rules.zones[g] or rules.all_zones)}, "
                        f"max_count reached or no other zone)")
                spares.append(new)
                spare_res[new[0]] = np.broadcast_to(cap[new[1]][None, :], d.shape).copy()
                f = min(take(spare_res[new[0]]), remaining)
                spare_res[new[0]] = spare_res[new[0]] - f * d
                spare_cls[new[0]] = cls
                chosen.append((new[0], f))
                remaining -= f
            total = sum(f for _, f in chosen)
            mapped[i] = [(t, f / total) for t, f in chosen]
            mapped_level[i] = rules.level[g]
        # Attribute each spare's load in this scenario to the labels whose shards it holds.
        for i in lost:
            for t, share in mapped[i]:
                if t in spare_res:
                    lab = label[index[shard_rows[i].group_id]]
                    peak = float((share * demand_of[i] / cap[_type_of(t, spares)][None, :]).max())
                    spare_load.setdefault(t, {}).setdefault(lab, 0.0)
                    spare_load[t][lab] += peak
        for s, by in spare_load.items():
            if sum(by.values()) > sum(spare_peak_by_label.get(s, {}).values()):
                spare_peak_by_label[s] = by
    rows = []
    for i, targets in sorted(mapped.items()):
        r = shard_rows[i]
        for t, share in targets:
            rows.append((r.group_id, int(r.shard), r.worker_id, mapped_level[i], t, float(share)))
    zone_all = dict(zone_of)
    zone_all.update({w: z for w, _, z in spares})
    cost_of = {n: s.cost for n, s in types.items()}
    by_label: dict[str, float] = {}
    for w, t, _ in spares:
        by = spare_peak_by_label.get(w, {})
        tot = sum(by.values())
        for lab, v in by.items():
            by_label[lab] = by_label.get(lab, 0.0) + cost_of[t] * v / tot
    return FailoverPlan(pd.DataFrame(rows, columns=list(FAILOVER_COLUMNS)), tuple(spares), zone_all,
                        float(sum(cost_of[t] for _, t, _ in spares)), by_label, "reserve")


def _linear_loads(instance: PackingInstance, frame: pd.DataFrame, workers: list[str]):
    """Per group the load one unit adds to a worker, and each worker's own load, both linear upper
    bounds of the chance constraint's ``M + z sqrt(V)``: with ``z*`` the largest multiplier of the
    instance, a worker's ``mean + z* sd`` plus each added piece's ``f (mean + z* sigma)`` bounds its
    pooled load after a failover (``sqrt`` is subadditive under any correlation). On a linear
    instance both are the demand."""
    index = {g: i for i, g in enumerate(instance.group_ids)}
    shape = instance.demand.shape[1:]
    if not instance.chance:
        loads = {w: np.zeros(shape) for w in workers}
        for g, f, w in zip(frame["group_id"], frame["fraction"].astype(float), frame["worker_id"]):
            loads[w] += f * instance.demand[index[g]]
        return instance.demand, loads
    from models.packing.verify import chance_terms

    z_hi = float(instance.risk_z.max())
    mean, sd, _, _, _ = chance_terms(instance, frame, workers)
    loads = {w: mean[i] + z_hi * sd[i] for i, w in enumerate(workers)}
    return instance.demand + z_hi * instance.sigma, loads


def _type_of(worker: str, spares) -> str:
    return next(t for w, t, _ in spares if w == worker)


def _spare_zone_ok(rules: FailoverRules, spare: str, spares, g: int) -> bool:
    zone = next(z for w, _, z in spares if w == spare)
    return rules.zones[g] is None or zone in rules.zones[g]


def _open_spare(instance, rules, g, need, failed_zone, home_zone, spares, limit, width, n_workers):
    """A new spare server for ``need`` ([T, R], may be split over several): cheapest per share."""
    best = None
    for s in instance.server_types:
        if s.name in limit and limit[s.name] <= sum(1 for _, t, _ in spares if t == s.name):
            continue
        zones = [z for z in rules.type_zones.get(s.name, ()) if z != failed_zone
                 and (rules.zones[g] is None or z in rules.zones[g])]
        if not zones:
            continue
        cap = np.asarray(s.capacity, dtype=float)
        share = min(1.0, float(np.min(np.where(need > _TOL, cap[None, :] / np.maximum(need, _TOL), np.inf))))
        if share <= 1e-6:
            continue
        key = (s.cost / share, s.cost, s.name)
        if best is None or key < best[0]:
            count = {z: sum(1 for _, _, zz in spares if zz == z) for z in zones}
            zone = min(zones, key=lambda z: (z == home_zone, count[z], (rules.zone_cost or {}).get(z, 0.0), z))
            best = (key, s.name, zone)
    if best is None:
        return None
    return (f"spare{len(spares):0{width}d}", best[1], best[2])
