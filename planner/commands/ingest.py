"""``planner ingest``: read a trace in any supported layout, write Parquet tables and a summary."""

from __future__ import annotations

from enum import Enum
from pathlib import Path

import typer

from planner.commands._common import captured_warnings, console, handle_errors


class Format(str, Enum):
    azure = "azure"
    azure2019 = "azure2019"  # an alias of azure
    huawei = "huawei"
    long = "long"


def register(app: typer.Typer) -> None:
    @app.command()
    @handle_errors
    def ingest(
        path: Path = typer.Argument(..., help="Trace file (huawei, long) or folder of day files (azure)."),
        fmt: Format = typer.Option(..., "--format", "-f", help="Layout of the trace (azure2019 is an alias of azure)."),
        out: Path = typer.Option(..., "--out", "-o", help="Output folder for the Parquet tables."),
        catalog: Path = typer.Option(None, "--catalog", "-c", help="Function catalog (required for long; optional for huawei)."),
        slot: str = typer.Option("1h", help="Planning slot (a multiple of the trace interval)."),
        no_telemetry: bool = typer.Option(False, "--no-telemetry", help="Skip telemetry.parquet (demand tables only)."),
        keep_alive: str = typer.Option("none", "--keep-alive",
                                       help="Warm instances kept between invocations: none, fixed:MINUTES or "
                                            "hybrid (memory demand under that policy; cold_start_rate in summary.json)."),
        force: bool = typer.Option(False, "--force", help="Replace an output folder that already holds files."),
    ):
        """Read telemetry, derive hourly resource demand (Little's law, peaks kept) and write Parquet."""
        from planner.demand import parse_slot
        from planner.ingest import canonical_format
        from planner.ingest.job import ingest as run_ingest, write_ingested
        from planner.io import refuse_existing

        parse_slot(slot)  # bad options fail before a large trace is read
        refuse_existing(out, force)
        keep_alive = _keep_alive_option(keep_alive)
        with captured_warnings():
            result = run_ingest(path, canonical_format(fmt), catalog=catalog, slot=slot, keep_alive=keep_alive)
            files = write_ingested(result, out, telemetry=not no_telemetry)
        print_summary(result.summary)
        console.print(f"wrote {len(files)} files to {out}")


def _keep_alive_option(value: str) -> str:
    from models.keepalive import parse_policy
    from planner.errors import InputDataError

    try:
        return str(parse_policy(value))
    except ValueError as exc:
        raise InputDataError(f"--keep-alive: {exc}") from None


def print_summary(s: dict) -> None:
    from rich.table import Table

    t = Table(title="telemetry summary", show_header=False)
    for key in ("source", "functions", "groups", "apps", "customers", "start", "end", "interval", "slot",
                "slots", "idle_functions", "gaps_repaired", "peak_total_cpu_cores", "peak_total_memory_gb",
                "sum_of_group_peaks_cpu_cores", "keep_alive", "cold_start_rate"):
        if key in s:
            t.add_row(key.replace("_", " "), f"{s[key]:,}" if isinstance(s[key], int) else str(s[key]))
    fallbacks = s.get("keep_alive_detail", {}).get("fallbacks")
    if fallbacks:  # apps whose histogram could not set their window
        t.add_row("keep-alive fallbacks", ", ".join(f"{n} {k.replace('_', ' ')}" for k, n in fallbacks.items()))
    console.print(t)
