"""The ``planner`` command line. Kept thin: each sub-command lives in ``planner/commands/<name>.py``
and exposes ``register(app)``; heavy libraries are imported inside the command functions so that
``planner --help`` is instant."""

from __future__ import annotations

import importlib

import typer

app = typer.Typer(
    name="planner",
    help="Capacity planner for serverless platforms: ingest telemetry, forecast demand, pack by shape, plan a quarter.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import PackageNotFoundError, version

        try:
            v = version("planner")
        except PackageNotFoundError:  # a source tree that was never installed
            v = "unknown (not installed)"
        typer.echo(f"planner {v}")
        raise typer.Exit()


@app.callback()
def _options(
    debug: bool = typer.Option(False, "--debug", help="Show the traceback of an error instead of its one-line message."),
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version and exit."),
) -> None:
    """Capacity planner for serverless platforms: ingest telemetry, forecast demand, pack by shape, plan a quarter."""
    from planner.commands._common import DEBUG

    DEBUG["on"] = debug


# One module per sub-command; add a name here to register a new one.
COMMAND_MODULES = [
    "synth",
    "ingest",
    "forecast",
    "run",
    "whatif",
    "backtest",
    "profile",
    "pack",
    "verify",
    "history",
]

for _name in COMMAND_MODULES:
    importlib.import_module(f"planner.commands.{_name}").register(app)


def main() -> None:
    """Entry point of the console script."""
    app()
