"""The one-page Summary a capacity planner takes to a review (pure: frames in, blocks out).

Blocks, in order: warnings (shortfall, budget, forecast fallbacks), what to buy (type, pool, how
many, order week = need week − lead time), the quarter's cost against the installed fleet, risk
per tier against its target, utilisation, the customers and groups that drive the purchases, and
(issue 17) energy and carbon, the cost of redundancy and risk fairness per tier.
The workbook (:mod:`planner.export.spreadsheet`) and report.html (:mod:`planner.export.report`)
render the same blocks. The raw metrics go to the Details sheet.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from planner.export.tables import Block, SheetBlocks, weekly_mean

ORDER_COLUMNS = ("order", "server_type", "pool", "purchased", "order_week", "order_date", "need_week", "need_date",
                 "lead_time_weeks", "cost")


def orders_from_purchases(purchases: pd.DataFrame | None) -> pd.DataFrame:
    """The orders when only the Purchases table is known (no dates, no lead time column)."""
    if purchases is None or purchases.empty:
        return pd.DataFrame(columns=list(ORDER_COLUMNS))
    p = purchases.sort_values(["week", "pool", "server_type"], kind="stable", ignore_index=True)
    return pd.DataFrame({"order": np.arange(1, len(p) + 1), "server_type": p["server_type"], "pool": p["pool"],
                         "purchased": p["purchased"], "order_week": p["week"], "order_date": pd.NaT,
                         "need_week": p["arrives_week"], "need_date": pd.NaT,
                         "lead_time_weeks": p["arrives_week"] - p["week"], "cost": p["cost"]})


def _week_date(summary: Mapping, week) -> str:
    """``, 2026-03-09``: the date of a horizon week, when the summary knows the horizon's start."""
    start = summary.get("horizon_start")
    if start is None or week is None:
        return ""
    return f", {(pd.Timestamp(start) + pd.Timedelta(weeks=int(week))).date()}"


def fleet_text(summary: Mapping) -> str:
    """Today's fleet by type, with the servers already on order (``in_transit``: ordered before the
    horizon for the weeks inside a type's lead time) and the week that needs them; where the fleet
    came from when it was sized from the history. The terminal and the Summary page say this."""
    fleet = summary.get("installed_fleet") or {}
    parts = []
    for t, v in fleet.items():
        if not (v.get("inventory") or v.get("in_transit")):
            continue
        text = f"{t} {v.get('inventory', 0)}"
        if v.get("in_transit"):
            week = v.get("in_transit_week")
            when = "" if week is None else f" (needed from week {week}{_week_date(summary, week)})"
            text += f" + {v['in_transit']} already on order{when}"
        pools = v.get("by_pool") or {}
        if len(pools) > 1:  # a type offered in several pools: each pool's share
            text += " (" + ", ".join(f"{p} {b.get('inventory', 0)}" + (f" + {b['in_transit']}" if b.get("in_transit") else "")
                                     for p, b in pools.items()) + ")"
        parts.append(text)
    text = ", ".join(parts) or "none"
    sized = summary.get("inventory_from_history")
    if sized:  # the scenario asked for the fleet the history's last weeks needed
        since = f" from {sized['weeks_from']}" if sized.get("weeks_from") else ""
        text += f" (what the history's last {sized['from_history_weeks']} week(s){since} needed)"
    return text


def nothing_to_buy_text(summary: Mapping) -> str:
    """What to buy when there is no order: what covers the need instead, naming the servers already
    on order when there are (else "the installed fleet" would read as servers the fleet lacks)."""
    on_order = {t: v for t, v in (summary.get("installed_fleet") or {}).items() if v.get("in_transit")}
    if not on_order:
        return "nothing: the installed fleet covers every week"
    n = sum(v["in_transit"] for v in on_order.values())
    weeks = {v.get("in_transit_week") for v in on_order.values()}
    if len(weeks) == 1 and None not in weeks:
        which = ", ".join(f"{t} {v['in_transit']}" for t, v in on_order.items()) + f", needed from week {weeks.pop()}"
    else:
        which = ", ".join(f"{t} {v['in_transit']}" + ("" if v.get("in_transit_week") is None
                                                      else f" needed from week {v['in_transit_week']}")
                          for t, v in on_order.items())
    fleet = "the installed fleet and " if any(v.get("inventory") for v in summary["installed_fleet"].values()) else ""
    verb = "covers" if n == 1 and not fleet else "cover"
    return f"nothing: {fleet}{n} server{'s' if n > 1 else ''} already on order ({which}) {verb} every week"


