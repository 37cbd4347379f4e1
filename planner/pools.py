"""Pools (regions, clusters, instance-size pools) as the unit of parallel work.

A server type belongs to a pool (``servers[].pool``; a list offers it in several). Each group may
run in a set of pools, decided in this order (docs/scale.md):

1. the first ``pools.rules`` entry that selects the group (by group, customer, tier or pattern);
2. ``pools.source``: the pool each function runs in according to the trace (``trace``: the Huawei
   ``poolNN`` in each column name) or the catalog's ``pool`` column (``catalog``; several pools as
   ``"a|b"``). A group whose functions the source puts in different pools becomes one group per
   pool (``168@pool30``, ``168@pool32``): the trace says where each function runs;
3. ``pools.default``, else every pool.

A group allowed in several pools is placed by a first pass (:func:`place_groups`) before any
packing: whole groups, largest first, each into the allowed pool whose fluid cost bound grows the
least, so the load of flexible groups is split between pools group by group and a group goes where
its peak hours fill another pool's troughs. After that each pool is an independent sub-plan.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from planner import columns as C
from planner.errors import InfeasiblePlanError, InputDataError, ScenarioError

__all__ = ["POOL_COLUMN", "Placement", "split_groups_by_pool", "allowed_pools", "place_groups", "pool_totals"]

POOL_COLUMN = "pool"
_SEP = re.compile(r"\s*[|,;]\s*")


def _spec(value) -> str | None:
    """Normalised pool spec of a catalog cell: sorted unique names joined by '|', None when empty."""
    if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA:
        return None
    names = sorted({p for p in _SEP.split(str(value).strip()) if p})
    return "|".join(names) or None


def split_groups_by_pool(catalog: pd.DataFrame, scenario) -> pd.DataFrame:
    """The catalog with its ``pool`` column normalised and, when the scenario takes pools from the
    trace or the catalog, groups split per pool where their functions run in different pools."""
    source = scenario.pools.source
    if source == "none":
        return catalog
    if POOL_COLUMN not in catalog.columns:
        where = "the trace" if source == "trace" else "the catalog"
        raise InputDataError(f"pools.source is {source!r} but {where} gives no {POOL_COLUMN!r} column "
                             "(a catalog file may add one: pool names, several as 'a|b')",
                             path=scenario.data.catalog, column=POOL_COLUMN)
    out = catalog.copy()
    out[POOL_COLUMN] = [_spec(v) for v in out[POOL_COLUMN]]
    specs = out.groupby(C.GROUP_ID)[POOL_COLUMN].nunique()
    mixed = set(specs.index[specs > 1])
    if mixed:
        rows = out[C.GROUP_ID].isin(mixed) & out[POOL_COLUMN].notna()
        out.loc[rows, C.GROUP_ID] = out.loc[rows, C.GROUP_ID] + "@" + out.loc[rows, POOL_COLUMN]
    return out


def _rule_selects(rule, groups: pd.DataFrame) -> np.ndarray:
    sel = groups[C.GROUP_ID].isin(rule.groups) | groups[C.CUSTOMER].isin(rule.customers) | groups["tier"].isin(rule.tiers)
    if rule.match is not None:
        sel |= groups[C.GROUP_ID].astype(str).str.fullmatch(rule.match)
    if rule.customer_match is not None:
        sel |= groups[C.CUSTOMER].astype(str).str.fullmatch(rule.customer_match)
    return sel.to_numpy(bool)


def allowed_pools(groups: pd.DataFrame, catalog: pd.DataFrame | None, scenario, servers: pd.DataFrame,
                  analogs: dict[str, list[str]] | None = None) -> pd.DataFrame:
    """Pools each group may run in: ``group_id, allowed`` (a tuple of pool names) and ``source``
    (``rules[i]``, ``trace``, ``catalog``, ``analogs``, ``default``, ``any``).

    ``analogs`` maps an anticipated service (no functions in the catalog) to its analog groups:
    such a service may run where its analogs may, unless a rule says otherwise.

    Raises:
        ScenarioError: a group may only run in pools that no server type offers (the message names
            the groups, their pools, where that came from, and the pools on offer).
    """
    offered = sorted(servers["pool"].astype(str).unique())
    n = len(groups)
    allowed: list[tuple | None] = [None] * n
    source = [""] * n
    for i, rule in enumerate(scenario.pools.rules):
        for j in np.flatnonzero(_rule_selects(rule, groups)):
            if allowed[j] is None:
                allowed[j], source[j] = tuple(sorted(set(rule.pools))), f"pools.rules[{i}]"
    if scenario.pools.source != "none" and catalog is not None and POOL_COLUMN in catalog.columns:
        spec = catalog.dropna(subset=[POOL_COLUMN]).groupby(C.GROUP_ID)[POOL_COLUMN].first()
        for j, g in enumerate(groups[C.GROUP_ID]):
            if allowed[j] is None and g in spec.index:
                allowed[j], source[j] = tuple(spec[g].split("|")), scenario.pools.source
    for j, g in enumerate(groups[C.GROUP_ID]):
        if allowed[j] is None and analogs and g in analogs:
            known = {gg: a for gg, a in zip(groups[C.GROUP_ID], allowed) if a is not None}
            union = sorted({p for a in analogs[g] for p in known.get(a, ())})
            if union:
                allowed[j], source[j] = tuple(union), "analogs"
    for j in range(n):
        if allowed[j] is None:
            if scenario.pools.default:
                allowed[j], source[j] = tuple(sorted(set(scenario.pools.default))), "pools.default"
            else:
                allowed[j], source[j] = tuple(offered), "any"
    out = pd.DataFrame({C.GROUP_ID: groups[C.GROUP_ID].to_numpy(), "allowed": allowed, "source": source})
    homeless = [(g, a, s) for g, a, s in zip(out[C.GROUP_ID], allowed, source) if not set(a) & set(offered)]
    if homeless:
        shown = "; ".join(f"group {g!r} may run only in {', '.join(a)} ({s})" for g, a, s in homeless[:3])
        more = f" and {len(homeless) - 3} more groups" if len(homeless) > 3 else ""
        raise ScenarioError(f"{scenario.source_path or 'scenario'}: no pool may take {shown}{more}; server types are "
                            f"offered in {', '.join(offered)}. Add server types with those pools (servers[].pool) "
                            "or a pools rule for the groups")
    # Pools that no server offers are dropped from a group's list when others remain.
    out["allowed"] = [tuple(p for p in a if p in offered) for a in out["allowed"]]
    return out


@dataclass(frozen=True)
class Placement:
    """The pool of every group: ``table`` has ``group_id, allowed, source, pool, placed_by,
    marginal_cost`` (cost bound added by the group in its pool, currency per month; first pass only)."""

    table: pd.DataFrame

    @property
    def pool_of(self) -> dict[str, str]:
        return dict(zip(self.table[C.GROUP_ID], self.table["pool"]))

    def groups_in(self, pool: str) -> list[str]:
        return self.table.loc[self.table["pool"] == pool, C.GROUP_ID].tolist()


def label_codes(column: pd.Series, labels) -> np.ndarray:
    """Position of each row's value in ``labels`` (-1 when absent), by the column's categories when
    it is categorical: a fleet's forecast has tens of millions of rows and few distinct labels."""
    index = pd.Index([str(x) for x in labels])
    if isinstance(column.dtype, pd.CategoricalDtype):
        per_cat = index.get_indexer(column.cat.categories.astype(str))
        codes = column.cat.codes.to_numpy()
        return np.where(codes >= 0, per_cat[codes], -1)
    return index.get_indexer(column.astype(str))


