"""The packing instance: groups x slots x resources of planned demand, server types and QoS rules.

Maths (one worker ``w`` of server type ``k``, every slot ``t`` and resource ``r``):

    sum_{g on w} fraction_g * demand[g, t, r] <= capacity[k, r] * (1 - max_{g on w} headroom_g)

A group larger than every server is split into equal shards that land on distinct workers. An
isolated group shares workers only with groups of the same isolation key; the groups of a customer
with ``spread = s`` sit on at least ``s`` distinct workers.

Solvers work on *items* (shards) and *kinds* (server type x headroom level): a worker of kind
``(k, h)`` offers ``capacity[k] * (1 - h)`` and accepts items whose headroom is at most ``h``. This is
exact for the rule above because a worker's utilisation limit is set by its strictest group.

With ``sigma`` and ``overflow_risk`` (a *chance-constrained* instance, :mod:`models.packing.risk`),
``demand`` is the mean and the rule becomes, with ``z_w`` the largest multiplier of the worker's
groups (the strictest epsilon) and ``rho`` the groups' correlation,

    sum_g f_g mean[g, t, r] + z_w sqrt(sum_{g,g'} rho_gg' f_g sigma[g, t, r] f_g' sigma[g', t, r])
        <= capacity[k, r] * (1 - max_{g on w} headroom_g)

The left side depends only on the set of groups, not on the server type, so kinds keep their
meaning; every load computation goes through :meth:`PackingInstance.effective_loads`.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field

import numpy as np

from models.packing.risk import FACTOR_LIMIT, METHODS, effective_load, factor_model, risk_multiplier

__all__ = ["ServerType", "PackingInstance", "Items", "Kinds", "dominant_slots", "sum_by"]

# Relative tolerance used when a shard count is derived from a ratio (avoids 2.0000001 -> 3 shards).
_RATIO_TOL = 1e-9


@dataclass(frozen=True)
class ServerType:
    """One server type of the catalog.

    Args:
        name: type label, e.g. ``"m-64"``.
        capacity: capacity per resource, in the instance's resource order (e.g. cores, GB).
        cost: cost of one server per period (e.g. per month).
        max_count: how many servers of this type may be used; ``None`` for no limit.
    """

    name: str
    capacity: tuple[float, ...]
    cost: float
    max_count: int | None = None


@dataclass(frozen=True)
class Items:
    """Shards of the groups, the units the solvers place (built by :meth:`PackingInstance.items`).

    ``demand[i]`` is ``fraction[i] * instance.demand[group[i]]``; ``iso_class[i]`` indexes
    ``PackingInstance.isolation_classes`` (items of different classes never share a worker);
    ``customer[i]`` indexes ``PackingInstance.customers``. On a chance-constrained instance
    ``demand`` is the mean, ``sigma[i] = fraction[i] * instance.sigma[group[i]]`` (0 for groups
    without a risk target), ``z[i]`` the group's multiplier (0 without a target), ``loading[i]``
    the group's factor loadings and ``idio[i]`` its idiosyncratic share; otherwise they are
    ``None``.
    """

    group: np.ndarray  # int [I]
    shard: np.ndarray  # int [I], 0..n_shards-1
    n_shards: np.ndarray  # int [I]
    fraction: np.ndarray  # float [I]
    demand: np.ndarray  # float [I, T, R]
    headroom: np.ndarray  # float [I]
    iso_class: np.ndarray  # int [I]
    customer: np.ndarray  # int [I]
    sigma: np.ndarray | None = None  # float [I, T, R]
    z: np.ndarray | None = None  # float [I]
    loading: np.ndarray | None = None  # float [I, K]
    idio: np.ndarray | None = None  # float [I]

    def __len__(self) -> int:
        return len(self.group)

    @property
    def chance(self) -> bool:
        """True when the items carry a chance constraint."""
        return self.sigma is not None

    def moments(self, idx=None) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
        """Per-item additive parts of a worker's load: mean ``[n, T, R]``, factor parts
        ``B_gk sigma_i`` ``[n, K, T, R]`` and idiosyncratic variance ``d_g sigma_i^2`` ``[n, T, R]``
        (``None``, ``None`` on a linear instance)."""
        idx = slice(None) if idx is None else idx
        if self.sigma is None:
            return self.demand[idx], None, None
        _, phi, psi, _ = self._moments
        return self.demand[idx], phi[idx], psi[idx]

    @functools.cached_property
    def _moments(self):
        """The per-item parts computed once (the greedies ask for them thousands of times):
        ``mean, phi [I, K, T, R], psi [I, T, R]`` and each item's own variance ``|phi|^2 + psi``."""
        sig = self.sigma
        phi = self.loading[:, :, None, None] * sig[:, None]
        psi = self.idio[:, None, None] * sig**2
        return self.demand, phi, psi, np.einsum("iktr,iktr->itr", phi, phi) + psi

    def self_variance(self, idx=None) -> np.ndarray:
        """``[n, T, R]`` variance of each item alone (chance-constrained instances only)."""
        return self._moments[3][slice(None) if idx is None else idx]

    def standalone(self) -> np.ndarray:
        """``[I, T, R]`` load of each item alone on a worker (``mean + z sigma``; the demand on a
        linear instance)."""
        if self.sigma is None:
            return self.demand
        return self.demand + self.z[:, None, None] * self.sigma