def warnings_of(plan: pd.DataFrame, summary: Mapping) -> list[str]:
    """Shortfall, budget and forecast warnings, most serious first; each once, with its count when
    repeated (planner.errors.counted)."""
    out = list(summary.get("plan_warnings") or [])
    if not out:
        short = plan[plan["required"] > plan["installed"]]
        if len(short):
            worst = (short["required"] - short["installed"]).max()
            out.append(f"SHORTFALL: {len(short)} week/type rows install fewer servers than the packing needs "
                       f"(up to {worst:g} short; weeks {sorted(set(short['week'].astype(int)))})")
    proc = summary.get("procurement") or {}
    for msg in proc.get("messages") or []:
        if "budget" in msg or "shortfall" in msg:
            out.append(f"procurement: {msg}")
    fb = summary.get("forecast_fallbacks")
    if isinstance(fb, Mapping) and fb.get("fallbacks"):
        out.append(f"forecast: fell back to a simple model for {fallback_text(fb)}")
    for note in summary.get("packing_notes") or []:
        out.append(f"packing: {note}")
    out += list(summary.get("warnings") or [])  # the run's warnings on the terminal (a forecast without a yearly cycle)
    from planner.errors import counted

    return counted(out)


def fallback_text(fb: Mapping) -> str:
    """'3 of 232 series (1.3%): reason ×2, reason ×1' (then the launch ramp's words) for summary.json's
    ``forecast_fallbacks``: the terminal (planner.commands.run) and the Summary page say these words."""
    text = f"{fb['fallbacks']} of {fb['series']} series ({fb.get('share', 0):.1%})"
    if fb.get("reasons"):
        text += ": " + ", ".join(f"{k} ×{v}" for k, v in fb["reasons"].items())
    return text + launch_ramp_text(fb)


def backtest_warnings(summary: Mapping) -> list[str]:
    """A backtest's warnings: each origin's forecast fallbacks (the terminal's words, the origin
    first), then the planning's warnings (summary.json ``warnings``)."""
    per = list(summary.get("origins") or [summary])
    out = [f"origin {str(p.get('origin', ''))[:10]}: forecast: fell back to a simple model for "
           f"{fallback_text(p['forecast_fallbacks'])}" for p in per if (p.get("forecast_fallbacks") or {}).get("fallbacks")]
    return out + list(summary.get("warnings") or [])


def launch_ramp_text(fb: Mapping) -> str:
    """'; k of them launched inside the history, forecast by the fleet's launch ramp' (or ''): the same
    words after the fallback count on the terminal and on the Summary page."""
    k = fb.get("launch_ramp")
    return f"; {k} of them launched inside the history, forecast by the fleet's launch ramp" if k else ""


def review_sheet(plan: pd.DataFrame, weekly: pd.DataFrame, summary: Mapping | None,
                 orders: pd.DataFrame | None = None, purchases: pd.DataFrame | None = None) -> SheetBlocks:
    """The Summary page (see the module docstring)."""
    summary = summary or {}
    orders = orders_from_purchases(purchases) if orders is None else orders
    orders = orders[[c for c in ORDER_COLUMNS if c in orders.columns]]
    name = summary.get("scenario", "plan")
    weeks = int(plan["week"].nunique())
    start = str(summary.get("horizon_start", ""))[:10]
    heading = f"Capacity plan: {name}, {weeks} weeks" + (f" from {start}" if start else "")
    sub = str(summary.get("source", ""))

    warn = warnings_of(plan, summary)
    blocks = [Block("Warnings", pd.DataFrame({"warning": warn}), empty="none: no shortfall, budget or forecast warning")]
    blocks.append(Block("What to buy (order week = need week − lead time)", orders.reset_index(drop=True),
                        empty=nothing_to_buy_text(summary)))

    total = float(summary.get("total_cost", plan["cost"].sum()))
    fleet_cost = summary.get("installed_fleet_cost")
    cost_rows = [("quarter cost", total, "currency")]
    if fleet_cost is not None:
        change = total - float(fleet_cost)
        cost_rows += [("installed fleet alone", float(fleet_cost), "currency"),
                      ("change vs installed", change, "currency"),
                      ("change vs installed, relative", change / fleet_cost if fleet_cost else np.nan, "%")]
    cost_rows.append(("servers bought", float(plan["purchased"].sum()), "servers"))
    if summary.get("installed_fleet"):
        cost_rows.append(("installed fleet", fleet_text(summary), ""))
    blocks.append(Block("Cost of the quarter", pd.DataFrame(cost_rows, columns=["item", "value", "unit"])))

    vs = summary.get("risk_vs_target") or {}
    # Per tier: the promise (target epsilon) beside what the plan predicts for it (planner.risk).
    risk = pd.DataFrame([{"tier": t, "method": v.get("method"), "target": v.get("target"),
                          "predicted_overflow_probability": v.get("predicted_overflow_probability"),
                          "expected_overflow_share": v.get("expected_overflow_share"),
                          "risk": v.get("risk_slot_hours"), "slot_hours": v.get("slot_hours"),
                          "within_target": ("yes" if v.get("predicted_overflow_probability") is not None
                                            and v.get("target") is not None
                                            and v["predicted_overflow_probability"] <= v["target"] + 1e-12 else "no")}
                         for t, v in vs.items()])
    if risk.empty:
        risk = pd.DataFrame({"tier": list(summary.get("risk_slot_hours_by_tier", {})),
                             "risk": list(summary.get("risk_slot_hours_by_tier", {}).values())})
    blocks.append(Block("Risk per tier (target overflow probability per worker and hour against the plan's "
                        "prediction)", risk))

    util = [("CPU, mean expected", weekly_mean(weekly, "cpu_utilisation"), "%"),
            ("memory, mean expected", weekly_mean(weekly, "memory_utilisation"), "%")]
    if "headroom" in plan.columns and len(plan[plan["installed"] > 0]):
        # 1 - headroom: the busiest hour's planned load, the largest over types and weeks
        util.append(("busiest hour, planned", float(1.0 - plan.loc[plan["installed"] > 0, "headroom"].min()), "%"))
    blocks.append(Block("Utilisation", pd.DataFrame(util, columns=["item", "value", "unit"])))

    drv = summary.get("drivers") or {}
    rows = []
    for key in ("customer", "group_id"):
        for i, d in enumerate(drv.get(key, []), start=1):
            rows.append({"rank": i, "kind": "customer" if key == "customer" else "group", "name": d[key],
                         "growth": d["growth"], "share_of_growth": d["share"]})
    blocks.append(Block("What drives the purchases (growth on the bought types, in servers; Why sheet)",
                        pd.DataFrame(rows), empty="nothing bought"))
    blocks.extend(objective_blocks(summary))
    return SheetBlocks(heading, sub, tuple(blocks))


