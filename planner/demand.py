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
COMPACT_ROWS = 5_000_000  # above this many rows a demand table is compact (see resource_demand)


def parse_slot(slot) -> pd.Timedelta:
    """The planning slot as a positive duration (``1h``, ``30min``); anything else is bad input."""
    from planner.errors import InputDataError

    try:
        td = pd.Timedelta(slot)
    except (ValueError, TypeError):
        td = None
    if td is None or pd.isna(td) or td <= pd.Timedelta(0):
        raise InputDataError(f"slot {slot!r} is not a positive duration; expected e.g. 1h, 30min or 15min")
    return td


def slot_factor(telemetry: Telemetry, slot: str) -> int:
    """How many telemetry intervals make one slot (an error if it is not a whole number)."""
    from planner.errors import InputDataError

    slot_s = parse_slot(slot).total_seconds()
    k = slot_s / telemetry.interval_s
    if k < 1 or abs(k - round(k)) > 1e-9:
        step = pd.Timedelta(seconds=telemetry.interval_s)
        hour = pd.Timedelta("1h")
        examples = [step, 2 * step] + ([hour] if hour > 2 * step and hour % step == pd.Timedelta(0) else [4 * step])
        raise InputDataError(
            f"slot {slot!r} must be a whole multiple of the telemetry interval ({_fmt(step)}), e.g. "
            + ", ".join(_fmt(e) for e in examples[:-1]) + f" or {_fmt(examples[-1])}"
        )
    return int(round(k))


def _fmt(td: pd.Timedelta) -> str:
    from planner.ingest.checks import format_interval

    return format_interval(td)


