"""One definition of a plan's risk, aggregated in one place.

**Risk** is the expected number of overflow slot-hours: summed over the weeks, the workers and the
hourly slots of the plan, the probability that a worker's load exceeds its physical capacity in
that slot. A worker the plan needs but does not install (a procurement shortfall: budget, lead
time, fleet limit) serves nothing, so each slot in which it would carry demand counts as a full
overflow slot-hour: a plan that installs less than it needs carries that unserved demand as risk.

Each worker's risk in a slot is shared among the groups on it in proportion to their planned load
on the slot's binding resource, so the totals per tier, customer, week and server type all add up
to the one total that the terminal, ``summary.json``, the workbook and the what-if table show.

The probability per worker and slot comes from a separate function (``overflow_probability``:
today :func:`planner.plan.overflow_probability`, the groups of a worker pooled with their residual
correlation); a different risk model plugs in there and every total follows. Everything is
aggregated by :func:`aggregate_risk`.

**Against the tiers' targets** (issue 14). A tier's ``overflow_risk`` ε bounds, per worker and
slot, the probability that the worker's load exceeds its *usable* capacity, capacity x (1 -
headroom); the same probability model against that capacity gives each worker's **predicted
overflow probability** (its largest over the slots). :func:`overflow_vs_target` sets, per tier (or
customer, or week and server type), the target ε beside the predicted probability (the largest of
the workers holding it) and the **expected overflow share**: the expected overflow slot-hours of
those workers (physical capacity, each worker counted whole, once per tier and week) over their
slot-hours, which is exactly what a backtest measures as the realised overflow share
(planner.backtest.summarise).

**Headroom breach** (issue 17, fair risk). With ``reference_headroom`` (tier -> its headroom),
each contribution also carries ``breach``: the group's share of the worker's slots weighted by the
probability that the worker's load exceeds capacity x (1 - its *tier's* headroom), i.e. eats into
the margin its tier promises to keep free. It is the per-customer form of the quantity a tier's ε
bounds, and (unlike the physical-capacity risk, a far Gaussian tail of 1e-10 on a sized fleet) it
falls when the customer's own headroom is raised, which is the fairness bound's lever.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import pandas as pd

from planner import columns as C

__all__ = ["CONTRIBUTION_COLUMNS", "RiskSummary", "aggregate_risk", "exact_sum", "plan_risk", "risk_contributions",
           "sum_by", "unserved_workers", "overflow_vs_target"]

#: Columns of the contribution table: one row per (week, worker, group). ``exposure`` is the group's
#: share of the worker's binding load summed over the slots (slot-hours), so ``risk / exposure`` is
#: the mean overflow probability of the slots its load sits in; ``breach`` the same weighted sum of
#: the probability of exceeding the tier's usable capacity (module docstring; NaN when not computed).
CONTRIBUTION_COLUMNS = ("week", "pool", "server_type", "worker_id", "installed", C.GROUP_ID, C.CUSTOMER, "tier", "risk",
                        "exposure", "breach")
_KEYS = list(CONTRIBUTION_COLUMNS[:-3])


def exact_sum(values, min_count: int = 0) -> float:
    """The correctly rounded sum of ``values`` (``math.fsum``), NaN skipped; NaN when fewer than
    ``min_count`` values remain. Every risk total is taken this way: it does not depend on the
    rows' order nor on the library that adds (pandas 2 and 3 round a groupby sum differently, and
    the plan's risk differed in its last bits between two environments; docs/planning.md)."""
    v = np.asarray(values, dtype=float)
    v = v[~np.isnan(v)]
    if len(v) < max(min_count, 1):
        return np.nan if min_count else 0.0
    return float(v[0]) if len(v) == 1 else math.fsum(v)


