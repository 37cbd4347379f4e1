"""The server catalog: default types and a validated reader for ServerCatalog files.

Columns: ``type, cpu_cores, memory_gb, cost_per_month`` (required), ``max_count``,
``lead_time_weeks``, ``pool`` (optional). Costs are per server per month.
"""

from __future__ import annotations

import math

import pandas as pd

from models.packing.instance import ServerType
from planner.columns import CPU_CORES, MEMORY_GB, RESOURCES
from planner.errors import InputDataError

__all__ = ["SERVER_COLUMNS", "default_servers", "validate_servers", "load_servers", "server_types"]

SERVER_COLUMNS = ("type", CPU_CORES, MEMORY_GB, "cost_per_month", "max_count", "lead_time_weeks", "pool")
_REQUIRED = ("type", CPU_CORES, MEMORY_GB, "cost_per_month")


def default_servers() -> pd.DataFrame:
    """Three realistic types: compute-dense, general purpose and memory-rich (monthly TCO, USD), with the
    lead times of the scenario defaults (planner.scenarios)."""
    return pd.DataFrame(
        [
            ("c-32", 32, 128, 1100.0, pd.NA, 4, "default"),
            ("m-64", 64, 256, 2000.0, pd.NA, 6, "default"),
            ("r-64", 64, 512, 2700.0, pd.NA, 8, "default"),
        ],
        columns=list(SERVER_COLUMNS),
    ).astype({"max_count": "Int64"})


def validate_servers(frame: pd.DataFrame, path=None) -> pd.DataFrame:
    """Check a ServerCatalog table; errors name the file, row (1-based, header = 1) and column."""
    missing = [c for c in _REQUIRED if c not in frame.columns]
    if missing:
        raise InputDataError(f"missing column(s) {missing}; expected {list(_REQUIRED)} (+ optional "
                             f"max_count, lead_time_weeks, pool)", path=path)
    if frame.empty:
        raise InputDataError("the server catalog has no rows", path=path)
    out = frame.copy()
    out["type"] = out["type"].astype(str)
    for i, row in enumerate(out.to_dict("records")):
        row_no = i + 2
        for col in (CPU_CORES, MEMORY_GB, "cost_per_month"):
            try:
                v = float(row[col])
            except (TypeError, ValueError):
                raise InputDataError(f"{row[col]!r} is not a number", path=path, row=row_no, column=col) from None
            if not (v > 0 and math.isfinite(v)):
                raise InputDataError(f"{col} must be a positive number, got {row[col]!r}", path=path,
                                     row=row_no, column=col)
        mc = row.get("max_count")
        if mc is not None and not pd.isna(mc):
            try:
                ok = float(mc) >= 0 and float(mc) == int(float(mc))
            except (TypeError, ValueError):
                ok = False
            if not ok:
                raise InputDataError(f"max_count must be a whole number >= 0 or empty, got {mc!r}",
                                     path=path, row=row_no, column="max_count")
    # A type may be offered in several pools (a row per pool, as `planner run` writes servers.csv).
    by_pool = "pool" in out.columns
    dup = out[["pool", "type"]].astype(str).duplicated() if by_pool else out["type"].duplicated()
    if dup.any():
        i = int(dup.to_numpy().nonzero()[0][0])
        where = f" in pool {str(out['pool'].iloc[i])!r}" if by_pool else ""
        raise InputDataError(f"duplicate server type {out['type'].iloc[i]!r}{where}", path=path, row=i + 2, column="type")
    for col in SERVER_COLUMNS:
        if col not in out.columns:
            out[col] = pd.NA
    out = out[list(SERVER_COLUMNS)]
    out[[CPU_CORES, MEMORY_GB, "cost_per_month"]] = out[[CPU_CORES, MEMORY_GB, "cost_per_month"]].astype(float)
    out["max_count"] = pd.to_numeric(out["max_count"], errors="coerce").astype("Int64")
    return out.reset_index(drop=True)


def load_servers(path) -> pd.DataFrame:
    """Read and validate a ServerCatalog CSV or Parquet file."""
    from planner.io import read_table

    try:
        frame = read_table(path)
    except FileNotFoundError:
        raise InputDataError("file not found", path=path) from None
    return validate_servers(frame, path=path)


def server_types(frame: pd.DataFrame, resources=RESOURCES) -> tuple[ServerType, ...]:
    """ServerCatalog rows as ``models.packing`` server types (capacities in ``resources`` order)."""
    frame = validate_servers(frame)
    return tuple(
        ServerType(
            name=str(row["type"]),
            capacity=tuple(float(row[r]) for r in resources),
            cost=float(row["cost_per_month"]),
            max_count=None if pd.isna(row["max_count"]) else int(row["max_count"]),
        )
        for row in frame.to_dict("records")
    )
