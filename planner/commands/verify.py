"""``planner verify``: check any assignment against the demand on the full slot grid, week by week
for a multi-week plan (planner/verification.py)."""

from __future__ import annotations

from pathlib import Path

import typer

from planner.commands._common import console, err_console, handle_errors

#: Files of a ``planner run`` folder that carry the rules of its plan.
RUN_RULES = {"groups": "groups.csv", "tiers": "tiers.csv", "servers": "servers.csv", "residuals": "residuals.parquet"}


def _rules_beside(assignment: Path, given: dict[str, Path | None]) -> dict[str, Path | None]:
    """Rules not given on the command line are read from the assignment's folder when ``planner run``
    wrote them there (groups.csv, tiers.csv, servers.csv)."""
    out = dict(given)
    for key, name in RUN_RULES.items():
        if out[key] is None and (assignment.parent / name).is_file():
            out[key] = assignment.parent / name
    return out


def _domains_beside(assignment: Path, tiers: Path | None) -> dict | None:
    """Failure domains of a ``planner run`` folder (issue 17): workers.csv, failover.csv and the
    tiers' ``survive`` column; ``None`` when the run has no survival rule."""
    from planner.io import read_table

    folder = assignment.parent
    if tiers is None or not (folder / "failover.csv").is_file() or not (folder / "workers.csv").is_file():
        return None
    frame = read_table(tiers)
    if "survive" not in frame.columns:
        return None
    levels = {str(n): str(v) for n, v in zip(frame["name"], frame["survive"]) if str(v) in ("worker", "zone")}
    if not levels:
        return None
    return {"workers": read_table(folder / "workers.csv"), "failover": read_table(folder / "failover.csv"),
            "levels": levels}


@handle_errors
def verify(
    demand: Path = typer.Option(..., "--demand", help="The demand (or forecast) the plan is for."),
    assignment: Path = typer.Option(..., "--assignment", help="assignment.csv written by `planner pack` or `planner run`."),
    servers: Path = typer.Option(None, "--servers", help="ServerCatalog file (default: servers.csv beside the assignment, else the built-in catalog)."),
    groups: Path = typer.Option(None, "--groups", help="Groups table group_id, customer, tier (default: groups.csv beside the assignment, else no rules)."),
    tiers: Path = typer.Option(None, "--tiers", help="Tiers table (default: tiers.csv beside the assignment, else the default tiers)."),
    residuals: Path = typer.Option(None, "--residuals", help="The groups' joint residuals for pooled tiers' correlation (default: residuals.parquet beside the assignment, else independent groups)."),
    max_shown: int = typer.Option(20, "--max-shown", help="How many violations to print."),
) -> None:
    """Recompute every worker/slot/resource load and check every rule; exit 1 on any violation.

    An assignment with a ``week`` column (what ``planner run`` writes) is checked week by week
    against the demand rows of that week. A group with no demand in a week and no placement is idle:
    accepted, counted and listed; a group with demand and no placement is a violation."""
    from rich.markup import escape

    from planner.errors import InputDataError
    from planner.io import read_table
    from planner.packing import read_assignment
    from planner.qos import load_tiers
    from planner.servers import load_servers
    from planner.verification import verify_plan

    for p in (demand, assignment, servers, groups, tiers, residuals):
        if p is not None and not Path(p).is_file():
            raise InputDataError("not a file" if Path(p).exists() else "file not found", path=p)
    given = {"groups": groups, "tiers": tiers, "servers": servers, "residuals": residuals}
    rules = _rules_beside(Path(assignment), given)
    found = [str(rules[k]) for k in RUN_RULES if rules[k] is not None and given[k] is None]
    if found:
        console.print(f"rules of the run read from {', '.join(found)}", highlight=False)
    domains = _domains_beside(Path(assignment), rules["tiers"])
    if domains is not None:
        console.print(f"failover map read from {Path(assignment).parent / 'failover.csv'}: every worker and zone "
                      "is removed in turn", highlight=False)
    checks = verify_plan(
        read_table(demand), read_assignment(assignment),
        groups=read_table(rules["groups"]) if rules["groups"] else None,
        tiers=load_tiers(rules["tiers"]) if rules["tiers"] else None,
        servers=load_servers(rules["servers"]) if rules["servers"] else None,
        path=demand, domains=domains,
        residuals=_read_residuals(rules["residuals"]) if rules["residuals"] else None,
    )
    violations = [(c, v) for c in checks for v in c.violations]
    idle = [(c.week, g) for c in checks for g in c.idle_absent]
    if idle:
        shown = ", ".join(g if w is None else f"{g} (week {w})" for w, g in idle[:5])
        console.print(f"{len(idle)} idle group-period(s) absent from the assignment, accepted (no demand in "
                      f"that period): {shown}{' …' if len(idle) > 5 else ''}", highlight=False)
    if violations:
        for c, v in violations[:max_shown]:
            where = "" if c.week is None else f"week {c.week}: "
            err_console.print(f"[red]violation[/] {escape(where + str(v))}", highlight=False)
        if len(violations) > max_shown:
            err_console.print(f"... and {len(violations) - max_shown} more", highlight=False)
        bad_weeks = sorted({c.week for c, _ in violations if c.week is not None})
        in_weeks = f" in week(s) {', '.join(map(str, bad_weeks))}" if bad_weeks else ""
        err_console.print(f"[bold red]{len(violations)} violation(s){in_weeks}[/]", highlight=False)
        raise typer.Exit(code=1)
    _print_overflow(checks)
    groups_checked = sorted({c.groups for c in checks})
    span = (f"{groups_checked[0]}" if len(groups_checked) == 1 else f"{groups_checked[0]}-{groups_checked[-1]}")
    if checks[0].week is None:
        console.print(f"ok: {span} groups, {checks[0].slots} slots, no violation", highlight=False)
    else:
        console.print(f"ok: {len(checks)} week(s), {span} groups and {checks[0].slots} slots per week, no violation",
                      highlight=False)


