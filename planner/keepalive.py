"""Warm instances as demand: group memory (and the CPU idle instances reserve) under a keep-alive
policy, plus cold starts per application and per customer (maths in models/keepalive.py).

The unit that keeps instances warm is the application inside a group (``group_id, app``): an app's
instances serve any of its functions (Azure Functions scales per app; the ATC 2020 policy is per app).
Per interval and unit:

    busy instances B = sum over the unit's functions of ceil(invocations x duration_s / interval_s)
    busy memory   M = sum of ceil(...) x memory_mb / 1024,   busy instance cores K = ... x cpu_millicores / 1000

The policy turns M into resident memory; a group's ``memory_gb`` is the sum of its units' resident
memory, reduced to the slot peak (and mean) as in planner/demand.py. With ``idle_cpu_share`` s > 0,
``cpu_cores`` gains s x (resident cores - busy cores): the CPU an idle warm instance keeps reserved.
Function-level demand stays busy demand (there is no per-function warm pool).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from models.keepalive import KeepAlivePolicy, cold_starts, parse_policy, policy_windows, warm_pool
from planner import columns as C
from planner.catalog import require_coverage
from planner.demand import resource_demand_levels, slot_factor
from planner.telemetry import Telemetry

__all__ = ["WarmDemand", "warm_demand", "apply_warm", "demand_with_keep_alive", "customer_cold_starts"]

APP_COLUMNS = (C.GROUP_ID, C.APP, C.CUSTOMER, C.INVOCATIONS, "cold_starts", "cold_start_rate", "pattern",
               "prewarm_min", "keepalive_min", "busy_gb_hours", "warm_gb_hours")


@dataclass(frozen=True)
class WarmDemand:
    """Group demand under a keep-alive policy and the cold starts it leaves.

    ``memory_gb``/``memory_gb_mean`` (and ``cpu_cores``/``cpu_cores_mean`` when idle instances
    reserve CPU) are ``[group, slot]`` in the order of ``groups`` and ``slots``; ``apps`` has one
    row per unit with the columns of :data:`APP_COLUMNS`.
    """

    policy: KeepAlivePolicy
    idle_cpu_share: float
    groups: list
    slots: pd.DatetimeIndex
    memory_gb: np.ndarray
    memory_gb_mean: np.ndarray
    cpu_cores: np.ndarray | None
    cpu_cores_mean: np.ndarray | None
    apps: pd.DataFrame

    @property
    def cold_start_rate(self) -> float:
        """Cold starts per invocation over the whole trace (0 when nothing was invoked)."""
        inv = float(self.apps[C.INVOCATIONS].sum())
        return float(self.apps["cold_starts"].sum()) / inv if inv > 0 else 0.0

    def customers(self) -> pd.DataFrame:
        """Per customer: invocations, cold starts and their ratio."""
        return customer_cold_starts(self.apps)

    def without_matrices(self) -> "WarmDemand":
        """The same warm demand with its ``[group, slot]`` matrices cut to no slots (``[group, 0]``):
        the per-app cold starts, the summary and the customers' rates stay."""
        import dataclasses

        cut = {name: None if getattr(self, name) is None else getattr(self, name)[:, :0].copy()
               for name in ("memory_gb", "memory_gb_mean", "cpu_cores", "cpu_cores_mean")}
        return dataclasses.replace(self, slots=self.slots[:0], **cut)

    def summary(self) -> dict:
        """JSON-ready: policy, fleet cold-start rate, 75th-percentile app rate, fallbacks, GB-hours."""
        apps = self.apps[self.apps[C.INVOCATIONS] > 0]
        patterns = self.apps["pattern"].value_counts().to_dict()
        fallbacks = {k: int(v) for k, v in patterns.items() if k in ("uncertain", "few_idle", "out_of_range")}
        return {
            "policy": str(self.policy),
            "idle_cpu_share": self.idle_cpu_share,
            "cold_start_rate": round(self.cold_start_rate, 6),
            "cold_start_rate_p75_app": round(float(apps["cold_start_rate"].quantile(0.75)), 6) if len(apps) else 0.0,
            "apps": int(len(self.apps)),
            "patterns": {k: int(v) for k, v in patterns.items()},
            "fallbacks": fallbacks,
            "busy_gb_hours": round(float(self.apps["busy_gb_hours"].sum()), 3),
            "warm_gb_hours": round(float(self.apps["warm_gb_hours"].sum()), 3),
        }


def customer_cold_starts(apps: pd.DataFrame) -> pd.DataFrame:
    """``customer, invocations, cold_starts, cold_start_rate`` from the per-app table."""
    per = apps.groupby(C.CUSTOMER, sort=True)[[C.INVOCATIONS, "cold_starts"]].sum().reset_index()
    with np.errstate(invalid="ignore", divide="ignore"):
        per["cold_start_rate"] = np.where(per[C.INVOCATIONS] > 0, per["cold_starts"] / per[C.INVOCATIONS], 0.0)
    return per


