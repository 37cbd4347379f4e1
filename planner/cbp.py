"""Chance-constrained bin-packing instances in the ``.cbp`` format (Xu, D'Ambrosio, Haddad-Vanier,
Traversi: "Branch-and-price algorithms for conic submodular bin packing", arXiv 2204.00320; the
CloudSmall/CloudMedium/CloudBig sets).

Format: line 1 ``type capacity n alpha`` (type ``g`` Gaussian, ``h`` Hoeffding, ``d`` distributionally
robust); line 2 the multiplier ``sigma``; line 3 the ``n`` means ``a_i``; line 4 the ``n`` variances
``b_i`` (squared ranges for ``h``). A bin holding items ``S`` is feasible when
``sum(a_S) + sigma * sqrt(sum(b_S)) <= capacity``.

This is the engine's chance constraint with one slot, one resource, one server type of cost 1, no
correlation, ``epsilon = 1 - alpha`` and the form of the type: ``g`` -> gaussian
(``sigma = Phi^-1(alpha)``), ``d`` -> cantelli (``sqrt(alpha / (1 - alpha))``), ``h`` -> hoeffding
(``sqrt(ln(1 / (1 - alpha)) / 2)``). The reader checks that the file's sigma is that multiplier.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from planner.errors import InputDataError

__all__ = ["CbpInstance", "read_cbp", "to_packing_instance", "FORMS"]

FORMS = {"g": "gaussian", "d": "cantelli", "h": "hoeffding"}


@dataclass(frozen=True)
class CbpInstance:
    """One ``.cbp`` file: type, capacity, risk level ``alpha``, multiplier, means and variances."""

    kind: str
    capacity: float
    alpha: float
    sigma: float
    mean: np.ndarray
    variance: np.ndarray
    path: Path | None = None

    @property
    def n(self) -> int:
        return len(self.mean)

    @property
    def method(self) -> str:
        return FORMS[self.kind]


def _numbers(text: str, line: int, path, what: str) -> list[float]:
    out = []
    for pos, tok in enumerate(text.split(), start=1):
        try:
            x = float(tok)
        except ValueError:
            raise InputDataError(f"line {line}: {what}: value {pos} {tok!r} is not a number", path=path) from None
        if not math.isfinite(x):
            raise InputDataError(f"line {line}: {what}: value {pos} {tok!r} is not finite", path=path)
        out.append(x)
    return out


def read_cbp(path) -> CbpInstance:
    """Read and validate a ``.cbp`` file; errors name the file, the line and what was expected."""
    from models.packing.risk import risk_multiplier

    path = Path(path)
    if not path.exists():
        raise InputDataError("file not found", path=path)
    if path.is_dir():
        raise InputDataError("is a folder; expected a .cbp file", path=path)
    try:
        lines = [ln for ln in path.read_text().splitlines()]
    except UnicodeDecodeError:
        raise InputDataError("not a text file; expected a .cbp file (4 lines of numbers)", path=path) from None
    while lines and not lines[-1].strip():
        lines.pop()
    if len(lines) != 4:
        raise InputDataError(f"has {len(lines)} non-empty line(s); expected 4: 'type capacity n alpha', sigma, "
                             "the n means, the n variances", path=path)
    head = lines[0].split()
    if len(head) != 4:
        raise InputDataError(f"line 1: expected 'type capacity n alpha', got {lines[0]!r}", path=path)
    kind = head[0]
    if kind not in FORMS:
        raise InputDataError(f"line 1: type {kind!r} is not one of {sorted(FORMS)} (g Gaussian, h Hoeffding, "
                             "d distributionally robust)", path=path)
    capacity, n, alpha = _numbers(" ".join(head[1:]), 1, path, "capacity n alpha")
    if capacity <= 0:
        raise InputDataError(f"line 1: capacity {capacity:g} must be > 0", path=path)
    if n < 1 or n != int(n):
        raise InputDataError(f"line 1: n {head[2]!r} must be a whole number >= 1", path=path)
    n = int(n)
    if not (0.5 < alpha < 1):
        raise InputDataError(f"line 1: alpha {alpha:g} must be in (0.5, 1) (the risk is 1 - alpha)", path=path)
    sig = _numbers(lines[1], 2, path, "sigma")
    if len(sig) != 1 or sig[0] < 0:
        raise InputDataError(f"line 2: expected one multiplier sigma >= 0, got {lines[1]!r}", path=path)
    mean = np.array(_numbers(lines[2], 3, path, "means"))
    var = np.array(_numbers(lines[3], 4, path, "variances"))
    for line, arr, what in ((3, mean, "means"), (4, var, "variances")):
        if len(arr) != n:
            raise InputDataError(f"line {line}: {len(arr)} {what}; expected n = {n}", path=path)
        if (arr < 0).any():
            i = int(np.flatnonzero(arr < 0)[0])
            raise InputDataError(f"line {line}: {what} of item {i} is {arr[i]:g}; expected >= 0", path=path)
    z = risk_multiplier(1.0 - alpha, FORMS[kind])
    if abs(z - sig[0]) > 1e-6 * max(1.0, z):
        raise InputDataError(f"line 2: sigma {sig[0]:.10g} is not the {FORMS[kind]} multiplier {z:.10g} of "
                             f"alpha {alpha:g}", path=path)
    alone = mean + sig[0] * np.sqrt(var)
    if (alone > capacity * (1 + 1e-9)).any():
        i = int(np.argmax(alone))
        raise InputDataError(f"item {i} alone needs {alone[i]:.6g} > capacity {capacity:g}: no bin holds it",
                             path=path)
    return CbpInstance(kind, float(capacity), float(alpha), float(sig[0]), mean, var, path)


def to_packing_instance(cbp: CbpInstance):
    """The engine's instance: items as groups ``i0000..``, one slot, one resource ``size``, one bin
    type of cost 1 (the cost of a plan is its number of bins)."""
    from models.packing.instance import PackingInstance, ServerType

    n = cbp.n
    width = max(4, len(str(n - 1)))
    return PackingInstance(
        group_ids=tuple(f"i{i:0{width}d}" for i in range(n)), slots=("t0",), resources=("size",),
        demand=cbp.mean.reshape(n, 1, 1), server_types=(ServerType("bin", (cbp.capacity,), 1.0),),
        sigma=np.sqrt(cbp.variance).reshape(n, 1, 1), overflow_risk=np.full(n, 1.0 - cbp.alpha),
        risk_method=(cbp.method,) * n,
    )


def cbp_bound(cbp: CbpInstance) -> int:
    """A valid lower bound on the number of bins: the larger of the chord bound
    ``ceil(sum_i (a_i / C + sigma^2 b_i / C^2))`` (each bin's load lies under the chord of its
    feasible region, see :func:`models.packing.bounds.chord_demand`) and a greedy clique of items
    no two of which fit one bin together."""
    c, z = cbp.capacity, cbp.sigma
    chord = math.ceil(float((cbp.mean / c + z * z * cbp.variance / c**2).sum()) - 1e-9)
    alone = cbp.mean + z * np.sqrt(cbp.variance)
    clique: list[int] = []
    for i in np.argsort(-alone, kind="stable"):
        if all(cbp.mean[i] + cbp.mean[j] + z * math.sqrt(cbp.variance[i] + cbp.variance[j]) > c * (1 + 1e-12)
               for j in clique):
            clique.append(int(i))
    return max(chord, len(clique), 1)


#: Seconds of a time limit kept for what follows the search (at most 5 % of the limit).
FINISH_S = 1.0
#: The column-generation dive (:mod:`models.packing.conic_cg`) runs when the best-fit packing holds
#: at most this many items a bin (variance-dominated instances, e.g. ``d`` at alpha 0.99, where the
#: engine's bin-move searches stall a bin above the optimum); with more items a bin its greedy
#: pricing is too slow to finish in a share of 30 s on 100 items.
DIVE_MAX_ITEMS_PER_BIN = 4.0
#: Share of the time limit the dive may use; the engine gets what it leaves.
DIVE_SHARE = 0.4


def run_dive(cbp: CbpInstance, budget_s: float, seed: int = 0) -> tuple[list[list[int]] | None, dict]:
    """The column-generation dive when the instance is variance-dominated (see
    :data:`DIVE_MAX_ITEMS_PER_BIN`); returns ``(bins or None, details with the reason)``."""
    from models.packing.conic_cg import best_fit, bin_lhs, conic_dive

    greedy = best_fit(cbp.mean, cbp.variance, cbp.sigma, cbp.capacity)
    per_bin = cbp.n / len(greedy)
    info = {"ran": False, "bins": None, "runtime_s": 0.0, "items_per_greedy_bin": round(per_bin, 2)}
    if per_bin > DIVE_MAX_ITEMS_PER_BIN:
        info["reason"] = f"skipped: {per_bin:.1f} items a best-fit bin > {DIVE_MAX_ITEMS_PER_BIN:g}"
        return None, info
    res = conic_dive(cbp.mean, cbp.variance, cbp.sigma, cbp.capacity, time_limit_s=budget_s, seed=seed,
                     start_columns=greedy)
    info.update(ran=True, runtime_s=round(res.runtime_s, 3), lp=round(res.lp, 4), columns=res.columns,
                lp_solves=res.lp_solves)
    if res.bins is None:
        info["reason"] = f"unfinished: {res.message} ({budget_s:.1f} s)"
        return None, info
    # an independent check of every bin and of the cover (the dive only builds feasible columns)
    placed = sorted(i for col in res.bins for i in col)
    if placed != list(range(cbp.n)):
        raise RuntimeError("conic dive: the bins do not hold every item exactly once")
    worst = max(bin_lhs(cbp.mean, cbp.variance, cbp.sigma, col) for col in res.bins)
    if worst > cbp.capacity:
        raise RuntimeError(f"conic dive: a bin needs {worst:.9g} > capacity {cbp.capacity:g}")
    info.update(bins=len(res.bins), reason="finished", max_lhs=round(worst, 6))
    return res.bins, info


def solve_cbp(cbp: CbpInstance, backend: str = "cpsat", **options):
    """Pack a ``.cbp`` instance with the planner's engine (the chance constraint of
    :func:`to_packing_instance`). Returns ``(PackingResult, bin of each item (0-based, in file
    order), summary dict)``; the summary's ``lower_bound`` is the best valid bound in whole bins.
    ``time_limit_s`` bounds the whole call: the search stops :data:`FINISH_S` earlier, the time its
    end (compaction, the verifier) takes.

    On variance-dominated instances a column-generation dive (:func:`run_dive`) runs first with
    :data:`DIVE_SHARE` of the limit; when it reaches the lower bound the engine is not run (and the
    returned ``PackingResult`` is ``None``), else the engine gets the rest and the plan with fewer
    bins is kept (the engine's on a tie). ``summary["search"]`` says which one, ``summary["dive"]``
    whether the dive ran, finished, and why not. ``dive=False`` turns it off."""
    from planner.packing import solve

    t0 = time.perf_counter()
    use_dive = options.pop("dive", True)
    limit = options.pop("time_limit_s", None)
    search_s = None if limit is None else max(float(limit) - min(FINISH_S, 0.05 * float(limit)), 0.1)
    lower = cbp_bound(cbp)
    dive_bins, dive_info = None, {"ran": False, "bins": None, "reason": "off"}
    if use_dive:
        budget = DIVE_SHARE * (search_s if search_s is not None else 30.0)
        dive_bins, dive_info = run_dive(cbp, budget, seed=int(options.get("seed", 0) or 0))
    result = None
    bins: list[int] = []
    n_bins = None
    if dive_bins is not None:
        n_bins = len(dive_bins)
        bins = [0] * cbp.n
        for k, col in enumerate(dive_bins):
            for i in col:
                bins[i] = k
    search = "dive"
    if n_bins is None or n_bins > lower:
        if search_s is not None:
            options["time_limit_s"] = max(search_s - (time.perf_counter() - t0), 0.1)
        result = solve(to_packing_instance(cbp), backend, **options)
        workers = {w: b for b, w in enumerate(sorted({p.worker_id for p in result.placements}))}
        lower = max(lower, math.ceil(float(result.bound) - 1e-6))
        if n_bins is None or len(workers) <= n_bins:
            search = "engine"
            n_bins = len(workers)
            bins = [0] * cbp.n
            for p in result.placements:
                bins[int(p.group_id[1:])] = workers[p.worker_id]
    status = "optimal" if n_bins <= lower else (str(result.status) if search == "engine" else "feasible")
    info = {"bins": n_bins, "lower_bound": int(lower), "runtime_s": round(time.perf_counter() - t0, 3),
            "status": status, "search": search, "dive": dive_info, "backend": backend,
            "type": cbp.kind, "method": cbp.method, "alpha": cbp.alpha, "sigma": cbp.sigma, "items": cbp.n,
            "capacity": cbp.capacity, "verified": True, "file": None if cbp.path is None else str(cbp.path)}
    return result, bins, info
