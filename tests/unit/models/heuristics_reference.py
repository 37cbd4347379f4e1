"""A frozen copy of models/packing/heuristics.py as it was before the greedies were made faster
(main at 2c9460b, 7 December 2026), kept as the reference: test_packing_greedy_speed.py checks that
the current greedies return the same packings bit for bit. Not used by the planner; not to be edited."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from models.packing.instance import Items, PackingInstance
from models.packing.prices import dual_prices
from models.packing.risk import effective_load
from models.packing.solution import Packing, compact, packing_cost

__all__ = ["HeuristicFailure", "peak_ffd", "shape_ffd", "shape_fill", "shape_balance", "best_heuristic",
           "preferred_kinds", "fleet_counts"]

_TOL = 1e-9


class HeuristicFailure(RuntimeError):
    """The greedy could not place an item (server counts exhausted, or a spread it cannot meet)."""


def preferred_kinds(instance: PackingInstance, demand: np.ndarray | None = None,
                    types: Sequence[int] | None = None) -> dict[tuple[int, float], int]:
    """For each (isolation class, headroom level), the kind that covers the class's aggregate demand
    most cheaply: ``argmin_k cost_k * max_{t,r} D[t, r] / capacity_k[r]`` (among the server
    ``types`` given, default all)."""
    items, kinds = instance.items(), instance.kinds()
    allowed = _type_mask(instance, types)[kinds.server_type]
    out = {}
    for c in np.unique(items.iso_class):
        if demand is None:
            agg = instance.effective_loads((items.iso_class != c).astype(np.int64), 2)[0]  # the class on one worker
        else:
            agg = demand[items.iso_class == c].sum(axis=0)  # [T, R]
        for lv in np.unique(kinds.level):
            ks = np.flatnonzero(np.isclose(kinds.level, lv) & allowed)
            need = (agg[None, :, :] / kinds.capacity[ks][:, None, :]).max(axis=(1, 2))
            out[(int(c), float(lv))] = int(ks[np.argmin(kinds.cost[ks] * np.maximum(need, 1e-12))])
    return out


def _type_mask(instance: PackingInstance, types: Sequence[int] | None) -> np.ndarray:
    mask = np.zeros(len(instance.server_types), dtype=bool)
    mask[list(range(len(mask))) if types is None else list(types)] = True
    return mask


def _item_size(instance: PackingInstance, demand: np.ndarray) -> np.ndarray:
    """Size of each item relative to the largest server: max over slots and resources."""
    cap = instance.capacity.max(axis=0)
    return (demand / cap[None, None, :]).max(axis=(1, 2))


class _Sums:
    """The additive parts of one worker's load on a chance-constrained instance: mean, factor sums,
    idiosyncratic variance and the largest multiplier of its items."""

    def __init__(self, items: Items, first: int | None = None):
        self.it = items
        _, phi, _ = items.moments(slice(0, 1))
        t_r = items.demand.shape[1:]
        self.mean, self.f, self.p, self.z = np.zeros(t_r), np.zeros(phi.shape[1:]), np.zeros(t_r), 0.0
        if first is not None:
            self.add(first)

    def add(self, i: int) -> None:
        mu, phi, psi = self.it.moments([i])
        self.mean += mu[0]
        self.f += phi[0]
        self.p += psi[0]
        self.z = max(self.z, float(self.it.z[i]))

    def load(self) -> np.ndarray:
        """``[T, R]`` load of the worker."""
        return effective_load(self.mean, self.f[None], self.p[None], np.array([self.z]))[0]

    def with_each(self, cand: np.ndarray) -> np.ndarray:
        """``[n, T, R]`` load of the worker with each candidate item added."""
        it = self.it
        mu = it.demand[cand]
        # f . phi_n with phi_n = B_n sigma_n is sigma_n (B_n . f): gathering the candidates' [n, K, T, R]
        # factor parts instead copied ~40 MB a step at 1,700 items (einsum, not BLAS: many small calls).
        cross = it.sigma[cand] * np.einsum("nk,ktr->ntr", it.loading[cand], self.f)
        var = (np.einsum("ktr,ktr->tr", self.f, self.f)[None] + 2.0 * cross + self.p[None] + it.self_variance(cand))
        z = np.maximum(self.z, self.it.z[cand])
        return self.mean[None] + mu + z[:, None, None] * np.sqrt(np.maximum(var, 0.0))


class _Fleet:
    """Open workers and their loads during a greedy pass (arrays over workers, so that a candidate
    item is tested against every open worker at once).

    ``demand`` is what the linear check adds up (the items' demand, or the peak-based baseline's
    peaks); on a chance-constrained instance every worker must also hold the chance rule."""

    def __init__(self, instance: PackingInstance, demand: np.ndarray, types: Sequence[int] | None = None):
        self.inst, self.items, self.kinds = instance, instance.items(), instance.kinds()
        self.allowed = _type_mask(instance, types)[self.kinds.server_type]  # kinds new workers may take
        self.demand = demand
        self.chance = self.items.chance
        # Each item's peak alone, per resource: what a worker must hold for it.
        self.alone = np.maximum(demand.max(axis=1), self.items.standalone().max(axis=1))  # [I, R]
        t_r = demand.shape[1:]
        self._loads = np.zeros((0,) + t_r)
        if self.chance:
            self.mu, self.phi, self.psi = self.items.moments()
            self.self_var = self.items.self_variance()  # [I, T, R]
            self._mu_sum = np.zeros((0,) + t_r)
            self._f = np.zeros((0,) + self.phi.shape[1:])
            self._p = np.zeros((0,) + t_r)
            self._z = np.zeros(0)
        self.kind: list[int] = []
        self.iso: list[int] = []
        self.groups: list[set[int]] = []
        self.counts = np.zeros(len(instance.server_types), dtype=np.int64)
        self.limit = instance.max_count
        self.item_worker = np.full(len(self.items), -1, dtype=np.int64)

    @property
    def loads(self) -> np.ndarray:
        """``[W, T, R]`` sums of ``demand`` of the open workers."""
        return self._loads[: len(self.kind)]

    def _with(self, i: int, ws: np.ndarray) -> np.ndarray:
        """``[n, T, R]`` load of workers ``ws`` with item ``i`` added, under the instance's rule."""
        if not self.chance:
            return self._loads[ws] + self.demand[i][None]
        f = self._f[ws]
        var = (np.einsum("nktr,nktr->ntr", f, f) + 2.0 * np.einsum("nktr,ktr->ntr", f, self.phi[i])
               + self._p[ws] + self.self_var[i][None])
        z = np.maximum(self._z[ws], self.items.z[i])
        mean = self._mu_sum[ws] + self.mu[i][None]
        return mean + z[:, None, None] * np.sqrt(np.maximum(var, 0.0))

    def fitting(self, i: int) -> np.ndarray:
        """Boolean mask of the open workers that can take item ``i`` (class, headroom, distinct
        shards, the linear check of ``demand`` and, on a chance-constrained instance, the rule)."""
        n = len(self.kind)
        if n == 0:
            return np.zeros(0, dtype=bool)
        kind = np.asarray(self.kind)
        cap = self.kinds.capacity[kind]  # [n, R]
        ok = (np.asarray(self.iso) == self.items.iso_class[i]) & (self.kinds.level[kind] >= self.items.headroom[i] - 1e-12)
        if self.items.n_shards[i] > 1:
            g = int(self.items.group[i])
            ok &= np.array([g not in gs for gs in self.groups])
        ws = np.flatnonzero(ok)
        if ws.size:
            fit = np.all(self._loads[ws] + self.demand[i][None] <= cap[ws][:, None, :] + _TOL, axis=(1, 2))
            ok[ws] = fit
            ws = ws[fit]
            if self.chance and ws.size:
                ok[ws] = np.all(self._with(i, ws) <= cap[ws][:, None, :] + _TOL, axis=(1, 2))
        return ok

    def fits(self, i: int, w: int) -> bool:
        return bool(self.fitting(i)[w])

    def load(self, w) -> np.ndarray:
        """``[T, R]`` load of worker ``w`` (or ``[n, T, R]`` of an index array) under the rule."""
        if not self.chance:
            return self._loads[w]
        f = self._f[w]
        var = np.einsum("...ktr,...ktr->...tr", f, f) + self._p[w]
        return self._mu_sum[w] + np.asarray(self._z[w])[..., None, None] * np.sqrt(np.maximum(var, 0.0))

    def load_with(self, i: int, w: int) -> np.ndarray:
        """``[T, R]`` load of worker ``w`` with item ``i`` added."""
        return self._with(i, np.array([w]))[0]

    def can_open(self, k: int) -> bool:
        return self.counts[self.kinds.server_type[k]] < self.limit[self.kinds.server_type[k]]

    def open(self, k: int, iso: int) -> int:
        n = len(self.kind)
        if n == len(self._loads):  # grow the arrays (doubling)
            grow = max(8, n)
            self._loads = np.concatenate([self._loads, np.zeros((grow,) + self._loads.shape[1:])])
            if self.chance:
                self._mu_sum = np.concatenate([self._mu_sum, np.zeros((grow,) + self._mu_sum.shape[1:])])
                self._f = np.concatenate([self._f, np.zeros((grow,) + self._f.shape[1:])])
                self._p = np.concatenate([self._p, np.zeros((grow,) + self._p.shape[1:])])
                self._z = np.concatenate([self._z, np.zeros(grow)])
        self.kind.append(k)
        self.iso.append(iso)
        self.groups.append(set())
        self.counts[self.kinds.server_type[k]] += 1
        return len(self.kind) - 1

    def place(self, i: int, w: int) -> None:
        self._loads[w] += self.demand[i]
        if self.chance:
            self._mu_sum[w] += self.mu[i]
            self._f[w] += self.phi[i]
            self._p[w] += self.psi[i]
            self._z[w] = max(self._z[w], float(self.items.z[i]))
        self.groups[w].add(int(self.items.group[i]))
        self.item_worker[i] = w

    def kind_for(self, i: int, preferred: dict) -> int:
        """The preferred kind for the item's class and headroom, else any kind that holds it."""
        h = float(self.items.headroom[i])
        c = int(self.items.iso_class[i])
        levels = np.unique(self.kinds.level)
        lv = float(levels[np.argmin(np.abs(levels - h))])
        first = preferred[(c, lv)]
        fits_alone = np.all(self.alone[i][None, :] <= self.kinds.capacity + _TOL, axis=1)
        order = [first] + [int(k) for k in np.argsort(self.kinds.cost, kind="stable") if k != first]
        for k in order:
            if fits_alone[k] and self.allowed[k] and self.kinds.level[k] >= h - 1e-12 and self.can_open(k):
                return k
        raise HeuristicFailure(
            f"no server type left (max_count) for shard {self.items.shard[i]} of group "
            f"{self.inst.group_ids[self.items.group[i]]!r}"
        )

    def packing(self) -> Packing:
        return Packing(self.item_worker.copy(), np.array(self.kind, dtype=np.int64))


