"""``planner run``: the quarterly planning run. With no scenario it plans the embedded default."""

from __future__ import annotations

from pathlib import Path

import typer

from planner.commands._common import captured_warnings, console, handle_errors
from planner.commands.history import (HISTORY_HELP, NO_HISTORY_HELP, add_to_summary, check_history_options,
                                      record_or_warn)


def progress_bar():
    """A rich progress display fed by the pipeline's (stage, fraction) callback."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    bar = Progress(TextColumn("{task.description:<32}"), BarColumn(), TextColumn("{task.percentage:>3.0f}%"),
                   TimeElapsedColumn(), console=console, transient=False)
    task = bar.add_task("planning", total=1.0)

    def update(stage: str, done: float) -> None:
        bar.update(task, description=stage, completed=done)

    return bar, update


def risk_line(risk: dict) -> str:
    """The plan's risk as one line: the total, then its split by tier (which adds up to it)."""
    line = f"{risk['total_slot_hours']:g} total"
    if risk.get("unserved_slot_hours"):
        line += f" ({risk['unserved_slot_hours']:g} unserved)"
    return line + ": " + ", ".join(f"{k} {v:g}" for k, v in risk["by_tier"].items())


def fallback_text(fb: dict) -> str:
    """'3 of 232 series (1.3%): reason ×2, reason ×1' for the forecast_fallbacks summary (the Summary
    page's words: planner.export.review.fallback_text)."""
    from planner.export.review import fallback_text as words

    return words(fb)


def installed_text(summary: dict) -> str:
    """Today's fleet by type, the servers already on order, and where the fleet came from (the
    Summary page's words: planner.export.review.fleet_text)."""
    from planner.export.review import fleet_text

    return fleet_text(summary)


def keep_alive_text(ka: dict) -> str:
    """The terminal's keep-alive line: what warm instances cost in cold starts, and where the
    policy fell back."""
    if ka["policy"] == "none":  # nothing kept warm: 100 % cold starts is the definition, not an alarm
        return ("none: no instance kept warm, every invocation starts cold (scenario keep_alive: fixed:MIN or "
                "hybrid plans warm memory; docs/faas.md)")
    text = (f"{ka['policy']}: cold starts {ka['cold_start_rate']:.2%} of invocations "
            f"(75th-percentile app {ka['cold_start_rate_p75_app']:.1%})")
    if ka.get("fallbacks"):
        text += "; fallbacks " + ", ".join(f"{n} {k.replace('_', ' ')}" for k, n in ka["fallbacks"].items())
    return text


def energy_rows(summary: dict) -> list[tuple[str, str]]:
    """Energy, carbon and risk fairness per tier (issue 17), when the run has them."""
    rows = []
    e = summary.get("energy")
    if e:
        text = (f"{e['energy_kwh']:,.0f} kWh, {e['carbon_kg'] / 1000:,.2f} tCO2e "
                f"({e['carbon_embodied_kg'] / 1000:,.2f} embodied; PUE {e['pue']:g})")
        if e.get("carbon_price_per_tonne"):
            text += f"; carbon cost {e['carbon_cost']:,.0f} at {e['carbon_price_per_tonne']:g}/t"
        if e.get("estimated_power"):
            text += f"; power estimated for {', '.join(e['estimated_power'])}"
        rows.append(("energy / carbon", text))
    f = summary.get("fairness")
    if f:
        rows.append(("risk fairness max/mean, Jain", ", ".join(f"{t} {v['max_over_mean']:.2f} / {v['jain']:.2f}"
                                                                 for t, v in f.items())))
        if any("breach_max_over_mean" in v for v in f.values()):
            rows.append(("headroom-breach fairness max/mean, Jain",
                         ", ".join(f"{t} {v['breach_max_over_mean']:.2f} / {v['breach_jain']:.2f}"
                                   for t, v in f.items() if "breach_max_over_mean" in v)))
    return rows