@dataclass(frozen=True)
class Kinds:
    """Server type x headroom level (built by :meth:`PackingInstance.kinds`)."""

    server_type: np.ndarray  # int [K] index into PackingInstance.server_types
    level: np.ndarray  # float [K] headroom kept free on a worker of this kind
    capacity: np.ndarray  # float [K, R] = type capacity * (1 - level)
    cost: np.ndarray  # float [K]

    def __len__(self) -> int:
        return len(self.server_type)

    def accepts(self, headroom: float) -> np.ndarray:
        """Boolean mask of kinds whose level is at least ``headroom``."""
        return self.level >= headroom - 1e-12


@dataclass(frozen=True, eq=False)
class PackingInstance:
    """Planned demand of function groups over the slots of a representative period, and the rules.

    The constructor validates its input and raises ``ValueError`` naming the offending group, slot,
    resource or server type. Arrays are copied and made read-only (a read-only float array that owns its
    data, such as another instance's, is shared, not copied).

    Args:
        group_ids: one label per group.
        slots: one label per slot (e.g. ``"t000"`` or an ISO timestamp).
        resources: resource names, e.g. ``("cpu_cores", "memory_gb")``.
        demand: float array ``[group, slot, resource]`` at each group's planning quantile, >= 0.
        server_types: the server catalog.
        headroom: per group, the fraction of a worker kept free (0 <= h < 1); default 0.
        customer: per group, the customer label (the key of the spread rule); default the group id.
        spread: per group, the minimum number of distinct workers its customer's groups use; default 1.
        isolation: per group, an isolation key (groups with a key share workers only with groups of
            the same key) or ``None``; default ``None``.
        min_shards: per group, a minimum number of shards; default 1 (more are added when a group
            does not fit any server).
        deferral: a :class:`models.deferral.Deferral` when ``demand`` is lax work moved inside its
            deadline window (checked by the verifier); default ``None``.
        sigma: ``[group, slot, resource]`` standard deviation of the demand (the range for the
            ``hoeffding`` form), >= 0; with it ``demand`` is the mean and groups with an
            ``overflow_risk`` are packed by the chance constraint (module docstring).
        overflow_risk: per group, the largest probability epsilon in (0, 0.5) that a worker holding
            it overflows in a slot; ``nan`` for a group planned at its given demand (its sigma is
            then not used).
        risk_method: per group, one of :data:`models.packing.risk.METHODS` (default gaussian).
        correlation: ``[group, group]`` correlation of the groups' demand (default identity); held
            as a factor model of up to :data:`models.packing.risk.FACTOR_LIMIT` factors.
        loadings: ``[group, K]`` factor loadings instead of ``correlation`` (row norms <= 1).
        scenarios: optional ``[scenario, group]`` joint standardised residuals (mean 0, sd 1 per
            group): the verifier's Monte Carlo replays ``demand + sigma * scenario``.
    """

    group_ids: tuple[str, ...]
    slots: tuple[str, ...]
    resources: tuple[str, ...]
    demand: np.ndarray
    server_types: tuple[ServerType, ...]
    headroom: np.ndarray | None = None
    customer: tuple[str, ...] | None = None
    spread: np.ndarray | None = None
    isolation: tuple[str | None, ...] | None = None
    min_shards: np.ndarray | None = None
    # A models.deferral.Deferral when lax work was moved: the demand before the move and each group's
    # window, which the verifier checks the (reshaped) ``demand`` against.
    deferral: object | None = None
    sigma: np.ndarray | None = None
    overflow_risk: np.ndarray | None = None
    risk_method: tuple[str, ...] | None = None
    correlation: np.ndarray | None = None
    loadings: np.ndarray | None = None
    scenarios: np.ndarray | None = None
    # Not an __init__ argument: dataclasses.replace gives every copy an empty cache of its own (a
    # shared one would hand the copy the original's shards, items and bounds).
    _cache: dict = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        set_ = functools.partial(object.__setattr__, self)
        set_("group_ids", tuple(str(g) for g in self.group_ids))
        set_("slots", tuple(str(s) for s in self.slots))
        set_("resources", tuple(str(r) for r in self.resources))
        set_("server_types", tuple(self.server_types))
        n_g, n_t, n_r = len(self.group_ids), len(self.slots), len(self.resources)
        demand = _frozen_float(self.demand)
        if demand.shape != (n_g, n_t, n_r):
            raise ValueError(
                f"demand has shape {demand.shape}; expected (groups, slots, resources) = {(n_g, n_t, n_r)}"
            )
        set_("demand", demand)
        set_("headroom", _readonly(_per_group(self.headroom, n_g, 0.0, "headroom", float)))
        set_("spread", _readonly(_per_group(self.spread, n_g, 1, "spread", int)))
        set_("min_shards", _readonly(_per_group(self.min_shards, n_g, 1, "min_shards", int)))
        customer = self.group_ids if self.customer is None else tuple(str(c) for c in self.customer)
        isolation = (None,) * n_g if self.isolation is None else tuple(
            None if k is None or (isinstance(k, float) and math.isnan(k)) or k == "" else str(k)
            for k in self.isolation
        )
        set_("customer", customer)
        set_("isolation", isolation)
        self._validate()
        self._set_risk(n_g, n_t, n_r)

    def _set_risk(self, n_g: int, n_t: int, n_r: int) -> None:
        """Validate and store the chance-constraint data (sigma, epsilon, method, correlation)."""
        set_ = functools.partial(object.__setattr__, self)
        risk_given = any(v is not None for v in (self.overflow_risk, self.risk_method, self.correlation,
                                                  self.loadings, self.scenarios))
        if self.sigma is None:
            if risk_given:
                raise ValueError("overflow_risk, risk_method, correlation, loadings and scenarios need sigma")
            return
        sigma = _frozen_float(self.sigma)
        if sigma.shape != (n_g, n_t, n_r):
            raise ValueError(f"sigma has shape {sigma.shape}; expected (groups, slots, resources) = {(n_g, n_t, n_r)}")
        bad = ~np.isfinite(sigma) | (sigma < 0)
        if bad.any():
            g, t, r = np.argwhere(bad)[0]
            raise ValueError(f"group {self.group_ids[g]!r}: sigma {sigma[g, t, r]} of {self.resources[r]} at "
                             f"slot {self.slots[t]} must be a finite number >= 0")
        eps = np.full(n_g, np.nan) if self.overflow_risk is None else np.array(self.overflow_risk, dtype=float)
        if eps.shape != (n_g,):
            raise ValueError(f"overflow_risk needs one value per group ({n_g}), got shape {eps.shape}")
        method = ("gaussian",) * n_g if self.risk_method is None else tuple(str(m) for m in self.risk_method)
        if len(method) != n_g:
            raise ValueError(f"risk_method needs one value per group ({n_g}), got {len(method)}")
        z = np.zeros(n_g)
        for g in range(n_g):
            if method[g] not in METHODS:
                raise ValueError(f"group {self.group_ids[g]!r}: risk_method {method[g]!r} is not one of {', '.join(METHODS)}")
            if np.isnan(eps[g]):
                continue
            if not (0.0 < eps[g] < 0.5):
                raise ValueError(f"group {self.group_ids[g]!r}: overflow_risk {eps[g]} must be in (0, 0.5)")
            z[g] = risk_multiplier(float(eps[g]), method[g])
        if self.correlation is not None and self.loadings is not None:
            raise ValueError("give correlation or loadings, not both")
        if self.correlation is not None:
            rho = np.asarray(self.correlation, dtype=float)
            if rho.shape != (n_g, n_g):
                raise ValueError(f"correlation has shape {rho.shape}; expected ({n_g}, {n_g})")
            loadings, idio = factor_model(rho, FACTOR_LIMIT)
        elif self.loadings is not None:
            loadings = np.array(self.loadings, dtype=float)
            if loadings.ndim != 2 or loadings.shape[0] != n_g or not np.isfinite(loadings).all():
                raise ValueError(f"loadings must be a finite [groups, K] array, got shape {loadings.shape}")
            norm2 = (loadings**2).sum(axis=1)
            if norm2.max(initial=0.0) > 1.0 + 1e-9:
                g = int(np.argmax(norm2))
                raise ValueError(f"group {self.group_ids[g]!r}: squared loadings sum to {norm2[g]:.4g} > 1")
            idio = np.clip(1.0 - norm2, 0.0, 1.0)
        else:
            loadings, idio = np.zeros((n_g, 0)), np.ones(n_g)
        hoeff = [g for g in range(n_g) if method[g] == "hoeffding" and not np.isnan(eps[g])]
        if hoeff and np.abs(loadings).max(initial=0.0) > 0:
            raise ValueError(f"group {self.group_ids[hoeff[0]]!r}: the hoeffding form needs independent groups "
                             "(no correlation)")
        if self.scenarios is not None:
            sc = _frozen_float(self.scenarios)
            if sc.ndim != 2 or sc.shape[1] != n_g or sc.shape[0] < 1 or not np.isfinite(sc).all():
                raise ValueError(f"scenarios must be a finite [scenario, group] array with {n_g} columns, "
                                 f"got shape {sc.shape}")
            set_("scenarios", sc)
        off = np.isnan(eps)
        if off.any() and sigma[off].any():  # groups without a target carry no spread
            sigma = _readonly(np.where(off[:, None, None], 0.0, sigma))
        set_("sigma", sigma)
        set_("overflow_risk", _readonly(eps))
        set_("risk_method", method)
        set_("loadings", _readonly(loadings))
        set_("correlation", None)
        self._cache["z"] = _readonly(z)
        self._cache["idio"] = _readonly(idio)

    # ------------------------------------------------------------------ validation
    def _validate(self) -> None:
        n_g = len(self.group_ids)
        if n_g == 0:
            raise ValueError("the instance has no groups")
        if len(self.slots) == 0 or len(self.resources) == 0:
            raise ValueError("the instance needs at least one slot and one resource")
        _unique(self.group_ids, "group id")
        _unique(self.slots, "slot")
        _unique(self.resources, "resource")
        if len(self.customer) != n_g or len(self.isolation) != n_g:
            raise ValueError("customer and isolation need one entry per group")
        bad = ~np.isfinite(self.demand)
        if bad.any():
            g, t, r = np.argwhere(bad)[0]
            raise ValueError(
                f"group {self.group_ids[g]!r}: demand of {self.resources[r]} at slot {self.slots[t]} is not finite"
            )
        if (self.demand < 0).any():
            g, t, r = np.argwhere(self.demand < 0)[0]
            raise ValueError(
                f"group {self.group_ids[g]!r}: negative demand {self.demand[g, t, r]:g} of "
                f"{self.resources[r]} at slot {self.slots[t]}; demand must be >= 0"
            )
        for g in np.flatnonzero((self.headroom < 0) | (self.headroom >= 1) | ~np.isfinite(self.headroom)):
            raise ValueError(f"group {self.group_ids[g]!r}: headroom {self.headroom[g]} must be in [0, 1)")
        for g in np.flatnonzero(self.spread < 1):
            raise ValueError(f"group {self.group_ids[g]!r}: spread {self.spread[g]} must be >= 1")
        for g in np.flatnonzero(self.min_shards < 1):
            raise ValueError(f"group {self.group_ids[g]!r}: min_shards {self.min_shards[g]} must be >= 1")
        if not self.server_types:
            raise ValueError("the server catalog is empty")
        _unique([s.name for s in self.server_types], "server type")
        for s in self.server_types:
            if len(s.capacity) != len(self.resources):
                raise ValueError(
                    f"server type {s.name!r}: {len(s.capacity)} capacities for {len(self.resources)} resources"
                )
            if any(not (c > 0 and math.isfinite(c)) for c in s.capacity):
                raise ValueError(f"server type {s.name!r}: every capacity must be a positive number")
            if not (s.cost > 0 and math.isfinite(s.cost)):
                raise ValueError(f"server type {s.name!r}: cost must be a positive number")
            if s.max_count is not None and s.max_count < 0:
                raise ValueError(f"server type {s.name!r}: max_count must be >= 0")
        # A customer's groups share one spread value and one isolation key.
        for key, values in (("spread", self.spread), ("isolation", self.isolation)):
            seen: dict[str, object] = {}
            for g, c in enumerate(self.customer):
                v = values[g]
                if c in seen and seen[c] != v:
                    raise ValueError(
                        f"customer {c!r}: groups disagree on {key} ({seen[c]!r} vs {v!r} for group {self.group_ids[g]!r})"
                    )
                seen.setdefault(c, v)

    # ------------------------------------------------------------------ derived views
    @property
    def n_groups(self) -> int:
        """Number of groups."""
        return len(self.group_ids)

    @property
    def chance(self) -> bool:
        """True when some group is packed by the chance constraint."""
        return self.sigma is not None and bool((self.risk_z > 0).any())

    @property
    def risk_z(self) -> np.ndarray:
        """Per group, the multiplier of the pooled spread (0 without a risk target)."""
        return self._cache.get("z", np.zeros(self.n_groups))

    @property
    def idio(self) -> np.ndarray:
        """Per group, the idiosyncratic share ``d`` of the factor model (1 without correlation)."""
        return self._cache.get("idio", np.ones(self.n_groups))

    @property
    def monotone_risk(self) -> bool:
        """True when no two groups are negatively correlated: adding a group to a worker can then
        never lower its load, so a set that overflows overflows with anything added (the cuts of the
        exact models are valid and their bounds are bounds)."""
        if "monotone" not in self._cache:
            b = self.loadings if self.loadings is not None else np.zeros((self.n_groups, 0))
            if self.sigma is not None:  # a group without spread adds no variance: its correlation is moot
                b = b * (self.sigma.reshape(self.n_groups, -1).max(axis=1) > 0)[:, None]
            off = b @ b.T
            np.fill_diagonal(off, 0.0)
            self._cache["monotone"] = bool(off.min(initial=0.0) >= -1e-12)
        return self._cache["monotone"]

    def set_load(self, items: np.ndarray) -> np.ndarray:
        """``[slot, resource]`` load of a worker holding the given items (indices into :meth:`items`)."""
        it = self.items()
        idx = np.asarray(items, dtype=np.int64)
        if idx.size == 0:
            return np.zeros(self.demand.shape[1:])
        # effective_loads of the items alone, from the rows of the instance's cached moments (a subset
        # Items recomputed them per call): per element the same products, and the same reduction as
        # sum_by's on one worker (reduceat over the rows in order), so the same floats.
        mean = np.add.reduceat(it.demand[idx], [0], axis=0)
        if not it.chance:
            return mean[0]
        _, phi, psi = it.moments(idx)
        z = np.maximum(it.z[idx].max(), 0.0)  # np.maximum.at on a zero start, as effective_loads
        return effective_load(mean, np.add.reduceat(phi, [0], axis=0), np.add.reduceat(psi, [0], axis=0), z)[0]

    def correlation_matrix(self) -> np.ndarray:
        """The groups' correlation as used by every check: ``B B^T + diag(d)``."""
        if self.loadings is None:
            return np.eye(self.n_groups)
        return self.loadings @ self.loadings.T + np.diag(self.idio)

    def standalone(self) -> np.ndarray:
        """``[group, slot, resource]`` load of each group alone on a worker: ``mean + z sigma`` on
        a chance-constrained instance, the demand otherwise."""
        if self.sigma is None:
            return self.demand
        return self.demand + self.risk_z[:, None, None] * self.sigma

    def effective_loads(self, item_worker: np.ndarray, n_workers: int, items: Items | None = None) -> np.ndarray:
        """``[worker, slot, resource]`` loads of an item -> worker map: the sum of the items' demand,
        or on a chance-constrained instance ``M + z_w sqrt(V)`` (module docstring)."""
        it = self.items() if items is None else items
        w = np.asarray(item_worker, dtype=np.int64)
        mean = sum_by(w, it.demand, n_workers)
        if not it.chance:
            return mean
        mu, phi, psi = it.moments()
        fsum = sum_by(w, phi, n_workers)
        isum = sum_by(w, psi, n_workers)
        z = np.zeros(n_workers)
        np.maximum.at(z, w, it.z)
        return effective_load(mean, fsum, isum, z)

    @property
    def capacity(self) -> np.ndarray:
        """Server capacities ``[type, resource]``."""
        return np.array([s.capacity for s in self.server_types], dtype=float)

    @property
    def cost(self) -> np.ndarray:
        """Server costs ``[type]``."""
        return np.array([s.cost for s in self.server_types], dtype=float)

    @property
    def max_count(self) -> np.ndarray:
        """Maximum count per server type (a large number where unlimited)."""
        big = 10**9
        return np.array([big if s.max_count is None else s.max_count for s in self.server_types], dtype=np.int64)

    @property
    def customers(self) -> tuple[str, ...]:
        """Distinct customers in order of first appearance."""
        return tuple(dict.fromkeys(self.customer))

    @property
    def isolation_classes(self) -> tuple[str | None, ...]:
        """Worker pools that never mix: ``None`` (shared) and one per isolation key."""
        return tuple(dict.fromkeys(self.isolation))

    def customer_spread(self) -> dict[str, int]:
        """Minimum number of distinct workers per customer."""
        return {c: int(self.spread[g]) for g, c in enumerate(self.customer)}

    def kinds(self) -> Kinds:
        """Server type x headroom level, for every headroom level used by some group."""
        if "kinds" not in self._cache:
            levels = np.unique(self.headroom)
            cap, cost = self.capacity, self.cost
            st, lv = np.meshgrid(np.arange(len(self.server_types)), levels, indexing="ij")
            st, lv = st.ravel(), lv.ravel()
            self._cache["kinds"] = Kinds(
                server_type=st, level=lv, capacity=cap[st] * (1.0 - lv[:, None]), cost=cost[st]
            )
        return self._cache["kinds"]

    def shard_counts(self) -> np.ndarray:
        """Number of shards per group.

        The smallest count that lets every shard fit some server type at the group's headroom, at
        least ``min_shards``; raised further when a customer with ``spread = s`` would otherwise have
        fewer than ``s`` shards in total (its largest groups are split).
        """
        if "shards" in self._cache:
            return self._cache["shards"]
        cap = self.capacity
        peak = self.standalone().max(axis=1)  # [G, R]: a shard alone scales with 1 / count
        n = np.array(self.min_shards, dtype=np.int64)
        for g in range(self.n_groups):
            eff = cap * (1.0 - self.headroom[g])  # [K, R]
            need = np.ceil(peak[g][None, :] / eff * (1 - _RATIO_TOL)).max(axis=1)  # per type
            n[g] = max(n[g], int(need.min()), 1)
        by_customer: dict[str, list[int]] = {}
        for g, c in enumerate(self.customer):
            by_customer.setdefault(c, []).append(g)
        for c, gs in by_customer.items():
            s = int(self.spread[gs[0]])
            # Split the group with the largest per-shard size until the customer has s shards.
            while n[gs].sum() < s:
                size = [peak[g].max() / n[g] for g in gs]
                n[gs[int(np.argmax(size))]] += 1
        self._cache["shards"] = _readonly(n)
        return self._cache["shards"]

    def items(self) -> Items:
        """The shards the solvers place (see :class:`Items`)."""
        if "items" in self._cache:
            return self._cache["items"]
        n = self.shard_counts()
        group = np.repeat(np.arange(self.n_groups), n)
        shard = np.concatenate([np.arange(k) for k in n])
        n_shards = n[group]
        fraction = 1.0 / n_shards
        iso_index = {k: i for i, k in enumerate(self.isolation_classes)}
        cust_index = {c: i for i, c in enumerate(self.customers)}
        risk = {}
        if self.chance:
            risk = dict(sigma=_readonly(self.sigma[group] * fraction[:, None, None]), z=_readonly(self.risk_z[group]),
                        loading=_readonly(self.loadings[group]), idio=_readonly(self.idio[group]))
        items = Items(
            group=group,
            shard=shard,
            n_shards=n_shards,
            fraction=fraction,
            demand=self.demand[group] * fraction[:, None, None],
            headroom=self.headroom[group],
            iso_class=np.array([iso_index[self.isolation[g]] for g in group], dtype=np.int64),
            customer=np.array([cust_index[self.customer[g]] for g in group], dtype=np.int64),
            **risk,
        )
        self._cache["items"] = items
        return items


