"""Deferrable work in the plan: each group's deadline class and window, the reshaping of a week's
demand (models/deferral.py, models/packing/deferral.py) and the figures the Plan shows.

A function's deadline class comes from, in order: the scenario's ``deferral.customers`` (its
customer), the catalog's optional ``deadline`` column (a class name), ``deferral.triggers`` (its
trigger), ``deferral.default_class``. A group takes the strictest class of its functions. Work of
slot ``t`` may run up to ``L`` slots later, where

    L = floor((deadline_s - longest duration_s of the group's functions) / slot_s)

so that work arriving at the start of slot ``t`` and run ``L`` slots later still finishes before its
deadline (a 1-hour deadline moves nothing at hourly slots; 4 hours move up to 3 slots).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from planner import columns as C
from planner.errors import InputDataError

__all__ = ["DeferralSetup", "deadline_table", "deferral_setup", "week_figures", "deferral_summary", "planned_demand"]

DEADLINE = "deadline"  # optional catalog column: a deadline class name per function


def deadline_table(catalog: pd.DataFrame, spec, *, slot: str = "1h", path=None) -> pd.DataFrame:
    """Per group: ``group_id, customer, deadline_class, deadline_h, longest_duration_s, window_slots``.

    Raises:
        InputDataError: the catalog names a class the scenario does not define, a function that may
            wait lacks a duration, or a function runs longer than its deadline.
    """
    slot_s = pd.Timedelta(slot).total_seconds()
    cat = catalog
    cls = cat[C.TRIGGER].astype(str).str.lower().map(spec.triggers).fillna(spec.default_class)
    if DEADLINE in cat.columns:
        given = cat[DEADLINE]
        named = given.notna() & (given.astype(str).str.strip() != "")
        unknown = named & ~given.astype(str).isin(spec.classes)
        if unknown.any():
            i = int(np.flatnonzero(unknown.to_numpy())[0])
            raise InputDataError(f"deadline class {str(given.iloc[i])!r} of function {cat[C.UNIQUE_ID].iloc[i]!r} is "
                                 f"not defined in the scenario's deferral.classes ({', '.join(spec.classes)})",
                                 path=path, row=i + 2, column=DEADLINE)
        cls = cls.where(~named, given.astype(str))
    cust = cat[C.CUSTOMER].astype(str)
    cls = cls.where(~cust.isin(spec.customers), cust.map(spec.customers))
    hours = cls.map(spec.classes).astype(float)
    duration = pd.to_numeric(cat[C.DURATION_S], errors="coerce")
    waits = hours > 0
    missing = waits & ~(duration > 0)
    if missing.any():
        i = int(np.flatnonzero(missing.to_numpy())[0])
        raise InputDataError(f"function {cat[C.UNIQUE_ID].iloc[i]!r} (deadline class {cls.iloc[i]!r}) has no duration; "
                             "a deadline computation needs each function's execution time (duration_s > 0)",
                             path=path, row=i + 2, column=C.DURATION_S)
    too_long = waits & (duration > hours * 3600)
    if too_long.any():
        i = int(np.flatnonzero(too_long.to_numpy())[0])
        raise InputDataError(f"function {cat[C.UNIQUE_ID].iloc[i]!r} runs {duration.iloc[i]:g} s, longer than its "
                             f"{hours.iloc[i]:g}-hour deadline (class {cls.iloc[i]!r}); no schedule can meet it: give the "
                             "class a longer deadline or the customer a strict class", path=path, row=i + 2,
                             column=C.DURATION_S)
    per = pd.DataFrame({C.GROUP_ID: cat[C.GROUP_ID].astype(str), C.CUSTOMER: cust, "deadline_class": cls,
                        "deadline_h": hours, "duration_s": duration.where(waits, 0.0)})
    order = per.sort_values([C.GROUP_ID, "deadline_h", "deadline_class"])  # strictest first
    out = order.groupby(C.GROUP_ID, sort=True).agg(
        customer=(C.CUSTOMER, "first"), deadline_class=("deadline_class", "first"), deadline_h=("deadline_h", "first"),
        longest_duration_s=("duration_s", "max")).reset_index()
    out["window_slots"] = [max(0, math.floor((h * 3600 - d) / slot_s + 1e-9)) if h > 0 else 0
                           for h, d in zip(out["deadline_h"], out["longest_duration_s"])]
    return out


@dataclass
class DeferralSetup:
    """How one plan moves lax work: the method and each group's window in slots."""

    method: str
    windows: dict
    table: pd.DataFrame
    _flows: dict = field(default_factory=dict, repr=False)  # week start -> (group ids, flows) of a pre-pass
    # instance -> [T] cost of a CPU core run in each slot (carbon at its price, planner.energy), or None
    slot_cost: object = None

    def cost_of(self, instance):
        return None if self.slot_cost is None else self.slot_cost(instance)

    def window_of(self, instance) -> np.ndarray:
        """Window per group of ``instance`` (0 for groups without a class: anticipated services)."""
        return np.array([int(self.windows.get(g, 0)) for g in instance.group_ids], dtype=np.int64)

    @property
    def before_packing(self) -> bool:
        return self.method in ("flatten", "valleys")

    def prepass(self, instance, start):
        """``instance`` with its lax groups reshaped before packing, and the flows. The LP runs once
        per week: the week's bound and its packings (whole catalog, peak week's fleet) share it."""
        import dataclasses

        from models.packing.deferral import defer_before_packing

        key = pd.Timestamp(start)
        cached = self._flows.get(key)
        if cached is not None and cached[0] == instance.group_ids and np.array_equal(cached[1], instance.demand):
            _, _, flows, shaped = cached
            info = dataclasses.replace(shaped.deferral, original=np.array(instance.demand))
            return dataclasses.replace(instance, demand=shaped.demand, deferral=info), flows
        objective = "own" if self.method == "flatten" else "joint"
        shaped, flows = defer_before_packing(instance, self.window_of(instance), objective,
                                             slot_cost=self.cost_of(instance))
        self._flows[key] = (instance.group_ids, np.array(instance.demand), flows, shaped)
        return shaped, flows


