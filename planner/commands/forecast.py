"""``planner forecast``: forecast a demand table or telemetry file, with a side report of the
model chosen per series, its backtest error and any fallback taken."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Optional

import typer

from planner.commands._common import captured_warnings, check_scheduler, console, err_console, given, handle_errors


class TelemetryFormat(str, Enum):
    """Layouts of a telemetry file."""

    long = "long"
    huawei = "huawei"
    azure = "azure"
    azure2019 = "azure2019"  # an alias of azure


def _read_telemetry(path: Path, fmt: TelemetryFormat):
    """Telemetry (unique_id, ds, y) from ``path``: a long table directly (no catalog needed to
    forecast invocations), other layouts through the ingest readers."""
    from planner.ingest import canonical_format, read_telemetry
    from planner.io import read_table

    if fmt is TelemetryFormat.long:
        return read_table(path)
    tel, _ = read_telemetry(path, canonical_format(fmt))
    return tel.to_frame()


def _to_freq(telemetry, freq: str, path):
    """Sum the invocations of each function to the forecast frequency (5-min counts -> hourly)."""
    import pandas as pd

    from planner import columns as C
    from planner.errors import InputDataError

    missing = [c for c in (C.UNIQUE_ID, C.DS, C.Y) if c not in telemetry.columns]
    if missing:
        raise InputDataError(f"not a Telemetry table: missing {missing}", path=path, column=missing[0])
    t = telemetry[[C.UNIQUE_ID, C.DS, C.Y]].copy()
    t[C.UNIQUE_ID] = t[C.UNIQUE_ID].astype(str)
    t[C.DS] = pd.to_datetime(t[C.DS], errors="coerce")
    t[C.DS] = t[C.DS].dt.floor(freq) if t[C.DS].notna().all() else t[C.DS]
    # min_count=1 keeps a slot with only NaN as NaN (a gap), not a zero.
    return t.groupby([C.UNIQUE_ID, C.DS], as_index=False)[C.Y].sum(min_count=1)


def register(app: typer.Typer) -> None:
    """Add the ``forecast`` sub-command to ``app``."""

    @app.command("forecast")
    @handle_errors
    def forecast(
        ctx: typer.Context,
        out: Path = typer.Option(..., "--out", "-o", help="Forecast file (.csv or .parquet)."),
        demand: Optional[Path] = typer.Option(None, "--demand", help="ResourceDemand table (group level), .parquet or .csv."),
        telemetry: Optional[Path] = typer.Option(None, "--telemetry", help="Telemetry file (invocations per function)."),
        fmt: TelemetryFormat = typer.Option(TelemetryFormat.long, "--format", help="Layout of --telemetry (azure2019 is an alias of azure)."),
        freq: str = typer.Option("1h", "--freq", help="Forecast frequency: 1h (hourly) or 1D (daily)..."),
        horizon: int = typer.Option(168, "--horizon", help="Steps ahead (168 = a week of hours, 91 = a quarter of days)."),
        models: Optional[str] = typer.Option(None, "--models", help="Comma-separated candidate models (default: per frequency)."),
        resources: str = typer.Option("cpu_cores,memory_gb", "--resources", help="Demand columns to forecast (with --demand)."),
        n_windows: Optional[int] = typer.Option(None, "--n-windows", help="Backtest windows per series (default 6 sub-daily, 8 daily)."),
        n_jobs: int = typer.Option(1, "--n-jobs", help="Parallel workers (-1 = all cores)."),
        scheduler: Optional[str] = typer.Option(None, "--scheduler", help="Dask scheduler address, e.g. tcp://10.0.0.5:8786."),
        report: Optional[Path] = typer.Option(None, "--report", help="Side file of models and backtest errors (default: <out>.models.csv)."),
        force: bool = typer.Option(False, "--force", help="Replace the output file and its side files if they exist."),
        holidays: Optional[str] = typer.Option(None, "--holidays", help="Holiday dates: a file (one date a line, or a ds/date column) or a country code (US, DE-BY; needs the holidays package)."),
    ) -> None:
        """Forecast demand (mean, q50, q90, q95, q99) per series with a backtested model choice."""
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

        from planner.errors import InputDataError
        from planner.forecast import _check_freq, calibration_summary, forecast_long, read_holidays, run_demand_forecast
        from planner.io import check_output, read_table, refuse_existing_files, write_tables

        if (demand is None) == (telemetry is None):
            raise InputDataError("give exactly one of --demand FILE or --telemetry FILE")
        for name, flag, needs in (("fmt", "--format", "--telemetry"), ("resources", "--resources", "--demand")):
            if given(ctx, name) and (telemetry if needs == "--telemetry" else demand) is None:  # was ignored
                raise InputDataError(f"{flag} applies to {needs} only; drop it or give {needs} FILE")
        _check_freq(freq)
        if horizon <= 0:
            raise InputDataError(f"--horizon must be a positive number of steps, got {horizon}")
        if n_windows is not None and n_windows < 1:  # 0 fell back to the default and -3 ran silently
            raise InputDataError(f"--n-windows must be at least 1 (leave it out for the default), got {n_windows}")
        if n_jobs == 0:  # joblib's negatives count back from the cores; 0 means nothing
            raise InputDataError("--n-jobs must be a number of workers >= 1, or negative (-1 = all cores), got 0")
        resource_cols = [r.strip() for r in resources.split(",") if r.strip()]
        if not resource_cols or len(set(resource_cols)) < len(resource_cols):
            raise InputDataError(f"--resources {resources!r}: expected distinct demand columns separated by commas, "
                                 "e.g. cpu_cores,memory_gb")
        if out.suffix not in (".csv", ".parquet"):
            raise InputDataError("--out must end in .csv or .parquet", path=out)
        check_output(out, folder=False)
        report = report or out.with_name(out.stem + ".models.csv")
        calibration = report.with_name(report.name.replace(".models.csv", "") + ".calibration.csv") \
            if report.name.endswith(".models.csv") else report.with_name(report.stem + ".calibration.csv")
        if report.suffix not in (".csv", ".parquet"):  # was an internal error once the fitting was done
            raise InputDataError("--report must end in .csv or .parquet", path=report)
        if len({p.resolve() for p in (out, report, calibration)}) < 3:  # the report silently replaced the forecast
            raise InputDataError(f"--report {report} would overwrite --out {out} (or the calibration file "
                                 f"{calibration}); give the report a name of its own")
        refuse_existing_files([out, report, calibration], force)  # before hours of fitting
        names = [m.strip() for m in models.split(",") if m.strip()] if models else None
        source = demand or telemetry
        if not source.exists():
            raise InputDataError("file not found", path=source)
        check_scheduler(scheduler)
        # A country's calendar over a wide span of years: cheap, and it covers any history and horizon.
        holiday_dates = read_holidays(holidays, range(1990, 2101)) if holidays else None
        with captured_warnings():
            with Progress("[progress.description]{task.description}", BarColumn(), MofNCompleteColumn(),
                          TimeElapsedColumn(), console=err_console, transient=True) as bar:
                task = bar.add_task("forecasting series", total=None)
                advance = lambda k: bar.advance(task, k)  # noqa: E731
                common = dict(freq=freq, models=names, n_windows=n_windows, n_jobs=n_jobs, scheduler=scheduler, progress=advance,
                              path=source, holidays=holiday_dates)
                if demand is not None:
                    table = read_table(demand)
                    n = table["group_id"].nunique() * len(resource_cols) if "group_id" in table else None
                    bar.update(task, total=n)
                    run = run_demand_forecast(table, horizon, resources=tuple(resource_cols), **common)
                else:
                    table = _to_freq(_read_telemetry(telemetry, fmt), freq, telemetry)
                    bar.update(task, total=table["unique_id"].nunique())
                    run = forecast_long(table, horizon, **common)
        # the three files as one set: all written to temporary names, then renamed (planner.io)
        write_tables({out: run.forecast, report: run.report, calibration: run.calibration})
        from rich.markup import escape

        counts = run.report["model"].value_counts().to_dict()
        console.print(  # escaped: rich would take the brackets of "combo[a + b]" for a style and drop them
            f"wrote {len(run.forecast)} rows for {len(run.report)} series to {out}; models: "
            + ", ".join(f"{escape(k)} ×{v}" for k, v in counts.items())
            + f"; median backtest MASE {run.report['mase'].median():.3f}; report {report}",
            highlight=False,
        )
        from planner.commands.run import fallback_text
        from planner.forecast import fallback_summary

        fb = fallback_summary(run.report)  # a fallback is news: how many, and why (the report's fallback_reason)
        if fb["fallbacks"]:
            console.print(f"fallbacks: {escape(fallback_text(fb))}", highlight=False)
        cov = calibration_summary(run)
        if cov["coverage"]:
            strict = cov.get("coverage_strict", {})

            def three(v):
                return "/".join(f"{v.get(q, float('nan')):.2f}" for q in ("q90", "q95", "q99"))

            console.print("held-out coverage by lead time (q90/q95/q99, actual <= q; strictly below in brackets, "
                          "the gap is ties at zero): " + "; ".join(
                              f"{b} {three(v)} ({three(strict.get(b, {}))})" for b, v in cov["coverage"].items())
                          + f"; calibration {calibration}", highlight=False)
