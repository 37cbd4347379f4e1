"""Resource demand from telemetry: Little's law, then CPU and memory, aggregated to planning slots.

Per function and interval (DESIGN.md):
    concurrency = invocations / interval_s × duration_s
    cpu_cores   = concurrency × cpu_millicores / 1000
    memory_gb   = ceil(concurrency) × memory_mb / 1024     (warm instances hold their memory)
A group's value in an interval is the sum over its functions; its slot value is the peak over the
slot's intervals (capacity is about peaks), with the mean kept beside it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from planner import columns as C
from planner.catalog import require_coverage
from planner.telemetry import Telemetry

LEVELS = ("group", "function")


def slot_factor(telemetry: Telemetry, slot: str) -> int:
    """How many telemetry intervals make one slot (an error if it is not a whole number)."""
    slot_s = pd.Timedelta(slot).total_seconds()
    k = slot_s / telemetry.interval_s
    if k < 1 or abs(k - round(k)) > 1e-9:
        raise ValueError(
            f"slot {slot!r} must be a whole multiple of the telemetry interval "
            f"({pd.Timedelta(seconds=telemetry.interval_s)})"
        )
    return int(round(k))


def resource_demand(
    telemetry: Telemetry,
    catalog: pd.DataFrame,
    *,
    slot: str = "1h",
    level: str = "group",
    peak_quantile: float | None = None,
    chunk_slots: int = 96,
) -> pd.DataFrame:
    """The ResourceDemand table (docs/contracts.md).

    Args:
        telemetry: invocation counts on a regular grid.
        catalog: FunctionCatalog with a row for every function of ``telemetry``.
        slot: planning slot, a whole multiple of the telemetry interval ("1h" by default).
        level: ``"group"`` (rows keyed by ``group_id``) or ``"function"`` (keyed by ``unique_id``).
        peak_quantile: the slot value is the within-slot maximum (None) or this quantile of the
            slot's intervals (e.g. 0.95), for traces whose single intervals are noisy.
        chunk_slots: slots processed at once; bounds memory for large traces.

    Returns:
        Long frame: key, ``ds`` (slot start), ``invocations``, ``concurrency`` (peak), ``cpu_cores``,
        ``memory_gb`` (slot values), ``cpu_cores_mean``, ``memory_gb_mean``.
    """
    if level not in LEVELS:
        raise ValueError(f"level must be one of {LEVELS}, got {level!r}")
    k = slot_factor(telemetry, slot)
    cat = require_coverage(catalog, telemetry.ids)
    conc_per_inv = (cat[C.DURATION_S].to_numpy() / telemetry.interval_s).astype(np.float32)
    cores_per_conc = (cat[C.CPU_MILLICORES].to_numpy() / 1000.0).astype(np.float32)
    gb_per_instance = (cat[C.MEMORY_MB].to_numpy() / 1024.0).astype(np.float32)

    key = C.GROUP_ID if level == "group" else C.UNIQUE_ID
    if level == "group":
        codes, labels = pd.factorize(cat[C.GROUP_ID], sort=True)
        from scipy import sparse

        member = sparse.csr_matrix(
            (np.ones(len(codes), dtype=np.float32), (np.arange(len(codes)), codes)),
            shape=(len(codes), len(labels)),
        )
        to_groups = lambda m: np.asarray(m @ member, dtype=np.float32)  # noqa: E731
    else:
        labels = pd.Index(telemetry.ids.astype(str))
        to_groups = lambda m: m  # noqa: E731

    # Align the grid to slot boundaries by padding with NaN (ignored by the peak and the mean).
    slot_td = pd.Timedelta(slot)
    first = telemetry.index[0].floor(slot_td)
    lead = int((telemetry.index[0] - first) / pd.Timedelta(seconds=telemetry.interval_s))
    n_rows = lead + len(telemetry.index)
    n_slots = -(-n_rows // k)

    outputs = {name: [] for name in ("inv", "conc", "cpu", "mem", "cpu_mean", "mem_mean")}
    for s0 in range(0, n_slots, chunk_slots):
        s1 = min(n_slots, s0 + chunk_slots)
        r0, r1 = s0 * k - lead, s1 * k - lead  # rows of the telemetry grid
        block = np.full(((s1 - s0) * k, telemetry.n_functions), np.nan, dtype=np.float32)
        a, b = max(r0, 0), min(r1, len(telemetry.index))
        block[a - r0 : b - r0] = telemetry.counts[a:b]
        valid = ~np.isnan(block[:, 0])
        filled = np.nan_to_num(block)
        conc = filled * conc_per_inv
        parts = {
            "inv": to_groups(filled),
            "conc": to_groups(conc),
            "cpu": to_groups(conc * cores_per_conc),
            "mem": to_groups(np.ceil(conc) * gb_per_instance),
        }
        shape = (s1 - s0, k, len(labels))
        mask = np.broadcast_to(valid.reshape(s1 - s0, k, 1), shape)
        for name, values in parts.items():
            v = np.where(mask, values.reshape(shape), np.nan)
            if name == "inv":
                outputs["inv"].append(np.nansum(v, axis=1))
                continue
            if peak_quantile is None:
                outputs[name].append(np.nanmax(v, axis=1))
            else:
                outputs[name].append(np.nanquantile(v, peak_quantile, axis=1))
            if name in ("cpu", "mem"):
                outputs[f"{name}_mean"].append(np.nanmean(v, axis=1))

    stacked = {name: np.concatenate(vals, axis=0) for name, vals in outputs.items()}
    slots = pd.date_range(first, periods=n_slots, freq=slot_td)
    n_g = len(labels)
    frame = pd.DataFrame(
        {
            key: np.repeat(np.asarray(labels, dtype=object), n_slots),
            C.DS: np.tile(slots.values, n_g),
            C.INVOCATIONS: stacked["inv"].T.reshape(-1).astype(np.float64),
            C.CONCURRENCY: stacked["conc"].T.reshape(-1).astype(np.float64),
            C.CPU_CORES: stacked["cpu"].T.reshape(-1).astype(np.float64),
            C.MEMORY_GB: stacked["mem"].T.reshape(-1).astype(np.float64),
            C.CPU_CORES_MEAN: stacked["cpu_mean"].T.reshape(-1).astype(np.float64),
            C.MEMORY_GB_MEAN: stacked["mem_mean"].T.reshape(-1).astype(np.float64),
        }
    )
    frame[key] = frame[key].astype(str)
    return frame


def demand_matrix(demand: pd.DataFrame, value: str = C.CPU_CORES, key: str = C.GROUP_ID) -> pd.DataFrame:
    """A wide view of one demand column: rows ``ds``, one column per group (zeros where absent)."""
    return demand.pivot(index=C.DS, columns=key, values=value).fillna(0.0).sort_index()


def groups_table(catalog: pd.DataFrame) -> pd.DataFrame:
    """One row per group: ``group_id, customer, n_functions`` (a group belongs to one customer)."""
    per = catalog.groupby(C.GROUP_ID).agg(
        customer=(C.CUSTOMER, "first"), n_customers=(C.CUSTOMER, "nunique"), n_functions=(C.UNIQUE_ID, "size")
    )
    mixed = per.index[per["n_customers"] > 1]
    if len(mixed):
        from planner.errors import InputDataError

        raise InputDataError(
            f"group {mixed[0]!r} mixes functions of {int(per.loc[mixed[0], 'n_customers'])} customers; "
            "a group must belong to one customer", column=C.GROUP_ID,
        )
    return per.drop(columns="n_customers").reset_index()