def _ffd(instance: PackingInstance, demand: np.ndarray, order: np.ndarray,
         types: Sequence[int] | None = None) -> Packing:
    fleet = _Fleet(instance, demand, types)
    preferred = preferred_kinds(instance, None if demand is instance.items().demand else demand, types)
    for i in order:
        fit = np.flatnonzero(fleet.fitting(i))
        w = int(fit[0]) if fit.size else fleet.open(fleet.kind_for(i, preferred), int(fleet.items.iso_class[i]))
        fleet.place(i, w)
    return _finish(instance, fleet.packing())


def peak_ffd(instance: PackingInstance) -> Packing:
    """Peak-based baseline: each item sized by its own peak per resource, first fit decreasing.

    On a chance-constrained instance the peak is that of the item alone (``mean + z sigma``: each
    group at its own quantile, what a "requests = peak" scheduler reserves), and a worker must
    also hold the chance rule (with mixed tiers the strictest multiplier applies to all)."""
    items = instance.items()
    peak = items.standalone().max(axis=1, keepdims=True)  # [I, 1, R]
    order = np.argsort(-_item_size(instance, peak), kind="stable")
    return _ffd(instance, np.broadcast_to(peak, items.demand.shape), order)


def shape_ffd(instance: PackingInstance, order: Sequence[int] | None = None,
              types: Sequence[int] | None = None) -> Packing:
    """Shape-aware first fit decreasing (per-slot vector check).

    Args:
        order: optional item order (indices into ``instance.items()``), e.g. from a
            complementarity ranking; default decreasing size.
        types: server types (indices) new workers may take; default all.
    """
    items = instance.items()
    if order is None:
        order = np.argsort(-_item_size(instance, items.standalone()), kind="stable")
    return _ffd(instance, items.demand, np.asarray(order, dtype=np.int64), types)


