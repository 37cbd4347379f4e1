"""Hold a plan against what really happened: replay actual demand on the plan's assignment, week by
week, and report per tier and customer the overflow slot-hours, the worst overload and the realised
utilisation, for the shape-aware plan and for the peak-based plan of the same weeks."""

from __future__ import annotations

import numpy as np
import pandas as pd

from planner import columns as C
from planner.errors import InputDataError


def actual_cube(actual: pd.DataFrame, instance, start: pd.Timestamp) -> np.ndarray:
    """Actual demand ``[group, slot, resource]`` of one week, aligned with ``instance``'s groups;
    slots without actuals (past the end of the file) are NaN."""
    slots = pd.date_range(start, periods=len(instance.slots), freq="1h")
    week = actual[(actual[C.DS] >= slots[0]) & (actual[C.DS] <= slots[-1])]
    cube = np.full((instance.n_groups, len(slots), len(instance.resources)), np.nan)
    index = {g: i for i, g in enumerate(instance.group_ids)}
    t_index = {t: i for i, t in enumerate(slots)}
    for rec in week.itertuples(index=False):
        g = index.get(str(getattr(rec, C.GROUP_ID)))
        t = t_index.get(pd.Timestamp(getattr(rec, C.DS)))
        if g is not None and t is not None:
            cube[g, t] = [getattr(rec, r) for r in instance.resources]
    # Groups of the plan with no actual rows had no demand; slots past the file stay NaN.
    covered = ~np.isnan(cube).all(axis=(0, 2))
    cube[:, covered] = np.nan_to_num(cube[:, covered])
    return cube


def replay(instance, assignment: pd.DataFrame, cube: np.ndarray, groups: pd.DataFrame) -> pd.DataFrame:
    """Per worker and slot: actual load / capacity (worst resource), and whose groups sit there."""
    from planner.plan import sum_per_worker, worker_capacity

    workers = sorted(assignment["worker_id"].astype(str).unique())
    loads = sum_per_worker(instance, assignment, cube, workers)
    _, cap = worker_capacity(instance, assignment, workers)
    ratio = loads / cap
    worst = ratio.max(axis=2)  # [W, T]
    cust_of = groups.set_index(C.GROUP_ID)[C.CUSTOMER].astype(str).to_dict()
    tier_of = groups.set_index(C.GROUP_ID)["tier"].astype(str).to_dict()
    rows = []
    on = assignment.groupby("worker_id")["group_id"].apply(lambda s: sorted(set(s.astype(str))))
    for i, w in enumerate(workers):
        valid = ~np.isnan(worst[i])
        for g in on[w]:
            rows.append({"worker_id": w, "group_id": g, C.CUSTOMER: cust_of.get(g), "tier": tier_of.get(g),
                         "slot_hours": int(valid.sum()),
                         "overflow_slot_hours": int((worst[i][valid] > 1.0 + 1e-9).sum()),
                         "worst_overload": float(np.nanmax(worst[i])) if valid.any() else np.nan,
                         "cpu_utilisation": float(np.nanmean(ratio[i, :, 0])) if valid.any() else np.nan,
                         "memory_utilisation": float(np.nanmean(ratio[i, :, 1])) if valid.any() else np.nan})
    return pd.DataFrame(rows)


def summarise(exposure: pd.DataFrame, by: str) -> pd.DataFrame:
    """Overflow share = overflow slot-hours / slot-hours of the workers the tier's (customer's)
    groups sit on, each worker counted once per tier (customer)."""
    per = exposure.drop_duplicates(["worker_id", by, "plan", "week"])
    out = per.groupby(["plan", by]).agg(
        slot_hours=("slot_hours", "sum"), overflow_slot_hours=("overflow_slot_hours", "sum"),
        worst_overload=("worst_overload", "max"), cpu_utilisation=("cpu_utilisation", "mean"),
        memory_utilisation=("memory_utilisation", "mean")).reset_index()
    out["overflow_share"] = out["overflow_slot_hours"] / out["slot_hours"].where(out["slot_hours"] > 0)
    return out


def run_backtest(run, actual_demand: pd.DataFrame) -> dict:
    """Replay ``actual_demand`` (ResourceDemand, group level) against a PlanRun's weeks."""
    missing = [c for c in (C.GROUP_ID, C.DS, *C.RESOURCES) if c not in actual_demand.columns]
    if missing:
        raise InputDataError(f"actuals are not a ResourceDemand table: missing {missing}")
    groups = _all_groups(run)
    parts, costs = [], []
    for wp in run.weeks:
        cube = actual_cube(actual_demand, wp.instance, wp.start)
        if np.isnan(cube).all():
            continue
        for label, res in (("shape", wp.result), ("peak", wp.peak_result)):
            exp = replay(wp.instance, res.assignment_frame(), cube, groups)
            parts.append(exp.assign(plan=label, week=wp.week))
            costs.append({"week": wp.week, "plan": label, "cost_per_month": float(res.objective),
                          "workers": len(res.workers)})
    if not parts:
        raise InputDataError("the actuals do not overlap the plan's horizon "
                             f"(which starts {run.weeks[0].start}); give demand for those weeks")
    exposure = pd.concat(parts, ignore_index=True)
    return {"by_tier": summarise(exposure, "tier"), "by_customer": summarise(exposure, C.CUSTOMER),
            "cost": pd.DataFrame(costs), "exposure": exposure}


def _all_groups(run) -> pd.DataFrame:
    g = run.history.groups[[C.GROUP_ID, C.CUSTOMER, "tier"]]
    extra = [a for a in run.scenario.anticipated if a.name not in set(g[C.GROUP_ID])]
    if extra:
        tiers = g.groupby(C.CUSTOMER)["tier"].first()
        g = pd.concat([g, pd.DataFrame({C.GROUP_ID: [a.name for a in extra], C.CUSTOMER: [a.customer for a in extra],
                                        "tier": [tiers.get(a.customer, run.scenario.customers.default_tier) for a in extra]})])
    return g