def resource_demand(
    telemetry: Telemetry,
    catalog: pd.DataFrame,
    *,
    slot: str = "1h",
    level: str = "group",
    peak_quantile: float | None = None,
    chunk_slots: int = 24,
    compact: bool | None = None,
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
        compact: a categorical key and float32 values (the values are computed in float32, so they
            are the same numbers in half the memory); ``None``: compact above ``COMPACT_ROWS`` rows
            (fleet scale), plain ``str`` / float64 columns below.

    Returns:
        Long frame: key, ``ds`` (slot start), ``invocations``, ``concurrency`` (peak), ``cpu_cores``,
        ``memory_gb`` (slot values), ``cpu_cores_mean``, ``memory_gb_mean``.
    """
    if level not in LEVELS:
        raise ValueError(f"level must be one of {LEVELS}, got {level!r}")
    return resource_demand_levels(telemetry, catalog, slot=slot, levels=(level,),
                                  peak_quantile=peak_quantile, chunk_slots=chunk_slots, compact=compact)[level]


def resource_demand_levels(
    telemetry: Telemetry,
    catalog: pd.DataFrame,
    *,
    slot: str = "1h",
    levels=LEVELS,
    peak_quantile: float | None = None,
    chunk_slots: int = 24,
    compact: bool | None = None,
) -> dict[str, pd.DataFrame]:
    """ResourceDemand at several levels in one pass over the telemetry (see :func:`resource_demand`)."""
    k = slot_factor(telemetry, slot)
    cat = require_coverage(catalog, telemetry.ids)
    _require_finite_catalog(cat)
    conc_per_inv = (cat[C.DURATION_S].to_numpy() / telemetry.interval_s).astype(np.float32)
    cores = (cat[C.CPU_MILLICORES].to_numpy() / 1000.0).astype(np.float32)
    gb = (cat[C.MEMORY_MB].to_numpy() / 1024.0).astype(np.float32)
    n_f = telemetry.n_functions

    codes, group_labels = pd.factorize(cat[C.GROUP_ID], sort=True)
    order = np.argsort(codes, kind="stable")
    in_order = bool((order == np.arange(n_f)).all())  # traces usually list an app's functions together
    starts = np.flatnonzero(np.r_[True, np.diff(codes[order]) != 0])
    g_conc, g_cores, g_gb = conc_per_inv[order], cores[order], gb[order]

    slot_td = parse_slot(slot)
    first = telemetry.index[0].floor(slot_td)
    lead = int((telemetry.index[0] - first) / pd.Timedelta(seconds=telemetry.interval_s))
    n_rows = lead + len(telemetry.index)
    n_slots = -(-n_rows // k)
    # Intervals present in each slot (edge slots may be partial): the divisor of the means.
    present = np.full(n_slots, k, dtype=np.float32)
    present[0] -= lead
    present[-1] -= n_slots * k - n_rows

    # Each column of each level's table is filled in place, chunk by chunk ([key, slot], key-major:
    # the table's row order), in its final dtype: no list of chunks, no concatenated or transposed
    # copy (a fleet's year of hourly group demand is 0.24 GB per float32 column at 20,000 functions).
    sizes = {"group": len(group_labels), "function": n_f}
    small = {lvl: not (sizes[lvl] * n_slots > COMPACT_ROWS if compact is None else compact) for lvl in levels}
    parts = {lvl: _Columns(sizes[lvl], n_slots, np.float64 if small[lvl] else np.float32) for lvl in levels}

    def reduce(out, name, values, valid, n_present):
        s = len(n_present)
        v = values.reshape(s, k, -1)
        if name == "inv":
            out.put("inv", v.sum(axis=1))
            return
        if peak_quantile is None:
            out.put(name, v.max(axis=1))  # values >= 0, so zero padding never wins
        else:
            masked = np.where(valid.reshape(s, k, 1), v, np.nan)
            out.put(name, np.nanquantile(masked, peak_quantile, axis=1).astype(np.float32))
        if name in ("cpu", "mem"):
            out.put(f"{name}_mean", v.sum(axis=1) / n_present)

    for s0 in range(0, n_slots, chunk_slots):
        s1 = min(n_slots, s0 + chunk_slots)
        s = s1 - s0
        for out in parts.values():
            out.at(s0, s1)
        r0, r1 = s0 * k - lead, s1 * k - lead
        a, b = max(r0, 0), min(r1, len(telemetry.index))
        if a == r0 and b == r1:
            block = telemetry.counts[a:b]
        else:
            block = np.zeros((s * k, n_f), dtype=np.float32)
            block[a - r0 : b - r0] = telemetry.counts[a:b]
        _require_finite_counts(block, telemetry, r0=r0)
        n_present = present[s0:s1, None]
        valid = np.zeros(s * k, dtype=bool)
        valid[a - r0 : b - r0] = True
        instances = np.ceil(block * conc_per_inv)  # warm instances per function and interval
        if "function" in levels and peak_quantile is None:
            # Per function the factors are constants >= 0, so the peak of concurrency is the peak
            # of the counts times the factor, and ceil() is monotone: reduce the counts once.
            out = parts["function"]
            v = block.reshape(s, k, n_f)
            peak = v.max(axis=1) * conc_per_inv
            out.put("inv", v.sum(axis=1))
            out.put("conc", peak)
            out.put("cpu", peak * cores)
            out.put("mem", np.ceil(peak) * gb)
            out.put("cpu_mean", v.sum(axis=1) * (conc_per_inv * cores) / n_present)
            out.put("mem_mean", instances.reshape(s, k, n_f).sum(axis=1) * gb / n_present)
        elif "function" in levels:
            out = parts["function"]
            conc = block * conc_per_inv
            reduce(out, "inv", block, valid, n_present)
            reduce(out, "conc", conc, valid, n_present)
            reduce(out, "cpu", conc * cores, valid, n_present)
            reduce(out, "mem", instances * gb, valid, n_present)
        if "group" in levels:
            # Columns ordered by group, so each group is a contiguous run that reduceat sums.
            out = parts["group"]
            gb_block = block if in_order else block[:, order]
            inst = instances if in_order else instances[:, order]
            reduce(out, "inv", np.add.reduceat(gb_block, starts, axis=1), valid, n_present)
            conc_g = gb_block * g_conc
            reduce(out, "conc", np.add.reduceat(conc_g, starts, axis=1), valid, n_present)
            reduce(out, "cpu", np.add.reduceat(conc_g * g_cores, starts, axis=1), valid, n_present)
            reduce(out, "mem", np.add.reduceat(inst * g_gb, starts, axis=1), valid, n_present)

    slots = pd.date_range(first, periods=n_slots, freq=slot_td)
    frames = {}
    for lvl in levels:
        key = C.GROUP_ID if lvl == "group" else C.UNIQUE_ID
        labels = np.asarray(group_labels if lvl == "group" else telemetry.ids.astype(str), dtype=object)
        # Function ids can be long (Azure: 129 characters) and there may be tens of thousands:
        # a categorical key holds each once instead of once per slot.
        key_col = (pd.Categorical.from_codes(np.repeat(np.arange(len(labels), dtype=np.int32), n_slots),
                                             categories=pd.Index(labels.astype(str)))
                   if lvl == "function" or not small[lvl] else np.repeat(labels, n_slots))
        frame = parts.pop(lvl).frame({key: key_col, C.DS: np.tile(slots.values, len(labels))})
        if lvl == "group" and small[lvl]:
            frame[key] = frame[key].astype(str)
        frames[lvl] = frame
    warn_implausible_demand(frames["group" if "group" in frames else "function"])
    return frames


class _Columns:
    """A demand table's value columns, ``[key, slot]`` arrays filled one chunk of slots at a time.

    The values are computed in float32; a compact table keeps them so (the same numbers, half the
    memory), a small one widens them to float64 as they are written (exactly)."""

    NAMES = ("inv", "conc", "cpu", "mem", "cpu_mean", "mem_mean")
    COLUMNS = (C.INVOCATIONS, C.CONCURRENCY, C.CPU_CORES, C.MEMORY_GB, C.CPU_CORES_MEAN, C.MEMORY_GB_MEAN)

    def __init__(self, n_keys: int, n_slots: int, dtype):
        # One 2-D block, a row per column: the table's float block as pandas would consolidate it.
        self.values = np.empty((len(self.NAMES), n_keys * n_slots), dtype=dtype)
        self.n_keys, self.n_slots, self.s0, self.s1 = n_keys, n_slots, 0, 0

    def at(self, s0: int, s1: int) -> None:
        """The chunk of slots ``[s0, s1)`` that :meth:`put` writes next."""
        self.s0, self.s1 = s0, s1

    def put(self, name: str, chunk: np.ndarray) -> None:
        """Write ``chunk`` (``[slot, key]`` of the current chunk of slots) into column ``name``."""
        col = self.values[self.NAMES.index(name)].reshape(self.n_keys, self.n_slots)
        col[:, self.s0:self.s1] = chunk.T

    def frame(self, keys: dict) -> pd.DataFrame:
        """The table: the ``keys`` columns (key, ``ds``), then the value columns, sharing this
        block's memory (no copy)."""
        values = pd.DataFrame(self.values.T, columns=list(self.COLUMNS), copy=False)
        return pd.concat([pd.DataFrame(keys, copy=False), values], axis=1)


#: Plausibility bounds of the demand stage (docs/data.md): one group (or function) needing more than
#: this in one slot is far likelier a unit slip than real: 100,000 cores is some 1,500 64-core
#: servers for a single group, and the memory bound is the same fleet at 8 GB per core.
PLAUSIBLE_DEMAND = {C.CPU_CORES: 1e5, C.MEMORY_GB: 8e5}


def warn_implausible_demand(demand: pd.DataFrame) -> int:
    """Warn (naming resource_demand, the group or function, the slot and the value) when a demand
    value exceeds :data:`PLAUSIBLE_DEMAND`; returns how many rows do."""
    import warnings

    key = C.GROUP_ID if C.GROUP_ID in demand.columns else C.UNIQUE_ID
    n = 0
    for col, bound in PLAUSIBLE_DEMAND.items():
        values = demand[col].to_numpy()
        over = np.flatnonzero(values > bound)
        n += over.size
        if over.size:
            i = int(over[np.argmax(values[over])])
            warnings.warn(f"resource_demand: {key.split('_')[0]} {str(demand[key].iloc[i])!r} needs {values[i]:.4g} {col} "
                          f"at {demand[C.DS].iloc[i]}, beyond the plausible {bound:g} {col} for one {key.split('_')[0]} "
                          f"({over.size} slot value(s) above it); check the counts, durations and instance sizes "
                          "(docs/data.md, plausibility bounds)", stacklevel=3)
    return n


def _require_finite_catalog(cat: pd.DataFrame) -> None:
    from planner.errors import InputDataError

    for col in (C.DURATION_S, C.CPU_MILLICORES, C.MEMORY_MB):
        v = pd.to_numeric(cat[col], errors="coerce").to_numpy(dtype=float)
        bad = np.flatnonzero(~np.isfinite(v) | (v < 0))
        if bad.size:
            i = int(bad[0])
            raise InputDataError(f"resource_demand: function {cat[C.UNIQUE_ID].iloc[i]!r} has {col} {v[i]:g}; "
                                 "expected a finite number >= 0", column=col)


def _require_finite_counts(block: np.ndarray, telemetry: Telemetry, *, r0: int) -> None:
    """Counts of one chunk (grid rows from ``r0``) are finite and >= 0: readers check their files,
    this guards any Telemetry. Two reductions without temporaries (max propagates NaN)."""
    from planner.errors import InputDataError

    if block.size == 0:
        return
    top, low = block.max(), block.min()
    if np.isfinite(top) and low >= 0:
        return
    r, j = np.argwhere(~np.isfinite(block) | (block < 0))[0]
    row = r0 + int(r)
    raise InputDataError(f"resource_demand: function {str(telemetry.ids[j])!r} has count {block[r, j]:g} at "
                         f"{telemetry.index[row]}; telemetry counts must be finite and >= 0", column=C.Y)


GROUP_BLOCK_ROWS = 4_000_000  # rows group_max reads at a time


def group_max(frame: pd.DataFrame, key: str, column: str, block: int | None = None) -> pd.Series:
    """``frame.groupby(key, sort=True, observed=True)[column].max()``, read ``block`` rows at a time:
    the same Series, with a block's grouping arrays (int64 per row) instead of a fleet's year of
    hourly demand's (~0.5 GB each at 20,000 functions)."""
    block = GROUP_BLOCK_ROWS if block is None else int(block)
    if len(frame) <= block:
        return frame.groupby(key, sort=True, observed=True)[column].max()
    parts = [frame[[key, column]].iloc[i:i + block].groupby(key, sort=True, observed=True)[column].max()
             for i in range(0, len(frame), block)]
    return pd.concat(parts).groupby(level=0, sort=True, observed=True).max()


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
