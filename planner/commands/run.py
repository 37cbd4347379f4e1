"""``planner run``: the quarterly planning run. With no scenario it plans the embedded default."""

from __future__ import annotations

from pathlib import Path

import typer

from planner.commands._common import captured_warnings, console, handle_errors
from planner.commands.history import HISTORY_HELP, NO_HISTORY_HELP, add_to_summary, record_or_warn


def progress_bar():
    """A rich progress display fed by the pipeline's (stage, fraction) callback."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    bar = Progress(TextColumn("{task.description:<32}"), BarColumn(), TextColumn("{task.percentage:>3.0f}%"),
                   TimeElapsedColumn(), console=console, transient=False)
    task = bar.add_task("planning", total=1.0)

    def update(stage: str, done: float) -> None:
        bar.update(task, description=stage, completed=done)

    return bar, update


def print_plan_summary(summary: dict) -> None:
    from rich.table import Table

    t = Table(title=f"plan: {summary['scenario']}", show_header=False)
    rows = [
        ("data", summary["source"]),
        ("groups / functions", f"{summary['groups']:,} / {summary['functions']:,}"),
        ("horizon", f"{summary['weeks']} weeks from {summary['horizon_start'][:10]}"),
        ("total cost", f"{summary['total_cost']:,.0f}"),
        ("servers at the end", ", ".join(f"{k} {v}" for k, v in summary["servers_end"].items())),
        ("servers purchased", str(summary["servers_purchased"])),
        ("shape / peak packing cost", str(summary["shape_vs_peak_packing_cost"])),
        ("mean CPU utilisation", f"{summary['cpu_utilisation_mean']:.1%}"),
        ("risk (overflow slot-hours)", ", ".join(f"{k} {v:g}" for k, v in summary["risk_slot_hours_by_tier"].items())),
        ("procurement", summary["procurement"]["status"]),
        ("run time", f"{summary['timings_s']['total_s']:.0f} s"),
    ]
    for k, v in rows:
        t.add_row(k, v)
    console.print(t)
    for msg in summary["procurement"]["messages"]:
        console.print(f"[yellow]procurement:[/] {msg}", highlight=False, soft_wrap=True)


def register(app: typer.Typer) -> None:
    @app.command()
    @handle_errors
    def run(
        scenario: Path = typer.Argument(None, help="Scenario YAML (default: the embedded synthetic fleet)."),
        out: Path = typer.Option(Path("planner-out"), "--out", "-o", help="Output folder."),
        force: bool = typer.Option(False, "--force", help="Replace an output folder that already holds files."),
        no_plots: bool = typer.Option(False, "--no-plots", help="Skip the PNG plots."),
        scheduler: str = typer.Option(None, "--scheduler", help="Dask scheduler address (tcp://host:8786): forecast "
                                      "series and pack pools and weeks as tasks on that cluster."),
        workers: int = typer.Option(None, "--workers", help="Start a local Dask cluster of N worker processes for "
                                    "the run's tasks (needs the dask extra)."),
        history: Path = typer.Option(None, "--history", help=HISTORY_HELP),
        no_history: bool = typer.Option(False, "--no-history", help=NO_HISTORY_HELP),
    ):
        """Plan a quarter: forecast, pack each week by shape, buy servers; write plan.xlsx, tables, plots."""
        from planner.pipeline import run_plan, write_run
        from planner.scenarios import default_scenario, load_scenario

        from planner.io import refuse_existing

        refuse_existing(out, force)
        sc = load_scenario(scenario) if scenario is not None else default_scenario()
        from planner.parallel import open_executor

        with open_executor(scheduler, workers) as executor:  # fails within seconds on a dead address
            bar, update = progress_bar()
            with captured_warnings(), bar:
                result = run_plan(sc, progress=update, executor=executor)
        files = write_run(result, out, force=force, plots=not no_plots)
        print_plan_summary(result.summary)
        console.print(f"[green]wrote[/] {len(files)} files to {out} (plan.xlsx, plan.csv, summary.json, …)")
        add_to_summary(out, record_or_warn("plan", sc, result.summary, result.plan, result.purchases, out=out,
                                           db=history, no_history=no_history))
