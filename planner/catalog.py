"""The FunctionCatalog: what each function is (app, customer, instance size, duration).

Stated defaults where a trace does not record a figure (see docs/data.md):
- ``DEFAULT_DURATION_S`` = exp(-0.38) s, the median of the log-normal fit of Azure 2019 average
  execution times (Shahrad et al., ATC 2020); used for Huawei data, which has no durations.
- CPU per instance, which Azure does not record, follows the Huawei instance sizes
  (128 MB→300 m, 256→400, 2048→1800, 3072→2600): ``cpu_millicores ≈ 200 + 0.78 × memory_mb``.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from planner import columns as C
from planner.errors import InputDataError

DEFAULT_DURATION_S = round(math.exp(-0.38), 3)


def cpu_from_memory(memory_mb) -> np.ndarray:
    """Millicores per instance for a memory size, fitted on the Huawei instance sizes."""
    return np.round(200.0 + 0.78 * np.asarray(memory_mb, dtype=float))


def read_catalog(path) -> pd.DataFrame:
    """Read and validate a catalog file (CSV or Parquet)."""
    from pathlib import Path

    from planner.ingest.checks import require_file

    from planner.io import read_csv

    path = Path(path)
    require_file(path, "a catalog file (.csv or .parquet)")
    if path.suffix != ".parquet":
        return validate_catalog(read_csv(path), path=path)
    try:
        frame = pd.read_parquet(path)
    except (ValueError, OSError) as exc:
        raise InputDataError(f"cannot read catalog: {exc}", path=path) from None
    return validate_catalog(frame, path=path)


def validate_catalog(frame: pd.DataFrame, *, path=None) -> pd.DataFrame:
    """Check columns, types and ranges; fill ``group_id`` (default: the app) and ``trigger``."""
    from planner.ingest.checks import require_columns, require_rows

    require_columns(frame, C.CATALOG_REQUIRED, path=path)
    require_rows(frame, path=path)
    out = frame.copy()
    out[C.UNIQUE_ID] = out[C.UNIQUE_ID].astype(str)
    dup = out[C.UNIQUE_ID].duplicated()
    if dup.any():
        i = int(np.flatnonzero(dup.to_numpy())[0])
        raise InputDataError(
            f"duplicate unique_id {out[C.UNIQUE_ID].iloc[i]!r}; each function must appear once",
            path=path, row=i + 2, column=C.UNIQUE_ID,
        )
    from planner.ingest.checks import PLAUSIBLE_CATALOG

    for col in (C.CPU_MILLICORES, C.MEMORY_MB, C.DURATION_S):
        values = pd.to_numeric(out[col], errors="coerce")
        bad = values.isna() | ~(values > 0) | ~np.isfinite(values.astype(float))
        if bad.any():
            i = int(np.flatnonzero(bad.to_numpy())[0])
            raise InputDataError(
                f"{col} is {str(out[col].iloc[i])!r}; expected a finite number > 0",
                path=path, row=i + 2, column=col,
            )
        out[col] = values.astype(float)
        over = np.flatnonzero(out[col].to_numpy() > PLAUSIBLE_CATALOG[col])
        if over.size:
            import warnings

            i = int(over[np.argmax(out[col].to_numpy()[over])])
            where = f"{path}, row {i + 2}" if path is not None else f"row {i + 2}"
            warnings.warn(f"validate_catalog: {where}, column {col!r}: {over.size} function(s) above the plausible "
                          f"{PLAUSIBLE_CATALOG[col]:g} {col}; the largest, {out[C.UNIQUE_ID].iloc[i]!r}, has "
                          f"{out[col].iloc[i]:g}. Check the unit (docs/data.md, plausibility bounds)", stacklevel=2)
    for col in (C.APP, C.CUSTOMER):
        empty = out[col].isna() | (out[col].astype(str).str.strip() == "")
        if empty.any():  # astype(str) made an empty cell the name "nan", silently one app or customer
            i = int(np.flatnonzero(empty.to_numpy())[0])
            raise InputDataError(f"empty {col} for function {out[C.UNIQUE_ID].iloc[i]!r}; every function needs "
                                 f"its {col}", path=path, row=i + 2, column=col)
        out[col] = out[col].astype(str)
    if C.GROUP_ID not in out or out[C.GROUP_ID].isna().all():
        out[C.GROUP_ID] = out[C.APP]
    out[C.GROUP_ID] = out[C.GROUP_ID].fillna(out[C.APP]).astype(str)
    if C.TRIGGER not in out:
        out[C.TRIGGER] = "unknown"
    out[C.TRIGGER] = out[C.TRIGGER].fillna("unknown").astype(str)
    extra = [c for c in out.columns if c not in C.CATALOG_COLUMNS]
    return out[list(C.CATALOG_COLUMNS) + extra].reset_index(drop=True)


def require_coverage(catalog: pd.DataFrame, ids, *, path=None) -> pd.DataFrame:
    """The catalog rows of ``ids`` in that order; a function with no entry is an error."""
    indexed = catalog.set_index(C.UNIQUE_ID)
    ids = pd.Index(ids).astype(str)
    missing = ids.difference(indexed.index)
    if len(missing):
        shown = ", ".join(map(repr, list(missing[:5])))
        more = f" and {len(missing) - 5} more" if len(missing) > 5 else ""
        raise InputDataError(
            f"{len(missing)} function(s) have no catalog entry: {shown}{more}; add rows for them",
            path=path, column=C.UNIQUE_ID,
        )
    out = indexed.loc[ids]
    out.index.name = C.UNIQUE_ID  # pandas 2 names the result after ``ids``, pandas 3 keeps the column's
    return out.reset_index()


def override_catalog(parsed: pd.DataFrame, catalog) -> pd.DataFrame:
    """``parsed`` with the figures a catalog (path or frame) gives for its functions replaced;
    functions the catalog lacks keep what the trace said."""
    given = catalog if isinstance(catalog, pd.DataFrame) else read_catalog(catalog)
    given = given.set_index(C.UNIQUE_ID)
    out = parsed.set_index(C.UNIQUE_ID)
    common = out.index.intersection(given.index)
    for col in given.columns:
        if col in out.columns:
            out.loc[common, col] = given.loc[common, col]
    return out.reset_index()
