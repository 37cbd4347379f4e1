"""Complementarity of demand series: correlation of their hourly shapes, the most anticorrelated
pairs, the multiplexing gain of any set and an affinity matrix for packing heuristics.

Multiplexing gain of a set S of series over the same slots:

    gain(S) = Σ_{i∈S} max_t x_i[t] / max_t Σ_{i∈S} x_i[t]   (≥ 1; = 1 when all peak together)

It is the factor by which sizing each member by its own peak overstates the capacity the set needs
together. Two exact opposites (x and c − x) sum to a constant and reach the largest pair gain.
A set whose members are all zero has gain 1 (nothing to multiplex).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from models.profiles.calendar import as_matrix

__all__ = [
    "affinity",
    "correlation_matrix",
    "most_anticorrelated_pairs",
    "most_saving_pairs",
    "multiplexing_gain",
    "pair_gains",
]


def _standardise(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows centred and scaled to unit norm, and a mask of the rows that vary."""
    c = x - x.mean(axis=1, keepdims=True)
    norm = np.sqrt((c**2).sum(axis=1, keepdims=True))
    varies = norm[:, 0] > 1e-12 * np.maximum(1.0, np.abs(x).max(axis=1))
    z = np.zeros_like(c)
    np.divide(c, norm, out=z, where=varies[:, None])
    return z, varies


def correlation_matrix(values) -> np.ndarray:
    """Pearson correlation ``[series x series]`` of the rows over the slots.

    A constant (e.g. idle) row has no defined correlation; it gets 0 with every other row and 1
    with itself.
    """
    z, _ = _standardise(as_matrix(values))
    corr = np.clip(z @ z.T, -1.0, 1.0)
    np.fill_diagonal(corr, 1.0)
    return corr


def multiplexing_gain(values, members=None) -> float:
    """Sum of the members' peaks over the peak of their sum (rows ``members``, default all rows)."""
    x = as_matrix(values)
    if members is not None:
        x = x[np.asarray(list(members), dtype=int)]
    peak_of_sum = x.sum(axis=0).max()
    if peak_of_sum <= 0:
        return 1.0
    return float(x.max(axis=1).sum() / peak_of_sum)


def pair_gains(values, a, b) -> np.ndarray:
    """Multiplexing gain of each pair ``(a[k], b[k])`` of row indices, vectorised."""
    x = as_matrix(values)
    a = np.asarray(a, dtype=int)
    b = np.asarray(b, dtype=int)
    peaks = x.max(axis=1)
    out = np.ones(a.shape)
    for start in range(0, a.size, 4096):  # chunks bound the [pairs x slots] temporary
        sl = slice(start, start + 4096)
        ps = (x[a[sl]] + x[b[sl]]).max(axis=1)
        np.divide(peaks[a[sl]] + peaks[b[sl]], ps, out=out[sl], where=ps > 0)
    return out