def sum_by(frame: pd.DataFrame, by, columns, min_count: int = 0) -> pd.DataFrame:
    """``frame.groupby(by, sort=True)[columns].sum(min_count=...)`` with :func:`exact_sum` per group:
    the same index (the sorted keys), sums that do not depend on the rows' order or pandas."""
    g = frame.groupby(by, sort=True, observed=True)
    index = g.size().index
    codes = g.ngroup().to_numpy()
    keep = codes >= 0  # rows with a missing key belong to no group, as in pandas
    order = np.flatnonzero(keep)[np.argsort(codes[keep], kind="stable")]
    bounds = np.searchsorted(codes[order], np.arange(len(index) + 1))
    starts, ends = bounds[:-1], bounds[1:]
    many = np.flatnonzero(ends - starts > 1)  # one-row groups (most shard merges) need no adding
    out = {}
    for col in [columns] if isinstance(columns, str) else columns:
        v = frame[col].to_numpy(dtype=float)[order]
        sums = v[np.minimum(starts, max(len(v) - 1, 0))] if len(v) else np.zeros(len(starts))
        sums = np.where(ends > starts, sums, np.nan)
        if min_count == 0:
            sums = np.where(np.isnan(sums), 0.0, sums)
        sums[many] = [exact_sum(v[starts[i]:ends[i]], min_count) for i in many]
        out[col] = sums
    return pd.DataFrame(out, index=index, columns=[columns] if isinstance(columns, str) else list(columns))


def unserved_workers(loads, pool_of: dict[str, str], shortfall: pd.DataFrame, week: int,
                     resources=(C.CPU_CORES, C.MEMORY_GB)) -> set[str]:
    """Workers of ``week`` that the procurement leaves without a server.

    ``shortfall`` is ``ProcurementResult.shortfall``. A shortfall of *n* servers of a type drops the
    *n* least-loaded workers of that type (the operator keeps the busiest running); a capacity
    shortfall (``server_type == "*"``, capacity substitution) drops the pool's least-loaded workers
    until their capacity covers it in every short resource.
    """
    if shortfall is None or shortfall.empty:
        return set()
    rows = shortfall[shortfall["week"] == week]
    if rows.empty:
        return set()
    workers = np.asarray(loads.workers)
    cap = loads.capacity[:, 0, :]  # [W, R]
    with np.errstate(divide="ignore", invalid="ignore"):
        size = np.nan_to_num(loads.mean / loads.capacity).sum(axis=(1, 2))  # load over the week
    order = np.lexsort((workers, size))  # least loaded first, ties by name
    pools = np.array([pool_of.get(t, "default") for t in loads.server_type])
    out: set[str] = set()
    for rec in rows[rows["resource"] == "servers"].itertuples(index=False):
        n = int(math.ceil(float(rec.shortfall) - 1e-6))
        same = [i for i in order if loads.server_type[i] == rec.server_type and workers[i] not in out]
        out.update(workers[i] for i in same[:n])
    capacity_rows = rows[rows["resource"] != "servers"]
    for pool, part in capacity_rows.groupby("pool", sort=True):
        need = {r: float(v) for r, v in part.groupby("resource")["shortfall"].sum().items()}
        resources = list(resources)
        removed = np.zeros(cap.shape[1])
        for i in order:
            if pools[i] != pool or workers[i] in out:
                continue
            if all(removed[resources.index(r)] >= v - 1e-9 for r, v in need.items() if r in resources):
                break
            out.add(workers[i])
            removed += cap[i]
    return out


