"""Keep-alive policies of a FaaS platform: which instances stay warm between invocations, the memory
they hold and the cold starts they leave (Shahrad et al., "Serverless in the Wild", USENIX ATC 2020).

Time is the trace's grid of intervals (1 min Azure, 5 min Huawei). For one *unit* (an application:
its instances are interchangeable) let ``B[t]`` be the instances busy in interval ``t``. After an
active interval ``s`` the policy keeps (or re-loads) those instances warm while the distance
``d = t - s`` lies in a window ``[lo, hi]`` (in intervals):

    prev[t] = max { B[s] : lo <= t - s <= hi }      instances warm from earlier intervals
    warm[t] = max(B[t], prev[t])                      instances resident in interval t
    cold[t] = min(invocations[t], max(B[t] - prev[t], 0))   instances started cold

The same window applies to memory and cores (``M``, ``K``: busy GB and cores of the unit).

Policies:
- ``none``: an instance lives only for its request: every invocation is a cold start, memory = busy.
- ``fixed:W`` (minutes): ``lo = 1, hi = W / interval - 1``; an instance used in interval ``s`` is
  resident for W minutes from the start of ``s``, so a function invoked once an hour holds memory
  10 minutes of each hour under ``fixed:10`` and is warm at the next call only when W > 60.
- ``hybrid``: per unit, the histogram of distances between active intervals (1-interval bins up to
  ``range_minutes``, 4 h) gives the window: pre-warm from ``(1 - margin) x`` its 5th percentile to
  ``(1 + margin) x`` its 99th percentile (margin 10 %). Fallbacks, as in the paper: a histogram that
  is not representative (coefficient of variation of the bin counts below 2) or built on fewer than
  ``min_idle_periods`` gaps keeps instances for the whole range (``fixed`` at 4 h); a unit whose gaps
  are mostly beyond the range (at least half) is warmed around its typical gap
  ``[(1 - 0.15) g, (1 + 0.15) g]`` with ``g`` the median gap (the paper forecasts the next gap with
  ARIMA; the median is the stand-in here). The window is learned once over the whole history (the
  paper updates it online); it is the steady state the planner sizes for.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np

__all__ = ["KeepAlivePolicy", "Windows", "parse_policy", "policy_windows", "intervals_of", "lagged_max",
           "warm_pool", "cold_starts", "PATTERNS", "MAX_WINDOW_MINUTES"]

MAX_WINDOW_MINUTES = 1440.0  # a day: platforms keep idle instances for minutes to hours, not days
PATTERNS = ("none", "fixed", "histogram", "uncertain", "few_idle", "out_of_range")


@dataclass(frozen=True)
class KeepAlivePolicy:
    """A keep-alive policy. ``kind`` is ``none``, ``fixed`` (``minutes``) or ``hybrid``.

    The hybrid parameters default to the paper's: 4-hour range, 5th/99th percentiles, 10 % margin,
    CV threshold 2, out-of-range threshold 50 %, 15 % margin around the predicted gap.
    """

    kind: str = "none"
    minutes: float = 0.0
    range_minutes: float = 240.0
    head: float = 0.05
    tail: float = 0.99
    margin: float = 0.10
    cv_threshold: float = 2.0
    oob_threshold: float = 0.5
    oob_margin: float = 0.15
    min_idle_periods: int = 10

    def __post_init__(self):
        if self.kind not in ("none", "fixed", "hybrid"):
            raise ValueError(f"keep-alive policy {self.kind!r} is unknown; expected none, fixed:MINUTES or hybrid")
        if self.kind == "fixed":
            _check_minutes(self.minutes, "keep-alive window")
        if self.kind == "hybrid":
            _check_minutes(self.range_minutes, "hybrid histogram range")
            if not (0 <= self.head < self.tail <= 1):
                raise ValueError(f"hybrid percentiles need 0 <= head < tail <= 1, got {self.head}, {self.tail}")
            if self.min_idle_periods < 1:
                raise ValueError("min_idle_periods must be >= 1")

    def __str__(self) -> str:
        if self.kind == "fixed":
            return f"fixed:{self.minutes:g}"
        return self.kind


def _check_minutes(value: float, what: str) -> None:
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"{what} must be a positive number of minutes, got {value:g}")
    if value > MAX_WINDOW_MINUTES:
        raise ValueError(f"{what} of {value:g} min is longer than a day ({MAX_WINDOW_MINUTES:g} min); "
                         "platforms keep idle instances for minutes to hours")


def parse_policy(text) -> KeepAlivePolicy:
    """``none``, ``fixed:MINUTES`` (e.g. ``fixed:10``) or ``hybrid`` -> :class:`KeepAlivePolicy`.

    Raises ValueError with the accepted forms for anything else (negative, zero, absurd windows).
    """
    if isinstance(text, KeepAlivePolicy):
        return text
    s = str(text).strip().lower()
    if s in ("none", "hybrid"):
        return KeepAlivePolicy(kind=s)
    m = re.fullmatch(r"fixed:\s*([-+0-9.eE]+)", s)
    if m is None:
        raise ValueError(f"keep-alive {text!r} is not understood; expected none, fixed:MINUTES (e.g. fixed:10) "
                         "or hybrid")
    try:
        minutes = float(m.group(1))
    except ValueError:
        raise ValueError(f"keep-alive {text!r}: {m.group(1)!r} is not a number of minutes") from None
    return KeepAlivePolicy(kind="fixed", minutes=minutes)


@dataclass(frozen=True)
class Windows:
    """Per unit: warm while ``lo <= t - s <= hi`` intervals after an active interval ``s`` (no idle
    warmth when ``hi < lo``), and which rule chose the window (:data:`PATTERNS`)."""

    lo: np.ndarray  # int [U]
    hi: np.ndarray  # int [U]
    pattern: np.ndarray  # str [U]
    n_gaps: np.ndarray  # int [U] gaps between active intervals seen


def intervals_of(minutes: float, interval_min: float, what: str) -> int:
    """A window in minutes as a whole number of trace intervals (an error when it is not one)."""
    k = minutes / interval_min
    if k < 1 - 1e-9 or abs(k - round(k)) > 1e-9:
        raise ValueError(
            f"{what} of {minutes:g} min is not a whole number of the trace's {interval_min:g}-min intervals; "
            f"the trace is too coarse for it: use a multiple of {interval_min:g} min "
            f"(e.g. {max(1, round(k)) * interval_min:g})"
        )
    return int(round(k))


def policy_windows(active: np.ndarray, interval_min: float, policy: KeepAlivePolicy) -> Windows:
    """The window of each unit (column of ``active``, bool ``[T, U]``: some invocation in the interval)."""
    n_u = active.shape[1]
    pos_unit, gaps = _gaps(active)
    n_gaps = np.bincount(pos_unit, minlength=n_u)
    if policy.kind == "none":
        return Windows(np.ones(n_u, int), np.zeros(n_u, int), np.full(n_u, "none", dtype=object), n_gaps)
    if policy.kind == "fixed":
        w = intervals_of(policy.minutes, interval_min, "keep-alive window")
        return Windows(np.ones(n_u, int), np.full(n_u, w - 1), np.full(n_u, "fixed", dtype=object), n_gaps)
    return _hybrid(pos_unit, gaps, n_gaps, n_u, interval_min, policy)


def _gaps(active: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(unit, distance) for every pair of consecutive active intervals of a unit."""
    unit, pos = np.nonzero(active.T)  # sorted by unit, then time
    same = unit[1:] == unit[:-1]
    return unit[1:][same], (pos[1:] - pos[:-1])[same]