def most_anticorrelated_pairs(values, ids=None, *, n_pairs: int = 20, block: int = 512) -> pd.DataFrame:
    """The ``n_pairs`` pairs of varying rows with the lowest correlation, with their gain.

    Computed block by block so memory stays ``O(block x series)`` for large fleets. Constant rows
    are left out (their correlation is undefined). Ties are broken by the higher gain, then by
    position, so the result is deterministic.

    Returns:
        Columns ``a, b`` (labels from ``ids``, default row numbers; ``a`` is the earlier row),
        ``correlation``, ``multiplexing_gain``, sorted by increasing correlation.
    """
    x = as_matrix(values)
    n = x.shape[0]
    labels = np.arange(n) if ids is None else np.asarray(list(ids), dtype=object)
    if len(labels) != n:
        raise ValueError(f"ids has {len(labels)} labels for {n} series")
    z, varies = _standardise(x)
    cand_i, cand_j, cand_c = [], [], []
    for start in range(0, n, block):
        rows = np.arange(start, min(start + block, n))
        corr = z[rows] @ z.T
        # keep j > i only, both varying
        mask = (np.arange(n)[None, :] > rows[:, None]) & varies[rows][:, None] & varies[None, :]
        corr = np.where(mask, corr, np.inf)
        flat = corr.ravel()
        m = min(n_pairs, int(mask.sum()))
        if m == 0:
            continue
        pick = np.argpartition(flat, m - 1)[:m]
        cand_i.append(rows[pick // n])
        cand_j.append(pick % n)
        cand_c.append(np.clip(flat[pick], -1.0, 1.0))
    if not cand_i:
        return pd.DataFrame({"a": [], "b": [], "correlation": [], "multiplexing_gain": []})
    i = np.concatenate(cand_i)
    j = np.concatenate(cand_j)
    c = np.concatenate(cand_c)
    gain = pair_gains(x, i, j)
    # Round before sorting so float noise does not reorder exact ties.
    order = np.lexsort((j, i, -np.round(gain, 12), np.round(c, 12)))[:n_pairs]
    return pd.DataFrame(
        {"a": labels[i[order]], "b": labels[j[order]], "correlation": c[order], "multiplexing_gain": gain[order]}
    ).reset_index(drop=True)


def most_saving_pairs(values, ids=None, *, n_pairs: int = 20, max_cells: int = 4_000_000) -> pd.DataFrame:
    """The ``n_pairs`` pairs that save the most capacity by sharing a worker, exactly.

    saving(i, j) = peak_i + peak_j − peak(x_i + x_j): what sizing the pair by its joint peak saves
    against sizing each by its own (in the series' unit; ≥ 0). Unlike the correlation, it weighs a
    pair by the capacity at stake: two tiny timers that alternate (r = −1) save almost nothing.

    Since saving(i, j) ≤ min(peak_i, peak_j), series are taken in decreasing order of peak and each
    is paired with all larger ones until its peak cannot beat the ``n_pairs``-th saving found (exact;
    usually far fewer than all pairs). ``max_cells`` bounds the ``[pairs x slots]`` temporary.

    Returns:
        Columns ``a, b`` (``a`` the earlier row), ``saving``, ``saving_share`` (saving / (peak_a +
        peak_b) = 1 − 1/gain), ``correlation``, ``multiplexing_gain``; largest saving first, ties by
        position.
    """
    x = as_matrix(values)
    n, t = x.shape
    labels = np.arange(n) if ids is None else np.asarray(list(ids), dtype=object)
    if len(labels) != n:
        raise ValueError(f"ids has {len(labels)} labels for {n} series")
    peaks = x.max(axis=1) if t else np.zeros(n)
    order = np.argsort(-peaks, kind="stable")
    best_s = np.empty(0)
    best_i = np.empty(0, dtype=np.int64)
    best_j = np.empty(0, dtype=np.int64)
    chunk = max(1, max_cells // max(t, 1))
    for pos in range(1, n):
        j = order[pos]
        if len(best_s) >= n_pairs and peaks[j] <= best_s[n_pairs - 1]:
            break  # no later series can save more than the n_pairs-th best
        for start in range(0, pos, chunk):
            prev = order[start:min(pos, start + chunk)]
            saving = peaks[prev] + peaks[j] - (x[prev] + x[j]).max(axis=1)
            lo, hi = np.minimum(prev, j), np.maximum(prev, j)
            best_s = np.r_[best_s, saving]
            best_i = np.r_[best_i, lo]
            best_j = np.r_[best_j, hi]
            keep = np.lexsort((best_j, best_i, -np.round(best_s, 12)))[:n_pairs]
            best_s, best_i, best_j = best_s[keep], best_i[keep], best_j[keep]
    useful = best_s > 1e-12 * max(float(peaks.max(initial=0.0)), 1.0)  # a pair that saves nothing is no pair
    best_s, best_i, best_j = best_s[useful], best_i[useful], best_j[useful]
    z, _ = _standardise(x)
    corr = np.clip((z[best_i] * z[best_j]).sum(axis=1), -1.0, 1.0)
    gain = pair_gains(x, best_i, best_j)
    total = peaks[best_i] + peaks[best_j]
    share = np.divide(best_s, total, out=np.zeros_like(best_s), where=total > 0)
    return pd.DataFrame({"a": labels[best_i], "b": labels[best_j], "saving": best_s, "saving_share": share,
                         "correlation": corr, "multiplexing_gain": gain}).reset_index(drop=True)


def affinity(values, *, method: str = "gain") -> np.ndarray:
    """Pairwise affinity ``[series x series]`` for a packing heuristic (higher = better together).

    Args:
        method: ``"gain"`` — the share of the pair's summed peaks saved by co-locating it,
            ``1 − peak(x_i + x_j) / (peak_i + peak_j)`` = ``1 − 1 / gain`` (0 when they peak
            together, 0.5 for exact opposites of equal peak); ``"correlation"`` —
            ``max(0, −corr)``.

    The diagonal is 0. The ``"gain"`` matrix costs O(series² × slots): use it per packing
    instance (hundreds to a few thousand groups over 168 slots), not for a whole fleet at 5 min.
    """
    x = as_matrix(values)
    n = x.shape[0]
    if method == "correlation":
        aff = np.maximum(0.0, -correlation_matrix(x))
    elif method == "gain":
        i, j = np.triu_indices(n, k=1)
        aff = np.zeros((n, n))
        aff[i, j] = 1.0 - 1.0 / pair_gains(x, i, j)
        aff = aff + aff.T
    else:
        raise ValueError(f"method must be 'gain' or 'correlation'; got {method!r}")
    np.fill_diagonal(aff, 0.0)
    return aff
