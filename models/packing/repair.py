"""Tabu search that repairs an overfull plan: the engine of :mod:`models.packing.shrink`.

State: items on workers; each worker is a server type (a closed worker has no capacity and takes
nothing). A worker's capacity follows the rule of the instance: ``capacity[type] * (1 - level)``
where ``level`` is the largest headroom among the items it holds now, so a move can change the
capacity of both workers it touches. The search minimises

    infeasibility = sum_{w,t,r} max(0, load[w, t, r] - capacity[w, r]) / unit_r
                    + sum_c max(0, spread_c - distinct workers of c)

Each move picks a random worker that overflows (or that holds two items of a customer short of its
spread) and applies the best admissible move among: one of its items to another worker, or one of
its items swapped with an item of one of the workers with the most room where it overflows. An item
may not return to the worker it left for 5-14 moves unless that gives the best infeasibility seen
(aspiration). Moves never break the hard rules: isolation classes (an item only moves among the
workers of its class) and shards of a group on distinct workers.

Scores are computed for all candidate moves at once with numpy, in float32 (half the memory
traffic); whether the plan is feasible is decided on float64 loads.

On a chance-constrained instance a worker's load is ``M + z sqrt(V)`` (:mod:`models.packing.risk`):
the engine keeps the additive parts per worker (mean ``L``, factor sums ``F [B, K, T, R]``,
idiosyncratic variance ``P``) and the largest multiplier ``z`` of its items, and scores a move from
them: removing item ``m`` leaves ``V - 2 F.phi_m + |phi_m|^2 - psi_m``, adding it gives
``V + 2 F.phi_m + |phi_m|^2 + psi_m``, a swap adds the cross term ``-2 phi_m.phi_p``; the
multiplier follows the strictest item as the headroom level does.
"""

from __future__ import annotations

import math
import time
import weakref

import numpy as np

from models.packing.instance import PackingInstance

__all__ = ["OverflowRepair", "release_cross_tables"]

EPS = 1e-12
SWAP_BLOCK = 1 << 16  # floats of one row block of a chance-constrained swap evaluation (256 KB a buffer)
# Largest item x item cross-product table kept per instance: a fleet chunk (CHUNK_ITEMS = 400 items,
# 168 slots, 2 resources) takes 215 MB; without the table each swap evaluation recomputes its pairs
# over the K factors, most of a fleet chunk's repair time. Dropped when the solve ends.
CROSS_CACHE_BYTES = 256 << 20
PRUNE_MIN_FLOATS = 1 << 15  # swap matrices ([m, n, T, R]) from this size are searched with a lower bound
PROBE_OWN, PROBE_PARTNER = 24, 16  # columns of the bound: the fullest of the moving item's worker, of each partner's
PRUNE_SLACK = 1e-4  # relative margin of the bound for the float32 rounding of its sums (a few 1e-6 at most)
# An engine whose pruned searches have had to score this share of their pairs in full goes back to the
# row blocks (a pair gathered costs more than a pair in a block): a shrink attempt stuck on a small,
# tight fleet scores about half of them (docs/benchmarks.md). Judged after PRUNE_WARMUP searches.
PRUNE_GIVE_UP, PRUNE_WARMUP = 0.3, 16
SPREAD_WEIGHT = 1.0  # one missing worker of spread weighs as much as a full server's overflow in one slot


_CROSS: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def _cross_table(instance: PackingInstance, unit: np.ndarray, phi32: np.ndarray) -> np.ndarray | None:
    """``2 phi_i . phi_j`` ``[I, I, T, R]`` (float32) of every pair of items, computed once per
    instance and unit (a shrinking search builds an engine per attempt) when it takes at most
    ``CROSS_CACHE_BYTES``; ``None`` above (each swap evaluation then computes its own pairs).
    Per element the same einsum over the factors, so the same floats either way."""
    n = phi32.shape[0]
    if n * n * int(np.prod(phi32.shape[2:])) * 4 > CROSS_CACHE_BYTES:
        return None
    tables = _CROSS.setdefault(instance, {})
    key = np.asarray(unit, dtype=float).tobytes()
    if key not in tables:
        table = np.einsum("mktr,nktr->mntr", phi32, phi32)
        table *= 2.0
        tables[key] = np.ascontiguousarray(table)  # gathered as [I * I, T, R] rows (_pair_cross2)
    return tables[key]


def release_cross_tables(instance: PackingInstance) -> None:
    """Drop ``instance``'s cross tables (``solve_packing`` calls it when it returns: a week's plan keeps
    its instance alive, and the tables of every week would add up to gigabytes)."""
    _CROSS.pop(instance, None)


class _Scratch:
    """One reusable buffer for the large temporaries of a move evaluation.

    Allocating them afresh each move costs more than the arithmetic: glibc hands blocks of a few MB
    back to the system on free and faults the pages in again on the next move (5x slower measured).
    """

    def __init__(self):
        self.buf = np.empty(0, dtype=np.float32)

    def over(self, *terms: np.ndarray) -> np.ndarray:
        """``max(0, terms[0] + terms[1] + ...)`` summed over the last two axes (slots, resources),
        with broadcasting, computed in the buffer."""
        shapes = [_shape(t) for t in terms]
        shape = shapes[0] if all(sh == shapes[0] for sh in shapes) else np.broadcast_shapes(*shapes)
        n = math.prod(shape)  # np.prod of a tuple costs 4 us, a tenth of a block's add
        if self.buf.size < n:
            self.buf = np.empty(max(n, 2 * self.buf.size), dtype=np.float32)
        out = self.buf[:n].reshape(shape)
        _add(terms[0], terms[1], out)
        for t in terms[2:]:
            _add(out, t, out)
        np.maximum(out, 0.0, out=out)
        return out.reshape(shape[:-2] + (-1,)).sum(axis=-1)