def risk_contributions(week: int, loads, probability: np.ndarray, planned_by_group: dict[str, np.ndarray],
                       assignment: pd.DataFrame, groups: pd.DataFrame, pool_of: dict[str, str],
                       unserved: set[str] = frozenset(), breach: dict[str, np.ndarray] | None = None) -> pd.DataFrame:
    """Risk of one week, one row per (worker, group) (see :data:`CONTRIBUTION_COLUMNS`).

    Args:
        loads: the week's :class:`planner.plan.WorkerLoads` (workers, types, capacity, planned load).
        probability: ``[W, T]`` probability that worker ``w`` overflows in slot ``t`` (workers as in
            ``loads``).
        planned_by_group: group id -> ``[T, R]`` planned demand of the whole group.
        assignment: the week's ``group_id, fraction (or share), worker_id`` rows.
        groups: Groups table ``group_id, customer, tier``.
        unserved: workers left without a server (:func:`unserved_workers`): probability 1 in every
            slot where they carry demand.
        breach: tier -> ``[W, T]`` probability that the worker's load exceeds capacity x (1 - that
            tier's headroom): the ``breach`` column (NaN for a tier not in it; all NaN without it).
    """
    frame = assignment.rename(columns={"share": "fraction"})
    w_index = {w: i for i, w in enumerate(loads.workers)}
    p = np.array(probability, dtype=float, copy=True)
    b = {t: np.array(v, dtype=float, copy=True) for t, v in (breach or {}).items()}
    for w in unserved:
        i = w_index[w]
        p[i] = (loads.planned[i] > 0).any(axis=1).astype(float)
        for v in b.values():
            v[i] = p[i]
    # The binding resource of each worker and slot: the largest planned load over capacity.
    binding = (loads.planned / loads.capacity).argmax(axis=2)  # [W, T]
    cust = groups.drop_duplicates(C.GROUP_ID).set_index(C.GROUP_ID)
    by_worker = {w: part for w, part in frame.groupby(frame["worker_id"].astype(str), sort=True)}
    rows = []
    for w, part in by_worker.items():
        i = w_index[w]
        gids = part[C.GROUP_ID].astype(str).to_list()
        shares = np.stack([f * planned_by_group[g] for g, f in zip(gids, part["fraction"].astype(float))])  # [n, T, R]
        own = np.take_along_axis(shares, binding[i][None, :, None], axis=2)[:, :, 0]  # [n, T]
        total = own.sum(axis=0)
        split = np.where(total > 0, own / np.where(total > 0, total, 1.0), 1.0 / len(gids))
        risk = (split * p[i][None, :]).sum(axis=1)
        exposure = split.sum(axis=1)
        for g, s, r, e in zip(gids, split, risk, exposure):
            t = cust["tier"].get(g, "")
            br = float((s * b[t][i]).sum()) if t in b else np.nan
            rows.append((week, pool_of.get(str(loads.server_type[i]), "default"), str(loads.server_type[i]), w,
                         w not in unserved, g, cust[C.CUSTOMER].get(g, g), t, float(r), float(e), br))
    out = pd.DataFrame(rows, columns=list(CONTRIBUTION_COLUMNS))
    # Several shards of one group on one worker are one contribution (min_count: NaN stays NaN).
    return sum_by(out, _KEYS, ["risk", "exposure", "breach"], min_count=1).reset_index()


@dataclass(frozen=True)
class RiskSummary:
    """Every total of a plan's risk (expected overflow slot-hours), all from one table.

    ``total`` = the sum of ``by_tier`` = of ``by_customer`` = of ``by_week_type`` = of ``by_worker``;
    ``unserved`` is the part that comes from workers left without a server.
    """

    total: float
    unserved: float
    by_tier: dict[str, float]
    by_customer: pd.Series
    exposure_by_customer: pd.Series  # slot-hours of load share (CONTRIBUTION_COLUMNS); risk / exposure = rate
    by_week_type: pd.Series  # (week, server_type) -> risk
    by_worker: pd.DataFrame  # week, worker_id, server_type, installed, risk, groups (+ slot_hours,
    #                         overflow_probability, overflow_risk from plan_risk: see overflow_vs_target)
    contributions: pd.DataFrame = field(repr=False)
    # Expected slot-hours beyond the tier's usable capacity (module docstring); NaN where not computed.
    breach_by_customer: pd.Series = field(default_factory=lambda: pd.Series(dtype=float), repr=False)

    def to_summary(self, digits: int = 3) -> dict:
        """The JSON block of ``summary.json``: ``total_slot_hours``, ``unserved_slot_hours``,
        ``by_tier`` (they add up to the total, up to rounding) and the definition."""
        return {
            "definition": "expected overflow slot-hours: sum over weeks, workers and hourly slots of "
                          "P(load > capacity); a worker left without a server overflows in every slot "
                          "where it carries demand (docs/planning.md)",
            "total_slot_hours": round(self.total, digits),
            "unserved_slot_hours": round(self.unserved, digits),
            "by_tier": {t: round(v, digits) for t, v in self.by_tier.items()},
        }