#: Bytes of intermediates per (interval x function) cell of a block in :func:`warm_demand`, an upper
#: bound: the block's counts and busy instances, per unit its busy instances, GB and invocations,
#: the policy's gap indices (int64), the warm pool, what is carried and the cold starts. Measured
#: with tracemalloc (a year of hourly synthetic counts, 28 % of intervals active): 15 bytes with
#: about three functions an app, 32-40 with one function an app; the gap indices add up to 12 more
#: on a trace active in every interval.
WARM_BYTES_PER_CELL = 64
#: What one block of :func:`warm_demand` may hold in intermediates.
WARM_BLOCK_BYTES = 96 * 2**20


def warm_demand(telemetry: Telemetry, catalog: pd.DataFrame, policy, *, slot: str = "1h",
                idle_cpu_share: float = 0.0, peak_quantile: float | None = None,
                block_bytes: int | None = None, matrices: bool = True) -> WarmDemand:
    """Group memory (and idle-instance CPU) per slot under ``policy``, and cold starts per app.

    The derivation runs a block of groups at a time (every number of a group depends on its own
    functions only, so the blocks give the same numbers as the whole fleet at once) and writes each
    block's slot values into the ``[group, slot]`` matrices: the peak holds one block's
    intermediates, not the fleet's.

    Args:
        telemetry: invocation counts on a regular grid.
        catalog: FunctionCatalog covering every function of ``telemetry``.
        policy: a :class:`KeepAlivePolicy` or its text (``none``, ``fixed:10``, ``hybrid``).
        slot: planning slot (a whole multiple of the interval).
        idle_cpu_share: fraction of an instance's cores an idle warm instance keeps reserved (0-1).
        peak_quantile: slot value is the within-slot maximum (None) or this quantile.
        block_bytes: intermediates one block may hold (default :data:`WARM_BLOCK_BYTES`), at
            about :data:`WARM_BYTES_PER_CELL` per interval and function. A group is never split:
            a group larger than that is a block of its own.
        matrices: False: leave the ``[group, slot]`` matrices out (``[group, 0]``, as
            :meth:`WarmDemand.without_matrices` leaves them) for a caller that reads only the
            per-app table: neither they (0.95 GB at 20,000 functions) nor their slot reduction
            are made; the per-app table is the same.

    Raises:
        ValueError: the policy's window is not a whole number of intervals (trace too coarse).
    """
    policy = parse_policy(policy)
    if not 0.0 <= idle_cpu_share <= 1.0:
        raise ValueError(f"idle_cpu_share must be in [0, 1], got {idle_cpu_share}")
    block_bytes = WARM_BLOCK_BYTES if block_bytes is None else int(block_bytes)
    if block_bytes < 1:
        raise ValueError(f"block_bytes must be a positive number of bytes, got {block_bytes}")
    k = slot_factor(telemetry, slot)
    interval_min = telemetry.interval_s / 60.0
    interval_h = telemetry.interval_s / 3600.0
    cat = require_coverage(catalog, telemetry.ids)
    conc_per_inv = (cat[C.DURATION_S].to_numpy() / telemetry.interval_s).astype(np.float32)
    cores = (cat[C.CPU_MILLICORES].to_numpy() / 1000.0).astype(np.float32)
    gb = (cat[C.MEMORY_MB].to_numpy() / 1024.0).astype(np.float32)

    g_code, groups = pd.factorize(cat[C.GROUP_ID], sort=True)
    a_code, _ = pd.factorize(cat[C.APP].astype(str), sort=True)
    order = np.lexsort((a_code, g_code))  # by group, then app
    unit_key = g_code[order].astype(np.int64) * (a_code.max() + 1) + a_code[order]
    f_unit_start = np.flatnonzero(np.r_[True, np.diff(unit_key) != 0])  # in function order
    unit_group = g_code[order][f_unit_start]
    g_unit_start = np.flatnonzero(np.r_[True, np.diff(unit_group) != 0])  # in unit order
    g_f_start = f_unit_start[g_unit_start]  # first function (in order) of each group
    n_f, n_g = len(order), len(groups)
    group_names = np.asarray(groups)
    apps_of = cat[C.APP].to_numpy()
    customers_of = cat[C.CUSTOMER].to_numpy()

    slot_td = pd.Timedelta(slot)
    first = telemetry.index[0].floor(slot_td)
    lead = int((telemetry.index[0] - first) / pd.Timedelta(seconds=telemetry.interval_s))
    n_rows = len(telemetry.index)
    n_slots = -(-(lead + n_rows) // k)
    present = np.full(n_slots, k, dtype=np.float32)
    present[0] -= lead
    present[-1] -= n_slots * k - (lead + n_rows)
    with_cpu = idle_cpu_share > 0 and matrices  # idle CPU is in the matrices only

    # The [group, slot] results, filled block by block (float32 values, widened exactly).
    shape = (n_g, n_slots if matrices else 0)
    mem_peak, mem_mean = np.empty(shape), np.empty(shape)
    cpu_peak, cpu_mean = (np.empty(shape), np.empty(shape)) if idle_cpu_share > 0 else (None, None)
    app_rows = []
    g_bounds = np.r_[g_f_start, n_f]
    max_functions = max(1, block_bytes // (WARM_BYTES_PER_CELL * max(n_rows, 1)))
    for g0, g1 in _blocks(g_bounds, max_functions):
        f0, f1 = g_bounds[g0], g_bounds[g1]
        fidx = order[f0:f1]
        in_block = (f_unit_start >= f0) & (f_unit_start < f1)
        u_start = f_unit_start[in_block] - f0
        ug = unit_group[in_block]
        gu_start = np.flatnonzero(np.r_[True, np.diff(ug) != 0])
        # Each intermediate is freed once read (del): the block's peak is a few of them at a time.
        counts = telemetry.counts[:, fidx]
        inst = np.ceil(counts * conc_per_inv[fidx])
        busy_n = np.add.reduceat(inst, u_start, axis=1)
        busy_gb = np.add.reduceat(inst * gb[fidx], u_start, axis=1)
        busy_k = np.add.reduceat(inst * cores[fidx], u_start, axis=1) if with_cpu else None
        del inst
        inv = np.add.reduceat(counts, u_start, axis=1)
        if with_cpu:
            g_busy_cpu = np.add.reduceat(counts * (conc_per_inv[fidx] * cores[fidx]), g_f_start[g0:g1] - f0, axis=1)
        del counts
        windows = policy_windows(inv > 0, interval_min, policy)
        cold = cold_starts(busy_n, inv, windows, policy.kind)
        del busy_n
        inv_sum = inv.sum(axis=0, dtype=np.float64)
        del inv
        cold_sum = cold.sum(axis=0, dtype=np.float64)
        del cold
        warm_gb, _ = warm_pool(busy_gb, windows)
        if matrices:
            p, m = _slot_reduce(np.add.reduceat(warm_gb, gu_start, axis=1), k, lead, n_slots, present,
                                peak_quantile)
            mem_peak[g0:g1], mem_mean[g0:g1] = p.T, m.T
        if with_cpu:
            warm_k, _ = warm_pool(busy_k, windows)
            g_cpu = g_busy_cpu + idle_cpu_share * np.add.reduceat(warm_k - busy_k, gu_start, axis=1)
            del warm_k, busy_k, g_busy_cpu
            p, m = _slot_reduce(g_cpu, k, lead, n_slots, present, peak_quantile)
            cpu_peak[g0:g1], cpu_mean[g0:g1] = p.T, m.T
        first_f = fidx[u_start]
        lo, hi = windows.lo, windows.hi
        idle_window = hi >= lo
        prewarm = np.where(idle_window & (lo > 1), lo * interval_min, 0.0)
        keep = np.where(idle_window, (hi + 1) * interval_min - prewarm, 0.0) if policy.kind != "none" else 0.0
        app_rows.append(pd.DataFrame({
            C.GROUP_ID: group_names[ug],
            C.APP: apps_of[first_f].astype(str),
            C.CUSTOMER: customers_of[first_f].astype(str),
            C.INVOCATIONS: inv_sum,
            "cold_starts": cold_sum,
            "cold_start_rate": np.divide(cold_sum, inv_sum, out=np.zeros_like(cold_sum), where=inv_sum > 0),
            "pattern": windows.pattern,
            "prewarm_min": prewarm,
            "keepalive_min": keep,
            "busy_gb_hours": busy_gb.sum(axis=0, dtype=np.float64) * interval_h,
            "warm_gb_hours": warm_gb.sum(axis=0, dtype=np.float64) * interval_h,
        }))
        del busy_gb, warm_gb

    slots = pd.date_range(first, periods=n_slots, freq=slot_td)
    if not matrices:
        slots = slots[:0]
    apps = pd.concat(app_rows, ignore_index=True)[list(APP_COLUMNS)]
    for m in (mem_peak, mem_mean, cpu_peak, cpu_mean):
        if m is not None and matrices:
            m.flags.writeable = False  # a group demand table may hold these very arrays (apply_warm)
    return WarmDemand(policy, float(idle_cpu_share), list(map(str, groups)), slots, mem_peak, mem_mean,
                      cpu_peak, cpu_mean, apps)


def _blocks(g_bounds: np.ndarray, max_functions: int):
    """Consecutive runs of groups holding about ``max_functions`` functions (a group is never split)."""
    n_g = len(g_bounds) - 1
    g0 = 0
    while g0 < n_g:
        g1 = int(np.searchsorted(g_bounds, g_bounds[g0] + max_functions, side="right")) - 1
        g1 = min(max(g1, g0 + 1), n_g)
        yield g0, g1
        g0 = g1


def _slot_reduce(values: np.ndarray, k: int, lead: int, n_slots: int, present: np.ndarray,
                 peak_quantile: float | None) -> tuple[np.ndarray, np.ndarray]:
    """Slot peaks (or quantiles) and means ``[slot, column]`` of interval values ``[interval, column]``
    (the conventions of planner/demand.py: slots start at the floor of the first interval)."""
    n_rows, n_x = values.shape
    pad = np.zeros((n_slots * k, n_x), dtype=np.float32)
    pad[lead:lead + n_rows] = values
    v = pad.reshape(n_slots, k, n_x)
    if peak_quantile is None:
        peak = v.max(axis=1)  # values >= 0: zero padding never wins
    else:
        valid = np.zeros(n_slots * k, dtype=bool)
        valid[lead:lead + n_rows] = True
        peak = np.nanquantile(np.where(valid.reshape(n_slots, k, 1), v, np.nan), peak_quantile, axis=1)
    return peak, _interval_sum(v) / present[:, None]


def _interval_sum(v: np.ndarray) -> np.ndarray:
    """``v.sum(axis=1)`` of ``[slot, interval, column]`` values, adding the intervals in order.

    numpy adds them in order when there are several columns but pairwise when there is one, so a
    block of one group would get other float32 sums than the same group among others: in order,
    a group's numbers do not depend on the block it is in."""
    total = v[:, 0].copy()
    for j in range(1, v.shape[1]):
        total += v[:, j]
    return total


def apply_warm(frame: pd.DataFrame, warm: WarmDemand) -> pd.DataFrame:
    """The group-level ResourceDemand ``frame`` with memory (and CPU, when idle instances reserve it)
    taken from ``warm``. Rows must be group-major in ``warm.groups`` order over ``warm.slots``, as
    planner.demand builds them; anything else is an error, not a silent misalignment.

    Nothing is copied: the other columns are ``frame``'s, the replaced ones ``warm``'s (read-only)
    matrices seen as columns (at 20,000 functions a copy of the table is 2 GB)."""
    n_g, n_s = len(warm.groups), len(warm.slots)
    if len(frame) != n_g * n_s:
        raise ValueError("group demand and warm demand are not on the same groups and slots")
    # One key per group (its first row), not the whole column as strings.
    keys = frame[C.GROUP_ID].iloc[::n_s].astype(str).to_numpy() if n_s else np.array([], dtype=object)
    if (not np.array_equal(keys, np.asarray(warm.groups, dtype=object))
            or not np.array_equal(frame[C.DS].to_numpy()[:n_s], warm.slots.values)):
        raise ValueError("group demand and warm demand are not on the same groups and slots")
    new = {C.MEMORY_GB: warm.memory_gb, C.MEMORY_GB_MEAN: warm.memory_gb_mean}
    if warm.cpu_cores is not None:
        new.update({C.CPU_CORES: warm.cpu_cores, C.CPU_CORES_MEAN: warm.cpu_cores_mean})
    columns = {c: np.ascontiguousarray(new[c]).reshape(-1) if c in new else frame[c] for c in frame.columns}
    return pd.DataFrame(columns, index=frame.index, copy=False)


def demand_with_keep_alive(telemetry: Telemetry, catalog: pd.DataFrame, policy="none", *, slot: str = "1h",
                           idle_cpu_share: float = 0.0, levels=("group", "function"),
                           peak_quantile: float | None = None,
                           matrices: bool = True) -> tuple[dict[str, pd.DataFrame], WarmDemand]:
    """ResourceDemand at ``levels`` with the group level under ``policy``, and the warm demand.

    Under ``none`` with no idle CPU the group table is planner/demand.py's own (memory = busy
    instances); the warm demand still carries the cold starts (every invocation). ``matrices``
    False returns the warm demand without its ``[group, slot]`` matrices
    (:meth:`WarmDemand.without_matrices`): under ``none`` they are then never made; under a policy
    the group table holds them, so cutting them from the warm demand frees nothing."""
    policy = parse_policy(policy)
    frames = resource_demand_levels(telemetry, catalog, slot=slot, levels=levels, peak_quantile=peak_quantile)
    applied = "group" in frames and (policy.kind != "none" or idle_cpu_share > 0)
    warm = warm_demand(telemetry, catalog, policy, slot=slot, idle_cpu_share=idle_cpu_share,
                       peak_quantile=peak_quantile, matrices=matrices or applied)
    if applied:
        frames["group"] = apply_warm(frames["group"], warm)
        if not matrices:
            warm = warm.without_matrices()
    return frames, warm
