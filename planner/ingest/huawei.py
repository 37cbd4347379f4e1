"""Reader of the Huawei Cloud per-function request layout.

One row per 5-minute interval: a ``date`` column, then one column per function named
``FUNC---APP---poolNN-CPU-MEM`` (CPU in millicores and memory in MB per instance). Durations are not
recorded: they come from a catalog file or from the stated default (planner.catalog).
Assumptions (docs/data.md): the app is the group, and each app is its own customer.
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from planner import columns as C
from planner.catalog import DEFAULT_DURATION_S, override_catalog
from planner.errors import InputDataError
from planner.ingest.checks import (
    numeric_counts,
    parse_timestamps,
    reject_duplicate_times,
    require_columns,
    require_file,
    require_rows,
    warn_implausible_counts,
)
from planner.telemetry import Telemetry, regularise

COLUMN_PATTERN = re.compile(r"^(?P<func>[^-]+)---(?P<app>[^-]+)---pool(?P<pool>\d+)-(?P<cpu>\d+)-(?P<mem>\d+)$")
TIME_COLUMN = "date"


def parse_function_column(name: str, *, path=None) -> dict:
    """Split ``FUNC---APP---poolNN-CPU-MEM`` into its parts; any other name is an error."""
    m = COLUMN_PATTERN.match(name)
    if not m:
        raise InputDataError(
            "column name does not follow FUNC---APP---poolNN-CPU-MEM "
            "(e.g. 296---224---pool22-300-128)",
            path=path,
            column=name,
        )
    return {
        "func": m["func"],
        C.APP: m["app"],
        "pool": f"pool{m['pool']}",
        C.CPU_MILLICORES: float(m["cpu"]),
        C.MEMORY_MB: float(m["mem"]),
    }


def read_huawei(
    path,
    *,
    catalog=None,
    duration_s: float = DEFAULT_DURATION_S,
    max_gap: int = 6,
) -> tuple[Telemetry, pd.DataFrame]:
    """Read a Huawei per-function request file.

    Args:
        path: the CSV file.
        catalog: optional catalog file (or frame) whose rows override the parsed figures, e.g. to
            give real durations; functions it lacks keep the parsed size and ``duration_s``.
        duration_s: execution time assumed where no catalog gives one (seconds).
        max_gap: missing intervals in a row that are repaired by interpolation (6 = 30 minutes).

    Returns:
        ``(Telemetry, FunctionCatalog)``; ``unique_id`` is the full column name.
    """
    from planner.io import read_csv

    path = Path(path)
    require_file(path, "one CSV file for --format huawei (a folder of day files is --format azure)")
    frame = read_csv(path, dtype=str, keep_default_na=False, na_values=[""])
    require_columns(frame, [TIME_COLUMN], path=path)
    require_rows(frame, path=path)
    func_cols = [c for c in frame.columns if c != TIME_COLUMN]
    if not func_cols:
        raise InputDataError("no function columns beside 'date'", path=path)
    parts = [parse_function_column(c, path=path) for c in func_cols]

    ds = parse_timestamps(frame[TIME_COLUMN], path=path, column=TIME_COLUMN)
    counts = numeric_counts(frame, func_cols, path=path)
    order = ds.argsort(kind="stable")
    ds, counts = ds[order], counts[order]
    reject_duplicate_times(ds, path=path, column=TIME_COLUMN)
    if pd.isna(counts).any():
        counts = _fill_missing_cells(counts, ds, func_cols, max_gap=max_gap, path=path)
        notes = [f"empty cells filled by linear interpolation (at most {max_gap} in a row)"]
    else:
        notes = []
    grid, counts, gap_notes = regularise(ds, counts, max_gap=max_gap, path=path)
    warn_implausible_counts(counts, grid, func_cols, pd.Timedelta(grid.freq).total_seconds(), path=path,
                            reader="read_huawei")

    cat = pd.DataFrame(parts)
    cat.insert(0, C.UNIQUE_ID, func_cols)
    cat[C.CUSTOMER] = cat[C.APP]
    cat[C.DURATION_S] = float(duration_s)
    cat[C.TRIGGER] = "unknown"
    cat[C.GROUP_ID] = cat[C.APP]
    if catalog is not None:
        from planner.ingest.checks import matched_catalog

        cat = override_catalog(cat, matched_catalog(cat, catalog, trace=path))
    from planner.catalog import validate_catalog

    cat = validate_catalog(cat, path=path)
    return Telemetry(grid, pd.Index(func_cols, name=C.UNIQUE_ID), counts, tuple(notes + gap_notes)), cat


def _fill_missing_cells(counts, ds, names, *, max_gap: int, path):
    """Interpolate runs of empty cells up to ``max_gap`` long; longer runs are errors."""
    import numpy as np

    frame = pd.DataFrame(counts, columns=names)
    for j, name in enumerate(names):
        isna = frame[name].isna().to_numpy()
        if not isna.any():
            continue
        run_id = np.cumsum(~isna)
        runs = pd.Series(isna).groupby(run_id).sum()
        if runs.max() > max_gap:
            start = int(np.flatnonzero(isna)[0])
            raise InputDataError(
                f"{int(runs.max())} empty cells in a row (first empty at {ds[start]}); at most {max_gap} are repaired",
                path=path, column=name,
            )
        if isna[0] or isna[-1]:
            raise InputDataError(
                "empty cell at the start or end of the series cannot be interpolated", path=path, column=name
            )
    return frame.interpolate(method="linear", axis=0, limit_area="inside").to_numpy(np.float32)
