"""Spread the load over a fixed fleet: the same workers and server types, less load near capacity.

The cost searches stop as soon as a plan is valid, so many workers sit at their capacity in some
slot while others have room, and the overflow risk of a plan lives in those slots. This pass keeps
the fleet and moves items to minimise the load above a ``ceiling`` share of each worker's capacity,

    excess = sum_{w,t,r} max(0, load[w, t, r] - ceiling * capacity[w, r]) / unit_r

with the moves of the repair engine (:class:`~models.packing.repair.OverflowRepair` on capacities
scaled by the ceiling; headroom levels follow the items as there), restricted to moves that fit the
real capacity. Moves may break a spread rule on the way; only plans that keep every rule are kept.
(Without the restriction the search drifted through overfull plans and, on Huawei 500, found no
valid improvement in 300 moves.)
Server types do not change, so neither does the cost (the final compaction may still downsize).
"""

from __future__ import annotations

import time

import numpy as np

from models.packing.instance import PackingInstance
from models.packing.repair import EPS, OverflowRepair
from models.packing.solution import Packing, compact, is_valid, kinds_for, packing_cost, worker_state

__all__ = ["balance_load", "excess_above"]

_STUCK = 20  # draws in a row without an admissible move before the search stops
_PATIENCE = 300  # moves without a better valid plan before the search stops
_TOL = 1e-6  # float32 slack of the move filter (in server units); the final check is exact


class _Balancer(OverflowRepair):
    """The repair engine on capacities scaled by the ceiling, whose moves must also fit the real
    capacity (``real``, ``[worker, resource]``): the search walks through valid plans only."""

    def __init__(self, *args, real: np.ndarray, **kwargs):
        super().__init__(*args, **kwargs)
        self.real = np.asarray(real, dtype=float)

    def _fits(self, base: np.ndarray, add: np.ndarray | None, cap: np.ndarray) -> np.ndarray:
        """Whether ``base + add`` (``add=None``: ``base`` alone) fits ``cap``, per leading index. With
        no ``add`` the loads are not copied first: adding a float32 zero changes no value (a -0.0
        becomes +0.0, which sums and compares the same), so the answer is the same."""
        neg = -cap.astype(np.float32)[..., None, :]
        if add is None:
            return self.scratch.over(base, neg) <= _TOL
        return self.scratch.over(base, add, neg) <= _TOL

    def relocation_allowed(self, a: int, members: np.ndarray) -> np.ndarray:
        allowed = super().relocation_allowed(a, members)
        lvl = np.maximum(self.level[None, :], self.h[members][:, None])  # [m, B]
        cap = self.real[None] * (1.0 - lvl)[:, :, None]
        if self.chance:
            arrive = self.chance_relocation(a, members)[2]
            return allowed & self._fits(arrive, None, cap)
        return allowed & self._fits(self.L32[None], self.D32[members][:, None], cap)

    def swap_scores(self, a: int, members: np.ndarray, partners: np.ndarray) -> np.ndarray:
        if self.chance:  # the real-capacity check is made on the loads the scores are made of
            self._fit_key = (self.version, a, members.tobytes(), partners.tobytes())
            self._fit = np.empty((len(members), len(partners)), dtype=bool)
            self._fit_caps = self.swap_capacities(self.real, a, members, partners)
        return super().swap_scores(a, members, partners)

    def _swap_block(self, prep, rows, load_a, load_b) -> None:
        if self.chance:
            cap_a, cap_b = self._fit_caps
            self._fit[rows] = self._fits(load_a, None, cap_a[rows]) \
                & self._fits(load_b, None, cap_b[rows])

    def _pair_fits(self, a, members, partners, xs, ys, load_a, load_b) -> np.ndarray:
        # The pruned swap search (OverflowRepair._pruned_swap) checks the pairs it scores in full.
        key = (self.version, a, members.tobytes(), partners.tobytes())
        if getattr(self, "_pair_caps_key", None) != key:
            self._pair_caps_key, self._pair_caps = key, self.swap_capacities(self.real, a, members, partners)
        cap_a, cap_b = self._pair_caps
        shape = (len(xs),) + self.L.shape[1:]
        return self._fits(load_a.reshape(shape), None, cap_a[xs, ys]) \
            & self._fits(load_b.reshape(shape), None, cap_b[xs, ys])

    def swap_allowed(self, a: int, members: np.ndarray, partners: np.ndarray) -> np.ndarray:
        ok = super().swap_allowed(a, members, partners)
        Dm, Dp, wp = self.D32[members], self.D32[partners], self.w_of[partners]
        if self.chance:
            if getattr(self, "_fit_key", None) == (self.version, a, members.tobytes(), partners.tobytes()):
                return ok & self._fit
            cap_a, cap_b = self.swap_capacities(self.real, a, members, partners)
            load_a, load_b = self.chance_swap(a, members, partners)
            return ok & self._fits(load_a, None, cap_a) & self._fits(load_b, None, cap_b)
        cap_a, cap_b = self.swap_capacities(self.real, a, members, partners)
        ok &= self._fits((self.L32[a][None] - Dm)[:, None], Dp[None], cap_a)
        ok &= self._fits((self.L32[wp] - Dp)[None], Dm[:, None], cap_b)
        return ok


