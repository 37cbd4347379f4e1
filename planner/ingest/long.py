"""Reader of the generic long format: a CSV or Parquet table ``unique_id, ds, y`` plus a catalog.

All functions share one regular grid (the smallest step between timestamps). Before a function's
first row and after its last it is taken as not live (zero invocations), which is how launches and
retirements appear; a missing interval *inside* its span is a gap, repaired by interpolation up to
``max_gap`` intervals, else an error.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from planner import columns as C
from planner.catalog import read_catalog, require_coverage, validate_catalog
from planner.errors import InputDataError
from planner.ingest.checks import (numeric_counts, parse_timestamps, require_columns, require_file, require_rows,
                                   warn_implausible_counts)
from planner.telemetry import Telemetry, infer_freq


def read_long(path, catalog, *, max_gap: int = 3) -> tuple[Telemetry, pd.DataFrame]:
    """Read a long telemetry table and its catalog (a path or a frame)."""
    from planner.io import read_csv

    path = Path(path)
    require_file(path, "one table (.csv or .parquet) for --format long")
    if path.suffix == ".parquet":
        try:
            frame = pd.read_parquet(path)
        except (OSError, ValueError) as exc:
            raise InputDataError(f"not a readable Parquet file ({str(exc).strip().splitlines()[0]})", path=path) from None
    else:
        # Only an empty cell is missing: "NaN", "NA", "inf" stay text and are reported as such.
        frame = read_csv(path, dtype={C.UNIQUE_ID: str, C.Y: str, C.DS: str}, keep_default_na=False, na_values=[""])
    require_columns(frame, [C.UNIQUE_ID, C.DS, C.Y], path=path)
    require_rows(frame, path=path)
    cat_path = catalog if not isinstance(catalog, pd.DataFrame) else None
    cat = read_catalog(catalog) if cat_path is not None else validate_catalog(catalog)

    ids = frame[C.UNIQUE_ID].astype(str)
    if pd.api.types.is_datetime64_any_dtype(frame[C.DS]):
        ds = pd.DatetimeIndex(frame[C.DS]).as_unit("ns")
        if ds.tz is not None:
            ds = ds.tz_convert("UTC").tz_localize(None)
        if ds.isna().any():
            i = int(np.flatnonzero(ds.isna())[0])
            raise InputDataError("missing timestamp", path=path, row=i + 2, column=C.DS)
    else:
        ds = parse_timestamps(frame[C.DS], path=path, column=C.DS)
    y = numeric_counts(frame, [C.Y], path=path)[:, 0]
    if np.isnan(y).any():
        i = int(np.flatnonzero(np.isnan(y))[0])
        raise InputDataError("empty count; expected a number of invocations >= 0", path=path, row=i + 2, column=C.Y)
    keyed = pd.DataFrame({"i": ids.to_numpy(), "t": ds.asi8})
    dup = keyed.duplicated(["i", "t"])
    if dup.any():
        r = int(np.flatnonzero(dup.to_numpy())[0])
        raise InputDataError(
            f"duplicate (unique_id, ds) = ({ids.iloc[r]!r}, {ds[r]}); each function and interval must appear once",
            path=path, row=r + 2, column=C.DS,
        )

    times = pd.DatetimeIndex(np.unique(ds.asi8)).as_unit("ns")
    freq = infer_freq(times, path=path)
    grid = pd.date_range(times[0], times[-1], freq=freq)
    func_codes, func_ids = pd.factorize(ids, sort=True)
    t_codes = (ds.asi8 - grid.asi8[0]) // freq.value
    counts = np.full((len(grid), len(func_ids)), np.nan, dtype=np.float32)
    counts[t_codes, func_codes] = y
    counts, notes = _fill_inside_gaps(counts, grid, func_ids, max_gap=max_gap, path=path)
    warn_implausible_counts(counts, grid, func_ids, freq.total_seconds(), path=path, reader="read_long")
    cat = require_coverage(cat, func_ids, path=cat_path or path)
    return Telemetry(pd.DatetimeIndex(grid, freq=freq), pd.Index(func_ids, name=C.UNIQUE_ID), counts, tuple(notes)), cat


def _fill_inside_gaps(counts, grid, ids, *, max_gap: int, path):
    """Zero outside each function's observed span; interpolate short gaps inside it."""
    notes = []
    observed = ~np.isnan(counts)
    first = observed.argmax(axis=0)
    last = len(grid) - 1 - observed[::-1].argmax(axis=0)
    rows = np.arange(len(grid))[:, None]
    outside = (rows < first) | (rows > last)
    counts[outside] = 0.0
    inside_gap = np.isnan(counts)
    if inside_gap.any():
        frame = pd.DataFrame(counts)
        for j in np.flatnonzero(inside_gap.any(axis=0)):
            gap = inside_gap[:, j]
            run_id = np.cumsum(~gap)
            runs = pd.Series(gap).groupby(run_id).sum()
            longest = int(runs.max())
            if longest > max_gap:
                at = grid[int(np.flatnonzero(gap)[0])]
                raise InputDataError(
                    f"function {ids[j]!r} has a gap of {longest} missing intervals (first missing {at}); "
                    f"at most {max_gap} are repaired",
                    path=path, column=C.DS,
                )
            notes.append(f"{ids[j]}: {int(gap.sum())} missing interval(s) filled by linear interpolation")
        counts = frame.interpolate(method="linear", axis=0, limit_area="inside").to_numpy(np.float32)
    return counts, notes
