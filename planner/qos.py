"""Customer QoS tiers: risk target (or planning quantile), headroom, spread and isolation.

A tier sets, for every group of a customer in it:

* ``overflow_risk`` epsilon: the largest probability that a worker holding the group exceeds its
  usable capacity in a slot. Groups are packed by the *pooled* chance constraint (the ``method``
  ``gaussian``, or the distribution-free ``cantelli``; :mod:`models.packing.risk`): a worker's
  groups must fit as a sum of random demands, not as a sum of quantiles. A worker holding several
  tiers honours the strictest epsilon present.
* ``quantile`` with ``method: stacked``: the way of planning before pooled risk, kept for
  comparison: every group enters at a forecast column (``q50`` ... ``q99`` or ``mean``) and a
  worker must hold the *sum* of them. ``stacked`` with only ``overflow_risk`` stacks each group's
  Gaussian quantile at epsilon (``mean + z sigma``), the like-for-like comparison with ``gaussian``.
* ``headroom``: the fraction of a worker kept free when one of its groups is on it;
* ``spread``: the minimum number of distinct workers the customer's groups use;
* ``isolated``: whether the customer's groups sit on workers of their own.

A tier may state both ``quantile`` and ``overflow_risk`` only when they name the same level
(``q99`` and 0.01, ``q95`` and 0.05, ``q90`` and 0.1, ``q50`` and 0.5 is out of range); one with
neither plans at ``q95``, stacked (the behaviour before risk targets).
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from planner.columns import MEAN, QUANTILES
from planner.errors import InputDataError

__all__ = ["Tier", "DEFAULT_TIERS", "tiers_frame", "tiers_from_frame", "load_tiers"]

TIER_COLUMNS = ("name", "overflow_risk", "method", "quantile", "headroom", "spread", "isolated")
METHODS = ("gaussian", "cantelli", "stacked")
POOLED = ("gaussian", "cantelli")
# The risk level each quantile column stands for.
QUANTILE_RISK = {"q50": 0.5, "q90": 0.1, "q95": 0.05, "q99": 0.01}


@dataclass(frozen=True)
class Tier:
    """One QoS tier (validated on construction; module docstring)."""

    name: str
    quantile: str | None = None
    headroom: float = 0.10
    spread: int = 1
    isolated: bool = False
    overflow_risk: float | None = None
    method: str | None = None

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        who = f"tier {self.name!r}: " if self.name else ""
        eps = self.overflow_risk
        if eps is not None and (isinstance(eps, float) and eps != eps):
            eps = None
            set_(self, "overflow_risk", None)
        if eps is not None and not (0.0 < float(eps) < 0.5):
            raise ValueError(f"{who}overflow_risk {eps} must be in (0, 0.5), e.g. 0.01 for 1 %")
        if eps is None and self.quantile is None:
            set_(self, "quantile", "q95")
        if self.quantile is not None and self.quantile not in QUANTILES + (MEAN,):
            raise ValueError(f"{who}quantile {self.quantile!r} is not one of {QUANTILES + (MEAN,)}")
        if eps is not None and self.quantile is not None and QUANTILE_RISK.get(self.quantile) != float(eps):
            level = QUANTILE_RISK.get(self.quantile)
            said = f"a {level:g} risk" if level is not None else "not a risk level"
            raise ValueError(f"{who}quantile {self.quantile} ({said}) and overflow_risk {eps:g} disagree; "
                             "state one of them (quantile for the stacked method, overflow_risk for pooled risk)")
        method = self.method if self.method is not None else ("gaussian" if eps is not None else "stacked")
        if method not in METHODS:
            raise ValueError(f"{who}method {method!r} is not one of {METHODS}")
        if method in POOLED and eps is None:
            raise ValueError(f"{who}method {method} needs overflow_risk (the target epsilon)")
        set_(self, "method", method)
        if not (0 <= self.headroom < 1):
            raise ValueError(f"{who}headroom {self.headroom} must be in [0, 1)")
        if int(self.spread) != self.spread or self.spread < 1:
            raise ValueError(f"{who}spread {self.spread} must be an integer >= 1")

    @property
    def target(self) -> float:
        """The largest overflow probability the tier accepts: ``overflow_risk``, or for a stacked
        tier with only a quantile, 1 - its level (``mean`` and ``q50``: 0.5)."""
        if self.overflow_risk is not None:
            return float(self.overflow_risk)
        return float(QUANTILE_RISK.get(self.quantile, 0.5))

    @property
    def pooled(self) -> bool:
        """True when the tier's groups are packed by the pooled chance constraint."""
        return self.method in POOLED


DEFAULT_TIERS: dict[str, Tier] = {
    t.name: t
    for t in (
        Tier("premium", None, 0.20, 2, False, overflow_risk=0.001),
        Tier("standard", None, 0.10, 1, False, overflow_risk=0.01),
        Tier("economy", None, 0.05, 1, False, overflow_risk=0.05),
        Tier("dedicated", None, 0.20, 1, True, overflow_risk=0.001),
    )
}


def tiers_frame(tiers: dict[str, Tier] | None = None) -> pd.DataFrame:
    """The Tiers table (``name, overflow_risk, method, quantile, headroom, spread, isolated``)."""
    tiers = DEFAULT_TIERS if tiers is None else tiers
    return pd.DataFrame([vars(t) for t in tiers.values()], columns=list(TIER_COLUMNS))


def tiers_from_frame(frame: pd.DataFrame, path=None) -> dict[str, Tier]:
    """Validate a Tiers table; errors name the file, row and column."""
    missing = [c for c in ("name", "headroom") if c not in frame.columns]
    if "quantile" not in frame.columns and "overflow_risk" not in frame.columns:
        missing.append("quantile or overflow_risk")
    if missing:
        raise InputDataError(f"missing column(s) {missing}; expected {list(TIER_COLUMNS)}", path=path)

    def cell(row, col):
        v = row.get(col)
        return None if v is None or (not isinstance(v, str) and pd.isna(v)) or v == "" else v

    out: dict[str, Tier] = {}
    for row_no, row in enumerate(frame.to_dict("records"), start=2):
        isolated = row.get("isolated", False)
        if isinstance(isolated, str):
            isolated = isolated.strip().lower() in ("1", "true", "yes", "y")
        try:
            eps = cell(row, "overflow_risk")
            q, m = cell(row, "quantile"), cell(row, "method")
            tier = Tier(str(row["name"]), None if q is None else str(q), float(row["headroom"]),
                        int(cell(row, "spread") or 1), bool(isolated),
                        overflow_risk=None if eps is None else float(eps), method=None if m is None else str(m))
        except (TypeError, ValueError) as exc:
            raise InputDataError(str(exc), path=path, row=row_no) from None
        if tier.name in out:
            raise InputDataError(f"duplicate tier {tier.name!r}", path=path, row=row_no, column="name")
        out[tier.name] = tier
    return out


def load_tiers(path) -> dict[str, Tier]:
    """Read a Tiers CSV/Parquet file."""
    from planner.io import read_table

    return tiers_from_frame(read_table(path), path=path)