def aggregate_risk(contributions: pd.DataFrame, tiers=(), workers: pd.DataFrame | None = None) -> RiskSummary:
    """All totals of a plan's risk from its contribution table (:func:`risk_contributions` of
    every week, concatenated). ``tiers`` lists tiers to report even when their risk is 0;
    ``workers`` (``week, worker_id`` and more columns) joins ``by_worker``."""
    c = contributions if len(contributions) else pd.DataFrame(columns=list(CONTRIBUTION_COLUMNS))
    if "exposure" not in c.columns:
        c = c.assign(exposure=0.0)
    if "breach" not in c.columns:
        c = c.assign(breach=np.nan)
    c = c.astype({"risk": float, "exposure": float, "breach": float})
    by_tier = {str(t): 0.0 for t in tiers}
    by_tier.update({str(t): float(v) for t, v in sum_by(c, "tier", "risk")["risk"].items()})
    worker_keys = ["week", "worker_id", "server_type", "installed"]
    by_worker = (c.groupby(worker_keys, sort=True).agg(groups=(C.GROUP_ID, lambda s: sorted(set(s))))
                 .join(sum_by(c, worker_keys, "risk"))[["risk", "groups"]].reset_index())
    if workers is not None and len(workers):
        by_worker = by_worker.merge(workers, on=["week", "worker_id"], how="left")
    return RiskSummary(
        total=exact_sum(c["risk"]),
        unserved=exact_sum(c.loc[~c["installed"].astype(bool), "risk"]) if len(c) else 0.0,
        by_tier=dict(sorted(by_tier.items())),
        by_customer=sum_by(c, C.CUSTOMER, "risk")["risk"],
        exposure_by_customer=sum_by(c, C.CUSTOMER, "exposure")["exposure"],
        by_week_type=sum_by(c, ["week", "server_type"], "risk")["risk"],
        by_worker=by_worker,
        contributions=c,
        breach_by_customer=sum_by(c, C.CUSTOMER, "breach", min_count=1)["breach"],
    )


#: (WeekPlan, WorkerLoads, usable=False) -> ``[W, T]`` probability that each worker's load exceeds its
#: capacity (``usable``: capacity x (1 - headroom)) in each slot.
ProbabilityModel = Callable[..., np.ndarray]


def plan_risk(weeks, loads: dict, groups: pd.DataFrame, pool_of: dict[str, str], shortfall: pd.DataFrame | None,
              probability: ProbabilityModel | None = None, tiers=(), targets: dict[str, float] | None = None,
              reference_headroom: dict[str, float] | None = None) -> RiskSummary:
    """The risk of a whole plan: every week's contributions under ``probability`` (default
    :func:`planner.plan.overflow_probability`), workers left unserved by ``shortfall`` (the
    procurement's) counted as overflowing, aggregated by :func:`aggregate_risk`. ``by_worker``
    also holds each worker's ``slot_hours``, its predicted ``overflow_probability`` (the largest over
    the slots, against the usable capacity; 1 for an unserved worker with demand) and, with
    ``targets`` (tier -> ε), its ``overflow_risk``: the strictest target of its groups' tiers.
    With ``reference_headroom`` (tier -> headroom) the contributions carry ``breach`` (module
    docstring): the same probability model against capacity x (1 - the tier's headroom)."""
    if probability is None:
        from planner.plan import overflow_probability as probability
    tier_of = groups.drop_duplicates(C.GROUP_ID).set_index(C.GROUP_ID)["tier"].astype(str).to_dict()
    parts, stats = [], []
    for wp in weeks:
        wl = loads[wp.week]
        planned = {g: wp.instance.demand[i] for i, g in enumerate(wp.instance.group_ids)}
        unserved = unserved_workers(wl, pool_of, shortfall, wp.week, wp.instance.resources)
        frame = wp.result.assignment_frame()
        breach = None
        if reference_headroom:  # one probability per distinct headroom, not per tier
            by_h = {h: probability(wp, dataclasses.replace(wl, usable=wl.capacity * (1.0 - h)), usable=True)
                    for h in sorted(set(reference_headroom.values()))}
            breach = {t: by_h[h] for t, h in reference_headroom.items()}
        parts.append(risk_contributions(wp.week, wl, probability(wp, wl), planned, frame,
                                        groups, pool_of, unserved, breach))
        worst = probability(wp, wl, usable=True).max(axis=1)  # [W]
        on = frame.groupby(frame["worker_id"].astype(str))["group_id"].apply(lambda s: set(s.astype(str)))
        for i, w in enumerate(wl.workers):
            p = 1.0 if w in unserved and (wl.planned[i] > 0).any() else float(worst[i])
            eps = [targets[tier_of[g]] for g in on.get(w, ()) if targets and tier_of.get(g) in targets]
            stats.append((wp.week, w, int(wl.mean.shape[1]), p, min(eps) if eps else np.nan))
    workers = pd.DataFrame(stats, columns=["week", "worker_id", "slot_hours", "overflow_probability", "overflow_risk"])
    return aggregate_risk(pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(), tiers, workers)


