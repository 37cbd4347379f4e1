"""``planner verify``: check any assignment against the demand on the full slot grid."""

from __future__ import annotations

from pathlib import Path

import typer

from planner.commands._common import console, err_console, handle_errors


@handle_errors
def verify(
    demand: Path = typer.Option(..., "--demand", help="The demand (or forecast) the plan is for."),
    assignment: Path = typer.Option(..., "--assignment", help="assignment.csv written by `planner pack`."),
    servers: Path = typer.Option(None, "--servers", help="ServerCatalog file (default: the built-in catalog)."),
    groups: Path = typer.Option(None, "--groups", help="Groups table group_id, customer, tier."),
    tiers: Path = typer.Option(None, "--tiers", help="Tiers table."),
    max_shown: int = typer.Option(20, "--max-shown", help="How many violations to print."),
) -> None:
    """Recompute every worker/slot/resource load and check every rule; exit 1 on any violation."""
    from rich.markup import escape

    from models.packing.verify import find_violations
    from planner.commands.pack import _read_inputs
    from planner.errors import InputDataError
    from planner.packing import read_assignment

    instance = _read_inputs(demand, groups, servers, tiers)
    if not Path(assignment).exists():
        raise InputDataError("file not found", path=assignment)
    violations = find_violations(instance, read_assignment(assignment))
    if violations:
        for v in violations[:max_shown]:
            err_console.print(f"[red]violation[/] {escape(str(v))}", highlight=False)
        if len(violations) > max_shown:
            err_console.print(f"... and {len(violations) - max_shown} more", highlight=False)
        err_console.print(f"[bold red]{len(violations)} violation(s)[/]", highlight=False)
        raise typer.Exit(code=1)
    console.print(f"ok: {instance.n_groups} groups, {len(instance.slots)} slots, no violation", highlight=False)


def register(app: typer.Typer) -> None:
    """Add ``verify`` to the CLI."""
    app.command("verify")(verify)
