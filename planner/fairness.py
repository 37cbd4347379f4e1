"""Fair risk: how evenly the customers of a tier share its overflow risk (and cold starts).

Each customer's **risk rate** is its expected overflow slot-hours over its exposure (planner.risk:
its share of its workers' binding load, summed over slots), i.e. the mean probability that the
slots its load sits in overflow; unlike the slot-hours themselves it does not grow with the
customer's size. Its **headroom-breach rate** is the same with the overflow taken against its
tier's usable capacity, capacity x (1 - the tier's headroom): the share of its slot-hours in which
its workers are expected to eat into the margin its tier promises. Per tier, over the customers
with some exposure:

* ``max / mean`` of the rates (1 = all equal; a bound ``k`` means no customer above k × the mean);
* Jain's index ``(Σx)² / (n Σx²)`` (1 = all equal, 1/n = one customer carries it all).

Both are 1 when every rate is 0 (nobody carries risk: nothing is unfair). Risk and breach rates
below :data:`RATE_FLOOR` count as the floor: on a sized fleet the physical overflow probabilities
are Gaussian tails of 1e-10..1e-8, and a ratio of two such numbers is numerical noise, not
unfairness (a bound on it has nothing to act on: no 0.05 headroom step equalises them).

**The bound** (``tiers.X.max_risk_ratio``, :func:`bound_risk_ratio`) holds the breach rates, not
the physical risk rates: the breach rate is the per-customer form of what the tier's ε bounds,
and it moves with the customer's own headroom, the bound's lever.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from planner import columns as C

__all__ = ["jain_index", "max_over_mean", "risk_rates", "add_fairness", "fairness_summary", "FAIRNESS_COLUMNS",
           "RATE_FLOOR", "BOUND_MEASURE", "customers_above", "bound_risk_ratio"]

FAIRNESS_COLUMNS = ("fairness_risk_max_over_mean", "fairness_risk_jain", "fairness_breach_max_over_mean",
                    "fairness_breach_jain", "fairness_cold_start_max_over_mean", "fairness_cold_start_jain")

#: Risk and breach rates (per slot-hour) below this count as equal to it: ratios of numerical noise
#: are not unfairness. 1e-6 is one expected overflow hour in about 114 years of one customer's load.
RATE_FLOOR = 1e-6

#: The rate the bound holds (a qos.csv column), named in summary.json's fairness_bound.
BOUND_MEASURE = "headroom_breach_rate"


def _floored(x, floor: float) -> np.ndarray:
    x = np.asarray(x, dtype=float)
    return np.maximum(x[np.isfinite(x)], floor)


def jain_index(x, floor: float = 0.0) -> float:
    """Jain's fairness index of non-negative values (each at least ``floor``); 1.0 for an empty or
    all-zero set."""
    x = _floored(x, floor)
    sq = float((x ** 2).sum())
    return 1.0 if len(x) == 0 or sq == 0 else float(x.sum() ** 2 / (len(x) * sq))


def max_over_mean(x, floor: float = 0.0) -> float:
    """Largest value over the mean (each value at least ``floor``); 1.0 for an empty or all-zero set."""
    x = _floored(x, floor)
    m = float(x.mean()) if len(x) else 0.0
    return 1.0 if m <= 0 else float(x.max() / m)


def risk_rates(risk: pd.Series, exposure: pd.Series) -> pd.Series:
    """Per customer: risk slot-hours / exposure slot-hours (NaN where the exposure is 0)."""
    exposure = exposure.reindex(risk.index).astype(float)
    return (risk.astype(float) / exposure.where(exposure > 0)).rename("risk_rate")


def add_fairness(qos: pd.DataFrame, exposure_by_customer: pd.Series,
                 breach_by_customer: pd.Series | None = None) -> pd.DataFrame:
    """The QoS table with ``risk_rate`` (and, given ``breach_by_customer``, the expected slot-hours
    beyond the tier's usable capacity: ``headroom_breach_rate``) per customer and, per tier, the
    ``fairness_*`` columns (the same value on every row of a tier; risk and breach at
    :data:`RATE_FLOOR`; cold-start columns only when ``cold_start_rate`` is there)."""
    out = qos.copy()
    exposure = exposure_by_customer.astype(float)
    risk = out.set_index(C.CUSTOMER)["risk"]
    out["risk_rate"] = out[C.CUSTOMER].map(risk_rates(risk, exposure))
    figures = [("risk", "risk_rate", RATE_FLOOR)]
    if breach_by_customer is not None:
        out[BOUND_MEASURE] = out[C.CUSTOMER].map(risk_rates(breach_by_customer, exposure))
        figures.append(("breach", BOUND_MEASURE, RATE_FLOOR))
    if "cold_start_rate" in out.columns:  # a frequency of counted events, not a tail: no floor
        figures.append(("cold_start", "cold_start_rate", 0.0))
    for name, col, floor in figures:
        by_tier = out.groupby("tier")[col]
        out[f"fairness_{name}_max_over_mean"] = out["tier"].map(by_tier.apply(max_over_mean, floor=floor))
        out[f"fairness_{name}_jain"] = out["tier"].map(by_tier.apply(jain_index, floor=floor))
    return out


def fairness_summary(qos: pd.DataFrame) -> dict:
    """Per tier: customers, the mean and largest risk rate, max / mean and Jain's index (and the
    same for the headroom-breach rate, and the cold-start figures, when the QoS table has them):
    the ``fairness`` block of summary.json. Rates keep 3 significant digits (they span 1e-10..1e-2)."""
    out = {}
    for tier, part in qos.groupby("tier", sort=True):
        rates = part["risk_rate"].dropna()
        block = {"customers": int(len(part)), "risk_rate_mean": _sig(rates.mean()) if len(rates) else 0.0,
                 "risk_rate_max": _sig(rates.max()) if len(rates) else 0.0,
                 "max_over_mean": round(max_over_mean(rates, RATE_FLOOR), 4),
                 "jain": round(jain_index(rates, RATE_FLOOR), 4), "rate_floor": RATE_FLOOR}
        if BOUND_MEASURE in part.columns:
            b = part[BOUND_MEASURE].dropna()
            block.update({"breach_rate_mean": _sig(b.mean()) if len(b) else 0.0,
                          "breach_rate_max": _sig(b.max()) if len(b) else 0.0,
                          "breach_max_over_mean": round(max_over_mean(b, RATE_FLOOR), 4),
                          "breach_jain": round(jain_index(b, RATE_FLOOR), 4)})
        if "cold_start_rate" in part.columns:
            block["cold_start_max_over_mean"] = round(max_over_mean(part["cold_start_rate"]), 4)
            block["cold_start_jain"] = round(jain_index(part["cold_start_rate"]), 4)
        out[str(tier)] = block
    return out


def _sig(v, digits: int = 3) -> float:
    return float(f"{float(v):.{digits}g}")


def customers_above(rates: pd.Series, tier_of: pd.Series, bounds: dict[str, float]) -> tuple[dict, list]:
    """Per bounded tier its max / mean of ``rates`` (customer -> rate; NaN = no exposure, left
    out) and the customers above ``k`` × their tier's mean, every rate taken at least
    :data:`RATE_FLOOR`: a tier whose rates are all below the floor is fair, nobody is above."""
    out, offenders = {}, []
    for t, k in bounds.items():
        r = rates[rates.index.map(tier_of) == t].dropna().clip(lower=RATE_FLOOR)
        out[t] = max_over_mean(r, RATE_FLOOR)
        if len(r):
            offenders += [c for c, v in r.items() if v > k * float(r.mean()) * (1 + 1e-6)]
    return out, offenders


def bound_risk_ratio(pack, weeks, groups: pd.DataFrame, tiers, bounds: dict[str, float], pool_of: dict[str, str],
                     max_rounds: int = 6, step: float = 0.05, ceiling: float = 0.9, measure=None):
    """Hold every customer's headroom-breach rate at most ``bounds[tier]`` × its tier's mean, in
    the packing (rates below :data:`RATE_FLOOR` count as the floor).

    Each round computes the packing's breach rates (planner.risk against each tier's own headroom,
    no procurement shortfall), and raises the headroom of every customer above its bound by
    ``step`` (its groups' workers keep more capacity free, so less of their load crosses the tier's
    usable capacity); ``pack(groups)`` packs the horizon again with the Groups table's ``headroom``
    column. Stops when every bound holds, after ``max_rounds``, or when no customer above its bound
    can be raised (``ceiling``).

    Each repacking is a new heuristic plan, so a later round can be worse than an earlier one: the
    round with the fewest customers above their bounds (then the smallest worst excess) is kept.
    ``measure(weeks) -> (max / mean per tier, customers above)`` replaces the risk computation in tests.

    Returns (weeks, notes of the kept packing or None, report): the report has per tier the bound,
    the max / mean before and after, whether it holds and, where it does not, why (``not_held``),
    and per round the packing cost per month summed over the weeks, and the raised headroom of
    each customer.
    """
    from planner.plan import worker_loads_of
    from planner.risk import plan_risk

    tier_of = groups.drop_duplicates(C.CUSTOMER).set_index(C.CUSTOMER)["tier"].astype(str)
    reference = {str(t): float(tiers[t].headroom) for t in sorted(set(groups["tier"])) if t in tiers}

    def ratios(ws):
        loads = {wp.week: worker_loads_of(wp) for wp in ws}
        risk = plan_risk(ws, loads, groups, pool_of, None, tiers=sorted(set(groups["tier"])),
                         reference_headroom=reference)
        return customers_above(risk_rates(risk.breach_by_customer, risk.exposure_by_customer), tier_of, bounds)

    measure = measure or ratios

    def cost(ws):
        return float(sum(wp.result.objective for wp in ws))

    extra: dict[str, float] = {}
    base_h = groups["tier"].map(lambda t: tiers[t].headroom)

    def headroom(c):
        return float(base_h[groups[C.CUSTOMER] == c].max()) + extra.get(c, 0.0)

    first, offenders = measure(weeks)
    history = [{"round": 0, "cost_per_month_sum": round(cost(weeks), 2), "max_over_mean": first,
                "customers_above": len(offenders)}]
    above = [sorted(offenders)]
    notes, stopped = None, "held"

    def badness(current, n_above):
        return (n_above, max((current[t] / k for t, k in bounds.items()), default=0.0))

    best = (badness(first, len(offenders)), 0, weeks, notes, {})
    for rnd in range(1, max_rounds + 1):
        if not offenders:
            break
        raised = False
        for c in offenders:
            if headroom(c) + step <= ceiling + 1e-9:
                extra[c] = extra.get(c, 0.0) + step
                raised = True
        if not raised:
            stopped = "ceiling"
            break
        packing_groups = groups.assign(headroom=(base_h + groups[C.CUSTOMER].map(extra).fillna(0.0)).to_numpy())
        weeks, notes = pack(packing_groups)
        current, offenders = measure(weeks)
        history.append({"round": rnd, "cost_per_month_sum": round(cost(weeks), 2), "max_over_mean": current,
                        "customers_above": len(offenders)})
        above.append(sorted(offenders))
        if badness(current, len(offenders)) < best[0]:
            best = (badness(current, len(offenders)), rnd, weeks, notes, dict(extra))
    else:
        stopped = "rounds" if offenders else "held"
    _, kept, weeks, notes, extra_kept = best
    last = history[kept]["max_over_mean"]
    holds = {t: bool(last[t] <= k * (1 + 1e-6)) for t, k in bounds.items()}
    not_held = {}
    for t, k in bounds.items():
        if holds[t]:
            continue
        who = [c for c in above[kept] if tier_of.get(c, t) == t]
        at_ceiling = [c for c in above[-1] if tier_of.get(c, t) == t and headroom(c) + step > ceiling + 1e-9]
        why = (f"{len(who)} customer(s) above {k:g} x the tier's mean {BOUND_MEASURE} in the kept round {kept} "
               f"of {len(history) - 1} (max / mean {last[t]:.3g}): ")
        if at_ceiling:
            why += f"{', '.join(at_ceiling[:5])} at the headroom ceiling {ceiling:g}, raised no further; "
        why += (f"the round limit ({max_rounds}) was reached" if stopped == "rounds"
                else "no customer above its bound could be raised further")
        per_round = [sum(tier_of.get(c, t) == t for c in a) for a in above]
        if len(per_round) > 2 and min(per_round[1:]) > 0:
            why += f"; customers above per round {per_round} (each round repacks the whole horizon, moving others)"
        not_held[t] = why
    report = {
        "measure": BOUND_MEASURE,
        "rate_floor": RATE_FLOOR,
        "bounds": dict(bounds),
        "rounds": history,
        "holds": holds,
        "max_over_mean_before": {t: round(v, 4) for t, v in first.items()},
        "max_over_mean_after": {t: round(v, 4) for t, v in last.items()},
        "cost_per_month_sum_before": history[0]["cost_per_month_sum"],
        "cost_per_month_sum_after": history[kept]["cost_per_month_sum"],
        "kept_round": kept,
        "headroom_raised": {c: round(float(base_h[groups[C.CUSTOMER] == c].max()) + v, 4)
                            for c, v in sorted(extra_kept.items())},
        "not_held": not_held,
    }
    return weeks, notes, report