def objective_blocks(summary: Mapping) -> list[Block]:
    """Energy and carbon, the cost of redundancy and risk fairness per tier (issue 17,
    docs/objectives.md), when the run has them."""
    out = []
    e = summary.get("energy")
    if e:
        rows = [("energy", e["energy_kwh"], "kWh"), ("carbon", e["carbon_kg"], "kgCO2e"),
                ("of which embodied", e["carbon_embodied_kg"], "kgCO2e"), ("PUE", e["pue"], "")]
        if e.get("carbon_price_per_tonne"):
            rows += [("carbon price", e["carbon_price_per_tonne"], "currency per tCO2e"),
                     ("carbon cost", e["carbon_cost"], "currency")]
        rows += [(f"grid intensity, zone {z}", v["mean_gco2_per_kwh"], f"gCO2e/kWh ({v['source']})")
                 for z, v in e.get("intensity", {}).items()]
        if e.get("estimated_power"):
            rows.append(("power estimated (no figures given) for", ", ".join(e["estimated_power"]), ""))
        out.append(Block("Energy and carbon over the horizon", pd.DataFrame(rows, columns=["item", "value", "unit"])))
    red = summary.get("redundancy")
    if red:
        rows = [{"tier": t, "survive": lv, "form": red["form"],
                 "redundancy_cost_per_month_peak": red["cost_per_month_peak"].get(t, 0.0),
                 "redundancy_cost_over_horizon": red["cost_over_horizon"].get(t, 0.0),
                 "spares_max": max(red["spares_per_week"] or [0])} for t, lv in red["survive"].items()]
        out.append(Block("Redundancy (failover check passed for every week)", pd.DataFrame(rows)))
    fair = summary.get("fairness")
    if fair:
        rows = [{"tier": t, "customers": v["customers"], "risk_rate_mean": v["risk_rate_mean"],
                 "risk_rate_max": v["risk_rate_max"], "fairness_max_over_mean": v["max_over_mean"],
                 "fairness_jain": v["jain"],
                 **{k: v[k] for k in ("breach_rate_mean", "breach_rate_max", "breach_max_over_mean", "breach_jain")
                    if k in v}} for t, v in fair.items()]
        out.append(Block("Risk fairness per tier (customers' overflow risk and headroom-breach rates, rates below "
                         f"{next(iter(fair.values())).get('rate_floor', 0):g} count as equal; QoS sheet)",
                         pd.DataFrame(rows)))
    bound = summary.get("fairness_bound")
    if bound:
        reports = bound.items() if "bounds" not in bound else [("", bound)]
        rows = [{**({"pool": p} if p else {}), "tier": t, "max_risk_ratio": k,
                 "measure": fb.get("measure", "risk_rate"),
                 "max_over_mean_before": fb["max_over_mean_before"].get(t),
                 "max_over_mean_after": fb["max_over_mean_after"].get(t),
                 "holds": fb["holds"][t], "rounds": len(fb["rounds"]) - 1, "kept_round": fb["kept_round"],
                 "packing_cost_per_month_before": fb["cost_per_month_sum_before"],
                 "packing_cost_per_month_after": fb["cost_per_month_sum_after"],
                 "why_not_held": fb.get("not_held", {}).get(t, "")}
                for p, fb in reports for t, k in fb["bounds"].items()]
        out.append(Block("Fairness bound (tiers' max_risk_ratio: no customer above k x its tier's mean)",
                         pd.DataFrame(rows)))
    return out
