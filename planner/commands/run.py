"""``planner run``: the main job. With no scenario it plans the embedded default synthetic fleet."""

from __future__ import annotations

from pathlib import Path

import typer

from planner.commands._common import captured_warnings, console, handle_errors


def register(app: typer.Typer) -> None:
    @app.command()
    @handle_errors
    def run(
        scenario: Path = typer.Argument(None, help="Scenario YAML (default: the embedded synthetic fleet)."),
        out: Path = typer.Option(Path("planner-out"), "--out", "-o", help="Output folder."),
        force: bool = typer.Option(False, "--force", help="Replace an output folder that already holds a plan."),
    ):
        """Run the planning job and write its tables, summary and workbook to OUT."""
        from planner.commands.ingest import print_summary
        from planner.pipeline import run_default

        if scenario is not None:
            raise typer.BadParameter("scenario files arrive with the quarterly planning run; run without one for the default", param_hint="SCENARIO")
        if (out / "summary.json").exists() and not force:
            console.print(f"[red]error:[/] {out} already holds a run; pass --force to replace it")
            raise typer.Exit(code=2)
        with captured_warnings():
            result = run_default(out)
        print_summary(result.summary)
        console.print(f"[green]done[/]: wrote {out}")