def print_plan_summary(summary: dict) -> None:
    from rich.markup import escape
    from rich.table import Table

    for msg in summary.get("plan_warnings", []):  # first and loud: the plan does not cover the need
        console.print(f"[bold red]{escape(msg)}[/]", highlight=False, soft_wrap=True)
    t = Table(title=f"plan: {summary['scenario']}", show_header=False)
    rows = [
        ("data", summary["source"]),
        ("groups / functions", f"{summary['groups']:,}"
         + (f" + {summary['anticipated_groups']} anticipated" if summary.get("anticipated_groups") else "")
         + f" / {summary['functions']:,}"),
        ("horizon", f"{summary['weeks']} weeks from {summary['horizon_start'][:10]}"),
        ("total cost", f"{summary['total_cost']:,.0f}"),
        ("installed fleet", installed_text(summary)),
        ("servers at the end", ", ".join(f"{k} {v}" for k, v in summary["servers_end"].items())),
        ("servers purchased", str(summary["servers_purchased"])),
        ("shape / peak packing cost", str(summary["shape_vs_peak_packing_cost"])),
        ("mean CPU utilisation", f"{summary['cpu_utilisation_mean']:.1%}"),
        ("risk (overflow slot-hours)", risk_line(summary["risk"])),
        *energy_rows(summary),
        ("procurement", summary["procurement"]["status"] + (" [bold red]but SHORT: installs less than needed[/]"
                                                            if summary.get("plan_warnings") else "")),
        ("forecast fallbacks", fallback_text(summary["forecast_fallbacks"])),
        ("run time", f"{summary['timings_s']['total_s']:.0f} s"),
    ]
    ka = summary.get("keep_alive")
    if ka:
        rows.append(("keep-alive", keep_alive_text(ka)))
    df = summary.get("deferral")
    if df:  # lax work moved inside its deadlines: how much, and what it saved where the fleet is sized
        text = (f"{df['method']}: {df.get('moved_share_of_all_work', 0):.1%} of all work moved "
                f"({df.get('moved_share_of_lax_work', 0):.1%} of lax work)")
        if df.get("capacity_saved_per_month") is not None:
            text += (f"; peak week {df['peak_week_cost_with']:,.0f}/month vs {df['peak_week_cost_without']:,.0f} "
                     f"without ({df['capacity_saved_share']:.1%} saved)")
        rows.append(("deferral", text))
    for k, v in rows:
        t.add_row(k, v)
    console.print(t)
    fb = summary["forecast_fallbacks"]
    if fb["share"] > 0:
        console.print(f"[yellow]warning:[/] forecast fell back for {fallback_text(fb)} "
                      "(see forecast_models.csv, columns fallback_reason and notes)", highlight=False, soft_wrap=True)
    print_orders(summary)
    for msg in summary["procurement"]["messages"]:
        console.print(f"[yellow]procurement:[/] {msg}", highlight=False, soft_wrap=True)
    for note in summary.get("packing_notes") or []:  # weeks packed off the rule or cut short by the clock
        console.print(f"[yellow]packing:[/] {escape(note)}", highlight=False, soft_wrap=True)


def print_orders(summary: dict) -> None:
    """What to buy: each order with its order week (need week − lead time), and what drives them."""
    orders = summary.get("orders")
    if orders is None:
        return
    if not orders:  # the Summary page's words (planner.export.review)
        from planner.export.review import nothing_to_buy_text

        console.print(f"what to buy: {nothing_to_buy_text(summary)}", highlight=False)
        return
    console.print("[bold]what to buy[/] (order week = need week − lead time):", highlight=False)
    for o in orders:
        console.print(f"  {o['purchased']} × {o['server_type']} ({o['pool']}): order in week {o['order_week']} "
                      f"({o['order_date']}), needed from week {o['need_week']} ({o['need_date']}), "
                      f"lead time {o['lead_time_weeks']} weeks, {o['cost']:,.0f} over the horizon", highlight=False)
    drivers = (summary.get("drivers") or {}).get("customer") or []
    if drivers:
        console.print("  driven by " + ", ".join(f"{d['customer']} ({d['share']:.0%})" for d in drivers)
                      + " (why.csv, Why sheet)", highlight=False)


