"""What-if comparison: plan several scenarios and set them side by side against the base."""

from __future__ import annotations

from pathlib import Path

import pandas as pd


def plan_for_comparison(path: str | None):
    """Run one scenario (None = the default) and keep what the comparison needs (picklable)."""
    import warnings

    from planner.errors import own_warnings
    from planner.pipeline import run_plan
    from planner.scenarios import default_scenario, load_scenario

    sc = load_scenario(path) if path is not None else default_scenario()
    with warnings.catch_warnings(record=True) as caught:  # in a worker process they would be lost
        warnings.simplefilter("always")
        run = run_plan(sc)
    said = own_warnings(caught)
    if said:
        run.summary["warnings"] = said
    return {"name": sc.name, "summary": run.summary, "plan": run.plan, "qos": run.qos,
            "purchases": run.purchases}


def scenario_warnings(result: dict) -> list[str]:
    """A scenario's warnings in the words of its own `planner run` Summary page: shortfall, budget,
    forecast fallbacks, packing notes and the run's warnings."""
    from planner.export.review import warnings_of

    return warnings_of(result["plan"], result["summary"])


def comparison_row(result: dict) -> dict:
    plan, s = result["plan"], result["summary"]
    last = plan[plan["week"] == plan["week"].max()]
    row = {"scenario": result["name"], "total_cost": s["total_cost"], "servers": int(last["installed"].sum())}
    for r in last.itertuples(index=False):
        row[f"servers_{r.server_type}"] = int(r.installed)
    w = plan["installed"].astype(float).clip(lower=1e-9)
    row["cpu_utilisation"] = float((plan["cpu_utilisation"] * w).sum() / w.sum())
    row["memory_utilisation"] = float((plan["memory_utilisation"] * w).sum() / w.sum())
    row["risk"] = float(s["risk"]["total_slot_hours"])  # the one total (planner.risk)
    row["unserved_risk"] = float(s["risk"]["unserved_slot_hours"])
    row["servers_purchased"] = int(plan["purchased"].sum())
    for key in ("energy_kwh", "carbon_kg"):  # issue 17
        if key in s:
            row[key] = float(s[key])
    if "energy" in s:
        row["carbon_cost"] = float(s["energy"]["carbon_cost"])
    row["warnings"] = len(scenario_warnings(result))
    return row


def default_jobs(n_scenarios: int) -> int:
    """Processes for a what-if: the machine's cores (those this process may use), at most one per
    scenario."""
    from planner.parallel import usable_cores

    return max(1, min(usable_cores(), n_scenarios))


def _timed(i: int, path):
    import time

    t0 = time.perf_counter()
    result = plan_for_comparison(path)
    return i, result, time.perf_counter() - t0


def run_whatif(paths: list[str | None], *, n_jobs: int | None = None, scheduler: str | None = None,
               progress=None) -> list[dict]:
    """Plan every scenario: in parallel processes (joblib; ``None`` = :func:`default_jobs`) or on a
    Dask cluster. ``progress(done, total, result, seconds)`` is called as each scenario finishes
    (in the order they finish); the list returned is in the order of ``paths``."""
    n = len(paths)
    out: list = [None] * n

    def finished(k, i, result, seconds):
        out[i] = result
        if progress is not None:
            progress(k, n, result, seconds)

    if scheduler is not None:
        try:
            from dask.distributed import Client, as_completed
        except ImportError:
            from planner.errors import PlannerError

            raise PlannerError("--scheduler needs dask.distributed: pip install 'planner[dask]'") from None
        client = Client(scheduler)
        try:
            futures = [client.submit(_timed, i, p, pure=False) for i, p in enumerate(paths)]
            for k, fut in enumerate(as_completed(futures), start=1):
                finished(k, *fut.result())
        finally:
            client.close()
        return out
    n_jobs = default_jobs(n) if n_jobs is None else n_jobs
    if n_jobs == 1:
        for k, (i, p) in enumerate(enumerate(paths), start=1):
            finished(k, *_timed(i, p))
        return out
    from joblib import Parallel, delayed

    runs = Parallel(n_jobs=n_jobs, return_as="generator_unordered")(delayed(_timed)(i, p) for i, p in enumerate(paths))
    for k, (i, result, seconds) in enumerate(runs, start=1):
        finished(k, i, result, seconds)
    return out


def comparison_table(results: list[dict]) -> pd.DataFrame:
    """One row per scenario, base first; columns as the export's Comparison sheet expects."""
    return pd.DataFrame([comparison_row(r) for r in results]).fillna(0)


#: Why comparison.xlsx has no Assignment, Utilisation or Forecast sheet (its Details sheet says so).
NOT_KEPT = ("a what-if keeps each scenario's plan, purchases and QoS only (the per-worker tables of every "
            "scenario would not fit one workbook); `planner run SCENARIO` writes this table of one scenario")


def write_whatif(results: list[dict], out: Path, *, force: bool = False) -> Path:
    """comparison.csv, comparison.xlsx (the base's Summary, Weekly, Plan and QoS sheets, every
    scenario's purchases on the Purchases sheet with a ``scenario`` column, the Comparison sheet with
    each scenario's count of warnings, the other scenarios' warnings on the Details sheet; the
    per-worker sheets left out, :data:`NOT_KEPT`), and each scenario's plan, purchases and QoS tables
    and summary.json (its warnings under ``warnings_shown``)."""
    import json

    from planner.export.review import orders_from_purchases
    from planner.export.spreadsheet import write_plan_workbook
    from planner.export.tables import EMPTY_NOTE_PREFIX, default_charts, plan_to_frames
    from planner.io import atomic_dir

    out = Path(out)
    from planner.io import refuse_existing
    from planner.pipeline import concat_rows

    refuse_existing(out, force)
    table = comparison_table(results)
    base = results[0]
    purchases = concat_rows([r["purchases"].assign(scenario=r["name"]) for r in results])
    with atomic_dir(out) as tmp:
        table.to_csv(tmp / "comparison.csv", index=False)
        frames = plan_to_frames(base["plan"], purchases=purchases, qos=base["qos"], comparison=table,
                                base_scenario=base["name"], orders=orders_from_purchases(base["purchases"]),
                                summary={k: v for k, v in base["summary"].items() if k not in ("packing", "scenario_definition")},
                                leave_out=dict.fromkeys(("Assignment", "Utilisation", "Forecast"), NOT_KEPT),
                                empty_notes={"Purchases": EMPTY_NOTE_PREFIX + "no scenario buys a server"},
                                extra_notes=[f"the Summary, Weekly, Plan and QoS sheets are the base scenario's "
                                             f"({base['name']}); the Purchases sheet lists every scenario's orders "
                                             "(column scenario); Comparison sets the scenarios side by side"]
                                + [f"scenario {r['name']}: warning: {w}" for r in results[1:] for w in scenario_warnings(r)])
        write_plan_workbook(tmp / "comparison.xlsx", frames, default_charts(frames))
        for r in results:
            d = tmp / _safe(r["name"])
            d.mkdir(exist_ok=True)
            r["plan"].to_csv(d / "plan.csv", index=False)
            r["purchases"].to_csv(d / "purchases.csv", index=False)
            r["qos"].to_csv(d / "qos.csv", index=False)
            summary = {**r["summary"], "warnings_shown": scenario_warnings(r)}
            (d / "summary.json").write_text(json.dumps(summary, indent=2, default=str) + "\n")
    return out


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name) or "scenario"