def _add(x, y, out: np.ndarray) -> None:
    """``out = x + y``. A term that is constant over the slots (``[..., 1, R]``, a capacity) is
    added one resource at a time: broadcast as it is, numpy's inner loop runs over the R (2)
    resources only, and the add took 3x as long. The same additions, so the same floats."""
    so = out.shape
    if len(so) >= 2 and so[-2] > 1 and so[-1] > 1 and (_slot_constant(x) or _slot_constant(y)):
        for r in range(so[-1]):
            np.add(_column(x, r), _column(y, r), out=out[..., r])
    else:
        np.add(x, y, out=out)


def _shape(t) -> tuple:
    """``np.shape(t)`` without its call overhead for an array (the engine's terms are arrays or
    float32 scalars)."""
    return t.shape if isinstance(t, np.ndarray) else np.shape(t)


def _slot_constant(t) -> bool:
    """Whether ``t`` is ``[..., 1, R > 1]``: constant over the slots (a capacity)."""
    sh = _shape(t)
    return len(sh) >= 2 and sh[-2] == 1 and sh[-1] > 1


def _over_inplace(x: np.ndarray, cap: np.ndarray) -> np.ndarray:
    """``max(0, x + cap)`` summed over the last two axes, computed in ``x`` (as ``_Scratch.over``);
    ``cap`` is ``[..., 1, R]`` (constant over the slots), added one resource at a time (``_add``)."""
    for r in range(x.shape[-1]):
        np.add(x[..., r], cap[..., r], out=x[..., r])
    np.maximum(x, 0.0, out=x)
    return x.reshape(x.shape[:-2] + (-1,)).sum(axis=-1)


def _risk_load(var: np.ndarray, z, base, d) -> np.ndarray:
    """In place: ``base + d + z * sqrt(max(var, 0))``, the float32 operations in this order (the
    swap evaluations share it, so their loads agree to the bit)."""
    np.maximum(var, 0.0, out=var)
    np.sqrt(var, out=var)
    var *= z
    var += base
    var += d
    return var


def _flat(x: np.ndarray) -> np.ndarray:
    """``[..., T, R]`` seen as ``[..., T * R]`` (the swap searches index slot-resource columns)."""
    return x.reshape(x.shape[:-2] + (-1,))


def _column(t, r: int):
    """Resource ``r`` of a ``[..., T, R]`` term (a scalar stays a scalar)."""
    return t if len(_shape(t)) == 0 else t[..., r]