def _hybrid(unit, gaps, n_gaps, n_u, interval_min, p: KeepAlivePolicy) -> Windows:
    bins = intervals_of(p.range_minutes, interval_min, "hybrid histogram range")
    lo = np.ones(n_u, dtype=np.int64)
    hi = np.full(n_u, bins - 1, dtype=np.int64)  # the fallback: keep for the whole range
    pattern = np.full(n_u, "uncertain", dtype=object)
    inside = gaps <= bins
    # hist[u, d - 1]: gaps of distance d = 1..bins.
    hist = np.bincount(unit[inside] * bins + (gaps[inside] - 1), minlength=n_u * bins).reshape(n_u, bins)
    n_in = hist.sum(axis=1)
    oob = n_gaps - n_in
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = n_in / bins
        cv = hist.std(axis=1, ddof=1) / mean
    few = n_gaps < p.min_idle_periods
    out = ~few & (oob >= p.oob_threshold * np.maximum(n_gaps, 1))
    certain = ~few & ~out & (cv >= p.cv_threshold)
    cum = hist.cumsum(axis=1)
    for u in np.flatnonzero(certain):
        head = int(np.argmax(cum[u] >= p.head * n_in[u])) + 1
        tail = int(np.argmax(cum[u] >= p.tail * n_in[u])) + 1
        lo[u] = max(1, math.floor(head * (1 - p.margin)))
        hi[u] = max(lo[u], math.ceil(tail * (1 + p.margin)))
    pattern[certain] = "histogram"
    if out.any():
        order = np.argsort(unit, kind="stable")
        starts = np.searchsorted(unit[order], np.arange(n_u))
        for u in np.flatnonzero(out):
            g = float(np.median(gaps[order][starts[u]:starts[u] + n_gaps[u]]))
            lo[u] = max(1, math.floor(g * (1 - p.oob_margin)))
            hi[u] = max(lo[u], math.ceil(g * (1 + p.oob_margin)))
        pattern[out] = "out_of_range"
    pattern[few] = "few_idle"
    return Windows(lo, hi, pattern, n_gaps)