def dominant_slots(demand: np.ndarray) -> np.ndarray:
    """Indices of slots not dominated by another slot (exact slot reduction).

    Slot ``t`` is dominated by ``u`` when ``demand[:, t, :] <= demand[:, u, :]`` for every item and
    resource: every capacity constraint at ``t`` is then implied by the one at ``u``, so dropping ``t``
    keeps the feasible set unchanged. Of identical slots the first is kept.

    Args:
        demand: ``[item, slot, resource]``.
    """
    n_t = demand.shape[1]
    flat = demand.transpose(1, 0, 2).reshape(n_t, -1)  # [T, I*R]
    # Look at heavier slots first: a slot can only be dominated by one with at least its total.
    order = np.argsort(-flat.sum(axis=1), kind="stable")
    kept: list[int] = []
    for t in order:
        row = flat[t]
        if kept and np.any(np.all(flat[kept] >= row, axis=1)):
            continue
        kept.append(int(t))
    return np.array(sorted(kept), dtype=np.int64)


def _per_group(values, n: int, default, name: str, dtype) -> np.ndarray:
    if values is None:
        return np.full(n, default, dtype=dtype)
    arr = np.asarray(values, dtype=dtype)
    if arr.shape != (n,):
        raise ValueError(f"{name} needs one value per group ({n}), got shape {arr.shape}")
    return arr.copy()


