"""Issue 17 end to end on the small synthetic scenario (premium survives losing any worker): energy
and carbon in the Plan table, summary.json, the workbook and report.html; fairness columns in
qos.csv and the QoS sheet; the failover plan rechecked from the written files."""

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from planner.cli import app
from planner.fairness import RATE_FLOOR

runner = CliRunner()
SMALL = """
name: small
data:
  synthetic: {functions: 120, days: 56, seed: 1}
horizon: {weeks: 2}
solver: {backend: heuristic, time_limit_s: 5}
forecast: {history_weeks: 4, n_windows: 1, n_jobs: 1}
"""


@pytest.fixture(scope="module")
def objectives_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("objectives")
    scenario = folder / "small.yaml"
    # Stacked quantiles keep every load a plain sum, which the removal loop below recomputes from the
    # files; pooled-risk loads are checked by the run's own verifier and the unit tests.
    scenario.write_text(SMALL + "energy: {pue: 1.3, carbon_intensity: {default: builtin:solar}}\n"
                        "tiers:\n"
                        "  premium: {quantile: q99, method: stacked, overflow_risk: null, survive: worker}\n"
                        "  standard: {quantile: q95, method: stacked, overflow_risk: null}\n"
                        "  economy: {quantile: q90, method: stacked, overflow_risk: null}\n"
                        "  dedicated: {quantile: q99, method: stacked, overflow_risk: null}\n")
    out = folder / "out"
    result = runner.invoke(app, ["run", str(scenario), "--out", str(out), "--no-history"])
    assert result.exit_code == 0, result.output
    return out


def test_energy_and_carbon_in_plan_summary_and_workbook(objectives_run):
    out = objectives_run
    plan = pd.read_csv(out / "plan.csv")
    summary = json.loads((out / "summary.json").read_text())
    for col in ("energy_kwh", "carbon_kg", "carbon_operational_kg", "carbon_embodied_kg"):
        assert col in plan.columns and (plan[col] >= 0).all()
    np.testing.assert_allclose(plan["carbon_kg"], plan["carbon_operational_kg"] + plan["carbon_embodied_kg"])
    assert summary["energy_kwh"] == pytest.approx(plan["energy_kwh"].sum(), abs=0.1)
    assert summary["carbon_kg"] == pytest.approx(plan["carbon_kg"].sum(), abs=0.1)
    assert summary["energy"]["pue"] == 1.3 and summary["energy"]["intensity"]["default"]["source"] == "builtin:solar"
    # A type with servers installed uses energy; a type with none uses nothing.
    assert (plan.loc[plan["installed"] > 0, "energy_kwh"] > 0).all()
    assert (plan.loc[plan["installed"] == 0, "energy_kwh"] == 0).all()
    # At least the idle draw of every installed server, at most its full-load draw (PUE 1.3, 168 h).
    from planner.scenarios import DEFAULT_SERVERS

    idle = plan["server_type"].map({s.type: s.idle_watts for s in DEFAULT_SERVERS})
    full = plan["server_type"].map({s.type: s.max_watts for s in DEFAULT_SERVERS})
    assert (plan["energy_kwh"] >= plan["installed"] * idle * 1.3 * 168 / 1000 - 1e-6).all()
    assert (plan["energy_kwh"] <= plan["installed"] * full * 1.3 * 168 / 1000 + 1e-6).all()
    pytest.importorskip("openpyxl")
    from planner.export.spreadsheet import read_plan_workbook

    sheets = read_plan_workbook(out / "plan.xlsx")
    np.testing.assert_allclose(sheets["Plan"]["carbon_kg"].to_numpy(float), plan["carbon_kg"].to_numpy(float))
    assert sheets["Weekly"]["energy_kwh"].sum() == pytest.approx(plan["energy_kwh"].sum())
    metrics = sheets["Details"].set_index("metric")["value"]
    assert float(metrics["carbon_kg"]) == pytest.approx(summary["carbon_kg"])
    from planner.export.spreadsheet import read_summary_blocks

    block = read_summary_blocks(out / "plan.xlsx")["Energy and carbon over the horizon"].set_index("item")
    assert float(block.loc["carbon", "value"]) == pytest.approx(summary["carbon_kg"])
    report = (out / "report.html").read_text()
    assert "Energy and carbon over the horizon" in report and "Risk fairness per tier" in report


