"""Failure domains in the weekly packing: the scenario's tier rules (``survive``, ``zones``) and
server zones turned into :class:`models.packing.failover.FailoverRules`, the hooks
:func:`planner.plan.pack_week` calls before and after its solve, and the tables of the run
(workers with their zone and role, the failover map, the cost of redundancy per tier).

The form (``redundancy.form``: ``reserve``, the default, or ``spread``) was chosen by measurement
(docs/objectives.md, benchmarks/plan_objectives.py).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import pandas as pd

from planner import columns as C
from planner.errors import InfeasiblePlanError

__all__ = ["DomainPlanner", "domain_planner", "check_survivable", "workers_table", "failover_table",
           "redundancy_summary", "installed_servers", "racks_of"]


def check_survivable(scenario) -> None:
    """A tier that must survive a zone loss needs two zones it may run in: say so before planning."""
    zones = sorted({z for s in scenario.servers for z in s.zones})
    for name, t in scenario.tiers.items():
        if t.survive != "zone":
            continue
        usable = sorted(set(t.zones or zones) & set(zones))
        if len(usable) < 2:
            raise InfeasiblePlanError(
                f"tier {name!r} must survive the loss of a zone (tiers.{name}.survive: zone), but its groups can "
                f"only run in zone {usable[0] if usable else '(none)'!r} (servers[].zones: {', '.join(zones)}"
                + (f"; tiers.{name}.zones: {', '.join(t.zones)}" if t.zones else "") + "): losing it leaves no "
                "zone to fail over to. Add a zone to the servers (and the tier), or use survive: worker")


@dataclass
class DomainPlanner:
    """Builds the failover rules of one week's instance and applies the chosen form."""

    tier_of_group: dict[str, str]
    survive: dict[str, str | None]  # tier -> level
    tier_zones: dict[str, frozenset | None]
    type_zones: dict[str, tuple[str, ...]]
    form: str = "reserve"
    zone_cost: dict[str, float] | None = None
    installed: dict[str, dict[str, list[str]]] | None = None  # type -> zone -> rack of each installed server

    def installed_counts(self) -> dict[str, dict[str, int]]:
        return {t: {z: len(r) for z, r in zs.items()} for t, zs in (self.installed or {}).items()}

    def rules(self, instance):
        from models.packing.failover import FailoverRules

        tiers = [self.tier_of_group.get(g) for g in instance.group_ids]
        return FailoverRules(
            level=tuple(self.survive.get(t) for t in tiers),
            zones=tuple(self.tier_zones.get(t) for t in tiers),
            type_zones=self.type_zones, form=self.form, label=tuple(t or "" for t in tiers),
            zone_cost=self.zone_cost)

    def prepare(self, instance):
        """(instance to solve, info for :meth:`finish`)."""
        from models.packing.failover import FailoverInfeasible, zone_isolation
        from models.packing.failover_spread import spread_instance

        rules = self.rules(instance)
        try:
            if self.form == "spread" and rules.any_survive():
                return spread_instance(instance, rules)
            return zone_isolation(instance, rules), {"kind": "plain"}
        except FailoverInfeasible as exc:
            raise InfeasiblePlanError(f"failover: {exc}") from None

    def to_real(self, real, solved, result, info):
        """The solve of :meth:`prepare`'s instance on the real groups: (instance with the shard counts
        used, result, info for :meth:`finish`). A reused plan may carry last week's spares: only the
        serving workers are kept."""
        from models.packing.failover import FailoverInfeasible
        from models.packing.failover_spread import spread_result

        used = {p.worker_id for p in result.placements}
        result = dataclasses.replace(result, workers=tuple((w, t) for w, t in result.workers if w in used))
        try:
            if info["kind"] in ("worker", "zone"):
                inst, result, fixed = spread_result(real, solved, result, info)
                return inst, result, {"kind": "plain", "fixed": fixed, "sized": True}
        except FailoverInfeasible as exc:
            raise InfeasiblePlanError(f"failover: {exc}") from None
        inst = dataclasses.replace(real, min_shards=_shards_of(real, result))
        return inst, result, {"kind": "plain", "fixed": None, "sized": False}

    def finish(self, inst, result, info, max_count: dict[str, int] | None = None):
        """(instance, result with spares, FailoverPlan) for a plan on the real groups (after
        :meth:`to_real` and any per-worker deferral); raises :class:`InfeasiblePlanError` when no
        failover plan exists or the independent check fails.

        The spread form maps lost shards to their siblings when the check accepts it (always for a
        plan sized by :func:`spread_instance`); a plan it does not fit (a reused or re-packed one)
        falls back to the reserve form."""
        from models.packing.failover import (FAILOVER_COLUMNS, FailoverInfeasible, FailoverPlan, assign_zones,
                                             plan_reserve)
        from models.packing.failover_spread import sibling_map
        from models.packing.verify_failover import find_failover_violations

        try:
            rules = self.rules(inst)
            zone_of = assign_zones(inst, result, rules, info.get("fixed"), self.installed_counts())
            plan = None
            if not rules.any_survive():
                plan = FailoverPlan(pd.DataFrame(columns=list(FAILOVER_COLUMNS)), (), zone_of)
            elif self.form == "spread":
                try:
                    plan = sibling_map(inst, result, rules, zone_of)
                    if find_failover_violations(inst, result, _workers(result, zone_of), rules.level, plan.targets):
                        plan = None
                except FailoverInfeasible:
                    plan = None
            if plan is None:
                counts = pd.Series([t for _, t in result.workers]).value_counts()
                limit = None if max_count is None else {t: max(int(m) - int(counts.get(t, 0)), 0)
                                                         for t, m in max_count.items() if m is not None}
                plan = plan_reserve(inst, result, rules, zone_of, limit)
        except FailoverInfeasible as exc:
            raise InfeasiblePlanError(f"failover: {exc}") from None
        cost_of = {s.name: s.cost for s in inst.server_types}
        full = plan.with_spares(result, cost_of)
        from models.packing.verify import find_violations

        # The plan on the real groups (a spread solve was checked on its inflated parts), then its failover.
        violations = find_violations(inst, result) or find_failover_violations(
            inst, result, _workers(full, plan.zone_of_worker), rules.level, plan.targets)
        if violations:
            raise InfeasiblePlanError("failover check failed: " + "; ".join(str(v) for v in violations[:3]))
        return inst, full, plan