def lagged_max(x: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """``out[t, u] = max(x[t - hi[u] .. t - lo[u], u])`` (0 where the range is empty); ``x >= 0``.

    A trailing running maximum of width ``hi - lo + 1`` (O(T) per column, scipy's ``maximum_filter1d``)
    shifted down by ``lo``."""
    from scipy.ndimage import maximum_filter1d

    n_t, n_u = x.shape
    out = np.zeros_like(x)
    width = hi - lo + 1
    for w in np.unique(width[width >= 1]):
        cols = np.flatnonzero(width == w)
        trailing = maximum_filter1d(x[:, cols], size=int(w), axis=0, origin=(int(w) - 1) // 2,
                                    mode="constant", cval=0.0)
        for shift in np.unique(lo[cols]):
            sub = cols[lo[cols] == shift]
            s = int(shift)
            if s < n_t:
                out[s:, sub] = trailing[: n_t - s, np.searchsorted(cols, sub)]
    return out


def warm_pool(busy: np.ndarray, windows: Windows) -> tuple[np.ndarray, np.ndarray]:
    """(warm, carried): resident amount ``max(busy, carried)`` and ``carried``, the amount kept warm
    from earlier intervals, for any busy quantity ``[T, U]`` (instances, GB, cores)."""
    carried = lagged_max(busy, windows.lo, windows.hi)
    return np.maximum(busy, carried), carried


def cold_starts(instances: np.ndarray, invocations: np.ndarray, windows: Windows, kind: str) -> np.ndarray:
    """Instances started cold per interval: busy instances not warm from earlier intervals, at most
    one per invocation (a long execution smeared over an interval does not start extra instances).
    Under ``none`` an instance lives for one request only: every invocation starts cold."""
    if kind == "none":
        return invocations.astype(float, copy=True)
    carried = lagged_max(instances, windows.lo, windows.hi)
    return np.minimum(invocations, np.maximum(instances - carried, 0.0))
