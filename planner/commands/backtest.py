"""``planner backtest``: plan from the history before each origin, replay what followed, and plan
the same horizon in hindsight (the actual demand through the same stages)."""

from __future__ import annotations

from pathlib import Path

import typer

from planner.commands._common import captured_warnings, console, handle_errors
from planner.commands.history import (HISTORY_HELP, NO_HISTORY_HELP, add_to_summary, check_history_options,
                                      record_or_warn)


def read_actuals(sc, actuals: Path | None):
    """(ResourceDemand of the actuals, their groups table, the source's name, the whole history or None)."""
    from planner.demand import groups_table, resource_demand
    from planner.errors import InputDataError, ScenarioError
    from planner.ingest import read_telemetry

    if sc.data.format == "synthetic":
        if actuals is None:  # the generator's own days after data.until are what happened
            from planner.history import load_history

            history = load_history(sc.model_copy(update={"data": sc.data.model_copy(update={"until": None})}))
            return history.demand, history.groups, f"synthetic fleet ({sc.data.synthetic.days} days)", history
        if not actuals.exists():  # else the folder's telemetry.parquet was named, not what the user gave
            raise InputDataError("--actuals: file not found; a synthetic scenario's actuals are a "
                                 "`planner synth --format long` folder (or a file in it)", path=actuals)
        folder = actuals if actuals.is_dir() else actuals.parent
        tel, cat = read_telemetry(folder / "telemetry.parquet", "long", catalog=folder / "catalog.csv")
    else:
        if actuals is None:
            raise ScenarioError(f"{sc.source_path}: --actuals FILE is needed (telemetry of what happened, "
                                f"in the scenario's format {sc.data.format!r})")
        tel, cat = read_telemetry(actuals, sc.data.format, catalog=sc.resolve(sc.data.catalog))
    return resource_demand(tel, cat, slot=sc.data.slot), groups_table(cat), str(actuals), None


def print_backtest(summary: dict, by_tier, out: Path) -> None:
    from rich import box
    from rich.markup import escape
    from rich.table import Table

    from planner.commands.run import fallback_text

    # Fits 80 columns (a pipe, a CI log): the boxed table with "overflow-h" cut origins to "2026-…",
    # plans to "hindsi…" and tiers to "econo…"; names are never cut, numbers right-aligned.
    t = Table(title=f"backtest: {summary['scenario']}", box=box.SIMPLE_HEAD, pad_edge=False, padding=0)
    # "peak": the worst load / capacity of a worker slot, a percentage as the columns beside it
    for col in ("origin", "plan", "tier", "slot-h", "over-h", "share", "target", "peak", "cpu"):
        text = col in ("origin", "plan", "tier")
        t.add_column(col, justify="left" if text else "right", no_wrap=text)
    for r in by_tier.itertuples(index=False):
        mark = "" if r.within_target else " [red]over[/]"
        t.add_row(str(r.origin)[:10], r.plan, r.tier, f"{r.slot_hours:,}", f"{r.overflow_hours:,}",
                  f"{r.overflow_share:.2%}{mark}", f"{r.target:.1%}", f"{r.worst:.0%}", f"{r.cpu_utilisation:.1%}")
    console.print(t)
    per = summary.get("origins") or [summary]
    for p in per:
        console.print(f"origin {str(p['origin'])[:10]}: cost {p['cost']:,.0f}, hindsight {p['hindsight_cost']:,.0f} "
                      f"(ratio {p['cost_vs_hindsight']}); peak-based {p['peak_cost']:,.0f} (ratio "
                      f"{p['peak_cost_vs_hindsight']}), its own hindsight {p['peak_hindsight_cost']:,.0f} "
                      f"(ratio {p['peak_vs_hindsight']})", highlight=False)
        for u in p["unplanned_groups"]:
            console.print(f"[yellow]actual demand the plan did not hold:[/] group {u['group']!r} in week(s) "
                          f"{u['weeks']}" + ("" if u["in_history"] else " (not in the history: a new group)"),
                          highlight=False)
        if p["planned_groups_without_actuals"]:
            console.print("[yellow]planned groups with no actual demand:[/] "
                          + ", ".join(p["planned_groups_without_actuals"]), highlight=False)
        fb = p.get("forecast_fallbacks") or {}
        if fb.get("fallbacks"):  # as `planner run` says it: the report has it, the terminal must too
            console.print(f"[yellow]warning:[/] forecast fell back for {escape(fallback_text(fb))} "
                          "(summary.json forecast_fallbacks)", highlight=False, soft_wrap=True)
    ok = summary["overflow_within_target"]
    console.print(f"[bold]cost / hindsight cost {summary['cost_vs_hindsight']}[/] (peak-based plan "
                  f"{summary['peak_cost_vs_hindsight']}; against its own hindsight {summary['peak_vs_hindsight']}); "
                  "every tier's overflow within target: "
                  f"{'yes' if ok else '[red]no[/]'} (peak-based: "
                  f"{'yes' if summary['peak_overflow_within_target'] else 'no'}); wrote {out}", highlight=False)


def register(app: typer.Typer) -> None:
    @app.command()
    @handle_errors
    def backtest(
        scenario: Path = typer.Argument(..., help="Scenario YAML; data.until is the last origin."),
        actuals: Path = typer.Option(None, "--actuals", "-a", help="Telemetry of what happened (the scenario's "
                                     "data format). Synthetic scenarios: the generator's days after data.until, "
                                     "or a `planner synth --format long` folder."),
        origins: int = typer.Option(1, "--origins", help="Rolling origins, the last at data.until."),
        every: str = typer.Option("13w", "--every", help="Step between origins (e.g. 13w, 1w, 7d)."),
        out: Path = typer.Option(Path("backtest-out"), "--out", "-o", help="Output folder."),
        force: bool = typer.Option(False, "--force", help="Replace an output folder that already holds files."),
        history: Path = typer.Option(None, "--history", help=HISTORY_HELP),
        no_history: bool = typer.Option(False, "--no-history", help=NO_HISTORY_HELP),
    ):
        """Replay actual demand against the plan and the peak-based plan, and plan it in hindsight."""
        from planner.backtest import backtest as run_backtest
        from planner.backtest import parse_every, tables_of, write_backtest
        from planner.commands.run import progress_bar
        import pandas as pd

        from planner.errors import ScenarioError, own_warnings
        from planner.io import refuse_existing
        from planner.scenarios import load_scenario

        refuse_existing(out, force)
        step = parse_every(every)
        if origins < 1 or step <= pd.Timedelta(0):  # before the history is read, not after
            raise ScenarioError(f"--origins {origins}: give at least one origin" if origins < 1
                                else f"--every {every!r}: the step between origins must be positive")
        check_history_options(history, no_history)
        sc = load_scenario(scenario)
        bar, update = progress_bar()
        with captured_warnings() as caught, bar:
            actual, actual_groups, source, whole = read_actuals(sc, actuals)
            results = run_backtest(sc, actual, history=whole, actual_groups=actual_groups, origins=origins,
                                   every=step, source=source, progress=update)
        summary = write_backtest(results, sc, out, force=force, warnings=own_warnings(caught))
        print_backtest(summary, tables_of(results)["by_tier"], out)
        last = results[-1].run  # the plan from the latest origin is the one recorded
        recorded = {**last.summary, "backtest": {k: v for k, v in summary.items() if k != "scenario"}}
        add_to_summary(out, record_or_warn("backtest", sc, recorded, last.plan, last.purchases, out=out, db=history,
                                           no_history=no_history, extra_inputs={"actuals": actuals}))
