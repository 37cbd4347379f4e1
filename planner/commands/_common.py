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

#: Set by the global ``planner --debug``: errors then raise with their traceback.
DEBUG = {"on": False}


def handle_errors(func):
    """Turn planner errors into a red one-line message on stderr and exit code 1 (2 for bad input:
    also a file that cannot be read or written); Ctrl-C into a message and exit code 130; any other
    error into a one-line "internal error" (exit 1). ``planner --debug`` shows the traceback instead.
    Outputs are written to a temporary folder that is only renamed into place when the command
    completes, so an interrupted run leaves nothing behind."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        from typer.exceptions import TyperException

        try:
            return func(*args, **kwargs)
        except (typer.Exit, typer.Abort, TyperException):  # the CLI's own exits and usage errors
            raise
        except BaseException as exc:
            if DEBUG["on"] and not isinstance(exc, KeyboardInterrupt):
                raise
            code, text = _one_line(exc)
            err_console.print(text, highlight=False, soft_wrap=True)
            raise typer.Exit(code=code) from None

    return wrapper


def _one_line(exc: BaseException) -> tuple[int, str]:
    """Exit code and one-line message (rich markup) of ``exc`` (see :func:`handle_errors`)."""
    from rich.markup import escape

    from planner.errors import InputDataError, ScenarioError

    if isinstance(exc, KeyboardInterrupt):
        return 130, "[bold red]interrupted:[/] nothing was written (outputs appear only when a command completes)"
    if isinstance(exc, (InputDataError, ScenarioError)):
        return 2, f"[bold red]error:[/] {escape(str(exc))}"
    if isinstance(exc, PlannerError):
        return 1, f"[bold red]error:[/] {escape(str(exc))}"
    if isinstance(exc, OSError) and exc.strerror:  # a file or folder the system refuses: the user's to fix
        where = "" if exc.filename is None else f"{exc.filename}: "
        return 2, f"[bold red]error:[/] {escape(where + exc.strerror)}"
    if isinstance(exc, Exception):
        return 1, (f"[bold red]internal error:[/] {escape(type(exc).__name__ + ': ' + str(exc))} (a bug: "
                   "`planner --debug ...` shows the traceback to report)")
    raise exc  # SystemExit, GeneratorExit: not ours to handle


@contextlib.contextmanager
def captured_warnings():
    """Show warnings (gap repairs, degraded fits) in yellow on stderr, once each with their count
    (as summary.json lists them: planner.errors.counted)."""
    import warnings

    from rich.markup import escape

    from planner.errors import counted

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield caught
    for msg in counted(str(w.message) for w in caught):
        err_console.print(f"[yellow]warning:[/] {escape(msg)}", highlight=False, soft_wrap=True)
    sys.stderr.flush()


def check_scheduler(scheduler: str | None) -> None:
    """Fail within seconds, with the one-line error ``planner run`` gives, on a Dask scheduler that
    does not answer: ``whatif`` and ``forecast`` connect later, where a dead address became an
    "internal error" after dask's own 30 s timeout."""
    if scheduler is None:
        return
    from planner.parallel import open_executor

    with open_executor(scheduler, None):
        pass


def given(ctx, name: str) -> bool:
    """Whether option ``name`` (its Python name) was typed on the command line, not left at its default."""
    # by name: typer may bring its own copy of click's ParameterSource enum
    return getattr(ctx.get_parameter_source(name), "name", None) in ("COMMANDLINE", "ENVIRONMENT")
