"""From planned demand to a verified packing: instance building, solving, result tables.

``to_packing_instance`` accepts either

* a ResourceDemand-like table ``group_id (or unique_id), ds, cpu_cores, memory_gb``: known demand
  (actual or given peaks), packed as it is (a risk target has nothing to pool: sigma is 0), or
* a Forecast table ``unique_id, ds, resource, mean, q50 .. q99``: a group of a pooled tier enters
  with its mean and spread (the chance constraint, models/packing/risk.py), a group of a stacked
  tier at its quantile column (or its Gaussian quantile at the tier's epsilon),

plus the Groups table (``group_id, customer, tier``), the tiers and the ServerCatalog, and
optionally the groups' joint residuals (:func:`residual_scenarios`) for their correlation.

The spread of a forecast slot is the Gaussian sigma that reaches its upper quantiles,
``sigma = max((q99 - q50) / 2.326, (q95 - q50) / 1.645)`` (the larger, so a skewed upper tail is
not understated).
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

__all__ = ["to_packing_instance", "demand_cube", "solve", "assignment_frame", "workers_frame", "summary", "read_assignment",
           "forecast_sigma", "residual_scenarios", "residual_loadings"]

ASSIGNMENT_COLUMNS = ("group_id", "shard", "fraction", "worker_id", "server_type")


def _slot_label(ds: pd.Series) -> list[str]:
    return [t.strftime("%Y-%m-%dT%H:%M") if isinstance(t, pd.Timestamp) else str(t) for t in ds]


def _labels(values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """(codes, str labels) of a key column; a categorical one is decoded once, not per row."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        cats = np.asarray(values.cat.categories.astype(str), dtype=object)
        codes = values.cat.codes.to_numpy()
        used = np.unique(codes[codes >= 0])
        remap = np.full(len(cats), -1)
        remap[used] = np.arange(len(used))
        return remap[codes], cats[used]
    codes, uniques = pd.factorize(values)
    return codes, np.asarray([str(u) for u in uniques], dtype=object)


