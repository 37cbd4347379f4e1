"""Deferrable work: reshape a lax group's slot demand inside its deadline window (an LP).

Work arriving in slot ``t`` (the demand vector ``D[g, t, :]``) may run in slots ``t .. t + L[g]``.
A flow ``f[g, t, k] >= 0`` is the fraction of slot ``t``'s work run ``k`` slots later:

    sum_k f[g, t, k] = 1                                   work conserved, never dropped
    E[g, s, r] = sum_{t + k = s} f[g, t, k] * D[g, t, r]   executed demand (never before arrival,
                                                           never after t + L[g]: k in 0..L[g])
    E[g, s, r] <= max_t D[g, t, r]                         at most the group's peak rate

One flow moves every resource of a slot together (the instances that run the work hold its memory).
Objectives:

* ``own``: minimise each group's own peaks, ``sum_{g,r} max_s E[g, s, r] / max_t D[g, t, r]`` (the
  "flatten each lax group" pre-pass);
* ``joint``: minimise ``z`` with ``(background[s, r] + sum_g E[g, s, r]) / capacity[r] <= z``: fill the
  valleys beside fixed load (the strict groups of the fleet, or of one worker), then ``own`` as a
  tie-break.

A tiny cost per slot of delay keeps work where it is unless moving it lowers a peak, so the LP's
answer does not depend on solver internals (HiGHS through scipy, one thread, deterministic).

:func:`check_reshape` is the independent check (cumulative sums per resource, no flow needed): it is
what :func:`models.packing.verify.find_violations` runs for an instance that carries a
:class:`Deferral`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

__all__ = ["Reshape", "reshape_lax", "apply_flows", "moved_work", "Deferral", "check_reshape", "DELAY_COST"]

DELAY_COST = 1e-6  # per slot of delay and unit of work share: breaks ties towards not moving
OWN_WEIGHT = 1e-3  # weight of the groups' own peaks under the joint objective


@dataclass(frozen=True)
class Reshape:
    """An LP reshaping: ``demand`` ``[G, T, R]`` after the move, ``flows[g]`` a ``T x T`` sparse
    matrix (``F[t, s]`` share of slot ``t``'s work run in slot ``s``; ``None`` for unmoved groups),
    the objective and the solver's status."""

    demand: np.ndarray
    flows: list
    objective: float
    status: str


def reshape_lax(demand: np.ndarray, window: np.ndarray, *, objective: str = "own",
                background: np.ndarray | None = None, capacity: np.ndarray | None = None,
                slot_cost: np.ndarray | None = None) -> Reshape:
    """Solve the reshaping LP for the groups with ``window[g] >= 1`` (others are left as they are).

    Args:
        demand: ``[G, T, R]`` planned demand per group, slot and resource (>= 0).
        window: ``[G]`` slots of delay allowed (0: strict, never moved).
        objective: ``own`` or ``joint`` (module docstring).
        background: ``[T, R]`` fixed load beside the groups (``joint`` only; default zero).
        capacity: ``[R]`` scale of each resource in the ``joint`` objective (default: peak of the total).
        slot_cost: ``[T]`` cost, in the objective's units, of one unit of the first resource's demand
            run in each slot (e.g. the carbon of the hour at a carbon price, issue 17): work then
            moves towards cheap slots where its window and the peaks allow. Default none.

    Raises:
        ValueError: shapes disagree, negative demand or window, or an unknown objective.
        RuntimeError: the LP failed (it is always feasible: leaving the work in place is a solution).
    """
    demand = np.asarray(demand, dtype=float)
    window = np.asarray(window, dtype=np.int64)
    n_g, n_t, n_r = demand.shape
    if window.shape != (n_g,) or (window < 0).any():
        raise ValueError(f"window needs one value >= 0 per group ({n_g}), got {window}")
    if (demand < 0).any() or not np.isfinite(demand).all():
        raise ValueError("demand must be finite and >= 0")
    if objective not in ("own", "joint"):
        raise ValueError(f"objective must be 'own' or 'joint', got {objective!r}")
    flows: list = [None] * n_g
    out = demand.copy()
    peak = demand.max(axis=1)  # [G, R]
    movable = [g for g in range(n_g) if window[g] >= 1 and peak[g].max() > 0]
    if not movable:
        return Reshape(out, flows, 0.0, "nothing to move")
    if objective == "own":  # separable: one small LP per group
        total = 0.0
        for g in movable:
            value, share, f_t, s_of = _solve_lp(demand, window, [g], "own", None, None, slot_cost=slot_cost)
            total += value
            _store(demand, out, flows, g, share, f_t, s_of)
        return Reshape(out, flows, total, "optimal")
    value, share, f_g, f_t, s_of = _solve_lp(demand, window, movable, "joint", background, capacity, with_group=True,
                                             slot_cost=slot_cost)
    for g in movable:
        sel = f_g == g
        _store(demand, out, flows, g, share[sel], f_t[sel], s_of[sel])
    return Reshape(out, flows, value, "optimal")


def _store(demand, out, flows, g, share, f_t, s_of) -> None:
    n_t = demand.shape[1]
    flow = sp.csr_matrix((share, (f_t, s_of)), shape=(n_t, n_t))
    idle = np.flatnonzero(demand[g].sum(axis=1) == 0)  # no work: identity rows for other cubes
    flow = flow + sp.csr_matrix((np.ones(len(idle)), (idle, idle)), shape=(n_t, n_t))
    flows[g] = flow.tocsr()
    out[g] = flows[g].T @ demand[g]


def _solve_lp(demand, window, movable, objective, background, capacity, with_group=False, slot_cost=None):
    """Build and solve the LP over the ``movable`` groups; the flow shares, normalised per arrival slot."""
    from scipy.optimize import linprog

    n_g, n_t, n_r = demand.shape
    peak = demand.max(axis=1)
    # Variables: flow shares, then each group's own peaks, then z (joint).
    f_g, f_t, f_k = [], [], []
    for g in movable:
        active = np.flatnonzero(demand[g].sum(axis=1) > 0)
        for k in range(int(window[g]) + 1):
            t = active[active + k < n_t]
            f_g.append(np.full(len(t), g))
            f_t.append(t)
            f_k.append(np.full(len(t), k))
    f_g, f_t, f_k = np.concatenate(f_g), np.concatenate(f_t), np.concatenate(f_k)
    n_f = len(f_g)
    pr = [(g, r) for g in movable for r in range(n_r) if peak[g, r] > 0]
    p_index = {gr: n_f + i for i, gr in enumerate(pr)}
    z_col = n_f + len(pr)
    n_var = z_col + (1 if objective == "joint" else 0)

    c = np.zeros(n_var)
    c[:n_f] = DELAY_COST * f_k
    if slot_cost is not None:  # the cost of running the work where it lands (carbon at a price)
        cost = np.asarray(slot_cost, dtype=float)
        if cost.shape != (n_t,):
            raise ValueError(f"slot_cost needs one value per slot ({n_t}), got shape {cost.shape}")
        c[:n_f] += cost[f_t + f_k] * demand[f_g, f_t, 0]
    own_w = 1.0 if objective == "own" else OWN_WEIGHT
    for (g, r), j in p_index.items():
        c[j] = own_w / peak[g, r]
    if objective == "joint":
        c[z_col] = 1.0

    # Conservation: one row per (group, arrival slot).
    key = f_g * n_t + f_t
    rows_eq, eq_index = np.unique(key, return_inverse=True)
    a_eq = sp.csr_matrix((np.ones(n_f), (eq_index, np.arange(n_f))), shape=(len(rows_eq), n_var))
    b_eq = np.ones(len(rows_eq))

    # Executed demand of (g, s, r) minus the group's peak variable <= 0.
    s_of = f_t + f_k
    ub_rows, ub_cols, ub_vals, b_ub = [], [], [], []
    row = 0
    for r in range(n_r):
        w = demand[f_g, f_t, r]
        sel = w > 0
        gs = f_g[sel] * n_t + s_of[sel]
        uniq, inv = np.unique(gs, return_inverse=True)
        ub_rows.append(row + inv)
        ub_cols.append(np.flatnonzero(sel))
        ub_vals.append(w[sel])
        peaks = np.array([p_index[(int(u // n_t), r)] for u in uniq], dtype=np.int64)
        ub_rows.append(row + np.arange(len(uniq)))
        ub_cols.append(peaks)
        ub_vals.append(-np.ones(len(uniq)))
        b_ub.append(np.zeros(len(uniq)))
        row += len(uniq)
    if objective == "joint":
        bg = np.zeros((n_t, n_r)) if background is None else np.asarray(background, dtype=float)
        if bg.shape != (n_t, n_r):
            raise ValueError(f"background must be [slots, resources] = {(n_t, n_r)}, got {bg.shape}")
        fixed = bg + demand[[g for g in range(n_g) if g not in set(movable)]].sum(axis=0)
        cap = (np.asarray(capacity, dtype=float) if capacity is not None
               else np.maximum((fixed + demand[movable].sum(axis=0)).max(axis=0), 1e-12))
        for r in range(n_r):
            w = demand[f_g, f_t, r]
            ub_rows.append(row + s_of)
            ub_cols.append(np.arange(n_f))
            ub_vals.append(w)
            ub_rows.append(row + np.arange(n_t))
            ub_cols.append(np.full(n_t, z_col))
            ub_vals.append(np.full(n_t, -cap[r]))
            b_ub.append(-fixed[:, r])
            row += n_t
    a_ub = sp.csr_matrix((np.concatenate(ub_vals), (np.concatenate(ub_rows), np.concatenate(ub_cols))),
                         shape=(row, n_var))
    bounds = [(0.0, None)] * n_f + [(0.0, peak[g, r]) for g, r in pr] + ([(0.0, None)] if objective == "joint" else [])
    res = linprog(c, A_ub=a_ub, b_ub=np.concatenate(b_ub), A_eq=a_eq, b_eq=b_eq, bounds=bounds, method="highs",
                  options={"presolve": True})
    if res.status != 0 or res.x is None:
        raise RuntimeError(f"deferral LP failed: {res.message}")
    share = np.clip(res.x[:n_f], 0.0, None)
    # Exact conservation despite solver round-off: each arrival slot's shares sum to one.
    total = np.bincount(eq_index, weights=share, minlength=len(rows_eq))
    share = share / total[eq_index]
    if with_group:
        return float(res.fun), share, f_g, f_t, s_of
    return float(res.fun), share, f_t, s_of


def apply_flows(cube: np.ndarray, flows: list) -> np.ndarray:
    """Any per-group cube ``[G, T, ...]`` (forecast mean, sigma) moved with the same flows."""
    out = np.array(cube, dtype=float, copy=True)
    for g, flow in enumerate(flows):
        if flow is not None:
            out[g] = (flow.T @ out[g].reshape(out.shape[1], -1)).reshape(out.shape[1:])
    return out


@dataclass(frozen=True, eq=False)
class Deferral:
    """What a reshaped instance must be checked against: the demand before the move ``[G, T, R]``
    and each group's window in slots (0: strict). ``moved`` is informational: work run later than
    it arrived, ``[G, R]`` in resource-slots."""

    original: np.ndarray
    window: np.ndarray
    moved: np.ndarray | None = None
    method: str = ""


def moved_work(original: np.ndarray, flows: list) -> np.ndarray:
    """Work run in a later slot than it arrived, ``[G, R]`` (resource x slots)."""
    n_g, n_t, n_r = original.shape
    out = np.zeros((n_g, n_r))
    for g, flow in enumerate(flows):
        if flow is None:
            continue
        coo = flow.tocoo()
        late = coo.col > coo.row
        out[g] = (coo.data[late][:, None] * original[g, coo.row[late]]).sum(axis=0)
    return out


def check_reshape(original: np.ndarray, reshaped: np.ndarray, window: np.ndarray,
                  rel_tol: float = 1e-6) -> list[tuple[str, int, int, int, float, str]]:
    """Every broken rule of a reshaping, as ``(family, group, slot, resource, amount, message)``.

    Per group and resource, with cumulative sums ``A`` (arrived) and ``X`` (executed):
    ``deferral_strict``: a group with window 0 is unchanged; ``deferral_conservation``: totals agree;
    ``deferral_arrival``: ``X[s] <= A[s]`` (nothing runs before it arrives);
    ``deferral_deadline``: ``X[s] >= A[s - L]`` (work of slot t is done by slot t + L);
    ``deferral_peak``: the executed rate stays at or below the group's peak.
    """
    original = np.asarray(original, dtype=float)
    reshaped = np.asarray(reshaped, dtype=float)
    if original.shape != reshaped.shape:
        return [("deferral_shape", -1, -1, -1, 1.0, f"reshaped demand {reshaped.shape} vs original {original.shape}")]
    out = []
    n_g, n_t, n_r = original.shape
    for g in range(n_g):
        tol = rel_tol * max(1.0, float(original[g].sum(axis=0).max()))
        L = int(window[g])
        diff = np.abs(reshaped[g] - original[g])
        if L == 0:
            if diff.max() > tol:
                t, r = np.unravel_index(int(diff.argmax()), diff.shape)
                out.append(("deferral_strict", g, int(t), int(r), float(diff.max()), "a strict group was moved"))
            continue
        if (reshaped[g] < -tol).any():
            t, r = np.unravel_index(int(reshaped[g].argmin()), diff.shape)
            out.append(("deferral_negative", g, int(t), int(r), float(-reshaped[g, t, r]), "negative executed demand"))
        a, x = original[g].cumsum(axis=0), reshaped[g].cumsum(axis=0)
        for r in range(n_r):
            gap = abs(x[-1, r] - a[-1, r])
            if gap > tol:
                out.append(("deferral_conservation", g, n_t - 1, r, float(gap),
                            f"executed {x[-1, r]:.6g} != arrived {a[-1, r]:.6g}"))
            early = x[:, r] - a[:, r]
            if early.max() > tol:
                t = int(early.argmax())
                out.append(("deferral_arrival", g, t, r, float(early.max()),
                            f"by slot {t} {x[t, r]:.6g} ran but only {a[t, r]:.6g} had arrived"))
            if L < n_t:
                late = a[: n_t - L, r] - x[L:, r]
                if late.max() > tol:
                    t = int(late.argmax()) + L
                    out.append(("deferral_deadline", g, t, r, float(late.max()),
                                f"by slot {t} only {x[t, r]:.6g} ran of {a[t - L, r]:.6g} due (deadline {L} slots)"))
            over = reshaped[g, :, r] - original[g, :, r].max()
            if over.max() > tol:
                t = int(over.argmax())
                out.append(("deferral_peak", g, t, r, float(over.max()),
                            f"runs {reshaped[g, t, r]:.6g} at slot {t}, above the group's peak {original[g, :, r].max():.6g}"))
    return out
