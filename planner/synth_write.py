"""Writers of a synthetic fleet: the generic long layout or the Azure 2019 day-file layout."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from planner import columns as C
from planner.io import atomic_dir
from planner.synth import SyntheticFleet, hashed


def write_long(fleet: SyntheticFleet, out) -> dict[str, Path]:
    """``telemetry.parquet`` (long; rows before a launch are absent: not yet live), ``catalog.csv``,
    ``launches.csv``, ``customers.csv``."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    out = Path(out)
    launch = fleet.apps.set_index(C.APP)["launch_ds"]
    # datetime64 with NaT for apps live from the start (an object array of None when none launches)
    first_live = pd.to_datetime(fleet.catalog[C.APP].map(launch)).to_numpy("datetime64[ns]")
    ids = fleet.catalog[C.UNIQUE_ID].to_numpy()
    with atomic_dir(out) as tmp:
        writer = None
        index = fleet.index
        for day in range(fleet.spec.days):
            counts = fleet.day_counts(day)
            ts = index[day * fleet.per_day : (day + 1) * fleet.per_day]
            n_t, n_f = counts.shape
            uid = np.repeat(np.arange(n_f), n_t)
            ds = np.tile(ts.values, n_f)
            live = ~(ds < first_live[uid])  # NaT compares False: live
            table = pa.table({
                C.UNIQUE_ID: pa.DictionaryArray.from_arrays(pa.array(uid[live], pa.int32()), pa.array(ids)),
                C.DS: pa.array(ds[live]),
                C.Y: pa.array(counts.T.reshape(-1)[live].astype(np.float64)),
            })
            if writer is None:
                writer = pq.ParquetWriter(tmp / "telemetry.parquet", table.schema)
            writer.write_table(table)
        writer.close()
        catalog = fleet.catalog.drop(columns=["timer_period_min"])
        catalog.to_csv(tmp / "catalog.csv", index=False)
        fleet.launches.to_csv(tmp / "launches.csv", index=False)
        fleet.customers.to_csv(tmp / "customers.csv", index=False)
    return {name: out / name for name in ("telemetry.parquet", "catalog.csv", "launches.csv", "customers.csv")}


def write_azure(fleet: SyntheticFleet, out) -> list[Path]:
    """The three kinds of Azure 2019 day files (per minute), with hashed ids, and ``trace.json``
    holding the date of day 1 (the layout has no dates; ``read_azure2019`` reads it from there)."""
    import json

    import pyarrow as pa
    import pyarrow.csv as pacsv

    from planner.ingest.azure2019 import DURATIONS, INVOCATIONS, MEMORY, TRACE_INFO

    out = Path(out)
    cat = fleet.catalog
    owner = np.array([hashed(c, "owner") for c in cat[C.CUSTOMER]])
    app = np.array([hashed(a, "app") for a in cat[C.APP]])
    func = np.array([hashed(f, "function") for f in cat[C.UNIQUE_ID]])
    written = []
    rng = np.random.default_rng([fleet.spec.seed, 31337])
    with atomic_dir(out) as tmp:
        (tmp / TRACE_INFO).write_text(json.dumps({"start": str(pd.Timestamp(fleet.spec.start).date()),
                                                  "source": "planner synth", "seed": fleet.spec.seed}, indent=2) + "\n")
        written.append(out / TRACE_INFO)
        for day in range(fleet.spec.days):
            counts = fleet.day_counts(day, "1min").T.astype(np.int64)  # [functions, 1440]
            cols = {"HashOwner": owner, "HashApp": app, "HashFunction": func, "Trigger": cat[C.TRIGGER].to_numpy()}
            cols.update({str(m + 1): counts[:, m] for m in range(1440)})
            name = INVOCATIONS.format(day + 1)
            pacsv.write_csv(pa.table(cols), tmp / name)
            written.append(out / name)
            total = counts.sum(axis=1)
            avg_ms = cat[C.DURATION_S].to_numpy() * 1000 * np.exp(rng.normal(0, 0.1, len(cat)))
            seen = total > 0
            dur = pd.DataFrame({
                "HashOwner": owner, "HashApp": app, "HashFunction": func,
                "Average": np.round(avg_ms, 3), "Count": total,
                "Minimum": np.round(avg_ms * 0.3, 3), "Maximum": np.round(avg_ms * 3.0, 3),
                "percentile_Average_0": np.round(avg_ms * 0.3, 3), "percentile_Average_1": np.round(avg_ms * 0.4, 3),
                "percentile_Average_25": np.round(avg_ms * 0.8, 3), "percentile_Average_50": np.round(avg_ms, 3),
                "percentile_Average_75": np.round(avg_ms * 1.2, 3), "percentile_Average_99": np.round(avg_ms * 2.5, 3),
                "percentile_Average_100": np.round(avg_ms * 3.0, 3),
            })[seen]
            name = DURATIONS.format(day + 1)
            dur.to_csv(tmp / name, index=False)
            written.append(out / name)
            if day < 12:  # the real trace has no memory files for days 13 and 14
                per_app = cat.assign(HashOwner=owner, HashApp=app).groupby("HashApp").agg(
                    HashOwner=("HashOwner", "first"), mem=(C.MEMORY_MB, "first"))
                mem = per_app["mem"].to_numpy()
                frame = pd.DataFrame({"HashOwner": per_app["HashOwner"].to_numpy(), "HashApp": per_app.index,
                                      "SampleCount": 1440, "AverageAllocatedMb": mem})
                for pct, f in (("1", 0.7), ("5", 0.75), ("25", 0.9), ("50", 1.0), ("75", 1.1), ("95", 1.3), ("99", 1.4), ("100", 1.5)):
                    frame[f"AverageAllocatedMb_pct{pct}"] = np.round(mem * f, 1)
                name = MEMORY.format(day + 1)
                frame.to_csv(tmp / name, index=False)
                written.append(out / name)
    return written
