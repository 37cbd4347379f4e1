"""Validation shared by the readers: every failure names the file, the row or column, and what was
expected. Row numbers are 1-based lines of the file (the header is line 1)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from planner.errors import InputDataError


def require_file(path, what: str = "a file") -> None:
    """Fail clearly on a missing, empty or folder path (``what`` names the file expected)."""
    from pathlib import Path

    p = Path(path)
    if not p.exists():
        raise InputDataError("file not found", path=p)
    if p.is_dir():
        raise InputDataError(f"is a folder; expected {what}", path=p)
    if p.is_file() and p.stat().st_size == 0:
        raise InputDataError("file is empty; expected a header row and data", path=p)


def require_columns(frame: pd.DataFrame, required, *, path) -> None:
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise InputDataError(
            f"missing column(s) {', '.join(map(repr, missing))}; found {', '.join(map(str, frame.columns[:12]))}",
            path=path,
            column=missing[0],
        )


def require_rows(frame: pd.DataFrame, *, path) -> None:
    if len(frame) == 0:
        raise InputDataError("file has a header but no data rows", path=path)


def numeric_counts(frame: pd.DataFrame, columns, *, path, header_lines: int = 1) -> np.ndarray:
    """The given columns as a float32 matrix of non-negative counts.

    Empty cells are NaN (a gap, handled by the caller); text or negative values are errors.
    """
    out = np.empty((len(frame), len(columns)), dtype=np.float32)
    for j, col in enumerate(columns):
        raw = frame[col]
        values = pd.to_numeric(raw, errors="coerce")
        bad = values.isna() & raw.notna()
        if bad.any():
            i = int(np.flatnonzero(bad.to_numpy())[0])
            raise InputDataError(
                f"non-numeric count {raw.iloc[i]!r}; expected a number of invocations >= 0",
                path=path,
                row=i + 1 + header_lines,
                column=col,
            )
        arr = values.to_numpy(dtype=np.float64)
        neg = np.flatnonzero(arr < 0)
        if neg.size:
            i = int(neg[0])
            raise InputDataError(
                f"negative count {arr[i]:g}; expected invocations >= 0",
                path=path,
                row=i + 1 + header_lines,
                column=col,
            )
        out[:, j] = arr
    return out


def parse_timestamps(raw: pd.Series, *, path, column: str, header_lines: int = 1) -> pd.DatetimeIndex:
    """Parse timestamps; the first unparseable one is reported with its row."""
    ds = pd.to_datetime(raw, errors="coerce", format="mixed")
    bad = ds.isna()
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        raise InputDataError(
            f"unparseable timestamp {raw.iloc[i]!r}; expected e.g. 2026-07-01 00:05:00",
            path=path,
            row=i + 1 + header_lines,
            column=column,
        )
    if getattr(ds.dt, "tz", None) is not None:
        ds = ds.dt.tz_convert("UTC").dt.tz_localize(None)
    return pd.DatetimeIndex(ds).as_unit("ns")


def reject_duplicate_times(ds: pd.DatetimeIndex, *, path, column: str, header_lines: int = 1) -> None:
    dup = ds.duplicated()
    if dup.any():
        i = int(np.flatnonzero(dup)[0])
        raise InputDataError(
            f"duplicate timestamp {ds[i]}; each interval must appear once",
            path=path,
            row=i + 1 + header_lines,
            column=column,
        )