def shape_fill(instance: PackingInstance, score: str = "dot", affinity: np.ndarray | None = None,
               affinity_weight: float = 1.0, choose_kind: bool = True,
               types: Sequence[int] | None = None) -> Packing:
    """Fill one worker at a time with the fitting item that matches its residual best.

    Args:
        score: ``"dot"`` (sum over slots and resources of item demand x residual, both relative to
            capacity) or ``"size"`` (largest item that fits).
        affinity: optional ``[group, group]`` matrix; ``affinity_weight`` times the mean affinity of
            a candidate to the groups already on the worker is added to its score.
        choose_kind: fill a trial worker of every kind that fits the seed item and keep the one with
            the best value / cost, valuing items at the shadow prices of the fractional fleet
            programme (:func:`models.packing.prices.dual_prices`); else use the preferred kind.
        types: server types (indices) new workers may take; default all.
    """
    items, kinds = instance.items(), instance.kinds()
    demand = items.demand
    alone = items.standalone()
    n = len(items)
    fleet = _Fleet(instance, demand, types)
    preferred = preferred_kinds(instance, None, types)
    size = _item_size(instance, alone)
    prices = dual_prices(instance)
    value = np.einsum("itr,itr->i", alone / (1.0 - items.headroom)[:, None, None], prices[items.iso_class])
    left = np.ones(n, dtype=bool)

    def fill(seed: int, k: int) -> list[int]:
        cap = kinds.capacity[k]
        load = alone[seed].copy()
        sums = _Sums(items, seed) if items.chance else None
        chosen, groups = [seed], {int(items.group[seed])}
        avail = left & (items.iso_class == items.iso_class[seed]) & (items.headroom <= kinds.level[k] + 1e-12)
        avail[seed] = False
        while True:
            if groups:
                avail &= ~np.isin(items.group, list(groups))
            cand = np.flatnonzero(avail)
            if cand.size == 0:
                break
            resid = cap[None, :] - load
            # What each candidate adds to the worker's load (its demand on a linear instance).
            add = demand[cand] if sums is None else sums.with_each(cand) - load[None]
            ok = np.all(add <= resid[None] + _TOL, axis=(1, 2))
            avail[cand[~ok]] = False  # the residual only shrinks: a misfit stays a misfit
            cand, add = cand[ok], add[ok]
            if cand.size == 0:
                break
            rel = add / cap[None, None, :]
            if score == "dot":
                s = np.einsum("itr,tr->i", rel, resid / cap[None, :])
            else:
                s = rel.sum(axis=(1, 2))
            if affinity is not None:
                on = [int(items.group[j]) for j in chosen]
                s = s + affinity_weight * affinity[np.ix_(items.group[cand], on)].mean(axis=1)
            x = int(np.argmax(s))
            best = int(cand[x])
            load += add[x]
            if sums is not None:
                sums.add(best)
                load = sums.load()
            chosen.append(best)
            groups.add(int(items.group[best]))
            avail[best] = False
        return chosen

    while left.any():
        # Seed a worker with the largest remaining item.
        cand = np.flatnonzero(left)
        seed = int(cand[np.argmax(size[cand])])
        first = fleet.kind_for(seed, preferred)
        trials = [first]
        if choose_kind:
            fits_alone = np.all(alone[seed].max(axis=0)[None, :] <= kinds.capacity + _TOL, axis=1)
            trials += [int(k) for k in range(len(kinds)) if k != first and fits_alone[k] and fleet.allowed[k]
                       and kinds.accepts(float(items.headroom[seed]))[k] and fleet.can_open(int(k))]
        best_k, best_set, best_ratio = first, None, -np.inf
        for k in trials:
            chosen = fill(seed, k)
            ratio = value[chosen].sum() / kinds.cost[k]
            if ratio > best_ratio + 1e-12:
                best_k, best_set, best_ratio = k, chosen, ratio
        w = fleet.open(best_k, int(items.iso_class[seed]))
        for j in best_set:
            fleet.place(j, w)
            left[j] = False
    return _finish(instance, fleet.packing())