def _envelope(forecast: pd.DataFrame, groups: pd.DataFrame, tiers, ids: list[str], start: pd.Timestamp,
              n_weeks: int, resources) -> np.ndarray:
    """``[group, 168, resource]``: each group's planned demand (:func:`_planning_column` / (1 -
    headroom)) at each hour of the week, the largest over the horizon's weeks. Groups in ``ids`` order."""
    tier_of = groups.set_index(C.GROUP_ID)["tier"]
    g = label_codes(forecast[C.UNIQUE_ID], ids)
    r = label_codes(forecast[C.RESOURCE], resources)
    ds = forecast[C.DS]
    if not np.issubdtype(ds.dtype, np.datetime64):
        ds = pd.to_datetime(ds)
    hours = (ds.to_numpy() - start.to_datetime64()) // np.timedelta64(1, "h")
    keep = (g >= 0) & (r >= 0) & (hours >= 0) & (hours < 168 * n_weeks)
    q_of = [_planning_column(tiers[tier_of[gid]]) for gid in ids]
    h_of = np.array([tiers[tier_of[gid]].headroom for gid in ids])
    cols = sorted(set(q_of))
    q_index = np.array([cols.index(q) for q in q_of])
    g, r, t = g[keep], r[keep], hours[keep]
    which = q_index[g]
    values = np.zeros(len(g), dtype=np.float32)
    for i, c in enumerate(cols):
        m = which == i
        values[m] = forecast[c].to_numpy()[keep][m]
    dense = np.zeros((len(ids), len(resources), 168 * n_weeks), dtype=np.float32)
    dense[g, r, t] = values
    env = dense.reshape(len(ids), len(resources), n_weeks, 168).max(axis=2)  # [G, R, 168]
    return env.transpose(0, 2, 1) / (1.0 - h_of)[:, None, None]