def _workers(result, zone_of: dict[str, str]) -> pd.DataFrame:
    return pd.DataFrame([(w, t, zone_of[w]) for w, t in result.workers], columns=["worker_id", "server_type", "zone"])


def _shards_of(instance, result) -> np.ndarray:
    counts = pd.Series([p.group_id for p in result.placements]).value_counts()
    return np.array([max(int(counts.get(g, 1)), 1) for g in instance.group_ids])


def installed_servers(scenario) -> dict[str, dict[str, list[str]]]:
    """Installed servers by type and zone, with the rack of each ("" when not given): the
    inventory's rows, and ``servers[].initial`` in the type's first zone."""
    out: dict[str, dict[str, list[str]]] = {}
    first = {s.type: s.zones[0] for s in scenario.servers}
    for s in scenario.servers:
        if s.initial:
            out.setdefault(s.type, {}).setdefault(first[s.type], []).extend([""] * s.initial)
    for item in scenario.inventory:
        zone = item.zone or first[item.server_type]
        out.setdefault(item.server_type, {}).setdefault(zone, []).extend([item.rack or ""] * item.count)
    return out


def domain_planner(scenario, groups: pd.DataFrame, zone_cost: dict[str, float] | None = None) -> DomainPlanner | None:
    """The week hook for ``scenario``; ``None`` when nothing needs it (no survive rule, no tier
    zones, every server type in one zone and no rack given)."""
    survive = {n: (None if t.survive == "none" else t.survive) for n, t in scenario.tiers.items()}
    tier_zones = {n: (frozenset(t.zones) if t.zones else None) for n, t in scenario.tiers.items()}
    type_zones = {s.type: tuple(s.zones) for s in scenario.servers}
    zones = {z for zs in type_zones.values() for z in zs}
    installed = installed_servers(scenario)
    racks = any(r for zs in installed.values() for rs in zs.values() for r in rs)
    if not any(survive.values()) and not any(tier_zones.values()) and len(zones) <= 1 and not racks:
        return None
    return DomainPlanner(dict(zip(groups[C.GROUP_ID].astype(str), groups["tier"].astype(str))), survive, tier_zones,
                         type_zones, scenario.redundancy.form, zone_cost, installed)


