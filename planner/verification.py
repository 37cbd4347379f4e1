"""Independent verification of a plan file, one period or a multi-week plan week by week.

``planner run`` writes one assignment for every week of the horizon (its ``week`` column) against
one forecast covering the whole horizon. Week *w* of the plan is checked against the demand rows in
``[first ds + 7w days, first ds + 7(w + 1) days)``, with the rules of the run (groups, tiers and
servers tables). A group whose planned demand is zero in every slot of a week is idle that week:
the run does not pack it, so its absence from the week's assignment is accepted, counted and
reported; a group with demand and no placement is a violation. Every check is
:func:`models.packing.verify.find_violations` on the full slot grid. Where tiers are pooled (a
chance constraint) the check uses the run's residuals (``residuals.parquet``) for the groups'
correlation, and each period reports its workers' predicted overflow probability
(:func:`models.packing.verify.overflow_report`: exact Gaussian and Monte Carlo).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from planner import columns as C
from planner.errors import InputDataError

__all__ = ["PeriodCheck", "verify_plan"]


@dataclass(frozen=True)
class PeriodCheck:
    """The check of one period (a week of a multi-week plan, or the whole demand)."""

    week: int | None
    start: pd.Timestamp | None
    groups: int  # groups checked (placed, or with demand)
    slots: int
    idle_absent: tuple[str, ...]  # groups with no demand and no placement: accepted
    violations: list = field(default_factory=list)  # models.packing.verify.Violation
    overflow: pd.DataFrame | None = None  # per worker predicted overflow probability (pooled tiers)


def _group_column(frame: pd.DataFrame) -> str:
    return C.GROUP_ID if C.GROUP_ID in frame.columns else C.UNIQUE_ID


def _timestamps(demand: pd.DataFrame, path) -> pd.Series:
    if C.DS not in demand.columns:
        raise InputDataError(f"demand lacks column {C.DS!r}", path=path, column=C.DS)
    ds = pd.to_datetime(demand[C.DS], errors="coerce")
    if ds.isna().any():
        row = int(np.flatnonzero(ds.isna().to_numpy())[0]) + 2
        raise InputDataError("unreadable timestamp", path=path, row=row, column=C.DS)
    return ds


def _failover_violations(instance, assignment, groups, domains, week):
    """Issue 17: the plan's failover map checked by removing each worker (and zone) in turn."""
    from models.packing.verify_failover import find_failover_violations

    workers, failover, levels = domains["workers"], domains["failover"], domains["levels"]
    if week is not None:
        workers = workers[workers["week"] == week]
        failover = failover[failover["week"] == week]
    tier_of = groups.drop_duplicates(C.GROUP_ID).set_index(C.GROUP_ID)["tier"].astype(str) if groups is not None else {}
    level = [levels.get(tier_of.get(g)) for g in instance.group_ids]
    return find_failover_violations(instance, assignment, workers, level, failover)


def _check_period(rows, assignment, groups, tiers, servers, path, week=None, start=None, domains=None,
                  residuals=None) -> PeriodCheck:
    from models.packing.verify import Violation, find_violations, overflow_report
    from planner.packing import to_packing_instance

    gcol = _group_column(rows)
    ids = rows[gcol].astype(str)
    sub_groups = None if groups is None else groups[groups[C.GROUP_ID].astype(str).isin(set(ids))]
    instance = to_packing_instance(rows, sub_groups, tiers, servers, path=path, residuals=residuals)
    placed = set(assignment["group_id"].astype(str))
    # mean + z sigma on pooled tiers: a group with zero mean but a spread is risk, not idle
    peak = instance.standalone().max(axis=1)  # [G, R]
    absent = [i for i, g in enumerate(instance.group_ids) if g not in placed]
    idle = tuple(instance.group_ids[i] for i in absent if not (peak[i] > 0).any())
    if idle:  # check the rest without them: their absence is accepted
        keep = ~ids.isin(set(idle))
        rows = rows[keep.to_numpy()]
        sub_groups = None if groups is None else sub_groups[~sub_groups[C.GROUP_ID].astype(str).isin(set(idle))]
        if not len(rows):
            return PeriodCheck(week, start, 0, len(instance.slots), idle, [])
        instance = to_packing_instance(rows, sub_groups, tiers, servers, path=path, residuals=residuals)
        peak = instance.standalone().max(axis=1)
    violations = []
    for v in find_violations(instance, assignment):
        g = v.key[0] if v.family == "assign_once" else None
        if g is not None and g not in placed:  # a clearer word for a group with demand and no placement
            i = instance.group_ids.index(g)
            r = int(np.argmax(peak[i]))
            v = Violation("unplaced", (g,), float(peak[i, r]),
                          f"group {g!r} has demand (peak {peak[i, r]:.6g} {instance.resources[r]}) "
                          f"but no placement")
        violations.append(v)
    if domains is not None and not violations:
        violations += _failover_violations(instance, assignment, groups, domains, week)
    overflow = None
    if instance.chance and len(assignment) and not any(v.family in ("unknown_group", "unknown_server_type")
                                                       for v in violations):
        overflow = overflow_report(instance, assignment)
    return PeriodCheck(week, start, instance.n_groups, len(instance.slots), idle, violations, overflow)