def _planning_column(tier) -> str:
    """The forecast column a tier's groups are sized at for placement: its quantile (stacked), or
    for a pooled-risk tier the quantile whose risk level is the largest not above its target
    (q99 when none is): the cautious single-group stand-in for the pooled rule."""
    from planner.qos import QUANTILE_RISK

    if tier.quantile is not None and not getattr(tier, "pooled", False):
        return tier.quantile
    eps = tier.overflow_risk if tier.overflow_risk is not None else 0.05
    ok = [(r, q) for q, r in QUANTILE_RISK.items() if r <= eps + 1e-12]
    return max(ok)[1] if ok else "q99"


def _pool_types(servers: pd.DataFrame, pool: str, resources):
    sub = servers[servers["pool"] == pool]
    cap = sub[list(resources)].to_numpy(float)  # [K, R]
    cost = sub["cost_per_month"].to_numpy(float)
    limit = pd.to_numeric(sub["max_count"], errors="coerce").to_numpy(float)  # NaN = unlimited
    fluid = np.where(np.isnan(limit)[:, None], np.inf, np.nan_to_num(limit)[:, None] * cap).sum(axis=0)  # [R]
    return cap, cost, fluid


def _fluid_cost(load: np.ndarray, cap: np.ndarray, cost: np.ndarray) -> float:
    """Cheapest single-type fluid fleet covering ``load`` [168, R] in every slot (currency / month)."""
    peak = load.max(axis=0)  # [R]
    return float(np.min(cost * (peak[None, :] / cap).max(axis=1)))


