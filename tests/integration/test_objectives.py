"""Issue 17 end to end on the small synthetic scenario: energy and carbon in the Plan table,
summary.json and the workbook; fairness columns in qos.csv and the QoS sheet."""

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from planner.cli import app

runner = CliRunner()


@pytest.fixture(scope="module")
def objectives_run(tmp_path_factory):
    from tests.integration.conftest import SMALL

    folder = tmp_path_factory.mktemp("objectives")
    scenario = folder / "small.yaml"
    scenario.write_text(SMALL + "energy: {pue: 1.3, carbon_intensity: {default: builtin:solar}}\n")
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
    metrics = sheets["Summary"].set_index("metric")["value"]
    assert float(metrics["carbon_kg"]) == pytest.approx(summary["carbon_kg"])


def test_fairness_columns_in_qos_csv_and_sheet(objectives_run):
    out = objectives_run
    qos = pd.read_csv(out / "qos.csv")
    summary = json.loads((out / "summary.json").read_text())
    for col in ("risk_rate", "fairness_risk_max_over_mean", "fairness_risk_jain"):
        assert col in qos.columns
    for tier, part in qos.groupby("tier"):
        rates = part["risk_rate"].dropna()
        assert part["fairness_risk_max_over_mean"].nunique() == 1
        if rates.mean() > 0:
            assert part["fairness_risk_max_over_mean"].iloc[0] == pytest.approx(rates.max() / rates.mean())
        assert 1 / len(part) - 1e-9 <= part["fairness_risk_jain"].iloc[0] <= 1 + 1e-9
        assert summary["fairness"][tier]["jain"] == pytest.approx(part["fairness_risk_jain"].iloc[0], abs=1e-4)
    pytest.importorskip("openpyxl")
    from planner.export.spreadsheet import read_plan_workbook

    sheet = read_plan_workbook(out / "plan.xlsx")["QoS"]
    assert {"fairness_risk_max_over_mean", "fairness_risk_jain", "risk_rate"} <= set(sheet.columns)