def demand_cube(demand: pd.DataFrame, quantile_of: dict[str, str] | None, default_quantile: str,
                 resources, path=None) -> tuple[list[str], list, np.ndarray]:
    """Groups, slots and ``[group, slot, resource]`` demand from either table shape."""
    frame = demand
    gcol = GROUP_ID if GROUP_ID in frame.columns else UNIQUE_ID
    if gcol not in frame.columns or DS not in frame.columns:
        raise InputDataError(f"demand needs columns {GROUP_ID!r} (or {UNIQUE_ID!r}) and {DS!r}", path=path)
    g_code, g_label = _labels(frame[gcol])
    ds = pd.to_datetime(frame[DS], errors="coerce")
    if ds.isna().any():
        row = int(np.flatnonzero(ds.isna().to_numpy())[0]) + 2
        raise InputDataError("unreadable timestamp", path=path, row=row, column=DS)
    if RESOURCE in frame.columns:  # Forecast table: pick the tier quantile per group
        cols = [c for c in (MEAN,) + QUANTILES if c in frame.columns]
        if not cols:
            raise InputDataError(f"forecast has no quantile columns {(MEAN,) + QUANTILES}", path=path)
        q_of_label = np.array([(quantile_of or {}).get(g, default_quantile) for g in g_label], dtype=object)
        for needed in pd.unique(q_of_label):
            if needed not in frame.columns:
                raise InputDataError(f"forecast lacks column {needed!r} asked for by a tier", path=path, column=needed)
        q = q_of_label[g_code]
        values = np.zeros(len(frame))
        for c in pd.unique(q):
            m = q == c
            values[m] = frame[c].to_numpy(dtype=float)[m]
        r_code, r_label = _labels(frame[RESOURCE])
        unknown = sorted(set(r_label) - set(resources))
        if unknown:
            warnings.warn(f"ignoring forecast resources {unknown}; packing uses {list(resources)}")
        r_of_label = np.array([list(resources).index(r) if r in resources else -1 for r in r_label], dtype=np.int64)
        r_idx = r_of_label[r_code]
        keep = r_idx >= 0
        g_idx, t_ds, r_idx, v = g_code[keep], ds.to_numpy()[keep], r_idx[keep], values[keep]
    else:
        missing = [r for r in resources if r not in frame.columns]
        if missing:
            raise InputDataError(f"demand lacks column(s) {missing}", path=path)
        n = len(frame)
        g_idx = np.tile(g_code, len(resources))
        t_ds = np.tile(ds.to_numpy(), len(resources))
        r_idx = np.repeat(np.arange(len(resources)), n)
        v = np.concatenate([pd.to_numeric(frame[r], errors="coerce").to_numpy(dtype=float) for r in resources]) \
            if n else np.zeros(0)
    bad = np.isnan(v) | ~np.isfinite(v)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise InputDataError(f"group {g_label[g_idx[i]]!r}: missing demand of {resources[r_idx[i]]} at "
                             f"{pd.Timestamp(t_ds[i])}", path=path, column=resources[r_idx[i]])
    neg = v < 0
    if neg.any():
        i = int(np.flatnonzero(neg)[0])
        raise InputDataError(f"group {g_label[g_idx[i]]!r}: negative demand {v[i]:g} of {resources[r_idx[i]]} at "
                             f"{pd.Timestamp(t_ds[i])}; demand must be >= 0", path=path, column=resources[r_idx[i]])
    used, g_idx = np.unique(g_idx, return_inverse=True)  # groups with rows left (known resources)
    g_label = g_label[used]
    order = np.argsort(g_label, kind="stable") if len(g_label) else np.zeros(0, dtype=np.int64)
    rank = np.empty(len(g_label), dtype=np.int64)
    rank[order] = np.arange(len(g_label))
    groups = [str(x) for x in g_label[order]]
    slot_values, t_idx = np.unique(t_ds, return_inverse=True)
    slots = [pd.Timestamp(x) for x in slot_values]
    g_idx = rank[g_idx]
    n_g, n_t, n_r = len(groups), len(slots), len(resources)
    flat = (g_idx * n_t + t_idx) * n_r + r_idx
    count = np.bincount(flat, minlength=n_g * n_t * n_r)
    if (count > 1).any():
        i = int(np.flatnonzero(count[flat] > 1)[0])
        raise InputDataError(f"group {groups[g_idx[i]]!r}: several rows for slot {pd.Timestamp(t_ds[i])} "
                             f"({resources[r_idx[i]]})", path=path)
    present = count.reshape(n_g, n_t, n_r).any(axis=2)  # [G, T]
    per_group = present.sum(axis=1)
    for gi in np.flatnonzero(per_group != n_t):
        lacking = np.flatnonzero(~present[gi])
        raise InputDataError(
            f"group {groups[gi]!r} has {int(per_group[gi])} slots, others have {n_t}: slots differ between "
            f"groups (first missing: {slots[lacking[0]]}); give every group the same slots",
            path=path,
        )
    arr = np.full(n_g * n_t * n_r, np.nan)
    arr[flat] = v
    return groups, slots, arr.reshape(n_g, n_t, n_r)


#: Weeks of history whose residuals give the groups' correlation (recent: the shapes drift).
RESIDUAL_WEEKS = 8


def forecast_sigma(q50: np.ndarray, q95: np.ndarray, q99: np.ndarray) -> np.ndarray:
    """Gaussian spread of forecast slots from their quantiles (module docstring), >= 0."""
    return np.maximum(np.maximum((q99 - q50) / 2.326, (q95 - q50) / 1.645), 0.0)


