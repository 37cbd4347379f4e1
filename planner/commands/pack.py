"""``planner pack``: pack function groups onto workers by the shape of their demand."""

from __future__ import annotations

from enum import Enum
from pathlib import Path

import typer

from planner.commands._common import console, handle_errors


class Backend(str, Enum):
    """Solver choice."""

    cpsat = "cpsat"
    milp = "milp"
    heuristic = "heuristic"
    peak = "peak"


def _read_inputs(demand: Path, groups: Path | None, servers: Path | None, tiers: Path | None):
    from planner.errors import InputDataError
    from planner.io import read_table
    from planner.packing import to_packing_instance
    from planner.qos import load_tiers
    from planner.servers import load_servers

    for p in (demand, groups, servers, tiers):
        if p is not None and not Path(p).exists():
            raise InputDataError("file not found", path=p)
    catalog = load_servers(servers) if servers else None
    tier_map = load_tiers(tiers) if tiers else None
    groups_frame = read_table(groups) if groups else None
    return to_packing_instance(read_table(demand), groups_frame, tier_map, catalog, path=demand, groups_path=groups)


@handle_errors
def pack(
    demand: Path = typer.Option(None, "--demand", help="ResourceDemand (group_id, ds, cpu_cores, memory_gb) or Forecast table."),
    cbp: Path = typer.Option(None, "--cbp", help="A chance-constrained bin-packing instance (.cbp file) instead of --demand: "
                             "writes bins.csv (item, bin) and summary.json (bins, lower_bound, runtime_s)."),
    servers: Path = typer.Option(None, "--servers", help="ServerCatalog file (default: the built-in catalog)."),
    groups: Path = typer.Option(None, "--groups", help="Groups table group_id, customer, tier (default: no rules)."),
    tiers: Path = typer.Option(None, "--tiers", help="Tiers table (default: premium/standard/economy/dedicated)."),
    backend: Backend = typer.Option(Backend.cpsat, "--solver", "--backend", help="Packing backend."),
    time_limit: float = typer.Option(60.0, "--time-limit", min=0.1, help="Time limit in seconds."),
    threads: int = typer.Option(1, "--threads", min=1, help="Solver threads (1 = reproducible)."),
    seed: int = typer.Option(0, "--seed", help="Random seed."),
    iterations: int = typer.Option(None, "--iterations", min=1,
                                   help="Cap the neighbourhood search; with --threads 1 the plan is then reproducible."),
    balance: bool = typer.Option(True, "--balance/--no-balance",
                                 help="Spread load over the final fleet (same cost, less load near capacity)."),
    out: Path = typer.Option(..., "--out", help="Output folder for assignment.csv, workers.csv, summary.json."),
    force: bool = typer.Option(False, "--force", help="Replace an output folder that already holds files."),
) -> None:
    """Pack groups onto workers; write assignment.csv, workers.csv and summary.json (atomically).
    With ``--cbp FILE`` pack a chance-constrained bin-packing instance (docs/packing.md)."""
    from planner.errors import InputDataError
    from planner.io import atomic_dir, refuse_existing, write_json, write_table
    from planner.packing import assignment_frame, solve, summary, workers_frame

    if (demand is None) == (cbp is None):
        raise InputDataError("give exactly one of --demand (a demand or forecast table) and --cbp (a .cbp file)")
    if cbp is not None:  # a .cbp file carries its own items and bin: these options were silently ignored
        ignored = [flag for flag, v in (("--servers", servers), ("--groups", groups), ("--tiers", tiers)) if v]
        if ignored:
            raise InputDataError(f"{', '.join(ignored)} cannot be used with --cbp (the .cbp file gives the items "
                                 "and the bin); use them with --demand")
    refuse_existing(out, force)  # also checks that --out can be a folder
    extra = {"lns_max_iterations": iterations, "deterministic": True} if iterations else {}
    if not balance:
        extra["balance_moves"] = 0
    if cbp is not None:
        _pack_cbp(cbp, backend.value, time_limit, threads, seed, extra, out)
        return
    instance = _read_inputs(demand, groups, servers, tiers)
    result = solve(instance, backend.value, time_limit_s=time_limit, workers=threads, seed=seed, **extra)
    info = summary(result)
    with atomic_dir(out) as tmp:
        write_table(assignment_frame(result), tmp / "assignment.csv")
        write_table(workers_frame(instance, result), tmp / "workers.csv")
        write_json(info, tmp / "summary.json")
    ratio = f", {info['cost_vs_peak']:.3f} x peak-based" if info["cost_vs_peak"] else ""
    console.print(
        f"{info['status']}: {info['n_workers']} workers, cost {info['cost']:.2f} "
        f"(bound {info['bound']:.2f}, gap {100 * (info['gap'] or 0):.2f}%{ratio}) in {info['runtime_s']:.1f} s -> {out}",
        highlight=False,
    )


def _pack_cbp(path: Path, backend: str, time_limit: float, threads: int, seed: int, extra: dict, out: Path) -> None:
    """``planner pack --cbp``: bins.csv (``item`` = 0-based position in the file, ``bin``) and
    summary.json (``bins``, ``lower_bound`` (a whole number of bins), ``runtime_s`` and details)."""
    import pandas as pd

    from planner.cbp import read_cbp, solve_cbp
    from planner.io import atomic_dir, write_json, write_table

    instance = read_cbp(path)
    result, bins, info = solve_cbp(instance, backend, time_limit_s=time_limit, workers=threads, seed=seed, **extra)
    with atomic_dir(out) as tmp:
        write_table(pd.DataFrame({"item": range(instance.n), "bin": bins}), tmp / "bins.csv")
        write_json(info, tmp / "summary.json")
    proven = " (optimal)" if info["bins"] <= info["lower_bound"] else ""
    console.print(f"{info['status']}: {info['bins']} bins{proven}, lower bound {info['lower_bound']} in "
                  f"{info['runtime_s']:.1f} s -> {out}", highlight=False)


def register(app: typer.Typer) -> None:
    """Add ``pack`` to the CLI."""
    app.command("pack")(pack)
