"""Customer QoS tiers: planning quantile, headroom, spread and isolation.

A tier sets, for every group of a customer in it:

* ``quantile``: which forecast column plans the group (``q50`` ... ``q99`` or ``mean``);
* ``headroom``: the fraction of a worker kept free when one of its groups is on it;
* ``spread``: the minimum number of distinct workers the customer's groups use;
* ``isolated``: whether the customer's groups sit on workers of their own.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from planner.columns import MEAN, QUANTILES
from planner.errors import InputDataError

__all__ = ["Tier", "DEFAULT_TIERS", "tiers_frame", "tiers_from_frame", "load_tiers"]

TIER_COLUMNS = ("name", "quantile", "headroom", "spread", "isolated")


@dataclass(frozen=True)
class Tier:
    """One QoS tier (validated on construction)."""

    name: str
    quantile: str = "q95"
    headroom: float = 0.10
    spread: int = 1
    isolated: bool = False

    def __post_init__(self) -> None:
        if self.quantile not in QUANTILES + (MEAN,):
            raise ValueError(f"tier {self.name!r}: quantile {self.quantile!r} is not one of {QUANTILES + (MEAN,)}")
        if not (0 <= self.headroom < 1):
            raise ValueError(f"tier {self.name!r}: headroom {self.headroom} must be in [0, 1)")
        if int(self.spread) != self.spread or self.spread < 1:
            raise ValueError(f"tier {self.name!r}: spread {self.spread} must be an integer >= 1")


DEFAULT_TIERS: dict[str, Tier] = {
    t.name: t
    for t in (
        Tier("premium", "q99", 0.20, 2, False),
        Tier("standard", "q95", 0.10, 1, False),
        Tier("economy", "q90", 0.05, 1, False),
        Tier("dedicated", "q99", 0.20, 1, True),
    )
}


def tiers_frame(tiers: dict[str, Tier] | None = None) -> pd.DataFrame:
    """The Tiers table (``name, quantile, headroom, spread, isolated``)."""
    tiers = DEFAULT_TIERS if tiers is None else tiers
    return pd.DataFrame([vars(t) for t in tiers.values()], columns=list(TIER_COLUMNS))


def tiers_from_frame(frame: pd.DataFrame, path=None) -> dict[str, Tier]:
    """Validate a Tiers table; errors name the file, row and column."""
    missing = [c for c in ("name", "quantile", "headroom") if c not in frame.columns]
    if missing:
        raise InputDataError(f"missing column(s) {missing}; expected {list(TIER_COLUMNS)}", path=path)
    out: dict[str, Tier] = {}
    for row_no, row in enumerate(frame.to_dict("records"), start=2):
        isolated = row.get("isolated", False)
        if isinstance(isolated, str):
            isolated = isolated.strip().lower() in ("1", "true", "yes", "y")
        try:
            tier = Tier(str(row["name"]), str(row["quantile"]), float(row["headroom"]),
                        int(row.get("spread", 1) if pd.notna(row.get("spread", 1)) else 1), bool(isolated))
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