def last_quarter_backtest(sc, run, progress):
    """The backtest of the horizon's length that ends where the history ends: planned from the
    history before it, held against the history's last weeks and their hindsight."""
    import pandas as pd

    from planner.backtest import backtest

    history = run.history
    origin = history.end - pd.Timedelta(weeks=sc.horizon.weeks)
    base = sc.model_copy(update={"data": sc.data.model_copy(update={"until": origin.to_pydatetime()}),
                                 "horizon": sc.horizon.model_copy(update={"start": None})})
    return backtest(base, history.demand, history=history, actual_groups=history.groups, source="the history",
                    progress=lambda stage, done: progress(f"backtest: {stage}", done))


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
        jobs: int = typer.Option(None, "--jobs", "-j", help="Pack weeks in N local processes (default: the cores, "
                                 "at most 4; 1 = in this process). The plan is the same for any N."),
        history: Path = typer.Option(None, "--history", help=HISTORY_HELP),
        no_history: bool = typer.Option(False, "--no-history", help=NO_HISTORY_HELP),
        backtest: bool = typer.Option(False, "--backtest", help="Also hold the plan of the quarter before the "
                                      "horizon against its actuals and hindsight (the history's last weeks); it "
                                      "plans twice more. Adds Backtest sheets to plan.xlsx and the report."),
    ):
        """Plan a quarter: forecast, pack each week by shape, buy servers; write plan.xlsx, report.html, tables, plots."""
        from rich.markup import escape

        from planner.errors import own_warnings
        from planner.export.run_files import write_run
        from planner.pipeline import run_plan
        from planner.scenarios import default_scenario, load_scenario

        from planner.io import refuse_existing

        refuse_existing(out, force)
        check_history_options(history, no_history)
        sc = load_scenario(scenario) if scenario is not None else default_scenario()
        from planner.parallel import open_executor

        if jobs is not None and (scheduler is not None or workers is not None):
            from planner.errors import InputDataError

            raise InputDataError("--jobs runs local processes; give it without --scheduler / --workers")
        with open_executor(scheduler, workers, jobs=jobs) as executor:  # fails within seconds on a dead address
            bar, update = progress_bar()
            with captured_warnings() as caught, bar:
                result = run_plan(sc, progress=update, executor=executor, keep_telemetry=backtest)
                n_plan = len(caught)  # later warnings are the backtest's planning of the quarter before
                past = last_quarter_backtest(sc, result, update) if backtest else None
            said = own_warnings(caught[:n_plan])
            if said:  # what the terminal warns of, the Summary, report and summary.json say too
                result.summary["warnings"] = said
            files = write_run(result, out, force=force, plots=not no_plots, backtest=past,
                              backtest_warnings=own_warnings(caught[n_plan:]), executor=executor)
        print_plan_summary(result.summary)
        if past is not None:
            from planner.backtest import summary_of

            b = summary_of(past, sc)
            console.print(f"backtest of the quarter before (origin {str(past[0].origin)[:10]}): cost / hindsight "
                          f"{b['cost_vs_hindsight']}, every tier within target: "  # yes/no, as `planner backtest` says it
                          f"{'yes' if b['overflow_within_target'] else 'no'}",
                          highlight=False)
            from planner.export.review import backtest_warnings

            for msg in backtest_warnings({**b, "warnings": []}):  # its fallbacks (its warnings were printed above)
                console.print(f"[yellow]backtest: warning:[/] {escape(msg)}", highlight=False, soft_wrap=True)
        console.print(f"[green]wrote[/] {len(files)} files to {out} (plan.xlsx, plan.csv, summary.json, …)")
        add_to_summary(out, record_or_warn("plan", sc, result.summary, result.plan, result.purchases, out=out,
                                           db=history, no_history=no_history))