def fleet_counts(demand: np.ndarray, capacity: np.ndarray, cost: np.ndarray, limit: np.ndarray) -> np.ndarray:
    """Cheapest integer server counts ``n[k]`` with ``sum_k capacity[k, r] n[k] >= demand[t, r]``."""
    from scipy.optimize import Bounds, LinearConstraint, milp

    need = demand.max(axis=0)  # only the peak per resource binds for a fleet of fixed servers
    rows = capacity.T  # [R, K]
    lim = np.where(limit < 1e8, limit, np.inf).astype(float)
    res = milp(c=cost, constraints=LinearConstraint(rows, need, np.inf), integrality=np.ones(len(cost)),
               bounds=Bounds(0, lim), options={"time_limit": 5.0})
    if res.x is None:
        return np.zeros(len(cost), dtype=np.int64)
    return np.round(res.x).astype(np.int64)


def shape_balance(instance: PackingInstance, order: Sequence[int] | None = None,
                  types: Sequence[int] | None = None) -> Packing:
    """Open the cheapest integer fleet that covers each pool's aggregate peak, then place items in
    decreasing size on the open worker whose peak utilisation grows least (ties: the fuller one);
    open more workers only for items that fit nowhere. Spreads complementary shapes over all
    workers instead of leaving the last ones with the leftovers.

    Note the per-resource fleet covers the *aggregate peak*; the aggregate shape is never worse.
    ``types`` (indices) limits the server types of the workers it opens (default all); the final
    compaction may still downsize a worker to any type.
    """
    items, kinds = instance.items(), instance.kinds()
    demand = items.demand
    fleet = _Fleet(instance, demand, types)
    preferred = preferred_kinds(instance, None, types)
    limit = instance.max_count
    for c in np.unique(items.iso_class):
        for lv in np.unique(items.headroom[items.iso_class == c]):
            mine = (items.iso_class == c) & np.isclose(items.headroom, lv)
            ks = np.flatnonzero(np.isclose(kinds.level, lv) & fleet.allowed)
            agg = instance.effective_loads((~mine).astype(np.int64), 2)[0]  # these items on one worker
            room = np.array([limit[kinds.server_type[k]] - fleet.counts[kinds.server_type[k]] for k in ks])
            n = fleet_counts(agg, kinds.capacity[ks], kinds.cost[ks], room)
            for k, m in zip(ks, n):
                for _ in range(int(m)):
                    fleet.open(int(k), int(c))
    if order is None:
        order = np.argsort(-_item_size(instance, items.standalone()), kind="stable")
    for i in order:
        best, best_key = -1, None
        ws = np.flatnonzero(fleet.fitting(i))
        if ws.size:
            cap = kinds.capacity[np.asarray(fleet.kind)[ws]][:, None, :]  # [n, 1, R]
            before = (fleet.load(ws) / cap).max(axis=(1, 2))
            after = (fleet._with(i, ws) / cap).max(axis=(1, 2))
            exact = np.isclose(kinds.level[np.asarray(fleet.kind)[ws]], items.headroom[i])
            for w, e, b_, a_ in zip(ws, exact, before, after):
                key = (not e, round(a_ - b_, 9), -b_)
                if best_key is None or key < best_key:
                    best, best_key = int(w), key
        if best < 0:
            best = fleet.open(fleet.kind_for(i, preferred), int(items.iso_class[i]))
        fleet.place(i, best)
    packing = fleet.packing()
    # Pre-opened workers may stay empty; drop them before the spread repair.
    return _finish(instance, compact(instance, packing))