def residual_scenarios(demand: pd.DataFrame, resource: str = "cpu_cores", weeks: int | None = 12,
                       slot_hours: float = 1.0) -> pd.DataFrame:
    """Joint standardised residuals of the groups' history: ``[hour, group_id]``.

    Each group's demand (``resource`` of a ResourceDemand table) over the last ``weeks`` weeks minus
    its mean at the same hour of the week, divided by the residuals' standard deviation; groups whose
    residual is constant get a column of zeros. The correlation of these columns is the groups'
    residual correlation; the rows are the joint scenarios the verifier's Monte Carlo replays.
    """
    cols = [GROUP_ID if GROUP_ID in demand.columns else UNIQUE_ID, DS, resource]
    if weeks is not None:  # the last weeks' rows first: a copy of a fleet's year of rows is a gigabyte
        ds = pd.to_datetime(demand[DS])
        frame = demand.loc[(ds > ds.max() - pd.Timedelta(weeks=weeks)).to_numpy(), cols]
        del ds
    else:
        frame = demand[cols].copy()
    frame.columns = ["g", "ds", "v"]
    frame["ds"] = pd.to_datetime(frame["ds"])
    # observed=True: the columns pandas keeps anyway (all-NaN columns are dropped), without its FutureWarning
    wide = frame.pivot_table(index="ds", columns="g", values="v", aggfunc="first", observed=True)
    wide = wide.sort_index().fillna(0.0)
    how = wide.index.day_of_week * 24 * 60 + wide.index.hour * 60 + wide.index.minute
    resid = wide - wide.groupby(how).transform("mean")
    sd = resid.std(axis=0).replace(0.0, np.nan)
    out = (resid / sd).fillna(0.0)
    out.columns = out.columns.astype(str)
    return out


_LOADINGS: dict = {}  # (id of the residuals, groups, factors) -> (residuals, loadings, scenarios)
_LOADINGS_KEPT = 4


def residual_loadings(residuals: pd.DataFrame, gids: list[str], max_factors: int) -> tuple[np.ndarray, np.ndarray]:
    """Factor loadings ``[G, K]`` of the groups' residual correlation (principal components of the
    standardised residuals; groups without residuals load on nothing) and the scenarios ``[S, G]``
    (standard normal draws, seed 0, for groups without residuals).

    The last few results are kept (copies handed out): a pool-week asks 3-4 times for the same
    groups (its bound, its instance, its baseline), and the SVD of 1,344 hours x 1,700 groups costs
    seconds each time at fleet scale."""
    key = (id(residuals), tuple(gids), max_factors)
    hit = _LOADINGS.get(key)
    if hit is not None and hit[0] is residuals:
        return hit[1].copy(), hit[2].copy()
    loadings, scenarios = _residual_loadings(residuals, gids, max_factors)
    _LOADINGS[key] = (residuals, loadings, scenarios)
    while len(_LOADINGS) > _LOADINGS_KEPT:
        _LOADINGS.pop(next(iter(_LOADINGS)))
    return loadings.copy(), scenarios.copy()


def _residual_loadings(residuals: pd.DataFrame, gids: list[str], max_factors: int) -> tuple[np.ndarray, np.ndarray]:
    have = [g for g in gids if g in residuals.columns]
    u = residuals.reindex(columns=have).to_numpy(dtype=float)  # [S, H]
    n_s = u.shape[0]
    loadings = np.zeros((len(gids), 0))
    if have and n_s >= 2:
        _, sv, vt = np.linalg.svd(u / np.sqrt(n_s), full_matrices=False)
        k = int(min(max_factors, len(sv)))
        part = (vt[:k].T * sv[:k][None, :])  # [H, K]
        norm2 = (part**2).sum(axis=1)
        part = part / np.sqrt(np.maximum(norm2, 1.0))[:, None]  # rows of a sample correlation: <= 1
        loadings = np.zeros((len(gids), k))
        index = {g: i for i, g in enumerate(gids)}
        loadings[[index[g] for g in have]] = part
    scenarios = np.random.default_rng(0).standard_normal((max(n_s, 1), len(gids)))
    index = {g: i for i, g in enumerate(gids)}
    if have:
        scenarios[:, [index[g] for g in have]] = u
    return loadings, scenarios


