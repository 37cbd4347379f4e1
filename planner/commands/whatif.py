"""``planner whatif``: plan a base and its variants and compare them."""

from __future__ import annotations

from pathlib import Path

import typer

from planner.commands._common import captured_warnings, check_scheduler, console, handle_errors
from planner.commands.history import HISTORY_HELP, NO_HISTORY_HELP, check_history_options, record_or_warn


def _distinct_names(paths, scenarios) -> None:
    """Each scenario's ``name`` names its row of the comparison and its sub-folder: two alike (a variant
    that keeps its base's name, or names that differ only in characters a folder name cannot hold)
    would share a folder, the later plan silently replacing the earlier."""
    from planner.errors import ScenarioError
    from planner.whatif import _safe

    seen: dict[str, tuple[Path, str]] = {}
    for path, sc in zip(paths, scenarios):
        folder = _safe(sc.name)
        if folder in seen:
            first, name = seen[folder]
            same = f"both named {sc.name!r}" if name == sc.name else f"named {name!r} and {sc.name!r}"
            raise ScenarioError(f"{first} and {path} are {same}, so they would share the folder {folder}/ and one "
                                "row of the comparison; give each scenario a distinct `name:`")
        seen[folder] = (path, sc.name)


def register(app: typer.Typer) -> None:
    @app.command()
    @handle_errors
    def whatif(
        base: Path = typer.Argument(..., help="Base scenario YAML."),
        variants: list[Path] = typer.Argument(..., help="Variant scenario YAMLs (usually with base: the base file)."),
        out: Path = typer.Option(Path("whatif-out"), "--out", "-o", help="Output folder."),
        n_jobs: int = typer.Option(None, "--n-jobs", "-j", min=1,
                                   help="Scenarios planned in parallel (processes; default: the machine's cores, "
                                        "at most one per scenario)."),
        scheduler: str = typer.Option(None, "--scheduler", help="Dask scheduler address, e.g. tcp://host:8786."),
        force: bool = typer.Option(False, "--force", help="Replace an output folder that already holds files."),
        history: Path = typer.Option(None, "--history", help=HISTORY_HELP),
        no_history: bool = typer.Option(False, "--no-history", help=NO_HISTORY_HELP),
    ):
        """Compare cost, servers by type, utilisation and risk of VARIANTS against BASE."""
        import datetime

        from rich.markup import escape
        from rich.table import Table

        from planner.errors import ScenarioError
        from planner.scenarios import load_scenario
        from planner.whatif import comparison_table, run_whatif, scenario_warnings, write_whatif

        from planner.io import refuse_existing

        refuse_existing(out, force)
        check_history_options(history, no_history)
        if n_jobs is not None and scheduler is not None:
            raise ScenarioError("--n-jobs runs local processes; give it without --scheduler (the cluster's "
                                "workers plan the scenarios)")
        paths = [base, *variants]
        scenarios = [load_scenario(p) for p in paths]  # fail on a bad file before hours of planning
        _distinct_names(paths, scenarios)
        check_scheduler(scheduler)
        from planner.whatif import default_jobs

        jobs = default_jobs(len(paths)) if n_jobs is None else n_jobs
        where = f"on {scheduler}" if scheduler else f"in {jobs} process{'es' if jobs > 1 else ''}"
        console.print(f"planning {len(paths)} scenarios {where}", highlight=False)

        def report(done, total, r, seconds):  # one line per finished scenario, as it finishes
            console.print(f"  [{done}/{total}] {escape(r['name'])}: cost {r['summary']['total_cost']:,.0f}, "
                          f"risk {r['summary']['risk']['total_slot_hours']:g} slot-hours ({seconds:.0f} s)",
                          highlight=False)

        with captured_warnings():
            results = run_whatif([str(p) for p in paths], n_jobs=jobs, scheduler=scheduler, progress=report)
        write_whatif(results, out, force=force)
        for r in results:  # a variant that installs less than it needs says so before the numbers
            loud = set(r["summary"].get("plan_warnings", []))
            for msg in scenario_warnings(r):  # the words of the scenario's own Summary page, fallbacks included
                if msg in loud:
                    console.print(f"[bold red]{r['name']}: {escape(msg)}[/]", highlight=False, soft_wrap=True)
                else:
                    console.print(f"[yellow]{escape(r['name'])}: warning:[/] {escape(msg)}", highlight=False,
                                  soft_wrap=True)
        table = comparison_table(results)
        base_row = table.iloc[0]
        t = Table(title="what-if comparison (deltas against the base)")
        for col in ("scenario", "total cost", "Δ cost", "servers", "Δ servers", "cpu util.", "risk"):
            t.add_column(col, justify="right" if col != "scenario" else "left")
        for r in table.itertuples(index=False):
            t.add_row(r.scenario, f"{r.total_cost:,.0f}", f"{r.total_cost - base_row.total_cost:+,.0f}",
                      str(r.servers), f"{r.servers - base_row.servers:+d}", f"{r.cpu_utilisation:.1%}", f"{r.risk:g}")
        console.print(t)
        console.print(f"[green]wrote[/] {out}/comparison.xlsx and comparison.csv")
        batch = f"whatif {out.resolve()} {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%dT%H:%M:%S}"
        for sc, r in zip(scenarios, results):
            outcome = record_or_warn("whatif", sc, r["summary"], r["plan"], r["purchases"], out=out, db=history,
                                     no_history=no_history, batch=batch)
            if not outcome["recorded"]:
                break  # one message is enough