def excess_above(instance: PackingInstance, packing: Packing, ceiling: float) -> float:
    """The excess (module docstring) of ``packing``: load above ``ceiling`` x its workers' capacity,
    in units of the largest server, summed over workers, slots and resources."""
    unit = instance.capacity.max(axis=0)
    loads, stype, level, _ = worker_state(instance, packing, unit)
    cap = instance.capacity[stype] / unit * (1.0 - level)[:, None]
    return float(np.maximum(loads - ceiling * cap[:, None, :], 0.0).sum())


def balance_load(instance: PackingInstance, packing: Packing, deadline: float, moves: int = 2000,
                 ceiling: float = 0.9, seed: int = 0, stats: dict | None = None) -> Packing:
    """Up to ``moves`` moves (or until ``deadline``, ``time.perf_counter()``, or 300 moves without
    progress) that lower the excess above ``ceiling``; returns the best valid plan seen, never
    costlier than ``packing``. ``stats`` receives ``balance_*`` counters."""
    if not 0 < ceiling <= 1:
        raise ValueError(f"ceiling must be in (0, 1], got {ceiling}")
    t0 = time.perf_counter()
    it = instance.items()
    unit = instance.capacity.max(axis=0)
    _, stype, _, worker_class = worker_state(instance, packing, unit)
    type_cap = instance.capacity[stype] / unit[None, :]
    open_ = np.ones(len(stype), dtype=bool)
    repair = _Balancer(instance, unit, packing.item_worker, type_cap * ceiling, open_, worker_class,
                       np.random.default_rng(seed), real=type_cap)

    def over_real(w: int) -> bool:
        real = type_cap[w] * (1.0 - repair.level[w])
        return bool(np.any(repair.X[w] > real[None, :] * (1 + 1e-9) + 1e-12))

    start = repair.total()
    invalid = {w for w in range(len(stype)) if over_real(w)}
    best_seen = best_valid = start
    best_w_of = repair.w_of.copy()
    used = stuck = best_at = 0
    while used < moves and best_valid > EPS and time.perf_counter() < deadline:
        before = repair.w_of.copy()
        used += 1
        if not repair.move(best_seen):
            # The drawn worker has no admissible move (an isolated pool, tabu); draw another.
            stuck += 1
            if stuck >= _STUCK:
                break
            continue
        stuck = 0
        moved = np.flatnonzero(before != repair.w_of)
        for w in set(before[moved].tolist()) | set(repair.w_of[moved].tolist()):
            if over_real(w):
                invalid.add(w)
            else:
                invalid.discard(w)
        total = repair.total()
        best_seen = min(best_seen, total)
        if not invalid and repair.deficit() == 0 and total < best_valid - EPS:
            best_valid, best_w_of, best_at = total, repair.w_of.copy(), used
        elif used - best_at >= _PATIENCE:
            break
    result = packing
    if best_valid < start - EPS:
        level = np.zeros(len(stype))
        np.maximum.at(level, best_w_of, it.headroom)
        cand = Packing(best_w_of, kinds_for(instance, stype, level))
        if is_valid(instance, cand) and packing_cost(instance, cand) <= packing_cost(instance, packing) + 1e-9:
            result = compact(instance, cand)
    if stats is not None:
        stats.update(balance_moves=used, balance_s=time.perf_counter() - t0,
                     balance_excess_before=start, balance_excess_after=excess_above(instance, result, ceiling))
    return result