def _frozen_float(arr) -> np.ndarray:
    """``arr`` itself when it is a read-only float64 array that owns its data (another instance's,
    which nothing can change: ``dataclasses.replace`` of an instance shares its arrays instead of
    copying a fleet's [group, slot, resource] cubes), else a read-only float64 copy."""
    if isinstance(arr, np.ndarray) and arr.dtype == np.float64 and not arr.flags.writeable and arr.flags.owndata:
        return arr
    out = np.array(arr, dtype=float)
    out.setflags(write=False)
    return out


def _readonly(arr: np.ndarray) -> np.ndarray:
    arr = np.array(arr)
    arr.setflags(write=False)
    return arr


def _unique(labels, what: str) -> None:
    seen = set()
    for x in labels:
        if x in seen:
            raise ValueError(f"duplicate {what} {x!r}")
        seen.add(x)


def sum_by(index: np.ndarray, values: np.ndarray, n: int) -> np.ndarray:
    """``out[k] = values[index == k].sum(axis=0)`` for ``k < n``: ``np.add.at`` by sorting and
    ``np.add.reduceat`` (add.at on multi-dimensional rows is one slow scalar loop; this is the hot
    path of every load check)."""
    out = np.zeros((n,) + values.shape[1:], dtype=np.result_type(values.dtype, np.float64))
    if len(index) == 0:
        return out
    order = np.argsort(index, kind="stable")
    idx = index[order]
    starts = np.flatnonzero(np.r_[True, idx[1:] != idx[:-1]])
    out[idx[starts]] = np.add.reduceat(values[order], starts, axis=0)
    return out