def place_groups(allowed: pd.DataFrame, forecast: pd.DataFrame, groups: pd.DataFrame, tiers, servers: pd.DataFrame,
                 start: pd.Timestamp, n_weeks: int, resources=C.RESOURCES) -> Placement:
    """The first pass: each group allowed in one pool goes there; the others are placed whole,
    largest first (peak planned demand over the largest capacity), each into the allowed pool
    whose fluid cost bound (cheapest single type covering the pool's summed hour-of-week envelope)
    grows the least; ties go to the pool with the smaller bound, then by name. A pool whose
    ``max_count`` limits cannot hold the group's envelope beside what it already has is skipped.

    Raises:
        InfeasiblePlanError: a group fits in none of its pools (names the group, pools and resource).
    """
    table = allowed.copy()
    table["pool"] = [a[0] if len(a) == 1 else None for a in table["allowed"]]
    table["placed_by"] = np.where(table["pool"].notna(), "only pool", "first pass")
    table["marginal_cost"] = np.nan
    flexible = table.index[table["pool"].isna()]
    if len(flexible) == 0:
        return Placement(table)
    ids = table[C.GROUP_ID].tolist()
    env = _envelope(forecast, groups, tiers, ids, start, n_weeks, resources)  # [G, 168, R]
    pools = sorted({p for a in table["allowed"] for p in a})
    types = {p: _pool_types(servers, p, resources) for p in pools}
    load = {p: np.zeros((168, len(resources))) for p in pools}
    for i, p in zip(table.index, table["pool"]):
        if isinstance(p, str):
            load[p] += env[i]
    bound = {p: _fluid_cost(load[p], *types[p][:2]) for p in pools}
    cap_max = np.max([types[p][0].max(axis=0) for p in pools], axis=0)
    size = (env[flexible].max(axis=1) / cap_max).max(axis=1)
    order = flexible[np.lexsort((table.loc[flexible, C.GROUP_ID].to_numpy(), -size))]
    for i in order:
        best = None
        for p in table.at[i, "allowed"]:
            new = load[p] + env[i]
            if (new.max(axis=0) > types[p][2] * (1 + 1e-9)).any():
                continue
            b = _fluid_cost(new, *types[p][:2])
            key = (round(b - bound[p], 6), round(b, 6), p)
            if best is None or key < best[0]:
                best = (key, p, b)
        if best is None:
            g = table.at[i, C.GROUP_ID]
            raise InfeasiblePlanError(
                f"group {g!r} may run in pools {', '.join(table.at[i, 'allowed'])} but none has room for its "
                f"peak {env[i].max(axis=0).round(2).tolist()} {list(resources)} beside the groups already there "
                "(servers[].max_count limits each pool); raise max_count or allow another pool")
        _, p, b = best
        table.at[i, "pool"], table.at[i, "marginal_cost"] = p, b - bound[p]
        load[p] += env[i]
        bound[p] = b
    return Placement(table)


def pool_totals(plan: pd.DataFrame, placement: Placement, per_pool: dict[str, dict]) -> pd.DataFrame:
    """Cross-pool totals: one row per pool and an ``all pools`` row: ``pool, groups,
    groups_placed`` (by the first pass), ``servers_end, servers_purchased, total_cost,
    purchase_cost, cpu_utilisation, memory_utilisation`` (installed-weighted means), ``risk``,
    ``shape_vs_peak_packing_cost``. ``per_pool`` gives each pool's ``purchase_cost``,
    ``shape_cost`` and ``peak_cost`` (sums of weekly packing costs)."""
    t = placement.table
    rows = []
    last = plan["week"].max() if len(plan) else 0
    for pool in sorted(set(plan["pool"]) | set(t["pool"])):
        sub = plan[plan["pool"] == pool]
        rows.append(_totals_row(pool, sub, last, t[t["pool"] == pool], per_pool.get(pool, {})))
    shape = sum(v.get("shape_cost", 0.0) for v in per_pool.values())
    peak = sum(v.get("peak_cost", 0.0) for v in per_pool.values())
    rows.append(_totals_row("all pools", plan, last, t, {"purchase_cost": sum(v.get("purchase_cost", 0.0)
                                                                              for v in per_pool.values()),
                                                       "shape_cost": shape, "peak_cost": peak}))
    return pd.DataFrame(rows)


def _totals_row(pool, plan, last, groups, extra) -> dict:
    w = plan["installed"].astype(float)
    den = float(w.sum())
    peak = extra.get("peak_cost", 0.0)
    return {
        "pool": pool, "groups": int(len(groups)), "groups_placed": int((groups["placed_by"] == "first pass").sum()),
        "servers_end": int(plan.loc[plan["week"] == last, "installed"].sum()),
        "servers_purchased": int(plan["purchased"].sum()),
        "total_cost": float(plan["cost"].sum()), "purchase_cost": float(extra.get("purchase_cost", 0.0)),
        "cpu_utilisation": float((plan["cpu_utilisation"] * w).sum() / den) if den else 0.0,
        "memory_utilisation": float((plan["memory_utilisation"] * w).sum() / den) if den else 0.0,
        "risk": float(plan["risk"].sum()),
        "shape_vs_peak_packing_cost": round(extra.get("shape_cost", 0.0) / peak, 4) if peak else None,
    }
