"""``planner history list|show|compare``: read the plan history that runs record (planner/records.py)."""

from __future__ import annotations

from pathlib import Path

import typer

from planner.commands._common import console, handle_errors

DB_HELP = "History database (default: $PLANNER_HISTORY, else ./planner-history.sqlite)."


def _store(db: Path | None):
    from planner.records import RunStore, history_path

    return RunStore(history_path(db, None))


def _fmt(v, money: bool = False) -> str:
    if v is None or (isinstance(v, float) and v != v):
        return "–"
    if isinstance(v, float):
        return f"{v:,.0f}" if money or abs(v) >= 1000 else f"{v:,.4g}"
    return str(v)


def _table(frame, title: str, money_cols=()):
    """One space between columns and text folded, never cut: at 80 columns (a pipe, a CI log) the
    boxed table showed dates as "2026-1…" and folders as "/work/…"."""
    import pandas as pd
    from rich import box
    from rich.table import Table

    t = Table(title=title, box=box.SIMPLE_HEAD, pad_edge=False, padding=0)
    for c in frame.columns:
        numeric = pd.api.types.is_numeric_dtype(frame[c])
        t.add_column(str(c), justify="right" if numeric else "left", overflow="ellipsis" if numeric else "fold")
    for rec in frame.itertuples(index=False):
        t.add_row(*[_fmt(v, c in money_cols) for c, v in zip(frame.columns, rec)])
    return t


def _near(path) -> str:
    """A recorded output folder relative to the working folder when it is inside it (shorter)."""
    import os

    if not isinstance(path, str) or not path:  # a run recorded without a folder: None, or NaN from SQL
        return "–"
    rel = os.path.relpath(path)
    return path if rel.startswith("..") else rel


def register(app: typer.Typer) -> None:
    history = typer.Typer(help="The plan history: every plan, what-if and backtest run, recorded in SQLite.",
                          no_args_is_help=True)

    @history.command("list")
    @handle_errors
    def list_(
        db: Path = typer.Option(None, "--db", help=DB_HELP),
        kind: str = typer.Option(None, "--kind", help="Only runs of this kind: plan, whatif or backtest."),
        limit: int = typer.Option(30, "--limit", "-n", min=1, help="Newest runs shown."),
    ):
        """List the recorded runs, newest first."""
        store = _store(db)
        runs = store.runs(kind=kind, limit=limit)
        if runs.empty:
            console.print(f"no runs recorded in {store.path}")
            return
        runs["created_at"] = runs["created_at"].str.slice(0, 16).str.replace("T", " ")
        runs["out_dir"] = runs["out_dir"].map(_near)
        shown = runs[["run_id", "kind", "created_at", "scenario", "total_cost", "servers_end", "risk", "out_dir"]]
        shown = shown.rename(columns={"run_id": "run", "created_at": "created (UTC)", "total_cost": "cost",
                                      "servers_end": "servers", "out_dir": "output"})
        console.print(_table(shown, f"plan history: {store.path}", money_cols=("cost",)))

    @history.command("show")
    @handle_errors
    def show(
        run: str = typer.Argument(..., help="Run number, 'last' or 'last~N'."),
        db: Path = typer.Option(None, "--db", help=DB_HELP),
    ):
        """Show one run: its summary, inputs, servers by pool and type, and purchases."""
        from rich.table import Table

        rec = _store(db).get(run)
        s = rec.summary
        t = Table(title=f"run {rec.run_id}: {rec.kind} of {rec.scenario!r}", show_header=False)
        for k, v in (("recorded", rec.created_at), ("scenario file", rec.scenario_path or "(embedded)"),
                     ("output", rec.out_dir or "–"), ("batch", rec.batch or "–"),
                     ("total cost", _fmt(rec.total_cost, True)),
                     ("risk by tier", ", ".join(f"{k} {v:g}" for k, v in (s.get("risk_slot_hours_by_tier") or {}).items()) or "–"),
                     ("procurement", (s.get("procurement") or {}).get("status", "–"))):
            t.add_row(k, str(v))
        console.print(t)
        inputs = rec.inputs.assign(sha256=rec.inputs["sha256"].str.slice(0, 16))
        console.print(_table(inputs, "inputs (sha256, first 16 hex digits)"))
        if not rec.plan.empty:
            last = rec.plan[rec.plan["week"] == rec.plan["week"].max()]
            per = rec.plan.groupby(["pool", "server_type"]).agg(purchased=("purchased", "sum"), cost=("cost", "sum"))
            per["installed_end"] = last.groupby(["pool", "server_type"])["installed"].sum()
            console.print(_table(per.reset_index()[["pool", "server_type", "installed_end", "purchased", "cost"]],
                                 "servers by pool and type", money_cols=("cost",)))
        if not rec.purchases.empty:
            console.print(_table(rec.purchases, "purchases", money_cols=("cost",)))

    @history.command("compare")
    @handle_errors
    def compare(
        a: str = typer.Argument(..., help="First run (number, 'last' or 'last~N')."),
        b: str = typer.Argument(..., help="Second run."),
        db: Path = typer.Option(None, "--db", help=DB_HELP),
    ):
        """Compare two runs: cost, servers by type and pool, risk, and what changed in the inputs."""
        from planner.records_compare import compare_runs

        store = _store(db)
        cmp = compare_runs(store.get(a), store.get(b))
        console.print(_table(cmp.totals, f"run {cmp.a} → run {cmp.b}", money_cols=()))
        console.print(_table(cmp.servers, "servers at the end of the horizon, by pool and type"))
        if not cmp.risk.empty:
            console.print(_table(cmp.risk, "risk (expected overflow slot-hours) by tier"))
        if cmp.inputs.empty and cmp.fields.empty:
            console.print("inputs: identical (same checksums and scenario definition)")
        if not cmp.inputs.empty:
            shown = cmp.inputs.assign(a=cmp.inputs["a"].str.slice(0, 16), b=cmp.inputs["b"].str.slice(0, 16))
            console.print(_table(shown, "inputs whose checksum changed"))
        if not cmp.fields.empty:
            console.print(_table(cmp.fields.astype({"a": str, "b": str}), "scenario fields that changed"))

    app.add_typer(history, name="history")


