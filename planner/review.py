"""What a planner takes to a review: the orders with their dates, why each is needed, and the
customers and groups that drive the purchases.

* :func:`purchase_orders`: the Purchases table with the order week (= the week the servers are
  needed − the lead time), the need week and their dates.
* :func:`why_purchases`: per order, the groups on workers of the bought type in the week it is
  needed, ranked by how much their planned demand grew since the first week of the horizon
  (new groups count whole); the weeks in which the fleet would be short without the order.
* :func:`drivers`: the customers and groups with the largest growth behind the orders.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from planner import columns as C

ORDER_COLUMNS = ("order", "pool", "server_type", "purchased", "order_week", "order_date", "need_week", "need_date",
                 "lead_time_weeks", "cost")
WHY_COLUMNS = ("order", "server_type", "pool", "need_weeks", "group_id", "customer", "tier", "planned_peak_week0",
               "planned_peak_need_week", "growth", "share_of_growth")


def purchase_orders(purchases: pd.DataFrame, servers: pd.DataFrame, starts: list) -> pd.DataFrame:
    """One row per order: ``order`` (1, 2, …), pool, server_type, purchased, ``order_week``,
    ``order_date``, ``need_week`` (the first week the servers serve), ``need_date``,
    ``lead_time_weeks`` and ``cost`` (over the horizon)."""
    if purchases is None or purchases.empty:
        return pd.DataFrame(columns=list(ORDER_COLUMNS))
    lead = dict(zip(servers["type"], servers["lead_time_weeks"]))
    p = purchases.sort_values(["week", "pool", "server_type"], kind="stable", ignore_index=True)
    week_date = {i: pd.Timestamp(s).normalize() for i, s in enumerate(starts)}
    out = pd.DataFrame({
        "order": np.arange(1, len(p) + 1),
        "pool": p["pool"], "server_type": p["server_type"], "purchased": p["purchased"].astype(int),
        "order_week": p["week"].astype(int), "order_date": p["week"].map(week_date),
        "need_week": p["arrives_week"].astype(int), "need_date": p["arrives_week"].map(week_date),
        "lead_time_weeks": p["server_type"].map(lead).astype(int), "cost": p["cost"].astype(float),
    })
    return out[list(ORDER_COLUMNS)]


def _planned_peaks(wp) -> dict[str, np.ndarray]:
    """Group -> peak over the week's slots of its planned demand per resource (at its tier's quantile:
    ``mean + z sigma`` on a chance-constrained week, whose ``demand`` holds only the mean)."""
    peaks = wp.instance.standalone().max(axis=1)  # [G, R]
    return {g: peaks[i] for i, g in enumerate(wp.instance.group_ids)}


def why_purchases(orders: pd.DataFrame, weeks: list, plan: pd.DataFrame, groups: pd.DataFrame,
                  servers: pd.DataFrame, top: int = 5) -> pd.DataFrame:
    """Per order, the ``top`` groups that need it (see the module docstring); columns ``WHY_COLUMNS``.

    ``planned_peak_*`` and ``growth`` are in servers of the bought type: the group's peak planned
    demand (its tier's quantile) over the type's capacity, the binding resource. ``need_weeks`` are
    the weeks in which ``required`` exceeds what is installed without this order."""
    if orders.empty:
        return pd.DataFrame(columns=list(WHY_COLUMNS))
    cap = servers.set_index("type")[[C.CPU_CORES, C.MEMORY_GB]].astype(float)
    by_week = {wp.week: wp for wp in weeks}
    first = _planned_peaks(weeks[0])
    cust = groups.drop_duplicates(C.GROUP_ID).set_index(C.GROUP_ID)
    rows = []
    for o in orders.itertuples(index=False):
        t_plan = plan[(plan["server_type"] == o.server_type) & (plan["pool"] == o.pool)].set_index("week")
        short = t_plan["required"] > t_plan["installed"] - o.purchased
        need = [int(w) for w in t_plan.index[(t_plan.index >= o.need_week) & short.to_numpy()]]
        wp = by_week.get(need[0] if need else o.need_week)
        if wp is None:
            continue
        frame = wp.result.assignment_frame()
        on_type = sorted(set(frame.loc[frame["server_type"].astype(str) == o.server_type, "group_id"].astype(str)))
        now = _planned_peaks(wp)
        c = cap.loc[o.server_type].to_numpy()
        res = list(wp.instance.resources)
        scale = np.array([c[0] if r == C.CPU_CORES else c[1] for r in res])
        cand = []
        for g in on_type:
            before = first.get(g, np.zeros(len(res))) / scale
            after = now[g] / scale
            k = int(np.argmax(after))  # the binding resource of the group on this type
            cand.append((g, float(before[k]), float(after[k]), float(after[k] - before[k])))
        grown = sorted([x for x in cand if x[3] > 1e-9], key=lambda x: (-x[3], x[0]))
        total = sum(x[3] for x in grown)
        for g, b, a, d in grown[:top]:
            rows.append({"order": o.order, "server_type": o.server_type, "pool": o.pool,
                         "need_weeks": ", ".join(map(str, need)) if need else str(o.need_week),
                         "group_id": g, C.CUSTOMER: cust[C.CUSTOMER].get(g, ""), "tier": cust["tier"].get(g, ""),
                         "planned_peak_week0": b, "planned_peak_need_week": a, "growth": d,
                         "share_of_growth": d / total if total > 0 else np.nan})
        if not grown:  # nothing grew on the type: the mix changed (a shard moved, a cheaper repack)
            rows.append({"order": o.order, "server_type": o.server_type, "pool": o.pool,
                         "need_weeks": ", ".join(map(str, need)) if need else str(o.need_week),
                         "group_id": "(no group grew on this type: the packing changed its mix)", C.CUSTOMER: "",
                         "tier": "", "planned_peak_week0": np.nan, "planned_peak_need_week": np.nan,
                         "growth": np.nan, "share_of_growth": np.nan})
    return pd.DataFrame(rows, columns=list(WHY_COLUMNS))


def drivers(why: pd.DataFrame, n: int = 3) -> dict[str, list[dict]]:
    """The ``n`` customers and groups with the largest growth behind the orders (in servers)."""
    w = why.dropna(subset=["growth"])
    # Divide by the orders' total growth over all their groups, not only the top ones Why lists: with
    # one order a share is then the Why sheet's share_of_growth.
    listed = w[w["share_of_growth"] > 0]
    total = float((listed["growth"] / listed["share_of_growth"]).groupby(listed["order"]).first().sum())
    out = {}
    for key in (C.CUSTOMER, C.GROUP_ID):
        s = w.groupby(key)["growth"].sum().sort_values(ascending=False, kind="stable")
        out[key] = [{key: str(k), "growth": round(float(v), 3), "share": round(float(v) / total, 3) if total else None}
                    for k, v in s.head(n).items()]
    return out


def installed_by_type(fleet: pd.DataFrame) -> dict[str, dict]:
    """summary.json's ``installed_fleet``: per server type, the servers installed (``inventory``) and
    already on order (``in_transit``, needed from ``in_transit_week``: the earliest over its pools),
    summed over the pools that offer the type, and for a type in several pools ``by_pool`` with each
    pool's own figures (it was shown with the last pool's count only). ``pool`` names the pool when
    there is one, else ``"several"``."""
    out: dict[str, dict] = {}
    for r in fleet.itertuples(index=False):
        pool = {"inventory": int(r.inventory), "in_transit": int(r.in_transit),
                **({"in_transit_week": int(r.in_transit_week)} if r.in_transit else {})}
        out.setdefault(str(r.server_type), {})[str(r.pool)] = pool
    for stype, pools in out.items():
        weeks = [p["in_transit_week"] for p in pools.values() if "in_transit_week" in p]
        out[stype] = {"pool": next(iter(pools)) if len(pools) == 1 else "several",
                      "inventory": sum(p["inventory"] for p in pools.values()),
                      "in_transit": sum(p["in_transit"] for p in pools.values()),
                      **({"in_transit_week": min(weeks)} if weeks else {}),
                      # one pool: its figures are the type's (no second copy in the Details sheet)
                      **({"by_pool": pools} if len(pools) > 1 else {})}
    return out
