"""Fair risk: how evenly the customers of a tier share its overflow risk (and cold starts).

Each customer's **risk rate** is its expected overflow slot-hours over its exposure (planner.risk:
its share of its workers' binding load, summed over slots), i.e. the mean probability that the
slots its load sits in overflow; unlike the slot-hours themselves it does not grow with the
customer's size. Per tier, over the customers with some exposure:

* ``max / mean`` of the rates (1 = all equal; a bound ``k`` means no customer above k × the mean);
* Jain's index ``(Σx)² / (n Σx²)`` (1 = all equal, 1/n = one customer carries it all).

Both are 1 when every rate is 0 (nobody carries risk: nothing is unfair).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from planner import columns as C

__all__ = ["jain_index", "max_over_mean", "risk_rates", "add_fairness", "fairness_summary", "FAIRNESS_COLUMNS"]

FAIRNESS_COLUMNS = ("fairness_risk_max_over_mean", "fairness_risk_jain", "fairness_cold_start_max_over_mean",
                    "fairness_cold_start_jain")


def jain_index(x) -> float:
    """Jain's fairness index of non-negative values; 1.0 for an empty or all-zero set."""
    x = np.asarray(x, dtype=float)
    x = x[np.isfinite(x)]
    sq = float((x ** 2).sum())
    return 1.0 if len(x) == 0 or sq == 0 else float(x.sum() ** 2 / (len(x) * sq))


def max_over_mean(x) -> float:
    """Largest value over the mean; 1.0 for an empty or all-zero set."""
    x = np.asarray(x, dtype=float)
    x = x[np.isfinite(x)]
    m = float(x.mean()) if len(x) else 0.0
    return 1.0 if m <= 0 else float(x.max() / m)


def risk_rates(risk: pd.Series, exposure: pd.Series) -> pd.Series:
    """Per customer: risk slot-hours / exposure slot-hours (NaN where the exposure is 0)."""
    exposure = exposure.reindex(risk.index).astype(float)
    return (risk.astype(float) / exposure.where(exposure > 0)).rename("risk_rate")


def add_fairness(qos: pd.DataFrame, exposure_by_customer: pd.Series) -> pd.DataFrame:
    """The QoS table with ``risk_rate`` per customer and, per tier, the ``fairness_*`` columns
    (the same value on every row of a tier; cold-start columns only when ``cold_start_rate`` is there)."""
    out = qos.copy()
    risk = out.set_index(C.CUSTOMER)["risk"]
    out["risk_rate"] = out[C.CUSTOMER].map(risk_rates(risk, exposure_by_customer.astype(float)))
    figures = [("risk", "risk_rate")]
    if "cold_start_rate" in out.columns:
        figures.append(("cold_start", "cold_start_rate"))
    for name, col in figures:
        by_tier = out.groupby("tier")[col]
        out[f"fairness_{name}_max_over_mean"] = out["tier"].map(by_tier.apply(max_over_mean))
        out[f"fairness_{name}_jain"] = out["tier"].map(by_tier.apply(jain_index))
    return out


def fairness_summary(qos: pd.DataFrame) -> dict:
    """Per tier: customers, the mean and largest risk rate, max / mean and Jain's index (and the
    cold-start figures when the QoS table has them): the ``fairness`` block of summary.json."""
    out = {}
    for tier, part in qos.groupby("tier", sort=True):
        rates = part["risk_rate"].dropna()
        block = {"customers": int(len(part)), "risk_rate_mean": round(float(rates.mean()), 6) if len(rates) else 0.0,
                 "risk_rate_max": round(float(rates.max()), 6) if len(rates) else 0.0,
                 "max_over_mean": round(max_over_mean(rates), 4), "jain": round(jain_index(rates), 4)}
        if "cold_start_rate" in part.columns:
            block["cold_start_max_over_mean"] = round(max_over_mean(part["cold_start_rate"]), 4)
            block["cold_start_jain"] = round(jain_index(part["cold_start_rate"]), 4)
        out[str(tier)] = block
    return out