def _finish(instance: PackingInstance, packing: Packing) -> Packing:
    return compact(instance, _repair_spread(instance, packing))


def _repair_spread(instance: PackingInstance, packing: Packing) -> Packing:
    """Move items of customers that sit on too few workers onto other workers (or new ones)."""
    items, kinds = instance.items(), instance.kinds()
    spread = instance.customer_spread()
    p = packing.copy()
    limit = instance.max_count
    for ci, c in enumerate(instance.customers):
        s = spread[c]
        if s <= 1:
            continue
        mine = np.flatnonzero(items.customer == ci)
        guard = 0
        while len(np.unique(p.item_worker[mine])) < s:
            guard += 1
            if guard > len(mine) + 1:
                raise HeuristicFailure(f"customer {c!r}: cannot reach spread {s}")
            ws, counts = np.unique(p.item_worker[mine], return_counts=True)
            crowded = ws[np.argmax(counts)]
            movable = [int(i) for i in mine if p.item_worker[i] == crowded]
            i = min(movable, key=lambda j: float(items.demand[j].sum()))
            # Candidate targets: workers that do not hold this customer and still hold the item.
            n_w = len(p.worker_kind)
            target = -1
            used_ws = set(int(x) for x in p.item_worker[mine])
            for w in range(n_w):
                k = p.worker_kind[w]
                members = np.flatnonzero(p.item_worker == w)
                if w in used_ws or members.size == 0:
                    continue
                if items.iso_class[members[0]] != items.iso_class[i] or kinds.level[k] < items.headroom[i] - 1e-12:
                    continue
                if items.group[i] in set(items.group[members]):
                    continue
                trial = np.append(members, i)
                load = instance.effective_loads(np.zeros(len(trial), dtype=np.int64), 1, _subset(items, trial))[0]
                if np.all(load <= kinds.capacity[k][None, :] + _TOL):
                    target = w
                    break
            if target < 0:
                k = int(p.worker_kind[crowded])
                counts_t = np.bincount(kinds.server_type[p.worker_kind[np.unique(p.item_worker)]],
                                       minlength=len(instance.server_types))
                if counts_t[kinds.server_type[k]] >= limit[kinds.server_type[k]]:
                    raise HeuristicFailure(f"customer {c!r}: no server left to reach spread {s}")
                p.worker_kind = np.append(p.worker_kind, k)
                target = len(p.worker_kind) - 1
            p.item_worker[i] = target
    return p


