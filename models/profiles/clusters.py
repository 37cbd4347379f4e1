"""Seeded k-means (k-means++ starts) over shape embeddings, with k chosen by the silhouette.

Labels are renumbered so that cluster 0 is the largest (ties broken by the centre's coordinates);
with the seed fixed, the same input gives the same labels.
"""

from __future__ import annotations

import numpy as np

__all__ = ["ShapeClusters", "kmeans", "silhouette_score"]


def _sq_dist(x: np.ndarray, c: np.ndarray, x_sq: np.ndarray | None = None) -> np.ndarray:
    """Squared Euclidean distances ``[points x centres]`` (``x_sq``: precomputed row norms²)."""
    x_sq = (x**2).sum(1) if x_sq is None else x_sq
    d = x_sq[:, None] - 2 * x @ c.T + (c**2).sum(1)[None, :]
    return np.maximum(d, 0.0)


def _plus_plus(x: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """k-means++ seeding: each new centre drawn with probability ∝ squared distance to the nearest."""
    centres = [x[rng.integers(len(x))]]
    for _ in range(1, k):
        d = _sq_dist(x, np.array(centres)).min(axis=1)
        total = d.sum()
        idx = rng.choice(len(x), p=d / total) if total > 0 else rng.integers(len(x))
        centres.append(x[idx])
    return np.array(centres)


def kmeans(x, k: int, *, seed: int = 0, n_init: int = 10, max_iter: int = 200):
    """Lloyd's k-means, best of ``n_init`` k-means++ starts.

    Returns ``(labels [points], centres [k x dims], inertia)``; labels renumbered by decreasing
    cluster size.
    """
    x = np.asarray(x, dtype=float)
    if x.ndim != 2 or not 1 <= k <= len(x):
        raise ValueError(f"k must be in 1..{len(x)} for {len(x)} points; got {k}")
    rng = np.random.default_rng(seed)
    x_sq = (x**2).sum(1)
    best = None
    for _ in range(n_init):
        c = _plus_plus(x, k, rng)
        labels = None
        for _ in range(max_iter):
            d = _sq_dist(x, c, x_sq)
            new = d.argmin(axis=1)
            if labels is not None and (new == labels).all():
                break
            labels = new
            counts = np.bincount(labels, minlength=k)
            sums = np.zeros_like(c)
            np.add.at(sums, labels, x)
            for j in np.flatnonzero(counts == 0):
                # An emptied cluster restarts at the point farthest from its centre.
                sums[j], counts[j] = x[d.min(1).argmax()], 1
            c = sums / counts[:, None]
        inertia = float(_sq_dist(x, c, x_sq)[np.arange(len(x)), labels].sum())
        if best is None or inertia < best[2] - 1e-12:
            best = (labels.copy(), c.copy(), inertia)
    labels, centres, inertia = best
    sizes = np.bincount(labels, minlength=k)
    order = sorted(range(k), key=lambda j: (-sizes[j], tuple(np.round(centres[j], 9))))
    remap = np.empty(k, dtype=int)
    remap[order] = np.arange(k)
    return remap[labels], centres[order], inertia


def silhouette_score(x, labels, *, sample_size: int = 2000, seed: int = 0) -> float:
    """Mean silhouette ``(b − a) / max(a, b)`` over points (0 for points alone in their cluster).

    Above ``sample_size`` points it is computed on a seeded random sample (distances are O(n²)).
    """
    x = np.asarray(x, dtype=float)
    labels = np.asarray(labels)
    if len(x) > sample_size:
        pick = np.random.default_rng(seed).choice(len(x), sample_size, replace=False)
        x, labels = x[pick], labels[pick]
    ks, inv = np.unique(labels, return_inverse=True)
    if len(ks) < 2:
        return 0.0
    d = np.sqrt(_sq_dist(x, x))
    onehot = np.eye(len(ks))[inv]
    sizes = onehot.sum(axis=0)
    sums = d @ onehot  # distance of each point to all members of each cluster
    own = sizes[inv]
    a = np.where(own > 1, sums[np.arange(len(x)), inv] / np.maximum(own - 1, 1), 0.0)
    other = sums / sizes
    other[np.arange(len(x)), inv] = np.inf
    b = other.min(axis=1)
    denom = np.maximum(a, b)
    s = np.where((own > 1) & (denom > 0), (b - a) / np.where(denom > 0, denom, 1), 0.0)
    return float(s.mean())


class ShapeClusters:
    """Clusters of similar shapes.

    Args:
        k: number of clusters; ``None`` picks k in ``2..k_max`` with the best silhouette (k = 1
            when there are fewer than 3 points or all points coincide).
        k_max: largest k tried (also capped at points − 1).
        seed: seed of the k-means++ starts.
        n_init: starts per k.
        sample_size: above this many points, k is chosen on a seeded sample of this size (the
            final clustering uses every point).

    Fitted attributes: ``k_``, ``labels_``, ``centres_`` (in the input space), ``inertia_``,
    ``silhouettes_`` (k → score for every k tried).
    """

    def __init__(self, k: int | None = None, k_max: int = 8, seed: int = 0, n_init: int = 10,
                 sample_size: int = 2000):
        self.k = k
        self.k_max = k_max
        self.seed = seed
        self.n_init = n_init
        self.sample_size = sample_size

    def fit(self, x) -> "ShapeClusters":
        """Cluster the rows of ``x`` (e.g. embedding coordinates); returns ``self``."""
        x = np.asarray(x, dtype=float)
        if x.ndim != 2 or len(x) == 0:
            raise ValueError(f"x must be a non-empty [points x dims] matrix; got shape {x.shape}")
        self.silhouettes_ = {}
        if self.k is not None:
            k = int(self.k)
        elif len(x) < 3 or np.allclose(x, x[0]):
            k = 1
        else:
            distinct = len(np.unique(np.round(x, 12), axis=0))
            # k is chosen on a seeded sample: the silhouette is O(n²) and k-means per k costly.
            sample = x
            if len(x) > self.sample_size:
                pick = np.random.default_rng(self.seed).choice(len(x), self.sample_size, replace=False)
                sample = x[np.sort(pick)]
            for cand in range(2, min(self.k_max, len(sample) - 1, distinct) + 1):
                labels, _, _ = kmeans(sample, cand, seed=self.seed, n_init=self.n_init)
                self.silhouettes_[cand] = silhouette_score(sample, labels, seed=self.seed)
            k = max(self.silhouettes_, key=lambda c: (self.silhouettes_[c], -c)) if self.silhouettes_ else 1
        self.labels_, self.centres_, self.inertia_ = kmeans(x, k, seed=self.seed, n_init=self.n_init)
        self.k_ = k
        return self
