"""Reader of the Azure Functions 2019 trace layout (Shahrad et al., ATC 2020).

Files in one folder, one per day NN:
- ``invocations_per_function_md.anon.dNN.csv``: HashOwner, HashApp, HashFunction, Trigger, 1..1440
  (invocations per minute of the day);
- ``function_durations_percentiles.anon.dNN.csv``: per function Average and Count (ms);
- ``app_memory_percentiles.anon.dNN.csv``: per app SampleCount and AverageAllocatedMb.

Day files are streamed with pyarrow's multi-threaded CSV reader into one float32 matrix, so the full
trace (~46,000 functions x 14 days x 1,440 minutes) is held as numbers, not strings. Owners are
customers and apps are groups. A function absent from a day's file had no invocations that day.
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from planner import columns as C
from planner.catalog import DEFAULT_DURATION_S, cpu_from_memory, validate_catalog
from planner.errors import InputDataError
from planner.ingest.checks import (PLAUSIBLE_RATE_PER_S, measured_values, numeric_counts, require_columns,
                                   require_file)
from planner.io import read_csv
from planner.telemetry import Telemetry

INVOCATIONS = "invocations_per_function_md.anon.d{:02d}.csv"
DURATIONS = "function_durations_percentiles.anon.d{:02d}.csv"
MEMORY = "app_memory_percentiles.anon.d{:02d}.csv"
KEYS = ["HashOwner", "HashApp", "HashFunction"]
MINUTES = [str(m) for m in range(1, 1441)]
# The released trace was collected in July 2019; its validation plots run from Monday 15 July.
DEFAULT_START = "2019-07-15"
# Optional file beside the day files giving the date of day 1 ({"start": "2026-01-05"}); planner synth
# writes it, since the layout itself has no dates.
TRACE_INFO = "trace.json"
DEFAULT_MEMORY_MB = 170.0  # median app allocation in the paper, used for apps with no memory record


def day_files(folder: Path, pattern: str) -> dict[int, Path]:
    """Map day number -> path for the files of one kind in ``folder``."""
    regex = re.compile(re.escape(pattern.format(0)).replace("00", r"(\d{2})"))
    out = {}
    for p in folder.iterdir():
        m = regex.fullmatch(p.name)
        if m:
            out[int(m.group(1))] = p
    return dict(sorted(out.items()))


def read_azure2019(
    folder,
    *,
    start: str | None = None,
    days: list[int] | None = None,
) -> tuple[Telemetry, pd.DataFrame]:
    """Read the Azure 2019 trace in ``folder`` (all day files found, or the listed ``days``).

    Day 1 is dated ``start``; by default the ``start`` of the folder's ``trace.json`` when there is
    one (planner synth writes it), else :data:`DEFAULT_START` (the real trace's first Monday).

    Returns ``(Telemetry, FunctionCatalog)``; ``unique_id`` is ``HashApp/HashFunction``.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise InputDataError("not a folder of Azure 2019 day files", path=folder)
    if start is None:
        start = _trace_start(folder)
    inv_files = day_files(folder, INVOCATIONS)
    if days is not None:
        missing = [d for d in days if d not in inv_files]
        if missing:
            raise InputDataError(f"no invocation file for day(s) {missing}", path=folder)
        inv_files = {d: inv_files[d] for d in days}
    if not inv_files:
        raise InputDataError(
            f"no files named {INVOCATIONS.format(1).replace('01', 'NN')}", path=folder
        )
    numbers = list(inv_files)
    gaps = [n for n in range(numbers[0], numbers[-1] + 1) if n not in inv_files]
    if gaps:
        raise InputDataError(
            f"day file(s) {', '.join(INVOCATIONS.format(g) for g in gaps)} missing between "
            f"day {numbers[0]} and day {numbers[-1]}; a whole day is too long a gap to repair",
            path=folder,
        )

    index = pd.date_range(pd.Timestamp(start) + pd.Timedelta(days=numbers[0] - 1),
                          periods=1440 * len(numbers), freq="1min")
    codes: dict[tuple, int] = {}
    meta: list[tuple] = []  # (owner, app, function, trigger) per code
    counts = np.zeros((len(index), 0), dtype=np.float32)
    for k, (day, path) in enumerate(inv_files.items()):
        keys, trig, minutes = _read_invocation_day(path)
        pos = np.empty(len(keys), dtype=np.int64)
        for i, key in enumerate(keys):
            c = codes.get(key)
            if c is None:
                c = codes[key] = len(meta)
                meta.append((*key, trig[i]))
            pos[i] = c
        if len(meta) > counts.shape[1]:
            grown = np.zeros((len(index), max(len(meta), int(counts.shape[1] * 1.25))), dtype=np.float32)
            grown[:, : counts.shape[1]] = counts
            counts = grown
        counts[k * 1440 : (k + 1) * 1440, pos] = minutes
        del minutes
    counts = counts[:, : len(meta)]

    owners, apps, funcs, triggers = (list(x) for x in zip(*meta))
    ids = pd.Index([f"{a}/{f}" for a, f in zip(apps, funcs)], name=C.UNIQUE_ID)
    catalog = pd.DataFrame({C.UNIQUE_ID: ids, C.APP: apps, C.CUSTOMER: owners, C.TRIGGER: triggers,
                            "function": funcs})
    catalog = _add_durations(catalog, folder, list(inv_files))
    catalog = _add_memory(catalog, folder, list(inv_files))
    catalog[C.CPU_MILLICORES] = cpu_from_memory(catalog[C.MEMORY_MB])
    catalog[C.GROUP_ID] = catalog[C.APP]
    catalog = validate_catalog(catalog.drop(columns="function"), path=folder)
    return Telemetry(pd.DatetimeIndex(index, freq="1min"), ids, counts), catalog


def _trace_start(folder: Path) -> str:
    """Date of day 1 from ``trace.json`` in ``folder``, else :data:`DEFAULT_START`."""
    import json

    info = folder / TRACE_INFO
    if not info.is_file():
        return DEFAULT_START
    try:
        start = json.loads(info.read_text())["start"]
        pd.Timestamp(start)
    except (ValueError, KeyError, TypeError) as exc:
        raise InputDataError(f"expected {{\"start\": \"YYYY-MM-DD\"}} ({type(exc).__name__}: {exc})", path=info) from None
    return str(start)


def _read_invocation_day(path: Path):
    """Keys, triggers and a float32 [1440 x functions] matrix of one day file, validated."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    require_file(path)
    types = {c: pa.float32() for c in MINUTES}
    types.update({c: pa.string() for c in KEYS + ["Trigger"]})
    try:
        table = pacsv.read_csv(path, convert_options=pacsv.ConvertOptions(column_types=types, null_values=[""]))
    except pa.ArrowInvalid as exc:
        # pyarrow says what failed but not in our terms: re-read the slow way to name the row.
        _explain_day_file(path, exc)
        raise  # _explain_day_file always raises; this keeps type checkers calm
    require_columns(_Header(table.column_names), KEYS + ["Trigger"] + MINUTES, path=path)
    if table.num_rows == 0:
        raise InputDataError("file has a header but no data rows", path=path)
    # Minute-major, so each column lands in a contiguous row and the day drops into the grid as is.
    minutes = np.empty((1440, table.num_rows), dtype=np.float32)
    for j, c in enumerate(MINUTES):
        col = table.column(c)
        if col.null_count:
            row = int(np.flatnonzero(col.is_null().to_numpy(zero_copy_only=False))[0])
            raise InputDataError("empty count; expected a number of invocations >= 0",
                                 path=path, row=row + 2, column=c)
        minutes[j] = col.to_numpy()
    # One pass finds NaN ("nan" in the file), inf and implausible counts: max propagates NaN.
    peaks = minutes.max(axis=0)
    if not np.isfinite(peaks).all():
        r = int(np.flatnonzero(~np.isfinite(peaks))[0])
        j = int(np.flatnonzero(~np.isfinite(minutes[:, r]))[0])
        raise InputDataError(f"non-finite count {minutes[j, r]:g}; expected a finite number of invocations >= 0",
                             path=path, row=r + 2, column=MINUTES[j])
    if (minutes < 0).any():
        j, r = np.argwhere(minutes < 0)[0]
        raise InputDataError(f"negative count {minutes[j, r]:g}; expected invocations >= 0",
                             path=path, row=int(r) + 2, column=MINUTES[j])
    keys = list(zip(*(table.column(c).to_pylist() for c in KEYS)))
    over = np.flatnonzero(peaks > PLAUSIBLE_RATE_PER_S * 60)
    if over.size:
        r = int(over[np.argmax(peaks[over])])
        j = int(np.argmax(minutes[:, r]))
        warnings.warn(f"read_azure2019: {path}, row {r + 2}, column {MINUTES[j]!r}: {over.size} function(s) exceed the "
                      f"plausible {PLAUSIBLE_RATE_PER_S:g} invocations per second; the largest, {keys[r][2]!r} of app "
                      f"{keys[r][1]!r}, has {minutes[j, r]:.6g} in one minute ({minutes[j, r] / 60:.3g}/s). Check the "
                      "unit of the counts (docs/data.md, plausibility bounds)", stacklevel=3)
    seen = {}
    for i, key in enumerate(keys):
        if key in seen:
            raise InputDataError(f"duplicate function {key[2]!r} of app {key[1]!r} (also on line {seen[key] + 2})",
                                 path=path, row=i + 2, column="HashFunction")
        seen[key] = i
    return keys, table.column("Trigger").to_pylist(), minutes


class _Header:
    """Just enough of a DataFrame for require_columns."""

    def __init__(self, names):
        self.columns = pd.Index(names)


def _explain_day_file(path: Path, exc: Exception):
    frame = read_csv(path, dtype=str)
    require_columns(frame, KEYS + ["Trigger"] + MINUTES, path=path)
    numeric_counts(frame, MINUTES, path=path)
    raise InputDataError(f"cannot read: {exc}", path=path) from None


def _add_durations(catalog: pd.DataFrame, folder: Path, days: list[int]) -> pd.DataFrame:
    """Count-weighted mean of the daily average execution time, in seconds."""
    files = day_files(folder, DURATIONS)
    parts = []
    for d in days:
        if d in files:
            f = read_csv(files[d], usecols=lambda c: c in ("HashApp", "HashFunction", "Average", "Count"))
            require_columns(f, ["HashApp", "HashFunction", "Average", "Count"], path=files[d])
            for col, what in (("Average", "average execution time (ms)"), ("Count", "execution count")):
                f[col] = measured_values(f, col, path=files[d], what=what)
            parts.append(f)
    if parts:
        dur = pd.concat(parts)
        dur["w"] = dur["Average"] * dur["Count"]
        agg = dur.groupby(["HashApp", "HashFunction"])[["w", "Count"]].sum()
        agg = (agg["w"] / agg["Count"].where(agg["Count"] > 0)).rename("avg_ms").reset_index()
        agg[C.UNIQUE_ID] = agg["HashApp"] + "/" + agg["HashFunction"]
        catalog = catalog.merge(agg[[C.UNIQUE_ID, "avg_ms"]], on=C.UNIQUE_ID, how="left")
        catalog[C.DURATION_S] = catalog.pop("avg_ms") / 1000.0
    else:
        catalog[C.DURATION_S] = np.nan
    # Execution times below a millisecond are recorded as 0; keep Little's law meaningful.
    catalog[C.DURATION_S] = catalog[C.DURATION_S].where(catalog[C.DURATION_S] > 0)
    missing = int(catalog[C.DURATION_S].isna().sum())
    if missing:
        app_median = catalog.groupby(C.APP)[C.DURATION_S].transform("median")
        catalog[C.DURATION_S] = catalog[C.DURATION_S].fillna(app_median).fillna(DEFAULT_DURATION_S)
        warnings.warn(f"{folder}: {missing} of {len(catalog)} functions have no duration record; "
                      f"used their app's median, else {DEFAULT_DURATION_S} s", stacklevel=3)
    return catalog


def _add_memory(catalog: pd.DataFrame, folder: Path, days: list[int]) -> pd.DataFrame:
    """Sample-weighted mean allocated memory of the app, taken as the memory of one instance."""
    files = day_files(folder, MEMORY)
    parts = []
    for d in days:
        if d in files:
            f = read_csv(files[d], usecols=lambda c: c in ("HashApp", "SampleCount", "AverageAllocatedMb"))
            require_columns(f, ["HashApp", "SampleCount", "AverageAllocatedMb"], path=files[d])
            for col, what in (("SampleCount", "sample count"), ("AverageAllocatedMb", "allocated memory (MB)")):
                f[col] = measured_values(f, col, path=files[d], what=what)
            parts.append(f)
    if parts:
        mem = pd.concat(parts)
        mem["w"] = mem["AverageAllocatedMb"] * mem["SampleCount"]
        agg = mem.groupby("HashApp")[["w", "SampleCount"]].sum()
        per_app = (agg["w"] / agg["SampleCount"].where(agg["SampleCount"] > 0)).rename(C.MEMORY_MB)
        catalog = catalog.merge(per_app, left_on=C.APP, right_index=True, how="left")
    else:
        catalog[C.MEMORY_MB] = np.nan
    catalog[C.MEMORY_MB] = catalog[C.MEMORY_MB].where(catalog[C.MEMORY_MB] > 0)
    missing = int(catalog[C.MEMORY_MB].isna().sum())
    if missing:
        catalog[C.MEMORY_MB] = catalog[C.MEMORY_MB].fillna(DEFAULT_MEMORY_MB)
        warnings.warn(f"{folder}: {missing} of {len(catalog)} functions belong to apps with no memory record; "
                      f"used {DEFAULT_MEMORY_MB:g} MB (the paper's median app)", stacklevel=3)
    return catalog
