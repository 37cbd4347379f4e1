"""From planned demand to a verified packing: instance building, solving, result tables.

``to_packing_instance`` accepts either

* a ResourceDemand-like table ``group_id (or unique_id), ds, cpu_cores, memory_gb``, or
* a Forecast table ``unique_id, ds, resource, mean, q50 .. q99``, from which each group's tier
  quantile column is taken,

plus the Groups table (``group_id, customer, tier``), the tiers and the ServerCatalog.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd

from models.packing.instance import PackingInstance
from models.packing.result import PackingResult, SolveOptions
from planner.columns import CUSTOMER, DS, GROUP_ID, MEAN, QUANTILES, RESOURCE, RESOURCES, UNIQUE_ID
from planner.errors import InfeasiblePlanError, InputDataError
from planner.qos import DEFAULT_TIERS, Tier
from planner.servers import default_servers, server_types

__all__ = ["to_packing_instance", "demand_cube", "solve", "assignment_frame", "workers_frame", "summary", "read_assignment"]

ASSIGNMENT_COLUMNS = ("group_id", "shard", "fraction", "worker_id", "server_type")


def _slot_label(ds: pd.Series) -> list[str]:
    return [t.strftime("%Y-%m-%dT%H:%M") if isinstance(t, pd.Timestamp) else str(t) for t in ds]


def demand_cube(demand: pd.DataFrame, quantile_of: dict[str, str] | None, default_quantile: str,
                 resources, path=None) -> tuple[list[str], list, np.ndarray]:
    """Groups, slots and ``[group, slot, resource]`` demand from either table shape."""
    frame = demand.copy()
    gcol = GROUP_ID if GROUP_ID in frame.columns else UNIQUE_ID
    if gcol not in frame.columns or DS not in frame.columns:
        raise InputDataError(f"demand needs columns {GROUP_ID!r} (or {UNIQUE_ID!r}) and {DS!r}", path=path)
    frame[gcol] = frame[gcol].astype(str)
    frame[DS] = pd.to_datetime(frame[DS], errors="coerce")
    if frame[DS].isna().any():
        row = int(np.flatnonzero(frame[DS].isna().to_numpy())[0]) + 2
        raise InputDataError("unreadable timestamp", path=path, row=row, column=DS)
    if RESOURCE in frame.columns:  # Forecast table: pick the tier quantile per group
        cols = [c for c in (MEAN,) + QUANTILES if c in frame.columns]
        if not cols:
            raise InputDataError(f"forecast has no quantile columns {(MEAN,) + QUANTILES}", path=path)
        q = frame[gcol].map(quantile_of or {}).astype(object).fillna(default_quantile)
        for needed in q.unique():
            if needed not in frame.columns:
                raise InputDataError(f"forecast lacks column {needed!r} asked for by a tier", path=path, column=needed)
        values = np.choose(q.map({c: i for i, c in enumerate(cols)}).to_numpy(), [frame[c].to_numpy() for c in cols]) \
            if len(cols) > 1 else frame[cols[0]].to_numpy()
        long = pd.DataFrame({gcol: frame[gcol], DS: frame[DS], RESOURCE: frame[RESOURCE].astype(str), "v": values})
        unknown = sorted(set(long[RESOURCE]) - set(resources))
        if unknown:
            warnings.warn(f"ignoring forecast resources {unknown}; packing uses {list(resources)}")
        long = long[long[RESOURCE].isin(resources)]
    else:
        missing = [r for r in resources if r not in frame.columns]
        if missing:
            raise InputDataError(f"demand lacks column(s) {missing}", path=path)
        long = frame.melt(id_vars=[gcol, DS], value_vars=list(resources), var_name=RESOURCE, value_name="v")
    bad = long["v"].isna() | ~np.isfinite(long["v"].astype(float))
    if bad.any():
        r = long[bad].iloc[0]
        raise InputDataError(f"group {r[gcol]!r}: missing demand of {r[RESOURCE]} at {r[DS]}", path=path,
                             column=r[RESOURCE])
    neg = long["v"] < 0
    if neg.any():
        r = long[neg].iloc[0]
        raise InputDataError(f"group {r[gcol]!r}: negative demand {r['v']:g} of {r[RESOURCE]} at {r[DS]}; "
                             "demand must be >= 0", path=path, column=r[RESOURCE])
    dup = long.duplicated([gcol, DS, RESOURCE])
    if dup.any():
        r = long[dup].iloc[0]
        raise InputDataError(f"group {r[gcol]!r}: several rows for slot {r[DS]} ({r[RESOURCE]})", path=path)
    groups = sorted(long[gcol].unique())
    slots = sorted(long[DS].unique())
    per_group = long.groupby(gcol)[DS].nunique()
    for g in groups:
        if per_group[g] != len(slots):
            have = set(long.loc[long[gcol] == g, DS])
            lacking = [s for s in slots if s not in have]
            raise InputDataError(
                f"group {g!r} has {per_group[g]} slots, others have {len(slots)}: slots differ between "
                f"groups (first missing: {pd.Timestamp(lacking[0])}); give every group the same slots",
                path=path,
            )
    cube = (long.pivot_table(index=[gcol, DS], columns=RESOURCE, values="v", aggfunc="first")
            .reindex(pd.MultiIndex.from_product([groups, slots]))
            .reindex(columns=list(resources)))
    arr = cube.to_numpy(dtype=float).reshape(len(groups), len(slots), len(resources))
    return groups, slots, arr


def to_packing_instance(demand: pd.DataFrame, groups: pd.DataFrame | None = None,
                        tiers: dict[str, Tier] | None = None, servers: pd.DataFrame | None = None,
                        default_quantile: str = "q95", resources=RESOURCES, path=None) -> PackingInstance:
    """Build the PackingInstance of one planning period.

    Args:
        demand: ResourceDemand-like (``group_id, ds, cpu_cores, memory_gb``) or Forecast
            (``unique_id, ds, resource, mean, q50..q99``) table.
        groups: Groups table ``group_id, customer, tier``; without it every group is its own customer
            with no headroom and no placement rules.
        tiers: tier name -> :class:`Tier`; default :data:`planner.qos.DEFAULT_TIERS`.
        servers: ServerCatalog; default :func:`planner.servers.default_servers`.
        default_quantile: forecast column for groups without a tier.
        path: the demand file, for error messages.
    """
    tiers = DEFAULT_TIERS if tiers is None else tiers
    tier_of: dict[str, Tier] = {}
    customer_of: dict[str, str] = {}
    if groups is not None:
        for col in (GROUP_ID, CUSTOMER, "tier"):
            if col not in groups.columns:
                raise InputDataError(f"groups table lacks column {col!r}; expected group_id, customer, tier")
        for row_no, row in enumerate(groups.to_dict("records"), start=2):
            t = str(row["tier"])
            if t not in tiers:
                raise InputDataError(f"unknown tier {t!r}; known tiers: {sorted(tiers)}", row=row_no, column="tier")
            tier_of[str(row[GROUP_ID])] = tiers[t]
            h = row.get("headroom")  # a group's own headroom above its tier's (the fairness bound)
            if h is not None and not pd.isna(h) and float(h) > tiers[t].headroom:
                import dataclasses

                tier_of[str(row[GROUP_ID])] = dataclasses.replace(tiers[t], headroom=float(h))
            customer_of[str(row[GROUP_ID])] = str(row[CUSTOMER])
    quantile_of = {g: t.quantile for g, t in tier_of.items()}
    gids, slots, cube = demand_cube(demand, quantile_of, default_quantile, resources, path)
    if groups is not None:
        lacking = [g for g in gids if g not in tier_of]
        if lacking:
            raise InputDataError(f"group(s) {lacking[:5]} of the demand are not in the groups table")
    no_rule = Tier("none", default_quantile, 0.0, 1, False)
    tier = [tier_of.get(g, no_rule) for g in gids]
    customer = [customer_of.get(g, g) for g in gids]
    # Spread and isolation hold per customer and tier: a customer with groups in several tiers
    # gets one rule key per tier ("acme/premium"), so its dedicated groups stay among themselves.
    tiers_of_customer: dict[str, set] = {}
    for c, t in zip(customer, tier):
        tiers_of_customer.setdefault(c, set()).add(t.name)
    customer = [c if len(tiers_of_customer[c]) == 1 else f"{c}/{t.name}" for c, t in zip(customer, tier)]
    catalog = default_servers() if servers is None else servers
    try:
        return PackingInstance(
            group_ids=tuple(gids),
            slots=tuple(_slot_label(pd.Series(slots))),
            resources=tuple(resources),
            demand=cube,
            server_types=server_types(catalog, resources),
            headroom=np.array([t.headroom for t in tier]),
            customer=tuple(customer),
            spread=np.array([t.spread for t in tier]),
            isolation=tuple(c if t.isolated else None for c, t in zip(customer, tier)),
        )
    except ValueError as exc:
        raise InputDataError(str(exc), path=path) from None


def solve(instance: PackingInstance, backend: str = "cpsat", settings=None, **overrides) -> PackingResult:
    """Solve and verify; raise :class:`InfeasiblePlanError` (with the explanation) when there is no plan.

    Args:
        instance: from :func:`to_packing_instance`.
        backend: ``cpsat``, ``milp``, ``heuristic`` or ``peak``.
        settings: a :class:`models.packing.result.SolveOptions` or any object with ``time_limit_s``,
            ``workers``, ``seed``, ``mip_gap`` attributes (e.g. the planner's SolverSettings).
        overrides: fields of :class:`SolveOptions` (``time_limit_s=10``, ``workers=2`` ...).
    """
    from models.packing.explain import explain_infeasibility
    from models.packing.solve import solve_packing

    fields = {}
    if settings is not None:
        for name in SolveOptions.__dataclass_fields__:
            if hasattr(settings, name):
                fields[name] = getattr(settings, name)
    fields.update(overrides)
    options = SolveOptions(**fields)
    result = solve_packing(instance, backend, options)
    if result.status.has_solution:
        return result
    reasons = explain_infeasibility(instance)
    if reasons:
        raise InfeasiblePlanError("no plan satisfies the rules: " + "; ".join(str(v) for v in reasons))
    detail = f" ({result.message})" if result.message else ""
    raise InfeasiblePlanError(
        f"{backend}: status {result.status}{detail}; no plan found within {options.time_limit_s:g} s. "
        "Raise --time-limit, or loosen max_count/spread/isolation."
    )


def assignment_frame(result: PackingResult) -> pd.DataFrame:
    """Assignment table ``group_id, shard, fraction, worker_id, server_type`` (fractions sum to 1)."""
    return result.assignment_frame()


def workers_frame(instance: PackingInstance, result: PackingResult | pd.DataFrame) -> pd.DataFrame:
    """One row per worker: ``worker_id, server_type, n_groups, headroom`` and, per resource,
    ``<resource>_capacity`` and ``<resource>_peak_utilisation`` (max over slots of load / capacity)."""
    from models.packing.verify import worker_loads

    frame = result.assignment_frame() if isinstance(result, PackingResult) else result
    workers, loads = worker_loads(instance, frame)
    types = {s.name: s for s in instance.server_types}
    h_of = dict(zip(instance.group_ids, instance.headroom))
    rows = []
    for wi, w in enumerate(workers):
        sub = frame[frame["worker_id"].astype(str) == w]
        st = types[str(sub["server_type"].iloc[0])]
        row = {"worker_id": w, "server_type": st.name, "n_groups": int(sub["group_id"].nunique()),
               "headroom": float(max(h_of.get(str(g), 0.0) for g in sub["group_id"]))}
        for r, res in enumerate(instance.resources):
            row[f"{res}_capacity"] = st.capacity[r]
            row[f"{res}_peak_utilisation"] = float(loads[wi, :, r].max() / st.capacity[r])
        rows.append(row)
    return pd.DataFrame(rows)


def summary(result: PackingResult) -> dict:
    """JSON-ready summary: status, cost, bound, gap, lower bounds, peak-based cost, solve time."""
    s = result.stats

    def num(x):
        return None if x is None or (isinstance(x, float) and not math.isfinite(x)) else float(x)

    cost, peak = result.objective, s.get("peak_cost", float("nan"))
    return {
        "status": str(result.status),
        "backend": result.backend,
        "cost": num(cost),
        "bound": num(result.bound),
        "gap": num(result.gap),
        "lower_bound": num(s.get("bound_aggregate")),
        "fleet_bound": num(s.get("bound_fleet")),
        "peak_cost": num(peak),
        "heuristic_cost": num(s.get("heuristic_cost")),
        "cost_vs_peak": num(cost / peak) if peak and math.isfinite(peak) and math.isfinite(cost) else None,
        "cost_vs_lower_bound": num(cost / s["bound_aggregate"]) if s.get("bound_aggregate") else None,
        "runtime_s": num(result.runtime_s),
        "n_workers": len(result.workers),
        "n_groups": s.get("groups"),
        "n_shards": s.get("items"),
        "message": result.message,
        "shrink_cost": num(s.get("shrink_cost")),
        "search": {k: v for k, v in s.items() if k.startswith(("lns_", "shrink_", "balance_", "rounds", "slots_"))
                   and k not in ("shrink_cost",)},
    }


def read_assignment(path) -> pd.DataFrame:
    """Read an Assignment file (``share`` is accepted for ``fraction``), checking its columns."""
    from planner.io import read_table

    frame = read_table(path)
    if "fraction" not in frame.columns and "share" in frame.columns:
        frame = frame.rename(columns={"share": "fraction"})
    missing = [c for c in ("group_id", "fraction", "worker_id", "server_type") if c not in frame.columns]
    if missing:
        raise InputDataError(f"assignment lacks column(s) {missing}; expected {list(ASSIGNMENT_COLUMNS)}", path=path)
    return frame.astype({"group_id": str, "worker_id": str, "server_type": str})
