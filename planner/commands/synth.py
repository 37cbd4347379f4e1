"""``planner synth``: generate a synthetic fleet calibrated to the Azure 2019 trace."""

from __future__ import annotations

from enum import Enum
from pathlib import Path

import typer

from planner.commands._common import console, given, handle_errors


class SynthFormat(str, Enum):
    long = "long"
    azure = "azure"
    azure2019 = "azure2019"  # an alias of azure


def register(app: typer.Typer) -> None:
    @app.command()
    @handle_errors
    def synth(
        ctx: typer.Context,
        functions: int = typer.Option(400, "--functions", "-n", help="Number of functions."),
        days: int = typer.Option(14, "--days", "-d", help="Days of history."),
        seed: int = typer.Option(0, "--seed", "-s", help="Random seed (same seed, same fleet)."),
        out: Path = typer.Option(..., "--out", "-o", help="Output folder."),
        fmt: SynthFormat = typer.Option(SynthFormat.long, "--format", help="long: telemetry.parquet + catalog.csv; azure (alias azure2019): Azure 2019 day files."),
        start: str = typer.Option("2026-01-05", help="First day (a Monday keeps weeks aligned)."),
        interval: str = typer.Option("5min", help="Interval of the long layout (the Azure layout is per minute)."),
        force: bool = typer.Option(False, "--force", help="Replace an output folder that already holds files."),
    ):
        """Generate a seeded synthetic fleet (apps under customers, launches with outcomes)."""
        import time

        from planner.io import refuse_existing
        from planner.synth import SynthSpec, make_fleet
        from planner.synth_write import write_azure, write_long

        if fmt is not SynthFormat.long and given(ctx, "interval"):  # was ignored: the Azure layout is per minute
            raise typer.BadParameter("--interval applies to --format long only (the Azure layout is per minute)")
        refuse_existing(out, force)
        t0 = time.perf_counter()
        try:
            import pandas as pd

            pd.Timestamp(start)
        except ValueError:
            raise typer.BadParameter(f"--start {start!r} is not a date; expected e.g. 2026-01-05") from None
        try:  # pandas' own message ("invalid unit abbreviation: x") named neither the option nor the value
            step = pd.Timedelta(interval)
        except ValueError:
            step = None
        if step is None or pd.isna(step) or step <= pd.Timedelta(0):
            raise typer.BadParameter(f"--interval {interval!r} is not a positive duration; expected e.g. 5min or 1min")
        try:
            spec = SynthSpec(n_functions=functions, days=days, seed=seed, start=start, interval=interval)
        except ValueError as exc:
            raise typer.BadParameter(str(exc)) from None
        fleet = make_fleet(spec)
        files = write_azure(fleet, out) if fmt in (SynthFormat.azure, SynthFormat.azure2019) else list(write_long(fleet, out).values())
        console.print(
            f"[green]synthetic fleet[/] {len(fleet.catalog)} functions, {len(fleet.apps)} apps, "
            f"{len(fleet.customers)} customers, {len(fleet.launches)} launches, {days} days "
            f"→ {out} ({len(files)} files, {time.perf_counter() - t0:.1f} s)"
        )
