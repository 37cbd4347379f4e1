"""Independent verifier: recompute every worker/slot/resource load from demand and assignment.

It uses only the instance's group-level data and the placements (never the solvers' items, scaled
demands or reduced slots), so a bug in a model cannot hide in its own check.

On a chance-constrained instance the capacity rule is the chance constraint itself: per worker,
slot and resource, ``M + z sqrt(s^T rho s) <= capacity * (1 - h)`` with ``s`` the worker's groups'
``fraction * sigma`` and ``rho`` the dense correlation matrix (:meth:`PackingInstance.correlation_matrix`),
computed directly rather than from the factor sums the searches update.
:func:`overflow_report` gives each worker's predicted overflow probability, exactly under the
Gaussian model and by Monte Carlo over the instance's joint residual scenarios (or Gaussian draws).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from models.packing.instance import PackingInstance
from models.packing.result import PackingResult, Placement

__all__ = ["Violation", "find_violations", "worker_loads", "chance_terms", "overflow_report", "deferral_violations"]

# Loads may exceed capacity by this fraction of the capacity before it counts (float round-off).
REL_TOL = 1e-6


@dataclass(frozen=True)
class Violation:
    """One broken rule. ``name`` reads ``family[key1,key2,...]``, e.g. ``capacity[w017,t0042,cpu_cores]``."""

    family: str
    key: tuple
    amount: float
    message: str

    @property
    def name(self) -> str:
        return f"{self.family}[{','.join(str(k) for k in self.key)}]"

    def __str__(self) -> str:
        return f"{self.name}: {self.message}"


def _as_frame(assignment) -> pd.DataFrame:
    if isinstance(assignment, PackingResult):
        return assignment.assignment_frame()
    if isinstance(assignment, pd.DataFrame):
        frame = assignment.copy()
        if "fraction" not in frame.columns and "share" in frame.columns:
            frame = frame.rename(columns={"share": "fraction"})
        return frame
    rows = [vars(p) if isinstance(p, Placement) else dict(p) for p in assignment]
    return pd.DataFrame(rows, columns=["group_id", "shard", "fraction", "worker_id", "server_type"])


def worker_loads(instance: PackingInstance, assignment) -> tuple[list[str], np.ndarray]:
    """Loads ``[worker, slot, resource]`` of an assignment (workers in sorted order).

    Rows naming unknown groups are ignored here (:func:`find_violations` reports them).
    """
    frame = _as_frame(assignment)
    index = {g: i for i, g in enumerate(instance.group_ids)}
    workers = sorted(frame["worker_id"].astype(str).unique())
    w_index = {w: i for i, w in enumerate(workers)}
    loads = np.zeros((len(workers), len(instance.slots), len(instance.resources)))
    for g, f, w in zip(frame["group_id"].astype(str), frame["fraction"].astype(float), frame["worker_id"].astype(str)):
        if g in index:
            loads[w_index[w]] += f * instance.demand[index[g]]
    return workers, loads


def chance_terms(instance: PackingInstance, frame: pd.DataFrame, workers: list[str]):
    """Per worker: mean load ``[W, T, R]``, pooled standard deviation ``sqrt(s^T rho s)``
    ``[W, T, R]``, multiplier ``z`` (the largest of its groups), target epsilon (the smallest) and
    the risk method of its strictest group."""
    g_index = {g: i for i, g in enumerate(instance.group_ids)}
    rho = instance.correlation_matrix()
    z_g, eps_g = instance.risk_z, instance.overflow_risk
    n_w = len(workers)
    shape = (n_w,) + instance.demand.shape[1:]
    mean, sd = np.zeros(shape), np.zeros(shape)
    z, eps, method = np.zeros(n_w), np.full(n_w, np.nan), ["gaussian"] * n_w
    frame = frame[frame["group_id"].isin(g_index)]
    for wi, (w, sub) in enumerate(frame.groupby("worker_id", sort=True)):
        assert workers[wi] == w
        gs = np.array([g_index[g] for g in sub["group_id"]])
        f = sub["fraction"].to_numpy(float)
        mean[wi] = np.einsum("g,gtr->tr", f, instance.demand[gs])
        s = f[:, None, None] * instance.sigma[gs]
        var = np.einsum("gtr,gh,htr->tr", s, rho[np.ix_(gs, gs)], s)
        sd[wi] = np.sqrt(np.maximum(var, 0.0))
        strict = int(np.argmax(z_g[gs]))
        z[wi] = z_g[gs][strict]
        method[wi] = instance.risk_method[gs[strict]]
        with np.errstate(invalid="ignore"):
            eps[wi] = np.nanmin(eps_g[gs]) if np.isfinite(eps_g[gs]).any() else np.nan
    return mean, sd, z, eps, method


def find_violations(instance: PackingInstance, assignment) -> list[Violation]:
    """Every rule the assignment breaks, on the full slot grid; an empty list means the plan is valid.

    Args:
        instance: the packing instance (group demand, server types, QoS rules).
        assignment: a :class:`PackingResult`, a sequence of :class:`Placement`, or a DataFrame with
            columns ``group_id, shard, fraction (or share), worker_id, server_type``.

    Checks: known groups and server types; one server type per worker; each group's fractions are
    in (0, 1] and sum to 1; shards of a group on distinct workers; capacity with the strictest
    headroom of the worker's groups in every slot and resource (on a chance-constrained instance
    the chance constraint, family ``chance``); isolation; spread; ``max_count``; for an instance
    whose lax work was moved, :func:`deferral_violations`.
    """
    frame = _as_frame(assignment)
    missing = {"group_id", "fraction", "worker_id", "server_type"} - set(frame.columns)
    if missing:
        raise ValueError(f"assignment lacks columns {sorted(missing)}")
    if "shard" not in frame.columns:
        frame["shard"] = frame.groupby("group_id").cumcount()
    frame = frame.astype({"group_id": str, "worker_id": str, "server_type": str})
    out: list[Violation] = []
    g_index = {g: i for i, g in enumerate(instance.group_ids)}
    types = {s.name: s for s in instance.server_types}

    # Known labels.
    for g in sorted(set(frame["group_id"]) - set(g_index)):
        out.append(Violation("unknown_group", (g,), 1.0, f"group {g!r} is not in the instance"))
    for t in sorted(set(frame["server_type"]) - set(types)):
        out.append(Violation("unknown_server_type", (t,), 1.0, f"server type {t!r} is not in the catalog"))
    frame = frame[frame["group_id"].isin(g_index)]

    # Each group is placed exactly once in total.
    fractions = frame.groupby("group_id")["fraction"].sum()
    for g in instance.group_ids:
        total = float(fractions.get(g, 0.0))
        if abs(total - 1.0) > 1e-6:
            out.append(Violation("assign_once", (g,), abs(total - 1.0),
                                 f"fractions of group {g!r} sum to {total:.6g}, not 1"))
    for row in frame.itertuples(index=False):
        if not (0 < row.fraction <= 1 + 1e-9):
            out.append(Violation("fraction", (row.group_id, row.shard), float(row.fraction),
                                 f"shard {row.shard} of group {row.group_id!r} has fraction {row.fraction:g}"))

    # Shards of a group on distinct workers.
    dup = frame.groupby(["group_id", "worker_id"]).size()
    for (g, w), n in dup[dup > 1].items():
        out.append(Violation("distinct_shards", (g, w), float(n - 1),
                             f"{n} shards of group {g!r} on worker {w}"))

    # One server type per worker.
    wtypes = frame.groupby("worker_id")["server_type"].unique()
    worker_type: dict[str, str] = {}
    for w, ts in wtypes.items():
        if len(ts) > 1:
            out.append(Violation("worker_type", (w,), float(len(ts) - 1),
                                 f"worker {w} is given several server types {sorted(ts)}"))
        worker_type[w] = ts[0]

    # Capacity at the strictest headroom of the worker's groups, every slot and resource.
    workers, loads = worker_loads(instance, frame)
    members = frame.groupby("worker_id")["group_id"].unique()
    chance = instance.chance
    if chance:
        mean, sd, z, eps, method = chance_terms(instance, frame, workers)
        loads = mean + z[:, None, None] * sd
    for wi, w in enumerate(workers):
        stype = types.get(worker_type[w])
        if stype is None:
            continue
        gs = [g_index[g] for g in members[w]]
        h = float(instance.headroom[gs].max())
        limit = np.asarray(stype.capacity) * (1.0 - h)
        excess = loads[wi] - limit[None, :]
        if chance and z[wi] > 0:
            from models.packing.risk import overflow_probability

            p = overflow_probability(limit[None, :] - mean[wi], sd[wi], method[wi])
            for t, r in np.argwhere(excess > REL_TOL * limit[None, :]):
                out.append(Violation(
                    "chance", (w, instance.slots[t], instance.resources[r]), float(excess[t, r]),
                    f"worker {w} ({stype.name}) at slot {instance.slots[t]}: {instance.resources[r]} mean "
                    f"{mean[wi, t, r]:.6g} + {z[wi]:.4g} x sd {sd[wi, t, r]:.6g} = {loads[wi, t, r]:.6g} exceeds "
                    f"{limit[r]:.6g} (capacity {stype.capacity[r]:g} x (1 - headroom {h:g})): predicted overflow "
                    f"probability {p[t, r]:.3g} ({method[wi]}) above the target {eps[wi]:.3g}",
                ))
            excess = np.full_like(excess, -np.inf)
        for t, r in np.argwhere(excess > REL_TOL * limit[None, :]):
            out.append(Violation(
                "capacity", (w, instance.slots[t], instance.resources[r]), float(excess[t, r]),
                f"worker {w} ({stype.name}) carries {loads[wi, t, r]:.6g} {instance.resources[r]} at slot "
                f"{instance.slots[t]}, above {limit[r]:.6g} (capacity {stype.capacity[r]:g} x (1 - headroom {h:g})) "
                f"by {excess[t, r]:.6g}",
            ))

        # Isolation: a worker with an isolated group holds only groups of that key.
        keys = {instance.isolation[g] for g in gs}
        if len(keys) > 1:
            out.append(Violation("isolation", (w,), float(len(keys) - 1),
                                 f"worker {w} mixes isolation keys {sorted(str(k) for k in keys)}"))

    # Spread: a customer's groups on at least `spread` distinct workers.
    cust_of = dict(zip(instance.group_ids, instance.customer))
    frame = frame.assign(customer=frame["group_id"].map(cust_of))
    distinct = frame.groupby("customer")["worker_id"].nunique()
    for c, s in instance.customer_spread().items():
        have = int(distinct.get(c, 0))
        if s > 1 and have < s:
            out.append(Violation("spread", (c,), float(s - have),
                                 f"customer {c!r} uses {have} distinct workers, fewer than its spread {s}"))

    # Server counts.
    counts = pd.Series(worker_type).value_counts()
    for name, s in types.items():
        n = int(counts.get(name, 0))
        if s.max_count is not None and n > s.max_count:
            out.append(Violation("max_count", (name,), float(n - s.max_count),
                                 f"{n} servers of type {name!r}, more than max_count {s.max_count}"))
    if instance.deferral is not None:
        out.extend(deferral_violations(instance))
    return out


def deferral_violations(instance: PackingInstance) -> list[Violation]:
    """Moved work checked against the demand before the move (models/deferral.py): conserved, never
    before arrival, never after the deadline, at most the group's peak rate; strict groups unmoved."""
    from models.deferral import check_reshape

    d = instance.deferral
    return [Violation(family, (instance.group_ids[g] if g >= 0 else "-",
                               instance.slots[t] if t >= 0 else "-", instance.resources[r] if r >= 0 else "-"),
                      amount, message)
            for family, g, t, r, amount, message in check_reshape(d.original, instance.demand, d.window)]