def bound_risk_ratio(pack, weeks, groups: pd.DataFrame, tiers, bounds: dict[str, float], pool_of: dict[str, str],
                     max_rounds: int = 6, step: float = 0.05, ceiling: float = 0.9, measure=None):
    """Hold every customer's risk rate at most ``bounds[tier]`` × its tier's mean, in the packing.

    Each round computes the packing's risk (planner.risk, no procurement shortfall), and raises the
    headroom of every customer above its bound by ``step`` (its groups' workers keep more capacity
    free, so less of their load overflows); ``pack(groups)`` packs the horizon again with the
    Groups table's ``headroom`` column. Stops when every bound holds or after ``max_rounds``.

    Each repacking is a new heuristic plan, so a later round can be worse than an earlier one: the
    round with the fewest customers above their bounds (then the smallest worst excess) is kept.
    ``measure(weeks) -> (max / mean per tier, customers above)`` replaces the risk computation in tests.

    Returns (weeks, notes of the kept packing or None, report): the report has per tier the bound,
    the max / mean before and after, whether it holds, and per round the packing cost per month
    summed over the weeks, and the raised headroom of each customer.
    """
    from planner.plan import worker_loads_of
    from planner.risk import plan_risk

    def ratios(ws):
        loads = {wp.week: worker_loads_of(wp) for wp in ws}
        risk = plan_risk(ws, loads, groups, pool_of, None, tiers=sorted(set(groups["tier"])))
        rates = risk_rates(risk.by_customer, risk.exposure_by_customer)
        tier_of = groups.drop_duplicates(C.CUSTOMER).set_index(C.CUSTOMER)["tier"]
        frame = pd.DataFrame({"rate": rates}).assign(tier=lambda f: f.index.map(tier_of))
        out, offenders = {}, []
        for t, k in bounds.items():
            r = frame.loc[frame["tier"] == t, "rate"].dropna()
            mean = float(r.mean()) if len(r) else 0.0
            out[t] = max_over_mean(r)
            if mean > 0:
                offenders += [c for c, v in r.items() if v > k * mean * (1 + 1e-6)]
        return out, offenders

    measure = measure or ratios

    def cost(ws):
        return float(sum(wp.result.objective for wp in ws))

    extra: dict[str, float] = {}
    base_h = groups["tier"].map(lambda t: tiers[t].headroom)
    first, offenders = measure(weeks)
    history = [{"round": 0, "cost_per_month_sum": round(cost(weeks), 2), "max_over_mean": first,
                "customers_above": len(offenders)}]
    notes = None

    def badness(current, n_above):
        return (n_above, max((current[t] / k for t, k in bounds.items()), default=0.0))

    best = (badness(first, len(offenders)), 0, weeks, notes, {})
    for rnd in range(1, max_rounds + 1):
        if not offenders:
            break
        raised = False
        for c in offenders:
            h = float(base_h[groups[C.CUSTOMER] == c].max()) + extra.get(c, 0.0)
            if h + step <= ceiling + 1e-9:
                extra[c] = extra.get(c, 0.0) + step
                raised = True
        if not raised:
            break
        packing_groups = groups.assign(headroom=(base_h + groups[C.CUSTOMER].map(extra).fillna(0.0)).to_numpy())
        weeks, notes = pack(packing_groups)
        current, offenders = measure(weeks)
        history.append({"round": rnd, "cost_per_month_sum": round(cost(weeks), 2), "max_over_mean": current,
                        "customers_above": len(offenders)})
        if badness(current, len(offenders)) < best[0]:
            best = (badness(current, len(offenders)), rnd, weeks, notes, dict(extra))
    _, kept, weeks, notes, extra = best
    last = history[kept]["max_over_mean"]
    report = {
        "bounds": dict(bounds),
        "rounds": history,
        "holds": {t: bool(last[t] <= k * (1 + 1e-6)) for t, k in bounds.items()},
        "max_over_mean_before": {t: round(v, 4) for t, v in first.items()},
        "max_over_mean_after": {t: round(v, 4) for t, v in last.items()},
        "cost_per_month_sum_before": history[0]["cost_per_month_sum"],
        "cost_per_month_sum_after": history[kept]["cost_per_month_sum"],
        "kept_round": kept,
        "headroom_raised": {c: round(float(base_h[groups[C.CUSTOMER] == c].max()) + v, 4) for c, v in sorted(extra.items())},
    }
    return weeks, notes, report