HISTORY_HELP = ("History database the run is recorded in (default: $PLANNER_HISTORY, else "
                "planner-history.sqlite beside the output folder).")
NO_HISTORY_HELP = "Do not record the run in the plan history."


def check_history_options(history, no_history: bool) -> None:
    """``--history PATH`` with ``--no-history`` is a contradiction, refused before any work."""
    from planner.errors import ScenarioError

    if history is not None and no_history:
        raise ScenarioError(f"--history {history} and --no-history contradict each other; give one of them")


def record_or_warn(kind: str, scenario, summary: dict, plan, purchases, *, out, db=None, no_history: bool = False,
                   extra_inputs: dict | None = None, batch: str | None = None) -> dict:
    """Record a finished run; a database that cannot be used is reported (yellow, on stderr), never
    fatal: the run's folder is already written. Returns what summary.json says about it."""
    from rich.markup import escape

    from planner.commands._common import err_console
    from planner.records import HistoryError, record_run

    if no_history:
        return {"recorded": False, "reason": "--no-history"}
    try:
        run_id, path = record_run(kind, scenario, summary, plan, purchases, out=out, db=db,
                                  extra_inputs=extra_inputs, batch=batch)
    except HistoryError as exc:
        err_console.print(f"[yellow]history:[/] {escape(str(exc))}; this run was not recorded (its folder "
                          f"{escape(str(out))} is complete)", highlight=False, soft_wrap=True)
        return {"recorded": False, "reason": str(exc)}
    console.print(f"recorded as run {run_id} in {path} ({show_command(run_id, path)})", highlight=False,
                  soft_wrap=True)  # a path broken across lines cannot be copied back
    return {"recorded": True, "run_id": run_id, "db": str(path)}


def show_command(run_id: int, path) -> str:
    """The ``planner history show`` line that finds this run from the working folder: with ``--db``
    unless the database is the one ``history`` reads by default ($PLANNER_HISTORY, else ./)."""
    import shlex

    from planner.records import history_path

    if Path(path).resolve() == history_path(None, None).resolve():
        return f"planner history show {run_id}"
    return f"planner history show {run_id} --db {shlex.quote(str(path))}"


def add_to_summary(folder: Path, history: dict) -> None:
    """Add the history outcome to ``folder``/summary.json (rewritten atomically)."""
    import json

    from planner.io import atomic_path

    path = Path(folder) / "summary.json"
    if not path.exists():
        return
    data = json.loads(path.read_text())
    data["history"] = history
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2, default=str) + "\n")