def _subset(items: Items, idx: np.ndarray) -> Items:
    """The items ``idx`` as an :class:`Items` of their own (for load computations)."""
    import dataclasses

    return dataclasses.replace(items, **{f.name: (None if getattr(items, f.name) is None else getattr(items, f.name)[idx])
                                          for f in dataclasses.fields(items)})


def best_heuristic(instance: PackingInstance, affinity: np.ndarray | None = None) -> Packing:
    """Cheapest of the shape-aware greedies (ties: first in a fixed order).

    Besides the greedies that mix server types, ``shape_balance`` and ``shape_fill`` open a fleet
    of each single type: a type that is cheaper per unit of capacity but not the cheapest cover of any one
    isolation class and headroom level on its own (the mixed greedies' choice) is still tried for
    the whole fleet, so a cheaper type added to the catalog is reachable from the start."""
    candidates = []
    failures = []
    runs = [lambda: shape_balance(instance), lambda: shape_fill(instance, "dot", affinity),
            lambda: shape_fill(instance, "size", affinity), lambda: shape_ffd(instance)]
    if len(instance.server_types) > 1:
        for k in range(len(instance.server_types)):
            runs += [lambda k=k: shape_balance(instance, types=[k]), lambda k=k: shape_fill(instance, "dot", affinity, types=[k])]
    for run in runs:
        try:
            candidates.append(run())
        except HeuristicFailure as exc:
            failures.append(exc)
    if not candidates:
        raise failures[0]
    costs = [packing_cost(instance, p) for p in candidates]
    return candidates[int(np.argmin(costs))]
