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
