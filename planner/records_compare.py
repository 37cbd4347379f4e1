"""Two recorded runs side by side: cost, servers by type and pool, risk, and what changed in the
inputs (files whose checksum differs, scenario fields whose value differs)."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from planner.records import RunRecord

__all__ = ["RunComparison", "compare_runs", "flatten_definition"]


@dataclass(frozen=True)
class RunComparison:
    """The differences between run ``a`` (the earlier, usually) and run ``b``."""

    a: int
    b: int
    totals: pd.DataFrame  # metric, a, b, delta
    servers: pd.DataFrame  # pool, server_type, installed_a, installed_b, delta, purchased_a, purchased_b
    risk: pd.DataFrame  # tier, a, b, delta
    inputs: pd.DataFrame  # name, a, b (checksums; only inputs that differ or exist in one run)
    fields: pd.DataFrame  # field, a, b (scenario fields whose value differs)


def flatten_definition(obj, prefix: str = "") -> dict[str, object]:
    """Dotted paths of a scenario definition; list items with a ``type`` or ``name`` are keyed by it
    (``servers[c-32].cost_per_month``), others by position."""
    out: dict[str, object] = {}
    if isinstance(obj, dict):
        if not obj and prefix:
            out[prefix] = {}
        for k, v in obj.items():
            out.update(flatten_definition(v, f"{prefix}.{k}" if prefix else str(k)))
    elif isinstance(obj, list):
        if not obj:
            out[prefix] = []
        for i, v in enumerate(obj):
            key = v.get("type", v.get("name", i)) if isinstance(v, dict) else i
            out.update(flatten_definition(v, f"{prefix}[{key}]"))
    else:
        out[prefix] = obj
    return out


def _end_servers(rec: RunRecord) -> pd.DataFrame:
    plan = rec.plan
    if plan.empty:
        return pd.DataFrame(columns=["pool", "server_type", "installed", "purchased"])
    last = plan[plan["week"] == plan["week"].max()].groupby(["pool", "server_type"])["installed"].sum()
    bought = plan.groupby(["pool", "server_type"])["purchased"].sum()
    return pd.DataFrame({"installed": last, "purchased": bought}).fillna(0).astype(int).reset_index()


def _totals(a: RunRecord, b: RunRecord) -> pd.DataFrame:
    rows = []
    for metric in ("total_cost", "purchase_cost", "servers_purchased", "cpu_utilisation_mean",
                   "shape_vs_peak_packing_cost", "groups", "functions"):
        va, vb = a.summary.get(metric), b.summary.get(metric)
        if va is None and vb is None:
            continue
        delta = vb - va if isinstance(va, (int, float)) and isinstance(vb, (int, float)) else None
        rows.append({"metric": metric, "a": va, "b": vb, "delta": delta})
    ea, eb = _end_servers(a)["installed"].sum(), _end_servers(b)["installed"].sum()
    rows.insert(1, {"metric": "servers_end", "a": int(ea), "b": int(eb), "delta": int(eb - ea)})
    return pd.DataFrame(rows, columns=["metric", "a", "b", "delta"])


def compare_runs(a: RunRecord, b: RunRecord) -> RunComparison:
    """Compare two recorded runs (any kinds)."""
    sa, sb = _end_servers(a), _end_servers(b)
    servers = sa.merge(sb, on=["pool", "server_type"], how="outer", suffixes=("_a", "_b")).fillna(0)
    for c in ("installed_a", "installed_b", "purchased_a", "purchased_b"):
        servers[c] = servers[c].astype(int)
    servers["delta"] = servers["installed_b"] - servers["installed_a"]
    servers = servers[["pool", "server_type", "installed_a", "installed_b", "delta", "purchased_a", "purchased_b"]]

    ra = a.summary.get("risk_slot_hours_by_tier") or {}
    rb = b.summary.get("risk_slot_hours_by_tier") or {}
    risk = pd.DataFrame([{"tier": t, "a": ra.get(t), "b": rb.get(t),
                          "delta": (rb.get(t) or 0.0) - (ra.get(t) or 0.0)} for t in sorted(set(ra) | set(rb))],
                        columns=["tier", "a", "b", "delta"])

    ia = dict(zip(a.inputs["name"], a.inputs["sha256"]))
    ib = dict(zip(b.inputs["name"], b.inputs["sha256"]))
    inputs = pd.DataFrame([{"name": n, "a": ia.get(n), "b": ib.get(n)} for n in sorted(set(ia) | set(ib))
                           if ia.get(n) != ib.get(n)], columns=["name", "a", "b"])

    fa, fb = flatten_definition(a.scenario_definition), flatten_definition(b.scenario_definition)
    fields = pd.DataFrame([{"field": k, "a": fa.get(k), "b": fb.get(k)} for k in sorted(set(fa) | set(fb))
                           if fa.get(k) != fb.get(k)], columns=["field", "a", "b"])
    return RunComparison(a.run_id, b.run_id, _totals(a, b), servers, risk, inputs, fields)