def racks_of(workers: pd.DataFrame, installed: dict[str, dict[str, list[str]]]) -> pd.Series:
    """The rack of each worker row (``week, worker_id, server_type, zone``): per week, type and zone
    the workers in id order take the installed servers' racks; the rest are new servers ("")."""
    racks = []
    taken: dict[tuple, int] = {}
    for r in workers.itertuples(index=False):
        key = (r.week, r.server_type, r.zone)
        i = taken.get(key, 0)
        pool = installed.get(r.server_type, {}).get(r.zone, [])
        racks.append(pool[i] if i < len(pool) else "")
        taken[key] = i + 1
    return pd.Series(racks, index=workers.index, name="rack")


def workers_table(weeks, pool_of: dict[str, str], first_zone: dict[str, str],
                  installed: dict[str, dict[str, list[str]]] | None = None) -> pd.DataFrame:
    """Every worker of every week: ``week, worker_id, server_type, pool, zone, rack, role``
    (``serving`` or ``spare``: an empty reserve server for failover; ``rack`` from the inventory,
    "" for a server not installed yet)."""
    rows = []
    for wp in weeks:
        plan = getattr(wp, "failover", None)
        spares = {w for w, _, _ in plan.spares} if plan is not None else set()
        zone_of = plan.zone_of_worker if plan is not None else {}
        for w, t in wp.result.workers:
            rows.append((wp.week, w, t, pool_of.get(t, "default"), zone_of.get(w, first_zone.get(t, "default")),
                         "spare" if w in spares else "serving"))
    out = pd.DataFrame(rows, columns=["week", "worker_id", "server_type", "pool", "zone", "role"])
    out.insert(5, "rack", racks_of(out.sort_values(["week", "worker_id"]), installed or {}).reindex(out.index))
    return out


def failover_table(weeks) -> pd.DataFrame:
    """The failover map of every week (``week`` + models.packing.failover.FAILOVER_COLUMNS)."""
    from models.packing.failover import FAILOVER_COLUMNS

    parts = [wp.failover.targets.assign(week=wp.week) for wp in weeks if getattr(wp, "failover", None) is not None]
    if not parts:
        return pd.DataFrame(columns=["week", *FAILOVER_COLUMNS])
    out = pd.concat(parts, ignore_index=True)
    return out[["week", *FAILOVER_COLUMNS]]


def redundancy_summary(weeks, scenario) -> dict:
    """The ``redundancy`` block of summary.json: the form, each protected tier's level, spares per
    week and the cost of redundancy per tier (spares' cost per month at the peak, and summed over
    the weeks at 12/52 of a month each). With the spread form the cost is inside the packing and is
    measured against a plan without the rule (benchmarks/plan_objectives.py)."""
    levels = {n: t.survive for n, t in scenario.tiers.items() if t.survive != "none"}
    if not levels:
        return {}
    by_tier_week: dict[str, list[float]] = {t: [] for t in levels}
    spares = []
    for wp in weeks:
        plan = getattr(wp, "failover", None)
        spares.append(len(plan.spares) if plan is not None else 0)
        for t in levels:
            by_tier_week[t].append(float(plan.cost_by_label.get(t, 0.0)) if plan is not None else 0.0)
    out = {
        "form": scenario.redundancy.form,
        "survive": levels,
        "spares_per_week": spares,
        "cost_per_month_peak": {t: round(max(v), 2) for t, v in by_tier_week.items()},
        "cost_over_horizon": {t: round(sum(v) * 12 / 52, 2) for t, v in by_tier_week.items()},
    }
    if scenario.redundancy.form == "spread":
        # A week whose plan the sibling map does not fit (reused or re-packed) took the reserve form.
        out["reserve_fallback_weeks"] = [wp.week for wp in weeks if getattr(wp, "failover", None) is not None
                                         and wp.failover.form != "spread"]
        out["note"] = ("spread form: the failover capacity is inside the packing (shards planned at n/(n-1)); "
                       "the costs above count spares only; compare with a plan without the rule "
                       "(benchmarks/plan_objectives.py)")
    return out
