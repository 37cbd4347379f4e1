"""The ingest stage as one call: read a trace, compute demand, summarise, write Parquet."""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from planner import columns as C
from planner.demand import groups_table
from planner.telemetry import Telemetry


@dataclass(frozen=True)
class Ingested:
    """What ``planner ingest`` produces."""

    telemetry: Telemetry
    catalog: pd.DataFrame
    demand: pd.DataFrame  # group level
    demand_functions: pd.DataFrame  # function level
    summary: dict
    warm: object = None  # planner.keepalive.WarmDemand: cold starts per app under the keep-alive policy


def ingest(path, fmt: str, *, catalog=None, slot: str = "1h", source_note: str | None = None,
           keep_alive="none", idle_cpu_share: float = 0.0, **options) -> Ingested:
    """Read ``path`` in format ``fmt`` and derive demand at ``slot`` (group memory under the
    ``keep_alive`` policy: ``none``, ``fixed:MINUTES`` or ``hybrid``; see planner/keepalive.py)."""
    from planner.ingest import read_telemetry

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        telemetry, cat = read_telemetry(path, fmt, catalog=catalog, **options)
    for w in caught:  # re-raise so callers see them once, after reading succeeded
        warnings.warn(str(w.message), stacklevel=2)
    return from_telemetry(telemetry, cat, slot=slot, source=source_note or f"{fmt}:{path}",
                          keep_alive=keep_alive, idle_cpu_share=idle_cpu_share, path=path)


def from_telemetry(telemetry: Telemetry, catalog: pd.DataFrame, *, slot: str = "1h", source: str = "",
                   keep_alive="none", idle_cpu_share: float = 0.0, path=None) -> Ingested:
    """Demand and summary for telemetry already in memory."""
    from planner.errors import InputDataError
    from planner.keepalive import demand_with_keep_alive

    if telemetry.repairs:
        shown = "; ".join(telemetry.repairs[:3]) + (" …" if len(telemetry.repairs) > 3 else "")
        warnings.warn(f"{len(telemetry.repairs)} repair(s): {shown}", stacklevel=2)
    try:
        levels, warm = demand_with_keep_alive(telemetry, catalog, keep_alive, slot=slot,
                                              idle_cpu_share=idle_cpu_share)
    except ValueError as exc:  # a window the trace's interval cannot express
        if isinstance(exc, InputDataError):
            raise
        raise InputDataError(f"keep-alive {keep_alive}: {exc}", path=path) from None
    demand, demand_functions = levels["group"], levels["function"]
    groups = groups_table(catalog)
    idle = int((telemetry.counts.sum(axis=0) == 0).sum())
    peak_total = demand.groupby(C.DS)[[C.CPU_CORES, C.MEMORY_GB]].sum().max()
    summary = {
        "source": source,
        "functions": int(telemetry.n_functions),
        "groups": int(len(groups)),
        "apps": int(catalog[C.APP].nunique()),
        "customers": int(catalog[C.CUSTOMER].nunique()),
        "start": str(telemetry.index[0]),
        "end": str(telemetry.index[-1] + telemetry.index.freq),
        "interval": telemetry.index.freqstr,
        "slot": slot,
        "slots": int(demand[C.DS].nunique()),
        "invocations": float(telemetry.counts.sum(dtype="float64")),
        "idle_functions": idle,
        "gaps_repaired": len(telemetry.repairs),
        "repairs": list(telemetry.repairs),
        "peak_total_cpu_cores": round(float(peak_total[C.CPU_CORES]), 3),
        "peak_total_memory_gb": round(float(peak_total[C.MEMORY_GB]), 3),
        "sum_of_group_peaks_cpu_cores": round(float(demand.groupby(C.GROUP_ID)[C.CPU_CORES].max().sum()), 3),
        "keep_alive": str(warm.policy),
        "cold_start_rate": round(warm.cold_start_rate, 6),
        "keep_alive_detail": warm.summary(),
    }
    return Ingested(telemetry, catalog, demand, demand_functions, summary, warm)


def write_ingested(result: Ingested, out, *, telemetry: bool = True) -> list[Path]:
    """Write the tables as Parquet and the summary as JSON into ``out`` (all or nothing)."""
    import json

    import pyarrow as pa
    import pyarrow.parquet as pq

    from planner.io import atomic_dir

    out = Path(out)
    with atomic_dir(out) as tmp:
        if telemetry:
            _write_telemetry(result.telemetry, tmp / "telemetry.parquet", pa, pq)
        result.catalog.to_parquet(tmp / "catalog.parquet", index=False)
        result.demand.to_parquet(tmp / "demand.parquet", index=False)
        result.demand_functions.to_parquet(tmp / "demand_functions.parquet", index=False)
        if result.warm is not None:
            result.warm.apps.to_parquet(tmp / "cold_starts.parquet", index=False)
        (tmp / "summary.json").write_text(json.dumps(result.summary, indent=2) + "\n")
        names = [p.name for p in tmp.iterdir()]
    return [out / n for n in sorted(names)]


def _write_telemetry(tel: Telemetry, path: Path, pa, pq, rows_per_chunk: int = 360) -> None:
    """Long ``unique_id, ds, y`` in time chunks, ids dictionary-encoded, so memory stays bounded."""
    import numpy as np

    ids = pa.array(tel.ids.astype(str))
    writer = None
    n_f = tel.n_functions
    for r0 in range(0, len(tel.index), rows_per_chunk):
        r1 = min(len(tel.index), r0 + rows_per_chunk)
        block = tel.counts[r0:r1]
        uid = np.repeat(np.arange(n_f, dtype=np.int32), r1 - r0)
        ds = np.tile(tel.index.values[r0:r1], n_f)
        table = pa.table({
            C.UNIQUE_ID: pa.DictionaryArray.from_arrays(pa.array(uid), ids),
            C.DS: pa.array(ds),
            C.Y: pa.array(block.T.reshape(-1).astype(np.float64)),
        })
        if writer is None:
            writer = pq.ParquetWriter(path, table.schema)
        writer.write_table(table)
    writer.close()