class OverflowRepair:
    """The tabu search on one plan (see the module docstring).

    Args:
        instance: the packing instance (items, classes, shards, spread).
        unit: per resource, the unit loads and capacities are expressed in (e.g. the largest
            server's capacity).
        item_worker: the worker of each item (may be infeasible).
        type_capacity: ``[worker, resource]`` capacity of each worker's server type / ``unit``; 0 for
            a closed worker.
        open_: workers that may receive items.
        worker_class: isolation class of each worker.
        rng: random generator (worker choice, tenure, random swap partners).
        swap_workers: workers whose items are tried as swap partners (the roomiest where the chosen
            worker overflows, plus a third as many at random).
    """

    def __init__(self, instance: PackingInstance, unit: np.ndarray, item_worker: np.ndarray,
                 type_capacity: np.ndarray, open_: np.ndarray, worker_class: np.ndarray,
                 rng: np.random.Generator, swap_workers: int = 12):
        it = instance.items()
        unit = np.asarray(unit, dtype=float)
        mu, phi, psi = it.moments()
        self.D = np.ascontiguousarray(mu / unit[None, None, :], dtype=float)  # [item, T, R]
        self.D32 = self.D.astype(np.float32)
        self.h = it.headroom.astype(float)
        self.w_of = np.asarray(item_worker, dtype=np.int64).copy()
        self.cap = np.asarray(type_capacity, dtype=float)  # [B, R]
        self.B = self.cap.shape[0]
        self.L = np.zeros((self.B,) + self.D.shape[1:])
        np.add.at(self.L, self.w_of, self.D)
        self.chance = it.chance
        if self.chance:
            self.zi = it.z.astype(float)
            self.Phi = np.ascontiguousarray(phi / unit[None, None, None, :])  # [item, K, T, R]
            self.Psi = psi / (unit**2)[None, None, :]
            self.Phi32 = self.Phi.astype(np.float32)
            self.s2 = (self.Phi**2).sum(axis=1)  # [item, T, R] |phi_i|^2
            self.s2_32 = self.s2.astype(np.float32)
            self.Psi32 = self.Psi.astype(np.float32)
            self.F = np.zeros((self.B,) + self.Phi.shape[1:])
            np.add.at(self.F, self.w_of, self.Phi)
            self.P = np.zeros_like(self.L)
            np.add.at(self.P, self.w_of, self.Psi)
            self.V = np.zeros_like(self.L)
            self.F32 = np.zeros(self.F.shape, dtype=np.float32)
            self.V32 = np.zeros(self.L.shape, dtype=np.float32)
            self.zw = np.zeros(self.B)
        self._cross_src = (instance, unit) if self.chance else None  # the table is built at the first swap
        self._cross_built = None
        # Capacities move with the strictest item (and, with a chance rule, the multiplier too).
        self.dynamic = len(np.unique(self.h)) > 1 or self.chance
        self.X = self.L if not self.chance else np.zeros_like(self.L)  # the load the capacity holds
        self.level = np.zeros(self.B)
        self.E = np.zeros_like(self.L)  # load - capacity
        self.E32 = np.zeros(self.L.shape, dtype=np.float32)
        self.L32 = np.zeros(self.L.shape, dtype=np.float32)
        self.ov = np.zeros(self.B)
        self.ov32 = np.zeros(self.B, dtype=np.float32)
        for w in range(self.B):
            self._refresh(w)
        self.scratch = _Scratch()
        self.rng = rng
        self.swap_workers = swap_workers
        self.ok = (it.iso_class[:, None] == np.asarray(worker_class)[None, :]) & np.asarray(open_)[None, :]
        self.group = it.group
        self.sharded = it.n_shards > 1
        # Spread: customers with spread > 1 are tracked with a count per worker.
        spread = instance.customer_spread()
        need = np.array([spread[c] for c in instance.customers], dtype=np.int64)
        tracked = np.flatnonzero(need > 1)
        index = {int(c): k for k, c in enumerate(tracked)}
        self.sc = np.array([index.get(int(c), -1) for c in it.customer], dtype=np.int64)
        self.need = need[tracked]
        self.cnt = np.zeros((len(tracked), self.B), dtype=np.int64)
        has = self.sc >= 0
        np.add.at(self.cnt, (self.sc[has], self.w_of[has]), 1)
        self.tabu = np.zeros((len(it), self.B), dtype=np.int64)
        self.step = 0
        self.version = 0  # bumped by every relocation: keys the memo of the last relocation loads
        self._reloc_memo = None
        self._without_memo: dict = {}
        self._pruned = [0, 0, 0]  # pruned searches, their admissible pairs, the pairs scored in full

    # ------------------------------------------------------------------ state
    def _refresh(self, w: int) -> None:
        """Recompute worker ``w``'s level, excess and overflow from its load."""
        mine = self.w_of == w
        hs = self.h[mine]
        self.level[w] = hs.max() if hs.size else 0.0
        if self.chance:
            zs = self.zi[mine]
            self.zw[w] = zs.max() if zs.size else 0.0
            self.V[w] = np.maximum(np.einsum("ktr,ktr->tr", self.F[w], self.F[w]) + self.P[w], 0.0)
            self.X[w] = self.L[w] + self.zw[w] * np.sqrt(self.V[w])
            self.F32[w] = self.F[w]
            self.V32[w] = self.V[w]
        self.E[w] = self.X[w] - self.cap[w] * (1.0 - self.level[w])
        self.L32[w] = self.X[w]
        self.E32[w] = self.E[w]
        self.ov[w] = np.maximum(self.E[w], 0.0).sum()
        self.ov32[w] = np.maximum(self.E32[w], 0.0).sum()

    def relocate(self, i: int, b: int) -> None:
        """Move item ``i`` to worker ``b`` and update loads, levels, overflow and spread counts."""
        a = int(self.w_of[i])
        self.version += 1
        self.L[a] -= self.D[i]
        self.L[b] += self.D[i]
        if self.chance:
            self.F[a] -= self.Phi[i]
            self.F[b] += self.Phi[i]
            self.P[a] -= self.Psi[i]
            self.P[b] += self.Psi[i]
        self.w_of[i] = b
        if self.sc[i] >= 0:
            self.cnt[self.sc[i], a] -= 1
            self.cnt[self.sc[i], b] += 1
        self._refresh(a)
        self._refresh(b)

    def deficit(self) -> float:
        """Missing distinct workers, summed over the customers with a spread rule."""
        if not len(self.need):
            return 0.0
        return float(np.maximum(self.need - (self.cnt > 0).sum(axis=1), 0).sum())

    def total(self) -> float:
        """The infeasibility (0: every capacity and spread rule holds)."""
        return float(self.ov.sum()) + SPREAD_WEIGHT * self.deficit()

    def levels_without(self, items: np.ndarray) -> np.ndarray:
        """For each item, the largest headroom among the *other* items on its worker (0 if none)."""
        return self._max_without(self.h, items)

    def z_without(self, items: np.ndarray) -> np.ndarray:
        """For each item, the largest risk multiplier among the *other* items on its worker."""
        return self._max_without(self.zi, items)

    def _max_without(self, values: np.ndarray, items: np.ndarray) -> np.ndarray:
        # A move asks twice for the same items (its scores and its capacities); the answer only
        # changes with a relocation, so it is kept for the current version.
        key = (self.version, id(values), items.tobytes())
        memo = self._without_memo
        if key in memo:
            return memo[key]
        if memo and next(iter(memo))[0] != self.version:
            memo.clear()
        memo[key] = out = self._max_without_fresh(values, items)
        out.flags.writeable = False  # shared by the callers of this version
        return out

    def _max_without_fresh(self, values: np.ndarray, items: np.ndarray) -> np.ndarray:
        # Per worker at once (a loop over the partners' workers cost 4x): the top value, whether
        # several items hold it (within EPS), and the largest value below it (0 if none).
        w_of = self.w_of
        top = np.full(self.B, -np.inf)
        np.maximum.at(top, w_of, values)
        near = values >= top[w_of] - EPS
        several = np.bincount(w_of[near], minlength=self.B) > 1
        second = np.zeros(self.B)
        np.maximum.at(second, w_of[~near], values[~near])
        ws = w_of[items]
        return np.where((values[items] < top[ws] - EPS) | several[ws], top[ws], second[ws])

    # ------------------------------------------------------------------ chance-constrained loads
    def chance_relocation(self, a: int, members: np.ndarray):
        """Loads after ``members[x]`` leaves ``a`` (``[m, T, R]``) and after it joins each worker
        ``b`` (``[m, B, T, R]``), float32, with the multipliers (``[m]``, ``[m, B]``). The last
        result is kept until the next relocation (the balancing pass asks twice per move)."""
        key = (self.version, a, members.tobytes())
        if self._reloc_memo is not None and self._reloc_memo[0] == key:
            return self._reloc_memo[1]
        Dm, Pm, s2, ps = self.D32[members], self.Phi32[members], self.s2_32[members], self.Psi32[members]
        cross_a = np.einsum("ktr,mktr->mtr", self.F32[a], Pm)
        var_a = np.maximum(self.V32[a][None] - 2.0 * cross_a + s2 - ps, 0.0)
        z_a = self.z_without(members)
        leave = (self.L[a].astype(np.float32)[None] - Dm) + z_a.astype(np.float32)[:, None, None] * np.sqrt(var_a)
        cross_b = np.einsum("bktr,mktr->mbtr", self.F32, Pm)
        var_b = np.maximum(self.V32[None] + 2.0 * cross_b + (s2 + ps)[:, None], 0.0)
        z_b = np.maximum(self.zw[None, :], self.zi[members][:, None])
        arrive = (self.L.astype(np.float32)[None] + Dm[:, None]) + z_b.astype(np.float32)[..., None, None] * np.sqrt(var_b)
        self._reloc_memo = (key, (leave, z_a, arrive, z_b))
        return leave, z_a, arrive, z_b

    def chance_swap(self, a: int, members: np.ndarray, partners: np.ndarray):
        """Loads of ``a`` and of each partner's worker after ``members[x]`` and ``partners[y]``
        trade places (both ``[m, n, T, R]``, float32)."""
        prep = self._swap_prep(a, members, partners)
        return self._chance_swap_rows(prep, slice(None))

    def _swap_prep(self, a: int, members: np.ndarray, partners: np.ndarray) -> dict:
        """The parts of a swap evaluation that are not ``[m, n, T, R]`` (shared by its row blocks)."""
        wp = self.w_of[partners]
        p = dict(a=a, members=members, partners=partners, wp=wp)
        if not self.chance:
            return p
        Dm, Dp = self.D32[members], self.D32[partners]
        Pm, Pp = self.Phi32[members], self.Phi32[partners]
        sm, sp = self.s2_32[members], self.s2_32[partners]
        qm, qp = self.Psi32[members], self.Psi32[partners]
        # a loses m and gains p: V_a - 2 F_a.phi_m + |phi_m|^2 - psi_m + 2 F_a.phi_p + |phi_p|^2 + psi_p - 2 phi_m.phi_p
        p["part_m"] = self.V32[a][None] - 2.0 * np.einsum("ktr,mktr->mtr", self.F32[a], Pm) + sm - qm
        p["part_p"] = 2.0 * np.einsum("ktr,nktr->ntr", self.F32[a], Pp) + sp + qp
        p["z_a"] = np.maximum(self.z_without(members)[:, None], self.zi[partners][None, :]).astype(np.float32)
        p["base_a"] = self.L[a].astype(np.float32)[None] - Dm
        p["Dp"], p["Dm"] = Dp, Dm
        # p's worker loses p and gains m: V_b - 2 F_b.phi_p + |phi_p|^2 - psi_p + 2 F_b.phi_m + |phi_m|^2 + psi_m - 2 phi_m.phi_p.
        # F_b.phi_m depends on the partner's worker only: computed once per worker (a handful), not per partner.
        ub, inv = np.unique(wp, return_inverse=True)
        cross_b = np.einsum("bktr,mktr->mbtr", self.F32[ub], Pm)
        cross_b *= 2.0
        p["cross_b"], p["inv"] = cross_b, inv
        p["rest_b"] = self.V32[wp] - 2.0 * np.einsum("nktr,nktr->ntr", self.F32[wp], Pp) + sp - qp
        p["own_m"] = sm + qm
        p["z_b"] = np.maximum(self.z_without(partners)[None, :], self.zi[members][:, None]).astype(np.float32)
        p["base_b"] = self.L[wp].astype(np.float32) - Dp
        p["Pm"], p["Pp"] = Pm, Pp
        return p

    @property
    def _cross2(self) -> np.ndarray | None:
        """The instance's cross table (:func:`_cross_table`), built at the first swap evaluation: a
        search that makes none (a plan already valid) does not pay for it."""
        if self._cross_src is not None:
            instance, unit = self._cross_src
            self._cross_built = _cross_table(instance, unit, self.Phi32)
            self._cross_src = None
        return self._cross_built

    def _pair_cross2(self, p: dict, rows) -> np.ndarray:
        """``2 phi_m . phi_p`` ``[m, n, T, R]`` of the members ``rows`` and every partner."""
        if self._cross2 is not None:
            # One gather of whole [T, R] rows of the table seen as [I * I, T, R]: the same copy as
            # np.ix_, without numpy's general two-index path.
            n_items = self._cross2.shape[0]
            flat = self._cross2.reshape((n_items * n_items,) + self._cross2.shape[2:])
            members, partners = p["members"][rows], p["partners"]
            pick = (members[:, None] * n_items + partners[None, :]).ravel()
            return np.take(flat, pick, axis=0).reshape((len(members), len(partners)) + flat.shape[1:])
        mm2 = np.einsum("mktr,nktr->mntr", p["Pm"][rows], p["Pp"])
        mm2 *= 2.0
        return mm2

    def _chance_swap_rows(self, p: dict, rows):
        """:meth:`chance_swap` for the members ``rows`` (a slice) only: the same float32 operations
        in the same order, so the same values as a whole-matrix evaluation."""
        mm2 = self._pair_cross2(p, rows)
        load_a = np.add(p["part_m"][rows][:, None], p["part_p"][None])
        load_a -= mm2
        _risk_load(load_a, p["z_a"][rows][..., None, None], p["base_a"][rows][:, None], p["Dp"][None])
        load_b = np.take(p["cross_b"][rows], p["inv"], axis=1)  # the fancy-index copy, a third faster
        load_b += p["rest_b"][None]
        load_b += p["own_m"][rows][:, None]
        load_b -= mm2
        _risk_load(load_b, p["z_b"][rows][..., None, None], p["base_b"][None], p["Dm"][rows][:, None])
        return load_a, load_b

    # ------------------------------------------------------------------ move scores
    def relocation_scores(self, a: int, members: np.ndarray) -> np.ndarray:
        """``[m, B]`` change of the infeasibility when ``members[x]`` (on ``a``) moves to worker b."""
        over = self.scratch.over
        Dm = self.D32[members]  # [m, T, R]
        if self.chance:
            leave_load, _, arrive_load, _ = self.chance_relocation(a, members)
            cap_left = (self.cap[a][None] * (1.0 - self.levels_without(members))[:, None]).astype(np.float32)
            leave = over(leave_load, -cap_left[:, None, :]) - self.ov32[a]
            lvl = np.maximum(self.level[None, :], self.h[members][:, None])
            cap_new = (self.cap[None] * (1.0 - lvl)[:, :, None]).astype(np.float32)
            arrive = over(arrive_load, -cap_new[:, :, None, :]) - self.ov32[None, :]
        elif self.dynamic:
            cap_left = (self.cap[a][None] * (1.0 - self.levels_without(members))[:, None]).astype(np.float32)
            leave = over(self.L32[a][None] - Dm, -cap_left[:, None, :]) - self.ov32[a]
            lvl = np.maximum(self.level[None, :], self.h[members][:, None])  # [m, B]
            cap_new = (self.cap[None] * (1.0 - lvl)[:, :, None]).astype(np.float32)  # [m, B, R]
            arrive = over(self.L32[None], Dm[:, None], -cap_new[:, :, None, :]) - self.ov32[None, :]
        else:
            leave = over(self.E32[a][None], -Dm) - self.ov32[a]
            arrive = over(self.E32[None], Dm[:, None]) - self.ov32[None, :]
        rel = leave[:, None] + arrive
        if len(self.need):
            rel += self._spread_to_all(members, a)
        return rel

    def relocation_allowed(self, a: int, members: np.ndarray) -> np.ndarray:
        """``[m, B]`` moves that keep the hard rules (class, open worker, distinct shards)."""
        allowed = self.ok[members].copy()
        allowed[:, a] = False
        for x, i in enumerate(members):
            if self.sharded[i]:
                allowed[x, self.w_of[self.group == self.group[i]]] = False
        return allowed

    def swap_scores(self, a: int, members: np.ndarray, partners: np.ndarray) -> np.ndarray:
        """``[m, n]`` change of the infeasibility when ``members[x]`` (on ``a``) and ``partners[y]``
        (on another worker) trade places."""
        over = self.scratch.over
        Dm, Dp = self.D32[members], self.D32[partners]
        wp = self.w_of[partners]
        if self.dynamic:  # [m, n, R] each
            cap_a, cap_b = (c.astype(np.float32) for c in self.swap_capacities(self.cap, a, members, partners))
        if self.chance:
            prep = self._swap_prep(a, members, partners)
            sw = np.empty((len(members), len(partners)), dtype=np.float32)
            # Row blocks of ~SWAP_BLOCK floats: the dozen passes over [m, n, T, R] stay in cache
            # (the whole matrix is several MB), and the memory of a move stays bounded.
            per_row = max(1, len(partners) * math.prod(self.L.shape[1:]))
            step = max(1, SWAP_BLOCK // per_row)
            for lo in range(0, len(members), step):
                rows = slice(lo, lo + step)
                load_a, load_b = self._chance_swap_rows(prep, rows)
                self._swap_block(prep, rows, load_a, load_b)
                sa = _over_inplace(load_a, -cap_a[rows][:, :, None, :]) - self.ov32[a]
                sb = _over_inplace(load_b, -cap_b[rows][:, :, None, :]) - self.ov32[wp][None]
                sw[rows] = sa + sb
        elif self.dynamic:
            sa = over((self.L32[a][None] - Dm)[:, None], Dp[None], -cap_a[:, :, None, :]) - self.ov32[a]
            sb = over((self.L32[wp] - Dp)[None], Dm[:, None], -cap_b[:, :, None, :]) - self.ov32[wp][None]
            sw = sa + sb
        else:
            sa = over((self.E32[a][None] - Dm)[:, None], Dp[None]) - self.ov32[a]
            sb = over((self.E32[wp] - Dp)[None], Dm[:, None]) - self.ov32[wp][None]
            sw = sa + sb
        if len(self.need):
            sw += self._swap_spread(members, partners, a, wp)
        return sw

    def swap_capacities(self, per_worker: np.ndarray, a: int, members: np.ndarray, partners: np.ndarray):
        """Capacities (``per_worker[w]`` times one minus the level) of ``a`` and of each partner's
        worker after ``members[x]`` and ``partners[y]`` trade places, ``[m, n, R]`` each: the level
        follows the strictest item a worker then holds."""
        lvl_a = np.maximum(self.levels_without(members)[:, None], self.h[partners][None, :])  # [m, n]
        lvl_b = np.maximum(self.levels_without(partners)[None, :], self.h[members][:, None])
        return (per_worker[a][None, None] * (1.0 - lvl_a)[..., None],
                per_worker[self.w_of[partners]][None] * (1.0 - lvl_b)[..., None])

    def _swap_block(self, prep: dict, rows, load_a: np.ndarray, load_b: np.ndarray) -> None:
        """Called with each row block's loads after a swap, before they are turned into scores
        (the balancing pass checks them against the real capacity here)."""

    def swap_allowed(self, a: int, members: np.ndarray, partners: np.ndarray) -> np.ndarray:
        """``[m, n]`` swaps that keep the hard rules."""
        return self._swap_hard(a, members, partners)

    def _swap_hard(self, a: int, members: np.ndarray, partners: np.ndarray) -> np.ndarray:
        """``[m, n]`` swaps that keep the class, group and shard rules (:meth:`swap_allowed` without
        the checks a subclass adds on the loads)."""
        wp = self.w_of[partners]
        ok = self.ok[members][:, wp] & self.ok[partners][:, a][None, :]
        ok &= self.group[members][:, None] != self.group[partners][None, :]
        for x, i in enumerate(members):
            if self.sharded[i]:
                ok[x] &= ~np.isin(wp, self.w_of[self.group == self.group[i]])
        for y, j in enumerate(partners):
            if self.sharded[j] and np.any((self.group == self.group[j]) & (self.w_of == a)):
                ok[:, y] = False  # a sibling of j already sits on a
        return ok

    # ------------------------------------------------------------------ spread terms
    def _spread_counts(self, items: np.ndarray, src):
        c = self.sc[items]
        tracked = c >= 0
        cnt = self.cnt[np.where(tracked, c, 0)]  # [n, B]
        src = np.broadcast_to(np.asarray(src), items.shape)
        loses = cnt[np.arange(len(items)), src] == 1
        return tracked, cnt, (cnt > 0).sum(axis=1), self.need[np.where(tracked, c, 0)], loses

    def _spread_to_all(self, items: np.ndarray, src) -> np.ndarray:
        """``[n, B]`` change of the spread term when item ``n`` moves from ``src`` to each worker."""
        tracked, cnt, distinct, need, loses = self._spread_counts(items, src)
        after = (distinct - loses)[:, None] + (cnt == 0)
        delta = np.maximum(need[:, None] - after, 0) - np.maximum(need - distinct, 0)[:, None]
        return SPREAD_WEIGHT * np.where(tracked[:, None], delta, 0)

    def _spread_pairs(self, items: np.ndarray, src, dest: np.ndarray) -> np.ndarray:
        """``[n]`` change of the spread term when item ``n`` moves from ``src`` to ``dest[n]``."""
        tracked, cnt, distinct, need, loses = self._spread_counts(items, src)
        gains = cnt[np.arange(len(items)), dest] == 0
        delta = np.maximum(need - (distinct - loses + gains), 0) - np.maximum(need - distinct, 0)
        return SPREAD_WEIGHT * np.where(tracked, delta, 0)

    def _swap_spread(self, members, partners, a, wp) -> np.ndarray:
        m, n = len(members), len(partners)
        out_i = np.zeros((m, n))
        tracked = np.flatnonzero(self.sc[members] >= 0)
        if tracked.size:
            rows = np.repeat(members[tracked], n)
            out_i[tracked] = self._spread_pairs(rows, a, np.tile(wp, tracked.size)).reshape(tracked.size, n)
        out_j = self._spread_pairs(partners, wp, np.full(n, a))
        same = self.sc[members][:, None] == self.sc[partners][None, :]  # one customer: counts unchanged
        return np.where(same, 0.0, out_i + out_j[None, :])

    # ------------------------------------------------------------------ the search
    def _bad_workers(self) -> np.ndarray:
        bad = self.ov > EPS
        if len(self.need):
            short = np.flatnonzero((self.cnt > 0).sum(axis=1) < self.need)
            if short.size:
                bad |= (self.cnt[short] > 1).any(axis=0)
        return np.flatnonzero(bad)

    def _swap_partners(self, a: int) -> np.ndarray:
        """Items of the workers with the most free capacity where ``a`` overflows, plus a few at random."""
        room = np.maximum(-self.E32, 0.0).reshape(self.B, -1)
        hot = self.E32[a].reshape(-1) > 0
        score = room[:, hot].sum(axis=1) if hot.any() else room.sum(axis=1)
        score[a] = -np.inf
        score[~self.ok.any(axis=0)] = -np.inf
        k = min(self.swap_workers, self.B - 1)
        if k <= 0:
            return np.empty(0, dtype=np.int64)
        top = np.argsort(-score, kind="stable")[:k]
        rest = np.setdiff1d(np.flatnonzero(np.isfinite(score)), top)
        extra = self.rng.choice(rest, size=min(rest.size, max(2, k // 3)), replace=False) if rest.size else []
        chosen = np.union1d(top[np.isfinite(score[top])], extra).astype(np.int64)
        return np.flatnonzero(np.isin(self.w_of, chosen))

    # ------------------------------------------------------------------ the pruned swap search
    def _prunes(self, members: np.ndarray, partners: np.ndarray) -> bool:
        """Whether :meth:`move` takes its swap from :meth:`_pruned_swap`: on a chance-constrained
        instance whose cross table is kept (the pairs are gathered from it, the same floats as the
        row blocks), when the swap matrix is large enough for the bound to pay."""
        calls, pairs, scored = self._pruned
        if calls >= PRUNE_WARMUP and scored > PRUNE_GIVE_UP * pairs:
            return False
        return (self.chance and len(members) * len(partners) * math.prod(self.L.shape[1:]) >= PRUNE_MIN_FLOATS
                and self._cross2 is not None)

    def _probe_columns(self, w: int, k: int) -> np.ndarray:
        """The ``k`` slot-resource columns (of the flattened ``[T * R]``) where worker ``w`` is
        fullest: the swaps' lower bound is taken there. Any columns give a valid bound; these make it
        tight for the swaps that matter (they relieve ``a`` where it overflows and must not overfill a
        partner where it is full)."""
        return np.argsort(-self.E32[w].reshape(-1), kind="stable")[:k]

    def _swap_pair_loads(self, p: dict, xs: np.ndarray, ys: np.ndarray):
        """:meth:`_chance_swap_rows` for the pairs ``(members[xs], partners[ys])`` only (``[q, T * R]``
        each): the same float32 operations in the same order, so each element equals the row
        blocks' (the cross terms gathered from the same table)."""
        TR = math.prod(self.L.shape[1:])
        table = self._cross2
        n_items = table.shape[0]
        mm2 = np.take(table.reshape(n_items * n_items, TR), p["members"][xs] * n_items + p["partners"][ys], axis=0)
        load_a = np.add(_flat(p["part_m"])[xs], _flat(p["part_p"])[ys])
        load_a -= mm2
        _risk_load(load_a, p["z_a"][xs, ys][:, None], _flat(p["base_a"])[xs], _flat(p["Dp"])[ys])
        load_b = _flat(p["cross_b"])[xs, p["inv"][ys]]
        load_b += _flat(p["rest_b"])[ys]
        load_b += _flat(p["own_m"])[xs]
        load_b -= mm2
        _risk_load(load_b, p["z_b"][xs, ys][:, None], _flat(p["base_b"])[ys], _flat(p["Dm"])[xs])
        return load_a, load_b

    def _swap_column_loads(self, p: dict, cols_a: np.ndarray, cols_b: np.ndarray):
        """:meth:`_chance_swap_rows` of every pair on a few flattened slot-resource columns only, the
        same operations: ``a``'s load on ``cols_a`` (``[m, n, ka]``) and the partner's worker's on its
        own columns ``cols_b[y]`` (``[m, n, kb]``)."""
        TR = math.prod(self.L.shape[1:])
        table = self._cross2.reshape(-1)
        n_items = self._cross2.shape[0]
        pick = (p["members"][:, None] * n_items + p["partners"][None, :]) * TR  # [m, n]
        mm2 = np.take(table, pick[..., None] + cols_a)
        load_a = np.add(_flat(p["part_m"])[:, cols_a][:, None], _flat(p["part_p"])[:, cols_a][None])
        load_a -= mm2
        _risk_load(load_a, p["z_a"][..., None], _flat(p["base_a"])[:, cols_a][:, None], _flat(p["Dp"])[:, cols_a][None])
        mm2 = np.take(table, pick[..., None] + cols_b[None])
        load_b = _flat(p["cross_b"])[:, p["inv"][:, None], cols_b]
        load_b += np.take_along_axis(_flat(p["rest_b"]), cols_b, axis=1)[None]
        load_b += _flat(p["own_m"])[:, cols_b]
        load_b -= mm2
        _risk_load(load_b, p["z_b"][..., None], np.take_along_axis(_flat(p["base_b"]), cols_b, axis=1)[None],
                   _flat(p["Dm"])[:, cols_b])
        return load_a, load_b

    def _pair_fits(self, a: int, members, partners, xs, ys, load_a, load_b) -> np.ndarray | None:
        """Hook: ``[q]`` pairs whose loads (``[q, T * R]``) pass a subclass's check, or ``None``."""
        return None

    def _pruned_swap(self, a: int, members: np.ndarray, partners: np.ndarray, total: float, best_total: float,
                     bar: float):
        """The best admissible swap, ``(score, (i, j))`` or ``(inf, None)``, as the full evaluation in
        :meth:`move` finds it whenever it beats ``bar`` (the best relocation, which wins ties).

        A lower bound of every pair's score is taken on a few slot-resource columns (a sum of
        positive parts over some columns is at most the sum over all); the pairs are then scored in
        full in order of their bound until the next bound exceeds the best score found (or ``bar``).
        The full scores are the floats of the row blocks, so the move is the same; the bound has a
        margin for float32 rounding of its sums."""
        m, n = len(members), len(partners)
        TR = math.prod(self.L.shape[1:])
        R = self.L.shape[-1]
        wp = self.w_of[partners]
        ok = self._swap_hard(a, members, partners)
        if not ok.any():
            return np.inf, None
        tabu = (self.tabu[members][:, wp] > self.step) | (self.tabu[partners, a][None, :] > self.step)
        spread = self._swap_spread(members, partners, a, wp) if len(self.need) else None
        cap_a, cap_b = (c.astype(np.float32) for c in self.swap_capacities(self.cap, a, members, partners))
        prep = self._swap_prep(a, members, partners)
        cols_a = self._probe_columns(a, PROBE_OWN)
        uw, inv = np.unique(wp, return_inverse=True)
        cols_b = np.stack([self._probe_columns(int(w), PROBE_PARTNER) for w in uw])[inv]  # [n, kb]
        la, lb = self._swap_column_loads(prep, cols_a, cols_b)
        la -= cap_a[..., cols_a % R]
        lb -= np.take_along_axis(cap_b, np.broadcast_to((cols_b % R)[None], (m,) + cols_b.shape), axis=2)
        np.maximum(la, 0.0, out=la)
        np.maximum(lb, 0.0, out=lb)
        part = la.sum(axis=-1, dtype=np.float64) + lb.sum(axis=-1, dtype=np.float64)  # [m, n]
        ov_a, ov_b = float(self.ov32[a]), self.ov32[wp].astype(np.float64)[None, :]
        bound = part * (1.0 - PRUNE_SLACK) - ov_a - ov_b - PRUNE_SLACK * (1.0 + ov_a + ov_b)
        if spread is not None:
            bound += spread
        xs, ys = np.nonzero(ok)
        bound = bound[xs, ys]
        order = np.argsort(bound, kind="stable")
        best, best_flat = np.inf, -1
        k, step = 0, 16
        self._pruned[0] += 1
        self._pruned[1] += order.size
        while k < order.size:
            limit = min(bar, best)
            chunk = order[k:k + step]
            k += step
            step *= 2
            chunk = chunk[bound[chunk] <= limit]
            if chunk.size == 0:
                break
            self._pruned[2] += chunk.size
            cx, cy = xs[chunk], ys[chunk]
            load_a, load_b = self._swap_pair_loads(prep, cx, cy)
            fits = self._pair_fits(a, members, partners, cx, cy, load_a, load_b)
            sa = _over_inplace(load_a.reshape(-1, 1, TR // R, R), -cap_a[cx, cy][:, None, None, :]).ravel() - self.ov32[a]
            sb = _over_inplace(load_b.reshape(-1, 1, TR // R, R), -cap_b[cx, cy][:, None, None, :]).ravel() \
                - self.ov32[wp[cy]]
            score = sa + sb
            if spread is not None:
                score += spread[cx, cy]  # in place, as `sw +=` in move: float32 like the full scores
            adm = ~tabu[cx, cy] | (total + score < best_total - EPS)
            if fits is not None:
                adm &= fits
            for q in np.flatnonzero(adm):
                f = int(cx[q]) * n + int(cy[q])
                if score[q] < best or (score[q] == best and f < best_flat):
                    best, best_flat = score[q], f
        if best_flat < 0:
            return np.inf, None
        x, y = divmod(best_flat, n)
        return best, (int(members[x]), int(partners[y]))

    def move(self, best_total: float) -> bool:
        """Apply the best admissible move from a random bad worker; False when there is none."""
        self.step += 1
        bad = self._bad_workers()
        if bad.size == 0:
            return False
        a = int(self.rng.choice(bad))
        members = np.flatnonzero(self.w_of == a)
        total = self.total()
        # A tabu move is admissible only when it gives the best infeasibility seen (aspiration).
        rel = self.relocation_scores(a, members)
        allowed = self.relocation_allowed(a, members)
        allowed &= (self.tabu[members] <= self.step) | (total + rel < best_total - EPS)
        rel = np.where(allowed, rel, np.inf)
        x_rel, b_rel = np.unravel_index(int(np.argmin(rel)), rel.shape)
        best_rel = rel[x_rel, b_rel]
        best_swap, swap = np.inf, None
        partners = self._swap_partners(a)
        if partners.size and self._prunes(members, partners):
            best_swap, swap = self._pruned_swap(a, members, partners, total, best_total, best_rel)
        elif partners.size:
            wp = self.w_of[partners]
            sw = self.swap_scores(a, members, partners)
            ok = self.swap_allowed(a, members, partners)
            tabu = (self.tabu[members][:, wp] > self.step) | (self.tabu[partners, a][None, :] > self.step)
            ok &= ~tabu | (total + sw < best_total - EPS)
            sw = np.where(ok, sw, np.inf)
            x_sw, y_sw = np.unravel_index(int(np.argmin(sw)), sw.shape)
            best_swap, swap = sw[x_sw, y_sw], (int(members[x_sw]), int(partners[y_sw]))
        if not np.isfinite(min(best_rel, best_swap)):
            return False
        tenure = int(self.rng.integers(5, 15))
        if best_swap < best_rel:
            i, j = swap
            b = int(self.w_of[j])
            self.relocate(i, b)
            self.relocate(j, a)
            self.tabu[i, a] = self.step + tenure
            self.tabu[j, b] = self.step + tenure
        else:
            i, b = int(members[x_rel]), int(b_rel)
            self.relocate(i, b)
            self.tabu[i, a] = self.step + tenure
        return True

    def insert(self, i: int, src: int) -> bool:
        """Move item ``i`` off closed worker ``src`` to the open worker where it adds the least
        infeasibility; False when no worker may take it."""
        allowed = self.relocation_allowed(src, np.array([i]))[0]
        if not allowed.any():
            return False
        score = self.relocation_scores(src, np.array([i]))[0]
        self.relocate(int(i), int(np.argmin(np.where(allowed, score, np.inf))))
        return True

    def run(self, budget: int, deadline: float, stall: int | None = None) -> tuple[bool, int]:
        """Repair up to ``budget`` moves (or until ``deadline``, or after ``stall`` moves in a row
        that did not lower the best infeasibility seen); (feasible, moves used)."""
        best = self.total()
        moves = since = 0
        while best > EPS and moves < budget and time.perf_counter() < deadline:
            if stall is not None and since >= stall:
                break
            if not self.move(best):
                break
            moves += 1
            now = self.total()
            since = 0 if now < best else since + 1
            best = min(best, now)
        return self.total() <= EPS, moves
