"""Validation shared by the readers: every failure names the file, the row or column, and what was
expected. Row numbers are 1-based lines of the file (the header is line 1)."""

from __future__ import annotations

import contextlib

import numpy as np
import pandas as pd

from planner.errors import InputDataError

#: Plausibility bounds (docs/data.md): values beyond them are read, with a warning naming the reader,
#: the function and where the value is, because a unit slip (counts per hour read as per minute,
#: milliseconds as seconds) is far likelier than a real function this large.
#: Invocations per second of one function: 100,000/s (8.6 billion a day) is above every function
#: of the published traces (the Azure 2019 daily rates top out below it by orders of magnitude).
PLAUSIBLE_RATE_PER_S = 1e5
#: Per function instance in a catalog: well above the largest AWS Lambda function (10,240 MB,
#: 6 vCPU, 900 s timeout).
PLAUSIBLE_CATALOG = {"cpu_millicores": 16_000.0, "memory_mb": 32_768.0, "duration_s": 3_600.0}
#: Larger than a float32 can hold: a count this large would silently become infinite.
FLOAT32_MAX = float(np.finfo(np.float32).max)


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
        if bad.any():  # pandas < 3 coerces a text number beyond float64 ('1e400') to NaN, not to inf
            values = values.copy()
            for i in np.flatnonzero(bad.to_numpy()):
                with contextlib.suppress(TypeError, ValueError):
                    values.iloc[i] = float(str(raw.iloc[i]).strip())
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
        huge = np.flatnonzero(np.isinf(arr) | (np.abs(arr) > FLOAT32_MAX))
        if huge.size:
            i = int(huge[0])
            what = "non-finite count" if np.isinf(arr[i]) else "count too large to hold (beyond float32)"
            raise InputDataError(
                f"{what} {raw.iloc[i]!r}; expected a finite number of invocations >= 0",
                path=path,
                row=i + 1 + header_lines,
                column=col,
            )
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


def measured_values(frame: pd.DataFrame, column: str, *, path, what: str, header_lines: int = 1) -> pd.Series:
    """``column`` as floats >= 0 (``what`` names the figure and its unit, for the message). An empty
    cell stays NaN (no record: the caller's fallback counts it); text, infinite or negative values
    are errors naming the row, as a count would be (:func:`numeric_counts`)."""
    raw = frame[column]
    values = pd.to_numeric(raw, errors="coerce")
    checks = (
        (values.isna() & raw.notna(), "is not a number"),
        (np.isinf(values), "is not finite"),
        (values < 0, "is negative"),
    )
    for k, (bad, why) in enumerate(checks):
        if bad.any():
            i = int(np.flatnonzero(bad.to_numpy())[0])
            shown = raw.iloc[i] if k == 0 else f"{values.iloc[i]:g}"  # a number as written, not as np.float64
            raise InputDataError(f"{what} {str(shown)!r} {why}; expected a number >= 0 (or an empty cell for none)",
                                 path=path, row=i + 1 + header_lines, column=column)
    return values.astype(float)


def matched_catalog(parsed: pd.DataFrame, catalog, *, trace) -> pd.DataFrame:
    """The catalog (a path or a frame) that overrides the figures a trace's reader ``parsed``, read
    once. One that names none of the trace's functions is an error: it changed nothing, silently (e.g.
    Huawei functions keyed ``296`` where the trace's ids are ``296---224---pool22-300-128``). Columns
    the reader holds as text are read as text (a Huawei ``func`` of 296 was an int, and pandas 3
    refused it in the reader's text column: an internal error)."""
    from planner import columns as C
    from planner.catalog import read_catalog

    given = catalog if isinstance(catalog, pd.DataFrame) else read_catalog(catalog)
    ids = pd.Index(parsed[C.UNIQUE_ID]).astype(str)
    if len(ids) and not ids.isin(given[C.UNIQUE_ID].astype(str)).any():
        raise InputDataError(
            f"names none of the {len(ids)} functions of {trace} (its unique_id e.g. "
            f"{str(given[C.UNIQUE_ID].iloc[0])!r}, the trace's e.g. {ids[0]!r}); a catalog gives the figures of the "
            "trace's own functions", path=None if isinstance(catalog, pd.DataFrame) else catalog, column=C.UNIQUE_ID)
    text = [c for c in given.columns if c in parsed.columns and not pd.api.types.is_numeric_dtype(parsed[c])
            and pd.api.types.is_numeric_dtype(given[c])]
    return given.astype({c: str for c in text}) if text else given


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


def format_interval(td) -> str:
    """``5min``, ``1h``, ``30s``: an interval as a user writes it."""
    seconds = pd.Timedelta(td).total_seconds()
    if seconds < 60 or seconds % 60:
        return f"{seconds:g}s"
    minutes = seconds / 60
    return f"{minutes:g}min" if minutes < 60 or minutes % 60 else f"{minutes / 60:g}h"


def warn_implausible_counts(counts: np.ndarray, index: pd.DatetimeIndex, ids, interval_s: float, *,
                            path, reader: str) -> int:
    """Warn (naming ``reader``, the file, the function and the interval) when some function's count
    exceeds :data:`PLAUSIBLE_RATE_PER_S`; returns how many functions do. Counts must be finite."""
    import warnings

    if counts.size == 0:
        return 0
    bound = PLAUSIBLE_RATE_PER_S * interval_s
    peaks = counts.max(axis=0)
    over = np.flatnonzero(peaks > bound)
    if over.size:
        j = int(over[np.argmax(peaks[over])])
        i = int(np.argmax(counts[:, j]))
        value = float(counts[i, j])
        warnings.warn(
            f"{reader}: {path}: {over.size} function(s) exceed the plausible {PLAUSIBLE_RATE_PER_S:g} invocations "
            f"per second; the largest, {str(ids[j])!r}, has {value:.6g} invocations in the {format_interval(pd.Timedelta(seconds=interval_s))} "
            f"from {index[i]} ({value / interval_s:.3g}/s). Check the unit of the counts (docs/data.md, plausibility bounds)",
            stacklevel=3,
        )
    return int(over.size)
