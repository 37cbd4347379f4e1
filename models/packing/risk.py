"""Chance constraints: the pooled overflow risk of a worker, and the forms of its bound.

A worker ``w`` holding items ``S`` overflows slot ``t`` in resource ``r`` when the sum of their
random demands exceeds its usable capacity ``C = capacity * (1 - h)``. With mean ``mu_i``, spread
``sigma_i`` and correlation ``rho_ij`` per item, the rule

    P(sum_{i in S} D_i > C) <= epsilon   is enforced as   M + z * sqrt(V) <= C,
    M = sum_i mu_i,   V = sum_{i,j} rho_ij sigma_i sigma_j,

with a multiplier ``z`` that depends on the *form* (:data:`METHODS`):

* ``gaussian``: ``z = Phi^-1(1 - epsilon)``, exact when the demands are jointly normal
  (Cohen, Keller, Mirrokni, Zadimoghaddam 2019, "Overcommitment in cloud services: bin packing with
  chance constraints");
* ``cantelli``: ``z = sqrt((1 - epsilon) / epsilon)``, the one-sided Chebyshev (Cantelli)
  inequality ``P(X - M >= a) <= V / (V + a^2)``: valid for *any* distribution with that mean and
  covariance, correlated or not (distribution-free);
* ``hoeffding``: ``z = sqrt(ln(1 / epsilon) / 2)`` with ``sigma_i`` the *range* of a bounded
  demand; Hoeffding's inequality needs independent items (identity correlation).

A worker holding groups of several tiers takes the largest ``z`` of its items (the strictest
epsilon). The correlation is held as a factor model ``rho = B B^T + diag(d)`` (``B`` is
``[group, K]``, ``d = 1 - rowsum(B^2)``), so that a worker's variance is a function of sums over
its items,

    V = sum_k (sum_i B_ik sigma_i)^2 + sum_i d_i sigma_i^2,

which the searches update in O(K) per move instead of O(items on the worker).
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["METHODS", "risk_multiplier", "overflow_probability", "factor_model", "effective_load",
           "FACTOR_LIMIT"]

METHODS = ("gaussian", "cantelli", "hoeffding")
FACTOR_LIMIT = 8  # factors kept from a correlation matrix (all of them for up to 8 groups)


def risk_multiplier(epsilon: float, method: str = "gaussian") -> float:
    """The multiplier ``z`` of ``sqrt(V)`` for a risk target ``epsilon`` in (0, 0.5)."""
    if method not in METHODS:
        raise ValueError(f"risk method {method!r} is not one of {', '.join(METHODS)}")
    if not (0.0 < epsilon < 0.5):
        raise ValueError(f"overflow_risk {epsilon!r} must be in (0, 0.5)")
    if method == "gaussian":
        from scipy.stats import norm

        return float(norm.isf(epsilon))
    if method == "cantelli":
        return math.sqrt((1.0 - epsilon) / epsilon)
    return math.sqrt(math.log(1.0 / epsilon) / 2.0)


def overflow_probability(margin: np.ndarray, sd: np.ndarray, method: str = "gaussian") -> np.ndarray:
    """Probability (or its bound, for the distribution-free forms) that demand with standard
    deviation (or range) ``sd`` exceeds its mean by more than ``margin`` (capacity - mean).

    ``gaussian``: ``Phi(-margin / sd)``; ``cantelli``: ``sd^2 / (sd^2 + margin^2)`` for
    ``margin > 0``, else 1; ``hoeffding``: ``exp(-2 margin^2 / sd^2)`` for ``margin > 0``, else 1.
    With ``sd = 0`` it is 1 where ``margin < 0`` and 0 elsewhere.
    """
    margin = np.asarray(margin, dtype=float)
    sd = np.asarray(sd, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        if method == "gaussian":
            from scipy.stats import norm

            p = norm.sf(margin / sd)
        elif method == "cantelli":
            p = np.where(margin > 0, sd**2 / (sd**2 + margin**2), 1.0)
        elif method == "hoeffding":
            p = np.where(margin > 0, np.exp(-2.0 * margin**2 / sd**2), 1.0)
        else:
            raise ValueError(f"risk method {method!r} is not one of {', '.join(METHODS)}")
    return np.where(sd > 0, p, (margin < 0).astype(float))


def factor_model(correlation: np.ndarray, max_factors: int = FACTOR_LIMIT) -> tuple[np.ndarray, np.ndarray]:
    """Loadings ``B [G, K]`` and idiosyncratic shares ``d [G]`` with ``B B^T + diag(d)`` close to
    ``correlation`` and a unit diagonal.

    The ``K = min(G, max_factors)`` largest positive eigenpairs give ``B``; rows whose squared
    loadings exceed 1 (a matrix that is not positive semi-definite) are scaled down; ``d`` is
    ``1 - rowsum(B^2)``. With ``G <= max_factors`` a positive semi-definite matrix is reproduced
    exactly. Raises ``ValueError`` for a matrix that is not square, symmetric, finite, with unit
    diagonal and entries in [-1, 1].
    """
    rho = np.asarray(correlation, dtype=float)
    n = rho.shape[0] if rho.ndim == 2 else -1
    if rho.ndim != 2 or rho.shape != (n, n):
        raise ValueError(f"correlation must be a square matrix, got shape {rho.shape}")
    if not np.isfinite(rho).all():
        raise ValueError("correlation has non-finite entries")
    if not np.allclose(rho, rho.T, atol=1e-8):
        raise ValueError("correlation must be symmetric")
    if not np.allclose(np.diag(rho), 1.0, atol=1e-6):
        raise ValueError("correlation must have a unit diagonal")
    if np.abs(rho).max() > 1.0 + 1e-9:
        raise ValueError("correlation entries must lie in [-1, 1]")
    vals, vecs = np.linalg.eigh(rho)
    order = np.argsort(-vals, kind="stable")[: min(n, max_factors)]
    order = order[vals[order] > 1e-12]
    loadings = vecs[:, order] * np.sqrt(vals[order])[None, :]
    norm2 = (loadings**2).sum(axis=1)
    scale = np.where(norm2 > 1.0, 1.0 / np.sqrt(np.maximum(norm2, 1e-300)), 1.0)
    loadings = loadings * scale[:, None]
    idio = np.clip(1.0 - (loadings**2).sum(axis=1), 0.0, 1.0)
    return loadings, idio


def effective_load(mean: np.ndarray, factor_sum: np.ndarray | None, idio_sum: np.ndarray,
                   z: np.ndarray | float) -> np.ndarray:
    """``M + z sqrt(V)`` from the sums of a worker's items: ``mean [..., T, R]``, ``factor_sum
    [..., K, T, R]`` (``sum_i B_ik sigma_i``; ``None`` without factors), ``idio_sum [..., T, R]``
    (``sum_i d_i sigma_i^2``) and ``z`` broadcastable to ``[...]``."""
    var = np.array(idio_sum, dtype=float, copy=True)
    if factor_sum is not None and factor_sum.shape[-3] > 0:
        var += np.einsum("...ktr,...ktr->...tr", factor_sum, factor_sum)
    z = np.asarray(z, dtype=float)
    return mean + z[..., None, None] * np.sqrt(np.maximum(var, 0.0))