def verify_plan(demand: pd.DataFrame, assignment: pd.DataFrame, groups: pd.DataFrame | None = None,
                tiers=None, servers: pd.DataFrame | None = None, path=None, domains: dict | None = None,
                residuals: pd.DataFrame | None = None) -> list[PeriodCheck]:
    """Check ``assignment`` against ``demand``: week by week when the assignment has a ``week``
    column (weeks of 7 days from the demand's first timestamp), else as one period.

    Args:
        demand: ResourceDemand or Forecast table (see :func:`planner.packing.to_packing_instance`).
        assignment: ``group_id, shard, fraction (or share), worker_id, server_type`` [+ ``week``].
        groups, tiers, servers: the rules (Groups table, tier map, ServerCatalog); ``None`` = none
            (every group its own customer, no headroom) / the default tiers / the built-in catalog.
        path: the demand file, for messages.
        domains: failure domains of the plan (issue 17): ``{"workers": workers.csv, "failover":
            failover.csv, "levels": tier -> "worker" | "zone"}``; each period's failover map is
            then checked by removing each worker and zone in turn
            (:func:`models.packing.verify_failover.find_failover_violations`).
        residuals: the groups' joint standardised residuals (``planner.packing.residual_scenarios``,
            what ``planner run`` writes as ``residuals.parquet``): their correlation under pooled
            tiers; ``None``: independent groups.

    Returns:
        One :class:`PeriodCheck` per period; a week of the assignment without demand rows, or a week
        of the demand with demand but no assignment, is a ``week`` violation.
    """
    from models.packing.verify import Violation

    if servers is not None and "pool" in assignment.columns and servers["pool"].astype(str).nunique() > 1:
        return _verify_pools(demand, assignment, groups, tiers, servers, path)
    if "week" not in assignment.columns:
        return [_check_period(demand, assignment, groups, tiers, servers, path, domains=domains, residuals=residuals)]
    ds = _timestamps(demand, path)
    weeks_col = pd.to_numeric(assignment["week"], errors="coerce")
    if weeks_col.isna().any() or (weeks_col != weeks_col.round()).any() or (weeks_col < 0).any():
        bad = assignment["week"][weeks_col.isna() | (weeks_col != weeks_col.round()) | (weeks_col < 0)].iloc[0]
        raise InputDataError(f"week {bad!r} is not a week index 0, 1, 2, ...", column="week")
    t0 = ds.min()
    week_of = ((ds - t0) // pd.Timedelta(days=7)).astype(int).to_numpy()
    planned_weeks = sorted(int(w) for w in weeks_col.unique())
    out = []
    for w in planned_weeks:
        start = t0 + pd.Timedelta(days=7 * w)
        rows = demand[week_of == w]
        part = assignment[(weeks_col == w).to_numpy()]
        if rows.empty:
            out.append(PeriodCheck(w, start, 0, 0, (), [Violation(
                "week", (w,), 1.0, f"the assignment plans week {w} (from {start.date()}) but the demand has no "
                                   f"rows in it (it covers {ds.min()} to {ds.max()})")]))
            continue
        out.append(_check_period(rows, part, groups, tiers, servers, path, week=w, start=start, domains=domains,
                                 residuals=residuals))
    for w in sorted(set(week_of.tolist()) - set(planned_weeks)):
        rows = demand[week_of == w]
        check = _check_period(rows, assignment.iloc[0:0], groups, tiers, servers, path, week=w,
                              start=t0 + pd.Timedelta(days=7 * w), residuals=residuals)
        if check.violations:  # demand in a week the plan does not cover
            out.append(PeriodCheck(w, check.start, check.groups, check.slots, check.idle_absent, [Violation(
                "week", (w,), float(len(check.violations)),
                f"the demand has {check.groups} group(s) with demand in week {w} (from {check.start.date()}) "
                "but the assignment has no row for that week")]))
    return sorted(out, key=lambda c: c.week)


def _verify_pools(demand, assignment, groups, tiers, servers, path) -> list[PeriodCheck]:
    """A plan of several pools (``planner run`` with pools): each pool checked on its own server
    types with the demand of the groups it holds; a group with demand that no pool holds is checked
    with the first pool (so it is reported unplaced). Checks of the same week are merged."""
    pools = sorted(servers["pool"].astype(str).unique())
    pool_of = dict(zip(assignment["group_id"].astype(str), assignment["pool"].astype(str)))
    unknown = sorted(set(pool_of.values()) - set(pools))
    if unknown:
        raise InputDataError(f"the assignment places groups in pool(s) {unknown} that the servers table does not "
                             f"have ({', '.join(pools)})", column="pool")
    where = demand[_group_column(demand)].astype(str).map(pool_of).fillna(pools[0]).to_numpy()
    merged: dict = {}
    for p in pools:
        rows, part = demand[where == p], assignment[(assignment["pool"].astype(str) == p).to_numpy()]
        if rows.empty and part.empty:
            continue
        sub = servers[servers["pool"].astype(str) == p].reset_index(drop=True)
        for c in verify_plan(rows, part.drop(columns="pool"), groups, tiers, sub, path):
            m = merged.get(c.week)
            merged[c.week] = c if m is None else PeriodCheck(
                c.week, m.start if m.start is not None else c.start, m.groups + c.groups, max(m.slots, c.slots),
                m.idle_absent + c.idle_absent, m.violations + c.violations)
    return [merged[w] for w in sorted(merged, key=lambda w: -1 if w is None else w)]