def to_packing_instance(demand: pd.DataFrame, groups: pd.DataFrame | None = None,
                        tiers: dict[str, Tier] | None = None, servers: pd.DataFrame | None = None,
                        default_quantile: str = "q95", resources=RESOURCES, path=None,
                        residuals: pd.DataFrame | None = None, groups_path=None) -> PackingInstance:
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
        groups_path: the groups file, for its error messages.
        residuals: joint standardised residuals ``[hour, group_id]`` (:func:`residual_scenarios`):
            the pooled groups' correlation and the verifier's scenarios; default independent.
    """
    from models.packing.risk import FACTOR_LIMIT, risk_multiplier

    tiers = DEFAULT_TIERS if tiers is None else tiers
    tier_of: dict[str, Tier] = {}
    customer_of: dict[str, str] = {}
    if groups is not None:
        for col in (GROUP_ID, CUSTOMER, "tier"):
            if col not in groups.columns:
                raise InputDataError(f"groups table lacks column {col!r}; expected group_id, customer, tier",
                                     path=groups_path)
        for row_no, row in enumerate(groups.to_dict("records"), start=2):
            t = str(row["tier"])
            if t not in tiers:
                raise InputDataError(f"unknown tier {t!r}; known tiers: {sorted(tiers)}", path=groups_path, row=row_no,
                                     column="tier")
            tier_of[str(row[GROUP_ID])] = tiers[t]
            h = row.get("headroom")  # a group's own headroom above its tier's (the fairness bound)
            if h is not None and not pd.isna(h) and float(h) > tiers[t].headroom:
                import dataclasses

                tier_of[str(row[GROUP_ID])] = dataclasses.replace(tiers[t], headroom=float(h))
            customer_of[str(row[GROUP_ID])] = str(row[CUSTOMER])
    forecast = RESOURCE in demand.columns
    # Groups planned at a forecast column (stacked with a quantile) and groups that need mean and sigma.
    quantile_of = {g: t.quantile for g, t in tier_of.items() if not t.pooled and t.quantile is not None}
    needs_spread = forecast and any(t.pooled or t.quantile is None for t in tier_of.values())
    if needs_spread:
        lacking = [c for c in (MEAN, "q50", "q95", "q99") if c not in demand.columns]
        if lacking:
            who = sorted({name for name, t in tiers.items() if t.pooled or t.quantile is None})
            raise InputDataError(f"forecast lacks column(s) {lacking}: the spread (sigma) of tier(s) {who} is read "
                                 "from mean, q50, q95 and q99; give a forecast with those quantiles or plan the "
                                 "tier with method: stacked and a quantile", path=path)
    gids, slots, cube = demand_cube(demand, quantile_of, default_quantile, resources, path)
    cube = np.array(cube, dtype=float)
    if groups is not None:
        lacking = [g for g in gids if g not in tier_of]
        if lacking:
            raise InputDataError(f"group(s) {lacking[:5]} of the demand are not in the groups table", path=groups_path)
    no_rule = Tier("none", default_quantile, 0.0, 1, False)
    tier = [tier_of.get(g, no_rule) for g in gids]
    customer = [customer_of.get(g, g) for g in gids]
    risk = {}
    if needs_spread:
        mean = demand_cube(demand, None, MEAN, resources, path)[2]
        q50, q95, q99 = (demand_cube(demand, None, q, resources, path)[2] for q in ("q50", "q95", "q99"))
        sigma = forecast_sigma(q50, q95, q99)
        pooled = np.array([t.pooled for t in tier])
        eps_stack = [t.overflow_risk if (not t.pooled and t.quantile is None) else None for t in tier]
        for g, e in enumerate(eps_stack):
            if e is not None:  # stacked at the tier's epsilon: each group's own Gaussian quantile
                cube[g] = mean[g] + risk_multiplier(e, "gaussian") * sigma[g]
        cube[pooled] = mean[pooled]
        risk = dict(sigma=np.where(pooled[:, None, None], sigma, 0.0),
                    overflow_risk=np.array([t.overflow_risk if t.pooled else np.nan for t in tier], dtype=float),
                    risk_method=tuple(t.method if t.pooled else "gaussian" for t in tier))
        if residuals is not None and pooled.any():
            risk["loadings"], risk["scenarios"] = residual_loadings(residuals, gids, FACTOR_LIMIT)
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
            **risk,
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
    for col in ("group_id", "worker_id", "server_type"):
        empty = frame[col].isna() | (frame[col].astype(str).str.strip() == "")
        if empty.any():  # pandas 3 keeps an empty cell as NaN through astype(str): a TypeError later
            raise InputDataError(f"empty {col}; every row places a shard of a group on a named worker",
                                 path=path, row=int(np.flatnonzero(empty.to_numpy())[0]) + 2, column=col)
    return frame.astype({"group_id": str, "worker_id": str, "server_type": str})