def overflow_report(instance: PackingInstance, assignment, draws: int = 2000, seed: int = 0) -> pd.DataFrame:
    """Predicted overflow probability of each worker of a chance-constrained instance.

    Columns: ``worker_id, server_type, epsilon`` (the strictest target of its groups), ``method``,
    ``p_gaussian`` (the largest over slots and resources of ``P(load > capacity (1 - h))`` when the
    demand is normal with the instance's mean, sigma and correlation), ``p_monte_carlo`` (the largest
    over slots of the share of scenarios in which some resource overflows: the instance's joint
    residual ``scenarios`` when it has them, else ``draws`` Gaussian draws from the factor model with
    ``seed``), ``expected_overflow_slots`` (sum over slots of the Gaussian probability of the worst
    resource) and ``worst_slot`` (the slot of ``p_gaussian``); ``mc_scenarios`` and the 95 % Wilson
    interval of the Monte Carlo share, ``p_monte_carlo_low`` / ``_high`` (a few thousand scenarios
    resolve a 1 % target only to a few tenths of a point: a share above the target whose interval
    holds it is not evidence of a breach).
    """
    from scipy.stats import norm

    if instance.sigma is None:
        raise ValueError("overflow_report needs an instance with sigma (a chance-constrained instance)")
    frame = _as_frame(assignment).astype({"group_id": str, "worker_id": str, "server_type": str})
    g_index = {g: i for i, g in enumerate(instance.group_ids)}
    frame = frame[frame["group_id"].isin(g_index)]
    workers = sorted(frame["worker_id"].unique())
    mean, sd, z, eps, method = chance_terms(instance, frame, workers)
    types = {s.name: np.asarray(s.capacity, dtype=float) for s in instance.server_types}
    wtype = frame.groupby("worker_id")["server_type"].first()
    level = frame.assign(h=frame["group_id"].map(lambda g: instance.headroom[g_index[g]])).groupby("worker_id")["h"].max()
    limit = np.stack([types[wtype[w]] * (1.0 - level[w]) for w in workers])[:, None, :]  # [W, 1, R]
    with np.errstate(divide="ignore", invalid="ignore"):
        p = np.where(sd > 0, norm.sf((limit - mean) / sd), (mean > limit * (1 + REL_TOL)).astype(float))
    worst = p.max(axis=2)  # [W, T]
    # Monte Carlo: standardised joint scenarios u [S, G]; demand = mean + sigma * u per group.
    if instance.scenarios is not None:
        u = instance.scenarios
    else:
        rng = np.random.default_rng(seed)
        k = instance.loadings.shape[1]
        u = rng.standard_normal((draws, k)) @ instance.loadings.T \
            + rng.standard_normal((draws, instance.n_groups)) * np.sqrt(instance.idio)[None, :]
    p_mc = np.zeros(len(workers))
    n_mc = len(u)
    for wi, (w, sub) in enumerate(frame.groupby("worker_id", sort=True)):
        gs = np.array([g_index[g] for g in sub["group_id"]])
        f = sub["fraction"].to_numpy(float)
        noise = np.einsum("g,gtr,sg->str", f, instance.sigma[gs], u[:, gs])  # [S, T, R]
        over = (mean[wi][None] + noise > limit[wi][None] * (1 + REL_TOL)).any(axis=2)  # [S, T]
        p_mc[wi] = over.mean(axis=0).max()
    return pd.DataFrame({
        "worker_id": workers, "server_type": [wtype[w] for w in workers], "epsilon": eps, "method": method,
        "p_gaussian": worst.max(axis=1), "p_monte_carlo": p_mc, "expected_overflow_slots": worst.sum(axis=1),
        "worst_slot": [instance.slots[int(t)] for t in worst.argmax(axis=1)], "mc_scenarios": n_mc,
        **dict(zip(("p_monte_carlo_low", "p_monte_carlo_high"), wilson_interval(p_mc, n_mc))),
    })


def wilson_interval(share, n: int, z: float = 1.959964) -> tuple[np.ndarray, np.ndarray]:
    """The Wilson score interval (95 % by default) of a share observed in ``n`` trials: unlike the
    normal approximation it stays inside [0, 1] and is not empty at a share of 0."""
    p = np.asarray(share, dtype=float)
    if n <= 0:
        return np.zeros_like(p), np.ones_like(p)
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return np.clip(centre - half, 0.0, 1.0), np.clip(centre + half, 0.0, 1.0)
