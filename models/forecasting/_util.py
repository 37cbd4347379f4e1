"""Small helpers shared by the statsmodels-backed models."""

from __future__ import annotations

import contextlib
import warnings

import numpy as np


@contextlib.contextmanager
def quiet():
    """Silence statsmodels' convergence and frequency chatter inside a fit; failures still raise."""
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        yield


def to_model_scale(y: np.ndarray, log: bool) -> np.ndarray:
    """log1p for non-negative counts (multiplicative seasonality becomes additive)."""
    return np.log1p(np.maximum(y, 0.0)) if log else y


def from_model_scale(y: np.ndarray, log: bool) -> np.ndarray:
    """Inverse of :func:`to_model_scale` (the back-transformed value is a median, not a mean)."""
    return np.expm1(np.minimum(y, 700.0)) if log else y


def single_blas_thread():
    """Context limiting BLAS to one thread: the models solve many small least-squares problems,
    where multi-threaded BLAS only adds contention (50x slower on a busy 2-core machine). Uses
    threadpoolctl when installed; otherwise set OMP_NUM_THREADS=1 / OPENBLAS_NUM_THREADS=1."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return contextlib.nullcontext()
    return threadpool_limits(limits=1, user_api="blas")