def deferral_setup(scenario, history) -> DeferralSetup | None:
    """The scenario's deferral for the history's groups (``None`` when it is off)."""
    spec = scenario.deferral
    if not spec.enabled:
        return None
    import warnings

    known = set(history.catalog[C.CUSTOMER].astype(str))
    for cust in spec.customers:
        if cust not in known:
            warnings.warn(f"deferral.customers names {cust!r}, which has no functions in the data", stacklevel=3)
    table = deadline_table(history.catalog, spec, slot=scenario.data.slot, path=scenario.resolve(scenario.data.catalog))
    return DeferralSetup(spec.method, dict(zip(table[C.GROUP_ID], table["window_slots"])), table)


def week_figures(wp) -> dict:
    """Work moved in one packed week (from the planned instance's Deferral), in resource-hours."""
    inst = wp.instance
    d = inst.deferral
    if d is None:
        return {}
    r = list(inst.resources)
    total = d.original.sum(axis=(0, 1))
    lax = d.window >= 1
    lax_total = d.original[lax].sum(axis=(0, 1)) if lax.any() else np.zeros(len(r))
    moved = d.moved.sum(axis=0) if d.moved is not None else np.zeros(len(r))
    cpu = r.index(C.CPU_CORES)
    return {
        "week": wp.week, "method": d.method, "lax_groups": int(lax.sum()), "groups": int(len(lax)),
        "moved_cpu_core_hours": float(moved[cpu]), "lax_cpu_core_hours": float(lax_total[cpu]),
        "total_cpu_core_hours": float(total[cpu]),
        "moved_share_of_lax": float(moved[cpu] / lax_total[cpu]) if lax_total[cpu] > 0 else 0.0,
        "moved_share_of_all": float(moved[cpu] / total[cpu]) if total[cpu] > 0 else 0.0,
        "peak_cpu_before": float(d.original.sum(axis=0)[:, cpu].max()),
        "peak_cpu_after": float(inst.demand.sum(axis=0)[:, cpu].max()),
        "cost_per_month": float(wp.result.objective),
    }


def deferral_summary(weeks_table: pd.DataFrame, setup: DeferralSetup, peak_week: int | None,
                     cost_without: float | None) -> dict:
    """JSON-ready: method, classes, lax groups, work moved over the horizon and capacity saved at the
    peak week (the week that sizes the fleet) against packing the same week without deferral."""
    out = {"method": setup.method,
           "groups_by_class": setup.table["deadline_class"].value_counts().to_dict(),
           "window_slots_by_class": setup.table.groupby("deadline_class")["window_slots"].max().to_dict()}
    if len(weeks_table):
        moved, lax, total = (weeks_table[c].sum() for c in ("moved_cpu_core_hours", "lax_cpu_core_hours",
                                                            "total_cpu_core_hours"))
        out.update({"moved_cpu_core_hours": round(float(moved), 3),
                    "moved_share_of_lax_work": round(float(moved / lax), 4) if lax > 0 else 0.0,
                    "moved_share_of_all_work": round(float(moved / total), 4) if total > 0 else 0.0})
    if peak_week is not None and cost_without is not None:
        with_ = float(weeks_table.set_index("week").loc[peak_week, "cost_per_month"])
        out.update({"peak_week": int(peak_week), "peak_week_cost_without": round(cost_without, 2),
                    "peak_week_cost_with": round(with_, 2), "capacity_saved_per_month": round(cost_without - with_, 2),
                    "capacity_saved_share": round(1 - with_ / cost_without, 4) if cost_without > 0 else 0.0})
    return out


def planned_demand(weeks) -> pd.DataFrame:
    """``week, group_id, ds, cpu_cores, memory_gb``: the demand each week packed (tier quantiles,
    lax work moved). ``planner verify --demand planned_demand.csv`` checks a deferred plan's
    capacity against it; against the forecast, moved work would show as overloads in the valleys."""
    parts = []
    for wp in weeks:
        inst = wp.instance
        n_g, n_t, _ = inst.demand.shape
        ds = pd.to_datetime(pd.Index(inst.slots))
        frame = pd.DataFrame({"week": wp.week, C.GROUP_ID: np.repeat(inst.group_ids, n_t), C.DS: np.tile(ds, n_g)})
        for r, name in enumerate(inst.resources):
            frame[name] = inst.demand[:, :, r].reshape(-1)
        parts.append(frame)
    return pd.concat(parts, ignore_index=True)
