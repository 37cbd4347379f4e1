"""Helpers shared by the sub-commands: consoles, error handling, atomic output."""

from __future__ import annotations

import contextlib
import functools
import sys

import typer
from rich.console import Console

from planner.errors import PlannerError

console = Console()
err_console = Console(stderr=True)


def handle_errors(func):
    """Turn planner errors into a red one-line message on stderr and exit code 1 (2 for bad input);
    Ctrl-C into a message and exit code 130. Outputs are written to a temporary folder that is only
    renamed into place when the command completes, so an interrupted run leaves nothing behind."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        from planner.errors import InputDataError, ScenarioError

        from rich.markup import escape

        try:
            return func(*args, **kwargs)
        except (InputDataError, ScenarioError) as exc:
            err_console.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
            raise typer.Exit(code=2) from None
        except PlannerError as exc:
            err_console.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
            raise typer.Exit(code=1) from None
        except KeyboardInterrupt:
            err_console.print("[bold red]interrupted:[/] nothing was written (outputs appear only when a command "
                              "completes)", highlight=False, soft_wrap=True)
            raise typer.Exit(code=130) from None

    return wrapper


@contextlib.contextmanager
def captured_warnings():
    """Show warnings (gap repairs, degraded fits) in yellow on stderr, once each."""
    import warnings

    from rich.markup import escape

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield caught
    seen = set()
    for w in caught:
        msg = str(w.message)
        if msg not in seen:
            seen.add(msg)
            err_console.print(f"[yellow]warning:[/] {escape(msg)}", highlight=False, soft_wrap=True)
    sys.stderr.flush()
