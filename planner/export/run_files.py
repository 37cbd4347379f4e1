"""A plan run's output folder: its tables (CSV and Parquet), summary.json, plan.xlsx, report.html
and plots, written all or nothing (planner.io.atomic_dir); a fleet's hourly forecast as one Parquet
file per pool."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from planner import columns as C
from planner.memory import release_heap

if TYPE_CHECKING:
    from planner.pipeline import PlanRun


def write_run(run: PlanRun, out: Path, *, force: bool = False, plots: bool = True, backtest=None,
              backtest_warnings: list[str] | None = None, executor=None) -> list[Path]:
    """Write the run's tables (CSV and Parquet), summary.json, plan.xlsx, report.html and plots,
    all or nothing. ``backtest`` (planner.backtest.OriginResult list) adds its tables, the Backtest
    sheets and the report's backtest section, with ``backtest_warnings`` (what its planning warned
    of) there and not among the plan's. With ``executor``'s local processes, the workbook,
    the report and the plots are written there while this process writes the tables
    (:func:`planner.export.files.write_files`)."""
    import json

    from planner.export.files import write_files
    from planner.export.plots import figure_rows
    from planner.export.tables import default_charts, plan_to_frames
    from planner.io import atomic_dir

    out = Path(out)
    from planner.io import refuse_existing

    refuse_existing(out, force)
    tables = {
        "plan": run.plan, "purchases": run.purchases, "assignment": run.assignment,
        "utilisation": run.utilisation, "qos": run.qos, "forecast": run.forecast,
        "required": run.required, "shortfall": run.procurement.shortfall, "forecast_models": run.forecast_report,
    }
    if run.orders is not None:
        tables["orders"], tables["why"] = run.orders, run.why
    if run.profiles is not None:
        tables["profiles"] = run.profiles
    if run.forecast_calibration is not None:
        tables["forecast_calibration"] = run.forecast_calibration
    if run.deferral is not None:
        tables["deferral"] = run.deferral
    if run.planned_demand is not None:
        tables["planned_demand"] = run.planned_demand
    if run.pools is not None:
        tables["pools"], tables["placement"] = run.pools, run.placement.assign(allowed=run.placement["allowed"].map("|".join))
    per_pool = len(run.forecast) > FORECAST_CSV_ROWS
    if per_pool:  # a fleet's hourly forecast: Parquet per pool, no CSV (summary.json says so)
        tables.pop("forecast")
        run.summary["outputs"] = {"forecast": f"forecast/<pool>.parquet, one file per pool ({len(run.forecast):,} rows; "
                                              f"no forecast.csv above {FORECAST_CSV_ROWS:,} rows)"}
    if run.groups is not None:  # the run's rules, so that `planner verify` checks the plan as planned
        from planner.plan import servers_frame, tiers_of
        from planner.qos import tiers_frame
        from planner.servers import SERVER_COLUMNS

        tables["groups"] = run.groups
        tables["tiers"] = tiers_frame(tiers_of(run.scenario)).assign(  # + survive: planner verify's failover check
            survive=lambda f: f["name"].map({n: t.survive for n, t in run.scenario.tiers.items()}))
        tables["servers"] = servers_frame(run.scenario)[list(SERVER_COLUMNS)]
    for name in ("workers", "failover"):
        if getattr(run, name, None) is not None:
            tables[name] = getattr(run, name)
    past = None
    if backtest:
        from planner.backtest import summary_of, tables_of

        past = {"summary": summary_of(backtest, run.scenario), "tables": tables_of(backtest)}
        if backtest_warnings:
            past["summary"]["warnings"] = list(backtest_warnings)
    summary = run.summary if past is None else {**run.summary, "backtest": past["summary"]}
    frames = plan_to_frames(run.plan, purchases=run.purchases, assignment=run.assignment,
                            utilisation=run.utilisation, qos=run.qos, forecast=run.forecast,
                            profiles=run.profiles, pools=run.pools, orders=run.orders, why=run.why,
                            summary={k: v for k, v in run.summary.items() if k not in ("packing", "scenario_definition")})
    charts = default_charts(frames)
    if past is not None:
        from planner.export.tables import backtest_charts, backtest_frames

        extra = backtest_frames(past["tables"], past["summary"])
        frames.update(extra)
        charts += backtest_charts(extra)

    def write_tables(tmp: Path) -> None:
        for name, frame in tables.items():
            frame.to_csv(tmp / f"{name}.csv", index=False)
            frame.to_parquet(tmp / f"{name}.parquet", index=False)
        if per_pool:
            _forecast_per_pool(run, tmp / "forecast")
            release_heap()
        if past is not None:
            for name, frame in past["tables"].items():
                frame.to_csv(tmp / f"backtest_{name}.csv", index=False)
        if run.residuals is not None:  # the pooled groups' correlation, for `planner verify`
            run.residuals.reset_index().to_parquet(tmp / "residuals.parquet", index=False)
        (tmp / "summary.json").write_text(json.dumps(summary, indent=2, default=str) + "\n")

    # The figure's rows only: the same figure, and megabytes rather than the whole history to a worker.
    history, forecast = figure_rows(run.history.demand, run.forecast)
    with atomic_dir(out) as tmp:
        jobs = [("workbook", tmp / "plan.xlsx", {"frames": frames, "charts_spec": charts}),
                ("report", tmp / "report.html",
                 dict(title=f"Capacity plan: {run.scenario.name}", plan=run.plan, summary=run.summary,
                      orders=run.orders, why=run.why, utilisation=run.utilisation, forecast=forecast,
                      history=history, backtest=past))]
        if plots:
            jobs.append(("plots", tmp, dict(plan=run.plan, forecast=forecast, history=history,
                                            utilisation=run.utilisation)))
        write_files(jobs, executor, meanwhile=lambda: write_tables(tmp))
        names = sorted(p.name for p in tmp.iterdir())
    return [out / n for n in names]


FORECAST_CSV_ROWS = 1_000_000


FORECAST_PART_ROWS = 1_000_000  # rows of a pool's forecast file converted and written at a time


def _forecast_per_pool(run: PlanRun, folder: Path, block: int | None = None) -> None:
    """The forecast table as one Parquet file per pool (``pd.read_parquet(folder)`` reads them all):
    each pool's rows in the forecast's order with a ``pool`` column, ``unplaced`` for groups without
    one. Rows are found by category codes (no column of strings per row) and written ``block`` rows
    at a time (one row group each), so that no pool's copy of a fleet's forecast is held whole."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from planner.pools import label_codes

    folder.mkdir()
    fc = run.forecast
    block = FORECAST_PART_ROWS if block is None else int(block)
    placed = run.placement if run.placement is not None else pd.DataFrame({C.GROUP_ID: [], "pool": []})
    pools = placed["pool"]
    names = sorted({str(p) for p in pools.dropna()} | {"unplaced"})
    index = {n: i for i, n in enumerate(names)}
    # pool of each placement row, then "unplaced" for rows whose group has no placement (code -1)
    per_group = np.array([index["unplaced"] if pd.isna(p) else index[str(p)] for p in pools] + [index["unplaced"]],
                         dtype=np.int16)
    ids = fc[C.UNIQUE_ID]
    group_ids = placed[C.GROUP_ID].astype(str).tolist()
    if isinstance(ids.dtype, pd.CategoricalDtype):  # per category, then per row through the codes
        per_cat = pd.Index(group_ids).get_indexer(ids.cat.categories.astype(str))
        code = np.append(per_group[per_cat], per_group[-1])[ids.cat.codes.to_numpy()]
    else:
        code = per_group[label_codes(ids, group_ids)]
    counts = np.bincount(code, minlength=len(names))
    for k, name in enumerate(names):
        if not counts[k]:
            continue
        pos = np.flatnonzero(code == k)
        writer = None
        try:
            for i in range(0, len(pos), block):
                table = pa.Table.from_pandas(fc.take(pos[i:i + block]).assign(pool=name), preserve_index=False)
                if writer is None:
                    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in name)
                    writer = pq.ParquetWriter(folder / f"{safe}.parquet", table.schema)
                writer.write_table(table)
        finally:
            if writer is not None:
                writer.close()