def _read_residuals(path: Path):
    """The wide residual table ``ds, <group>...`` written by ``planner run``."""
    from planner.errors import InputDataError
    from planner.io import read_table

    frame = read_table(path)
    if "ds" not in frame.columns or frame.shape[1] < 2:
        raise InputDataError("expected columns ds and one per group (standardised residuals)", path=path)
    return frame.set_index("ds").astype(float)


def _print_overflow(checks) -> None:
    """Per period: the workers' largest predicted overflow probability against their targets."""
    for c in checks:
        if c.overflow is None or not len(c.overflow):
            continue
        o = c.overflow
        ratio = o["p_gaussian"] / o["epsilon"]
        worst = o.loc[ratio.idxmax()]
        over = int((ratio > 1 + 1e-6).sum())
        # The plan holds the Gaussian figure to the target; say too where the Monte Carlo one (the
        # run's residual scenarios) exceeds it, which "0 above target" alone hid, and how many of
        # those its sampling error cannot explain (the interval's low end above the target).
        above_mc = o["p_monte_carlo"] / o["epsilon"] > 1 + 1e-6
        over_mc = int(above_mc.sum())
        has_ci = "p_monte_carlo_low" in o
        sure = int((above_mc & (o["p_monte_carlo_low"] > o["epsilon"])).sum()) if has_ci else None
        interval = (f" (95 % {worst['p_monte_carlo_low']:.2g}–{worst['p_monte_carlo_high']:.2g} over "
                    f"{int(worst['mc_scenarios']):,} scenarios)" if has_ci else "")
        where = "" if c.week is None else f"week {c.week}: "
        console.print(
            f"{where}predicted overflow probability (pooled tiers): worst worker {worst['worker_id']} "
            f"{worst['p_gaussian']:.3g} Gaussian / {worst['p_monte_carlo']:.3g} Monte Carlo{interval} against its "
            f"target {worst['epsilon']:.3g}; {over} of {len(o)} worker(s) above target (Gaussian)"
            + (f", {over_mc} by Monte Carlo" if over_mc else "")
            + (f" ({sure} beyond its sampling error)" if over_mc and has_ci else ""), highlight=False)


def register(app: typer.Typer) -> None:
    """Add ``verify`` to the CLI."""
    app.command("verify")(verify)