def test_fairness_columns_in_qos_csv_and_sheet(objectives_run):
    out = objectives_run
    qos = pd.read_csv(out / "qos.csv")
    summary = json.loads((out / "summary.json").read_text())
    for col in ("risk_rate", "fairness_risk_max_over_mean", "fairness_risk_jain", "headroom_breach_rate",
                "fairness_breach_max_over_mean", "fairness_breach_jain"):
        assert col in qos.columns
    for tier, part in qos.groupby("tier"):
        for rate, name in (("risk_rate", "risk"), ("headroom_breach_rate", "breach")):
            rates = part[rate].dropna().clip(lower=RATE_FLOOR)  # below the floor rates count as equal
            assert part[f"fairness_{name}_max_over_mean"].nunique() == 1
            if len(rates):
                assert part[f"fairness_{name}_max_over_mean"].iloc[0] == pytest.approx(rates.max() / rates.mean())
            assert 1 / len(part) - 1e-9 <= part[f"fairness_{name}_jain"].iloc[0] <= 1 + 1e-9
        # The breach is against the usable capacity, the risk against the physical one: never smaller.
        both = part[["risk_rate", "headroom_breach_rate"]].dropna()
        assert (both["headroom_breach_rate"] >= both["risk_rate"] - 1e-12).all()
        assert summary["fairness"][tier]["jain"] == pytest.approx(part["fairness_risk_jain"].iloc[0], abs=1e-4)
        assert summary["fairness"][tier]["breach_jain"] == pytest.approx(part["fairness_breach_jain"].iloc[0], abs=1e-4)
    pytest.importorskip("openpyxl")
    from planner.export.spreadsheet import read_plan_workbook

    sheet = read_plan_workbook(out / "plan.xlsx")["QoS"]
    assert {"fairness_risk_max_over_mean", "fairness_risk_jain", "risk_rate", "headroom_breach_rate",
            "fairness_breach_max_over_mean"} <= set(sheet.columns)


def test_losing_any_worker_leaves_premium_within_capacity(objectives_run):
    """The removal loop on the written files: planned demand from forecast.csv at each group's tier
    quantile, the assignment, the workers (spares included) and the failover map."""
    out = objectives_run
    assignment = pd.read_csv(out / "assignment.csv")
    workers = pd.read_csv(out / "workers.csv")
    failover = pd.read_csv(out / "failover.csv")
    forecast = pd.read_csv(out / "forecast.csv", parse_dates=["ds"])
    tiers = pd.read_csv(out / "tiers.csv").set_index("name")
    servers = pd.read_csv(out / "servers.csv").set_index("type")
    plan = pd.read_csv(out / "plan.csv", parse_dates=["week_start"])
    summary = json.loads((out / "summary.json").read_text())
    assert summary["redundancy"]["survive"] == {"premium": "worker"}
    assert set(assignment["tier"]) >= {"premium"} and assignment["zone"].notna().all()
    assert set(workers["role"]) <= {"serving", "spare"}
    checked = 0
    for week, part in assignment.groupby("week"):
        start = plan.loc[plan["week"] == week, "week_start"].iloc[0]
        rows = forecast[(forecast["ds"] >= start) & (forecast["ds"] < start + pd.Timedelta(days=7))]
        tier_of = part.drop_duplicates("group_id").set_index("group_id")["tier"]

        def demand(g):  # [slot, resource] at the group's planning quantile
            q = tiers.loc[tier_of[g], "quantile"]
            r = rows[rows["unique_id"] == g].pivot(index="ds", columns="resource", values=q)
            return r[["cpu_cores", "memory_gb"]].to_numpy()

        cube = {g: demand(g) for g in part["group_id"].unique()}
        wk = workers[workers["week"] == week]
        cap = {w: servers.loc[t, ["cpu_cores", "memory_gb"]].to_numpy(float) for w, t in zip(wk["worker_id"], wk["server_type"])}
        fo = failover[failover["week"] == week]
        for lost in wk["worker_id"]:
            load = {w: np.zeros_like(next(iter(cube.values()))) for w in cap if w != lost}
            for r in part.itertuples(index=False):
                d = r.share * cube[r.group_id]
                if r.worker_id != lost:
                    load[r.worker_id] += d
                elif r.tier == "premium":
                    moved = fo[(fo["group_id"] == r.group_id) & (fo["shard"] == r.shard)]
                    assert moved["share"].sum() == pytest.approx(1.0), (week, lost, r.group_id)
                    for t, sh in zip(moved["target_worker"], moved["share"]):
                        load[t] += sh * d
            for w, lw in load.items():
                assert (lw <= cap[w][None, :] * (1 + 1e-6)).all(), (week, lost, w, (lw / cap[w]).max())
            checked += 1
    assert checked >= 2


def test_planner_verify_rechecks_the_failover_map(objectives_run, tmp_path):
    import shutil

    out = objectives_run
    args = ["verify", "--demand", str(out / "forecast.csv"), "--assignment"]
    result = runner.invoke(app, args + [str(out / "assignment.csv")])
    assert result.exit_code == 0, result.output
    assert "every worker and zone is removed in turn" in " ".join(result.output.split())
    # A copy of the run with the map's first shard dropped: that shard is lost with its worker.
    copy = tmp_path / "run"
    shutil.copytree(out, copy)
    failover = pd.read_csv(copy / "failover.csv")
    first = failover.iloc[0]
    keep = ~((failover["week"] == first["week"]) & (failover["group_id"] == first["group_id"])
             & (failover["shard"] == first["shard"]))
    failover[keep].to_csv(copy / "failover.csv", index=False)
    result = runner.invoke(app, args + [str(copy / "assignment.csv")])
    assert result.exit_code == 1, result.output
    assert f"failover_map[{first['group_id']},{first['shard']},worker:{first['worker_id']}]" in result.output.replace("\n", "")
