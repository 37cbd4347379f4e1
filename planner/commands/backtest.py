"""``planner backtest``: plan from the history before ``data.until``, then replay the actuals."""

from __future__ import annotations

from pathlib import Path

import typer

from planner.commands._common import captured_warnings, console, handle_errors
from planner.commands.history import HISTORY_HELP, NO_HISTORY_HELP, add_to_summary, record_or_warn


def _check_actuals(path: Path, fmt: str) -> None:
    """The actuals exist in the layout of the scenario's format (a folder for azure, else a file)."""
    from planner.errors import InputDataError

    if not path.exists():
        raise InputDataError("file not found (--actuals)", path=path)
    if fmt == "azure" and not path.is_dir():
        raise InputDataError("not a folder of Azure 2019 day files (--actuals, the scenario's format is azure)", path=path)
    if fmt != "azure" and path.is_dir():
        raise InputDataError(f"is a folder; --actuals for format {fmt} is one file", path=path)


def register(app: typer.Typer) -> None:
    @app.command()
    @handle_errors
    def backtest(
        scenario: Path = typer.Argument(..., help="Scenario YAML (set data.until to the end of the planning history)."),
        actuals: Path = typer.Option(..., "--actuals", "-a", help="Telemetry of what happened (the scenario's data format)."),
        out: Path = typer.Option(Path("backtest-out"), "--out", "-o", help="Output folder."),
        force: bool = typer.Option(False, "--force", help="Replace an output folder that already holds files."),
        history: Path = typer.Option(None, "--history", help=HISTORY_HELP),
        no_history: bool = typer.Option(False, "--no-history", help=NO_HISTORY_HELP),
    ):
        """Replay actual demand against the plan's assignment and against the peak-based plan."""
        import json

        from rich.table import Table

        from planner.backtest import run_backtest
        from planner.commands.run import progress_bar
        from planner.demand import resource_demand
        from planner.errors import ScenarioError
        from planner.ingest import read_telemetry
        from planner.io import atomic_dir
        from planner.pipeline import run_plan
        from planner.scenarios import load_scenario

        from planner.io import refuse_existing

        refuse_existing(out, force)
        sc = load_scenario(scenario)
        if sc.data.format == "synthetic":
            raise ScenarioError(f"{scenario}: backtests read actuals in the scenario's data format; "
                                "synthetic scenarios have none (write one with planner synth first)")
        _check_actuals(actuals, sc.data.format)  # before the planning, not after it
        bar, update = progress_bar()
        with captured_warnings(), bar:
            run = run_plan(sc, progress=update)
            tel, cat = read_telemetry(actuals, sc.data.format, catalog=sc.resolve(sc.data.catalog))
            actual = resource_demand(tel, cat, slot=sc.data.slot)
            actual = actual[actual["ds"] >= run.weeks[0].start]
            result = run_backtest(run, actual)
        with atomic_dir(out) as tmp:
            for name in ("by_tier", "by_customer", "cost", "exposure"):
                result[name].to_csv(tmp / f"{name}.csv", index=False)
            run.plan.to_csv(tmp / "plan.csv", index=False)
            summary = {
                "scenario": sc.name, "horizon_start": str(run.weeks[0].start),
                "by_tier": result["by_tier"].to_dict("records"),
                "cost_per_month": result["cost"].groupby("plan")["cost_per_month"].sum().to_dict(),
            }
            (tmp / "summary.json").write_text(json.dumps(summary, indent=2, default=str) + "\n")
        t = Table(title=f"backtest: {sc.name}")
        for col in ("plan", "tier", "slot-h", "overflow-h", "share", "worst", "cpu"):
            t.add_column(col, justify="left" if col in ("plan", "tier") else "right")
        for r in result["by_tier"].itertuples(index=False):
            t.add_row(r.plan, r.tier, f"{r.slot_hours:,}", f"{r.overflow_slot_hours:,}", f"{r.overflow_share:.2%}",
                      f"{r.worst_overload:.2f}", f"{r.cpu_utilisation:.1%}")
        console.print(t)
        cost = result["cost"].groupby("plan")["cost_per_month"].sum()
        console.print(f"cost per month: shape-aware {cost.get('shape', 0):,.0f}, peak-based {cost.get('peak', 0):,.0f} "
                      f"(ratio {cost.get('shape', 0) / max(cost.get('peak', 1), 1e-9):.3f}); wrote {out}")
        recorded = {**run.summary, "backtest": {k: v for k, v in summary.items() if k != "scenario"}}
        add_to_summary(out, record_or_warn("backtest", sc, recorded, run.plan, run.purchases, out=out, db=history,
                                           no_history=no_history, extra_inputs={"actuals": actuals}))
