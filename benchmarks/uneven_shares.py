"""Would uneven shard shares buy a cheaper fleet? (issue 15, plans against hindsight)

Today a sharded group is cut into n *equal* shards. Here the shares are free: for a fixed fleet
(server types, one per worker) and a fixed *level* per worker (the strictest tier it may hold,
which sets its headroom h_w and multiplier z_w), the fractions ``f[g, w] >= 0`` with
``sum_w f[g, w] = 1`` are chosen to minimise the largest load ratio

    lambda >= (sum_g f[g,w] mean[g,t,r] + z_w sqrt(s^T rho s)) / (C[w,r] (1 - h_w)),
    s_g = f[g,w] sigma[g,t,r],   every worker w, slot t, resource r,

the same pooled chance constraint the verifier (models/packing/verify.py) checks. The left side is
convex in f (mean linear, sqrt of a PSD quadratic a norm), so an LP with tangent cuts on the norm
(outer approximation, Kelley) gives a lower bound on lambda; the LP's f evaluated exactly gives an
upper bound; cuts are added at the violated (w, t, r) until the two agree within ``tol``. The
tangent of the 1-homogeneous norm at s0 is ``sqrt(s^T rho s) >= (rho s0)^T s / sqrt(s0^T rho s0)``.

A group may sit only on workers whose level is at least its tier's (then the worker's real
headroom and z, set by the groups present, are at most the level's: the level only over-states
the load). A customer with spread s is given a presence (its groups' shares >= ``delta``) on the
first s workers that accept it. Variants per fleet (``shard_limits``):

* ``split``: every group may be split over every worker that accepts it (a lower bound on what
  uneven shards can do; a spread customer may then sit on a second worker with a tiny share);
* ``size_uneven``: the groups sharded for size (alone larger than the largest server's usable
  capacity: app00091) over any number of workers with free shares, the others as today (a group
  sharded for its customer's spread in equal shards, the rest whole) -- the headline variant;
* ``shards``: each group on at most as many workers as the instance gives it shards today
  (PackingInstance.shard_counts), shares free; ``sharded_any``: every sharded group over any
  workers, shares free; ``two_each``: every group in up to two shards;
* ``equal_today`` / ``equal_k``: today's rule (equal shards, placement free), the groups sharded
  for size cut in k -- what the engine's own search could reach at best.

Every restricted variant is a MILP (binaries x[g, w] with delta x <= f <= x; f = x / n for equal
shards), cuts added between solves the same way.
The best level vector is searched over all vectors up to the symmetry of equal server types, the
split LP's bound pruning the MILPs. Any plan found is rechecked with find_violations.

Every fleet cheaper than the plan's peak week is tried, cheapest first; a fleet found feasible
in a variant is then checked on every week of the run (at the peak week's levels first) and priced
as the run's procurement prices the plan (monthly cost x weeks, the run's own scale), and the
actual demand (the hindsight instance's) is replayed on its shares per tier as
planner.backtest.replay measures overflow. The default (both pickles, every fleet and variant)
runs for an hour or more on a shared machine; docs/benchmarks.md ("Would uneven shard shares buy
the cheaper fleet?") gives the narrower commands measured.

    PLANNER_DATA is not needed: the script reads the pickled backtest results of session 14.
    python benchmarks/uneven_shares.py [--pickle PATH ...] [--fleet m-64,m-64,c-32,c-32] [--variants split,shards]
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import pickle
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.optimize import Bounds, LinearConstraint, linprog, milp

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from models.packing.verify import find_violations  # noqa: E402

PICKLES = ["/work/scratch/s14/bt300/origin-2026-12-28/result.pkl",
           "/work/scratch/s14/bt300/origin-2026-03-30/result.pkl"]


class ShareModel:
    """The share problem of one instance on one fleet with one level per worker."""

    def __init__(self, instance, fleet: list[int], levels: list[float], delta: float = 1e-3):
        self.inst = instance
        self.fleet = list(fleet)  # server-type index per worker
        self.levels = np.asarray(levels, dtype=float)  # headroom level per worker
        n_g, n_w = instance.n_groups, len(fleet)
        h_g = instance.headroom
        self.allowed = h_g[:, None] <= self.levels[None, :] + 1e-12  # [G, W]
        # z of a worker: the largest z of the groups it may hold (equal to its tier's z here: the
        # level is the strictest tier present, and z follows the tier).
        z_g = instance.risk_z
        self.z = np.array([z_g[self.allowed[:, w]].max(initial=0.0) for w in range(n_w)])
        cap = np.array([instance.server_types[k].capacity for k in fleet], dtype=float)
        self.limit = cap * (1.0 - self.levels[:, None])  # [W, R]
        self.pairs = np.argwhere(self.allowed)  # [P, 2] (g, w)
        self.delta = delta
        self.cuts: list[tuple[int, np.ndarray]] = []  # (row key w*T*R + t*R + r, coeff over groups)
        self.sigma = instance.sigma if instance.sigma is not None else np.zeros_like(instance.demand)
        if instance.sigma is None:  # a linear instance: the norm term is 0
            self.B, self.d = np.zeros((n_g, 0)), np.zeros(n_g)
        else:
            self.B, self.d = instance.loadings, instance.idio
        self.infeasible_reason = None
        ok = self.allowed.any(axis=1)
        if not ok.all():
            self.infeasible_reason = f"no worker accepts {instance.group_ids[int(np.flatnonzero(~ok)[0])]}"

    # ----------------------------------------------------------------- exact loads
    def shares(self, x: np.ndarray) -> np.ndarray:
        f = np.zeros(self.allowed.shape)
        f[self.pairs[:, 0], self.pairs[:, 1]] = x[: len(self.pairs)]
        return f

    def ratios(self, f: np.ndarray) -> np.ndarray:
        """Exact load / limit ``[W, T, R]`` of shares ``f [G, W]``."""
        inst = self.inst
        mean = np.einsum("gw,gtr->wtr", f, inst.demand)
        s = f.T[:, :, None, None] * self.sigma[None]  # [W, G, T, R]
        fac = np.einsum("gk,wgtr->wktr", self.B, s)
        var = np.einsum("wktr,wktr->wtr", fac, fac) + np.einsum("g,wgtr->wtr", self.d, s**2)
        load = mean + self.z[:, None, None] * np.sqrt(np.maximum(var, 0.0))
        return load / self.limit[:, None, :]

    def _cut(self, f_w: np.ndarray, t: int, r: int) -> np.ndarray:
        """Coefficients over groups of the tangent of sqrt(s^T rho s) at s = f_w sigma[:, t, r]."""
        sig = self.sigma[:, t, r]
        s0 = f_w * sig
        rs = self.B @ (self.B.T @ s0) + self.d * s0
        norm = float(np.sqrt(max(s0 @ rs, 0.0)))
        if norm <= 1e-12:
            return np.zeros_like(sig)
        return rs / norm * sig

    # ----------------------------------------------------------------- the LP / MILP
    def _matrices(self):
        inst = self.inst
        n_p, n_g = len(self.pairs), inst.n_groups
        _, n_t, n_r = inst.demand.shape
        # cut rows: sum_g f[g,w] (mean[g,t,r] + z_w a_g) / limit[w,r] - lambda <= 0
        keys = np.array([k for k, _ in self.cuts], dtype=int)
        coef = np.array([a for _, a in self.cuts])  # [C, G]
        w, rest = np.divmod(keys, n_t * n_r)
        t, r = np.divmod(rest, n_r)
        g_p, w_p = self.pairs[:, 0], self.pairs[:, 1]
        # entry (cut c, pair p) is non-zero only where w_p == w[c]
        vals = (inst.demand[g_p[None, :], t[:, None], r[:, None]] + self.z[w][:, None] * coef[:, g_p]) \
            / self.limit[w, r][:, None]
        vals = np.where(w_p[None, :] == w[:, None], vals, 0.0)
        a_ub = sp.hstack([sp.csr_matrix(vals), sp.csr_matrix(-np.ones((len(keys), 1)))], format="csr")
        a_eq = sp.csr_matrix((np.ones(n_p), (g_p, np.arange(n_p))), shape=(n_g, n_p + 1))
        return a_ub, np.zeros(len(keys)), a_eq

    def _spread_rows(self, n_cols: int):
        """Presence of each spread customer on the first s workers that accept all its groups:
        -sum_{g in c} f[g, w] <= -delta."""
        inst = self.inst
        rows, cols, vals, rhs = [], [], [], []
        row = 0
        for c, s in inst.customer_spread().items():
            if s <= 1:
                continue
            gs = [g for g in range(inst.n_groups) if inst.customer[g] == c]
            ok = [w for w in range(len(self.fleet)) if self.allowed[gs, w].any()]
            if len(ok) < s:
                return None, f"customer {c} needs {s} workers, {len(ok)} accept it"
            for w in ok[:s]:
                for p, (g, ww) in enumerate(self.pairs):
                    if ww == w and inst.customer[g] == c:
                        rows.append(row), cols.append(p), vals.append(-1.0)
                rhs.append(-self.delta)
                row += 1
        return (sp.csr_matrix((vals, (rows, cols)), shape=(row, n_cols)), np.array(rhs)), None

    def _seed_cuts(self):
        """One cut per (w, t, r) at the worker holding every group it accepts (f = 1)."""
        _, n_t, n_r = self.inst.demand.shape
        for w in range(len(self.fleet)):
            f_w = self.allowed[:, w].astype(float)
            for t in range(n_t):
                for r in range(n_r):
                    self.cuts.append(((w * n_t + t) * n_r + r, self._cut(f_w, t, r)))

    def solve(self, shards: np.ndarray | None = None, equal: np.ndarray | None = None, tol: float = 1e-6,
              max_rounds: int = 60, time_limit: float = 60.0, stop_above: float | None = None) -> dict:
        """Minimise lambda. ``shards`` (per group, the most workers it may use) makes it the MILP;
        ``equal`` (per group, bool) puts those groups in exactly ``shards`` equal shards (today's rule).

        Returns ``lower`` (the relaxation's lambda: no shares do better), ``upper`` (the exact
        largest ratio of the shares found), ``f`` (shares [G, W]), ``rounds``, ``status``.
        ``stop_above``: stop once ``lower`` exceeds it (a pruned level vector)."""
        if self.infeasible_reason:
            return {"lower": np.inf, "upper": np.inf, "f": None, "rounds": 0, "status": self.infeasible_reason}
        if not self.cuts:
            self._seed_cuts()
        n_p = len(self.pairs)
        _, n_t, n_r = self.inst.demand.shape
        best = {"lower": -np.inf, "upper": np.inf, "f": None, "rounds": 0, "status": "rounds"}
        for rnd in range(1, max_rounds + 1):
            a_ub, b_ub, a_eq = self._matrices()
            spread, why = self._spread_rows(n_p + 1)
            if spread is None:
                return {**best, "lower": np.inf, "status": why}
            a_ub = sp.vstack([a_ub, spread[0]])
            b_ub = np.concatenate([b_ub, spread[1]])
            x = self._solve_once(a_ub, b_ub, a_eq, shards, equal, time_limit)
            if x is None:
                return {**best, "lower": np.inf, "status": "lp infeasible"}
            lam, lam_bound, x = x
            f = self.shares(x)
            ratio = self.ratios(f)
            up = float(ratio.max())
            best["lower"] = max(best["lower"], lam_bound)
            if up < best["upper"]:
                best.update(upper=up, f=f)
            best["rounds"] = rnd
            if best["upper"] <= best["lower"] + tol:
                best["status"] = "converged"
                break
            if stop_above is not None and best["lower"] > stop_above:
                best["status"] = "pruned"
                break
            # cuts where the exact ratio exceeds the LP's lambda (the worst few per worker)
            added = 0
            for w in range(len(self.fleet)):
                viol = np.argwhere(ratio[w] > lam + tol)
                if len(viol) == 0:
                    continue
                order = np.argsort(-ratio[w][viol[:, 0], viol[:, 1]])[:200]
                for t, r in viol[order]:
                    self.cuts.append(((w * n_t + t) * n_r + r, self._cut(f[:, w], t, r)))
                    added += 1
            if added == 0:
                best["status"] = "converged"
                break
        return best

    def _solve_once(self, a_ub, b_ub, a_eq, shards, equal, time_limit):
        n_p = len(self.pairs)
        n_g = self.inst.n_groups
        if shards is None:
            c = np.zeros(n_p + 1)
            c[-1] = 1.0
            res = linprog(c, A_ub=a_ub, b_ub=b_ub, A_eq=a_eq, b_eq=np.ones(n_g),
                          bounds=[(0, 1)] * n_p + [(0, None)], method="highs")
            if res.status != 0:
                return None
            return float(res.x[-1]), float(res.x[-1]), res.x
        # MILP: columns f (P), lambda, x (P binaries); f <= x, f >= delta x, sum_w x[g, w] <= shards[g]
        n = 2 * n_p + 1
        c = np.zeros(n)
        c[n_p] = 1.0
        pad = lambda m: sp.hstack([m, sp.csr_matrix((m.shape[0], n - m.shape[1]))])  # noqa: E731
        eye = sp.identity(n_p, format="csr")
        link_hi = sp.hstack([eye, sp.csr_matrix((n_p, 1)), -eye])  # f - x <= 0
        link_lo = sp.hstack([-eye, sp.csr_matrix((n_p, 1)), 1e-4 * eye])  # 1e-4 x - f <= 0
        count = sp.csr_matrix((np.ones(n_p), (self.pairs[:, 0], n_p + 1 + np.arange(n_p))), shape=(n_g, n))
        cons = [LinearConstraint(pad(a_ub), -np.inf, b_ub),
                LinearConstraint(pad(a_eq), 1.0, 1.0),
                LinearConstraint(link_hi, -np.inf, 0.0), LinearConstraint(link_lo, -np.inf, 0.0),
                LinearConstraint(count, 1.0, np.asarray(shards, dtype=float))]
        if equal is not None and np.any(equal):
            shards = np.asarray(shards, dtype=float)
            cons.append(LinearConstraint(count[np.flatnonzero(equal)], shards[equal], shards[equal]))
            ps = np.flatnonzero(np.asarray(equal)[self.pairs[:, 0]])  # f = x / n for their pairs
            eq = sp.csr_matrix((np.r_[np.ones(len(ps)), -1.0 / shards[self.pairs[ps, 0]]],
                                (np.r_[np.arange(len(ps)), np.arange(len(ps))], np.r_[ps, n_p + 1 + ps])),
                               shape=(len(ps), n))
            cons.append(LinearConstraint(eq, 0.0, 0.0))
        integrality = np.r_[np.zeros(n_p + 1), np.ones(n_p)]
        bounds = Bounds(np.zeros(n), np.r_[np.ones(n_p), np.inf, np.ones(n_p)])
        res = milp(c, constraints=cons, integrality=integrality, bounds=bounds,
                   options={"time_limit": time_limit, "disp": False, "mip_rel_gap": 1e-6})
        if res.x is None:
            return None
        bound = float(getattr(res, "mip_dual_bound", res.x[n_p]) or res.x[n_p])
        return float(res.x[n_p]), bound, res.x[: n_p + 1]

    def assignment(self, f: np.ndarray, min_share: float = 1e-9) -> pd.DataFrame:
        """The shares as a verifier assignment frame (rows with a share above ``min_share``,
        renormalised per group)."""
        inst = self.inst
        f = np.where(f > min_share, f, 0.0)
        f = f / f.sum(axis=1, keepdims=True)
        rows = []
        for g, w in np.argwhere(f > 0):
            rows.append({"group_id": inst.group_ids[g], "fraction": float(f[g, w]), "worker_id": f"w{w:03d}",
                         "server_type": inst.server_types[self.fleet[w]].name})
        frame = pd.DataFrame(rows)
        frame["shard"] = frame.groupby("group_id").cumcount()
        return frame


def level_vectors(instance, fleet: list[int]):
    """Every level vector up to the symmetry of equal server types, with enough workers at each
    level for the spread rule (a customer with spread s needs s workers at its tier or above)."""
    levels = sorted(set(float(h) for h in instance.headroom))
    need = {}
    for c, s in instance.customer_spread().items():
        h = max(instance.headroom[g] for g in range(instance.n_groups) if instance.customer[g] == c)
        need[h] = max(need.get(h, 1), s)
    need[max(levels)] = max(need.get(max(levels), 1), 1)
    types = sorted(set(fleet))
    per_type = []
    for k in types:
        n = fleet.count(k)
        per_type.append(list(itertools.combinations_with_replacement(levels, n)))
    for combo in itertools.product(*per_type):
        order, lv = [], []
        for k, ls in zip(types, combo):
            order += [k] * len(ls)
            lv += list(ls)
        if all(sum(1 for v in lv if v >= h - 1e-12) >= s for h, s in need.items()):
            yield order, lv


def quick_bound(instance, model: ShareModel) -> float:
    """A lower bound on lambda without an LP: summed over workers, load <= lambda * limit, and the
    workers' pooled spreads add up to at least the whole fleet's (the norm's triangle inequality),
    so lambda >= max_{t,r} (sum_g mean + z_min ||sigma_t||_rho) / sum_w limit_w."""
    sig = model.sigma
    fac = np.einsum("gk,gtr->ktr", model.B, sig)
    sd = np.sqrt(np.einsum("ktr,ktr->tr", fac, fac) + np.einsum("g,gtr->tr", model.d, sig**2))
    load = instance.demand.sum(axis=0) + model.z.min() * sd
    return float((load / model.limit.sum(axis=0)[None, :]).max())


_SPLIT: dict = {}  # (id(instance), worker types, levels) -> (split LP result, its model)


def best_levels(instance, fleet: list[int], shards=None, tol=1e-4, time_limit=60.0, log=None,
                vectors=None, equal=None):
    """The smallest max-load ratio over level vectors: ``(result, levels, model)``. The split LP
    of each vector runs first, skipped where the quick bound cannot beat the best so far; with
    ``shards`` the MILP then runs only where the LP's bound beats the best MILP so far."""
    scored, best = [], None
    vectors = list(level_vectors(instance, fleet)) if vectors is None else vectors
    models = [(order, lv, ShareModel(instance, order, lv)) for order, lv in vectors]
    models.sort(key=lambda x: quick_bound(instance, x[2]))
    for order, lv, m in models:
        if best is not None and quick_bound(instance, m) >= best[0]["upper"] - tol:
            continue
        key = (id(instance), tuple(order), tuple(lv))
        if key not in _SPLIT:  # the split LP of a vector is shared by every variant
            _SPLIT[key] = (m.solve(tol=tol, stop_above=None if best is None else best[0]["upper"]), m)
        res, m = _SPLIT[key]
        scored.append((res["lower"], res, order, lv, m))
        if best is None or res["upper"] < best[0]["upper"]:
            best = (res, lv, m)
    if shards is None:
        return best
    scored.sort(key=lambda s: s[0])
    best = None
    for lower, res, order, lv, m in scored:
        if best is not None and lower >= best[0]["upper"] - tol:
            break
        m2 = ShareModel(instance, order, lv)
        m2.cuts = list(m.cuts)
        res = m2.solve(shards=shards, equal=equal, tol=tol, time_limit=time_limit,
                       stop_above=None if best is None else best[0]["upper"])
        if log:
            log(f"    levels {lv}: shards lower {res['lower']:.4f} upper {res['upper']:.4f} ({res['status']}, "
                f"{res['rounds']} rounds)")
        if best is None or res["upper"] < best[0]["upper"]:
            best = (res, lv, m2)
    return best


def fleets_below(instance, cost_cap: float, max_servers: int = 6):
    """Multisets of server types costing less than ``cost_cap`` a month, cheapest first."""
    types = instance.server_types
    out = []
    for n in range(1, max_servers + 1):
        for combo in itertools.combinations_with_replacement(range(len(types)), n):
            cost = sum(types[k].cost for k in combo)
            if cost < cost_cap - 1e-9:
                out.append((cost, list(combo)))
    out.sort(key=lambda x: (x[0], len(x[1])))
    return out


def fleet_name(instance, fleet) -> str:
    names = [instance.server_types[k].name for k in fleet]
    return " + ".join(f"{names.count(n)} x {n}" for n in sorted(set(names), key=names.index))


def verify(model: ShareModel, f: np.ndarray):
    frame = model.assignment(f)
    return frame, find_violations(model.inst, frame)


def shard_limits(instance, n_workers: int) -> dict[str, tuple]:
    """Per variant, ``(shards, equal)``: the most workers each group may use (None: any, the split
    LP) and which groups are cut in exactly that many equal shards (None: shares free)."""
    n = instance.shard_counts()
    big = n > 1
    out = {"split": (None, None),
           "shards": (n, None),  # today's shard counts, shares free
           "sharded_any": (np.where(big, n_workers, 1), None),  # a sharded group over any workers
           "two_each": (np.maximum(n, 2), None)}  # every group in up to two shards
    # today's rule (equal shards, placement free) with the groups sharded for size (not for a
    # customer's spread) cut in k
    usable = instance.capacity.max(axis=0)[None, :] * (1.0 - instance.headroom)[:, None]
    for_size = (instance.standalone().max(axis=1) / usable).max(axis=1) > 1.0
    # the groups sharded for size over any workers with free shares; the others as today (a group
    # split for its customer's spread in equal shards, the rest whole)
    out["size_uneven"] = (np.where(for_size, n_workers, n), big & ~for_size)
    out["equal_today"] = (n, big)
    for k in range(3, n_workers + 1):
        out[f"equal_{k}"] = (np.where(for_size, k, n), big)
    return out


def week_costs(run) -> list[float]:
    """Monthly cost of each week's planned fleet."""
    out = []
    for wp in run.weeks:
        price = {s.name: s.cost for s in wp.instance.server_types}
        frame = wp.result.assignment_frame()
        out.append(float(sum(price[t] for t in frame.groupby("worker_id")["server_type"].first())))
    return out


def open_fleet(instance):
    """The instance without ``max_count``: the weeks after the peak week are packed on the peak
    week's fleet (max_count set to it), and here the fleet is the one under test."""
    types = tuple(dataclasses.replace(s, max_count=None) for s in instance.server_types)
    return dataclasses.replace(instance, server_types=types)


def standalone_need(instance) -> float:
    """The week's largest hourly sum of every group's own ``mean + z sigma``, in units of the
    largest server (the peak week is the one with the largest)."""
    load = instance.standalone().sum(axis=0)  # [T, R]
    return float((load / instance.capacity.max(axis=0)[None, :]).max())


def run_origin(path: str, fleets: list[list[str]] | None, variants: list[str], time_limit: float, log) -> list[dict]:
    with open(path, "rb") as fh:
        r = pickle.load(fh)
    wps = [dataclasses.replace(wp, instance=open_fleet(wp.instance)) for wp in r.run.weeks]
    plan_cost = week_costs(r.run)
    peak = int(np.argmax([standalone_need(wp.instance) for wp in wps]))
    inst = wps[peak].instance
    name_to_k = {s.name: k for k, s in enumerate(inst.server_types)}
    cost, hind = r.costs["cost"], r.costs["hindsight_cost"]
    scale = cost / sum(plan_cost)  # the run's cost per (monthly fleet cost x week)
    log(f"origin {r.origin.date()}: plan {cost:,.0f} / hindsight {hind:,.0f} = {cost / hind:.3f}; "
        f"peak week {wps[peak].week} ({wps[peak].start.date()}) on {plan_cost[peak]:,.0f} a month")
    if fleets:
        cands = [(sum(inst.server_types[name_to_k[n]].cost for n in fl), [name_to_k[n] for n in fl]) for fl in fleets]
    else:
        cands = fleets_below(inst, plan_cost[peak])
    out, feasible_at = [], {}
    for fcost, fleet in cands:
        cap = sum(np.asarray(inst.server_types[k].capacity) for k in fleet)
        if (inst.demand.sum(axis=0) > cap[None, :]).any():  # the mean alone does not fit
            continue
        if next(level_vectors(inst, fleet), None) is None:  # too few workers for the spread rule
            continue
        if all(v in feasible_at for v in variants):
            break  # every variant holds the week on a cheaper fleet
        t0 = time.perf_counter()
        row = {"origin": str(r.origin.date()), "fleet": fleet_name(inst, fleet), "monthly": fcost}
        for variant, (shards, equal) in shard_limits(inst, len(fleet)).items():
            if variant not in variants:
                continue
            if variant != "split" and row["split_ratio"] > 1.0 + 1e-6:
                continue  # no restriction of the split LP can do better
            if variant != "split" and variant in feasible_at and fcost > feasible_at[variant]:
                continue  # a cheaper fleet already holds the week in this variant
            res, lv, m = best_levels(inst, fleet, shards=shards, equal=equal, time_limit=time_limit)
            ok = res["upper"] <= 1.0 + 1e-6
            viol = verify(m, res["f"])[1] if (res["f"] is not None and ok) else None
            feasible = bool(ok and not viol)
            row[f"{variant}_ratio"] = res["upper"]
            row[f"{variant}_lower"] = res["lower"]
            row[f"{variant}_feasible"] = feasible
            worst = ""
            if res["f"] is not None:
                w, t, rr = np.unravel_index(np.argmax(m.ratios(res["f"])),
                                            (len(fleet), len(inst.slots), len(inst.resources)))
                worst = (f"{inst.server_types[m.fleet[w]].name} at level {m.levels[w]:g}, {inst.slots[t]} "
                         f"{inst.resources[rr]}")
            row[f"{variant}_worst"] = worst
            top = ""
            if res["f"] is not None and feasible:  # the largest group's shares
                g = int(np.argmax(inst.standalone().max(axis=1).max(axis=1)))
                top = f", {inst.group_ids[g]} shares " + " / ".join(
                    f"{inst.server_types[m.fleet[w]].name}@{m.levels[w]:g} {res['f'][g, w]:.3f}"
                    for w in range(len(fleet)) if res["f"][g, w] > 0)
            log(f"  {row['fleet']} ({fcost:,.0f} a month) {variant}: min max-load ratio {res['upper']:.4f} "
                f"(bound {res['lower']:.4f}), levels {lv}, worst {worst}; feasible {feasible}"
                + ("" if viol is None else f", verifier violations {len(viol)}") + top)
            if feasible:
                feasible_at[variant] = fcost
                row.update(check_weeks(r, wps, fleet, shards is not None, variant, lv, m, fcost, scale, hind,
                                       time_limit, log))
        row["seconds"] = round(time.perf_counter() - t0, 1)
        out.append(row)
    return out


def check_weeks(r, wps, fleet, restricted, variant, lv_peak, m_peak, fcost, scale, hind, time_limit, log) -> dict:
    """Every week of the run on the same fleet (the plan holds one fleet a quarter): first at the
    peak week's levels, else over every level vector."""
    worst_week, fails, plans = 0.0, [], []
    for wp in wps:
        inst = wp.instance
        shards, equal = shard_limits(inst, len(fleet))[variant]
        res = best_levels(inst, fleet, shards=shards, equal=equal, time_limit=time_limit,
                          vectors=[(m_peak.fleet, list(lv_peak))])
        if res[0]["upper"] > 1.0 + 1e-6:
            res = best_levels(inst, fleet, shards=shards, equal=equal, time_limit=time_limit)
        ok = res[0]["upper"] <= 1.0 + 1e-6 and not verify(res[2], res[0]["f"])[1]
        if not ok:
            fails.append(wp.week)
        worst_week = max(worst_week, res[0]["upper"])
        plans.append((wp, res[2], res[0]["f"]))
    new_cost = fcost * len(wps) * scale
    tiers = replay_actuals(r, plans)
    log(f"    every week on it ({variant}): worst ratio {worst_week:.4f}, weeks failing {fails or 'none'}; "
        f"cost {new_cost:,.0f} / hindsight {hind:,.0f} = {new_cost / hind:.3f} (plan {r.costs['cost_vs_hindsight']}); "
        "actual demand replayed: " + "; ".join(
            f"{t} {v['share']:.4%} of {v['hours']:,} slot-hours over (target {v['target']:g}), "
            f"worst load {v['worst']:.3f}"
            for t, v in tiers.items()))
    return {f"{variant}_all_weeks_ratio": worst_week, f"{variant}_failing_weeks": fails,
            f"{variant}_vs_hindsight": new_cost / hind if not fails else None}


TIER_TARGET = {"premium": 0.001, "standard": 0.01, "economy": 0.05}  # the default tiers' overflow_risk


def replay_actuals(r, plans) -> dict:
    """The actual hourly demand of each week (the hindsight plan's instance: actual = mean =
    every quantile) on the share plans: per tier, the share of its workers' slot-hours whose load
    exceeds the physical capacity in some resource (planner.backtest.replay's measure, each worker
    counted once per tier and week) and the worst load / capacity."""
    tier_of = dict(zip(r.run.groups["group_id"].astype(str), r.run.groups["tier"].astype(str)))
    hind = {hw.week: hw.instance for hw in r.hindsight.weeks}
    acc: dict = {}
    for wp, m, f in plans:
        inst, act = wp.instance, hind[wp.week]
        a_idx = {g: i for i, g in enumerate(act.group_ids)}
        s_idx = [act.slots.index(t) for t in inst.slots]
        cube = np.zeros(inst.demand.shape)
        for g, gid in enumerate(inst.group_ids):
            if gid in a_idx:
                cube[g] = act.demand[a_idx[gid]][s_idx][:, [act.resources.index(x) for x in inst.resources]]
        cap = np.array([inst.server_types[k].capacity for k in m.fleet], dtype=float)
        worst = (np.einsum("gw,gtr->wtr", f, cube) / cap[:, None, :]).max(axis=2)  # [W, T]
        for w in range(len(m.fleet)):
            for t in {tier_of.get(inst.group_ids[g], "?") for g in np.flatnonzero(f[:, w] > 0)}:
                v = acc.setdefault(t, {"hours": 0, "over": 0, "worst": 0.0})
                v["hours"] += worst.shape[1]
                v["over"] += int((worst[w] > 1.0 + 1e-9).sum())
                v["worst"] = max(v["worst"], float(worst[w].max()))
    return {t: {**v, "share": v["over"] / v["hours"], "target": TIER_TARGET.get(t, np.nan)}
            for t, v in sorted(acc.items())}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--pickle", nargs="*", default=PICKLES)
    ap.add_argument("--fleet", action="append", help="comma-separated server types; default every fleet cheaper "
                    "than the plan's peak week")
    ap.add_argument("--variants", default="split,size_uneven,shards,sharded_any,two_each,equal_today,equal_3,equal_4")
    ap.add_argument("--time-limit", type=float, default=60.0, help="seconds per MILP solve")
    args = ap.parse_args(argv)
    fleets = [f.split(",") for f in args.fleet] if args.fleet else None
    rows = []
    for path in args.pickle:
        rows += run_origin(path, fleets, args.variants.split(","), args.time_limit, lambda s: print(s, flush=True))
    table = pd.DataFrame(rows)
    cols = ["origin", "fleet", "monthly"] + [c for c in table.columns if c.endswith(("_ratio", "_vs_hindsight"))]
    with pd.option_context("display.width", 250, "display.max_columns", 30, "display.float_format", "{:.4f}".format):
        print(table[cols + ["seconds"]].to_string(index=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