#: Columns of :func:`overflow_vs_target`.
TARGET_COLUMNS = ("overflow_risk", "overflow_probability", "expected_overflow_share", "slot_hours",
                  "expected_overflow_hours", "workers")


def overflow_vs_target(risk: RiskSummary, by: str, groups: pd.DataFrame | None = None,
                       targets: dict[str, float] | None = None) -> pd.DataFrame:
    """The plan's promise per ``by`` (``tier``, ``customer`` or ``server_type``, with ``week`` for a
    server type) against what it predicts, from ``risk.by_worker`` (module docstring).

    Columns: the key(s), ``overflow_risk`` (the target ε: the tier's for a tier, the customer's
    tier's for a customer, for a server type that of its worker with the largest predicted
    probability over target), ``overflow_probability`` (the largest predicted overflow probability
    of the workers holding it; for a server type that same worker's), ``expected_overflow_share``
    (their expected overflow slot-hours over their slot-hours, each worker counted whole),
    ``slot_hours``, ``expected_overflow_hours`` and ``workers`` (worker-weeks).
    """
    w = risk.by_worker
    if not len(w) or "overflow_probability" not in w.columns:
        return pd.DataFrame(columns=[by, *TARGET_COLUMNS])
    if by == "server_type":
        ratio = w["overflow_probability"] / w["overflow_risk"].where(w["overflow_risk"] > 0)
        w = w.assign(_ratio=ratio.fillna(-1.0)).sort_values(["week", "server_type", "_ratio", "worker_id"])
        worst = w.groupby(["week", "server_type"], sort=True).tail(1).set_index(["week", "server_type"])
        out = w.groupby(["week", "server_type"], sort=True).agg(slot_hours=("slot_hours", "sum"),
                                                                workers=("worker_id", "size"))
        out["expected_overflow_hours"] = sum_by(w, ["week", "server_type"], "risk")["risk"]
        out["overflow_risk"] = worst["overflow_risk"]
        out["overflow_probability"] = worst["overflow_probability"]
    else:
        keys = groups.drop_duplicates(C.GROUP_ID).set_index(C.GROUP_ID)[by].astype(str)
        long = w.explode("groups")
        long[by] = long["groups"].map(keys)
        per = long.dropna(subset=[by]).drop_duplicates(["week", "worker_id", by])
        out = per.groupby(by, sort=True).agg(
            slot_hours=("slot_hours", "sum"), overflow_probability=("overflow_probability", "max"),
            workers=("worker_id", "size"))
        out["expected_overflow_hours"] = sum_by(per, by, "risk")["risk"]
        tier_of_key = (groups.drop_duplicates(by).set_index(by)["tier"].astype(str) if by != "tier"
                       else pd.Series(out.index, index=out.index))
        out["overflow_risk"] = [np.nan if targets is None else targets.get(tier_of_key.get(k), np.nan) for k in out.index]
    out["expected_overflow_share"] = out["expected_overflow_hours"] / out["slot_hours"].where(out["slot_hours"] > 0)
    return out.reset_index()[[*([by] if by != "server_type" else ["week", "server_type"]), *TARGET_COLUMNS]]
