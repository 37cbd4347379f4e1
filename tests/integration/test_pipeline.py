"""The planning run end to end on a small synthetic scenario: outputs, workbook, verification,
determinism, refusals."""

import json
import shutil
import zipfile

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from models.packing.verify import find_violations
from planner.cli import app
from planner.pipeline import run_plan
from planner.scenarios import load_scenario

runner = CliRunner()


@pytest.fixture
def planned(small_run_folder):
    return small_run_folder  # one `planner run` of the small scenario for the session (conftest.py)


@pytest.fixture(scope="module")
def small_run(shared_small_scenario):
    """run_plan on the small scenario, read by the verifier and determinism tests."""
    return run_plan(load_scenario(shared_small_scenario))


def test_run_writes_plan_tables_workbook_and_plots(planned):
    out, output = planned
    for name in ("plan.xlsx", "plan.csv", "plan.parquet", "purchases.csv", "assignment.csv", "qos.csv",
                 "utilisation.csv", "forecast.parquet", "summary.json", "servers_by_type.png",
                 "forecast_vs_history.png", "utilisation_heatmap.png"):
        assert (out / name).exists(), name
    summary = json.loads((out / "summary.json").read_text())
    assert summary["weeks"] == 2 and summary["procurement"]["status"] in ("optimal", "feasible")
    assert "total cost" in output
    # Fallbacks are counted with their reason and shown (issue 19).
    fb = summary["forecast_fallbacks"]
    assert set(fb) == {"series", "fallbacks", "share", "reasons", "launch_ramp"} and fb["series"] > 0
    assert 0 <= fb["launch_ramp"] <= fb["fallbacks"]  # young launches forecast by the fleet's ramp
    assert fb["share"] == pytest.approx(fb["fallbacks"] / fb["series"]) and sum(fb["reasons"].values()) == fb["fallbacks"]
    assert "forecast fallbacks" in output
    assert ("forecast fell back" in output) == (fb["share"] > 0)
    plan = pd.read_csv(out / "plan.csv")
    assert set(plan["week"]) == {0, 1}
    assert (plan["installed"] >= plan["required"]).all() or summary["procurement"]["shortfall_server_weeks"] > 0
    assert plan["cost"].sum() == pytest.approx(summary["total_cost"], abs=0.01)
    # Pooled risk by default (issue 14): per tier the target and the predicted overflow probability.
    qos = pd.read_csv(out / "qos.csv")
    assert {"method", "overflow_risk", "overflow_probability"} <= set(qos.columns)
    assert (qos["method"] == "gaussian").all() and (qos["overflow_probability"] <= qos["overflow_risk"] + 1e-9).all()
    assert {"overflow_risk", "overflow_probability"} <= set(plan.columns)
    used = plan[plan["required"] > 0]
    assert (used["overflow_probability"] <= used["overflow_risk"] + 1e-9).all()
    # summary.json: per tier the target, the predicted probability and the expected overflow share
    # (what a backtest measures as realised), all from planner.risk.
    by_tier = summary["risk_vs_target"]
    assert set(qos["tier"]) <= set(by_tier)
    for t, v in by_tier.items():
        if v["slot_hours"]:
            assert v["predicted_overflow_probability"] <= v["target"] + 1e-9
            assert 0 <= v["expected_overflow_share"] <= v["predicted_overflow_probability"] + 1e-12
    assert (out / "residuals.parquet").exists()


def test_workbook_numbers_match_the_csv_tables_and_charts_are_native(planned):
    pytest.importorskip("openpyxl")
    from planner.export.spreadsheet import read_plan_workbook

    out, _ = planned
    sheets = read_plan_workbook(out / "plan.xlsx")
    plan_csv = pd.read_csv(out / "plan.csv")
    plan_xl = sheets["Plan"]
    for col in ("required", "installed", "purchased", "cost", "cpu_utilisation", "risk"):
        np.testing.assert_allclose(plan_xl[col].to_numpy(float), plan_csv[col].to_numpy(float), rtol=1e-9, err_msg=col)
    qos_xl, qos_csv = sheets["QoS"], pd.read_csv(out / "qos.csv")
    np.testing.assert_allclose(qos_xl["risk"].to_numpy(float), qos_csv.sort_values(["customer", "tier"])["risk"].to_numpy(float))
    with zipfile.ZipFile(out / "plan.xlsx") as z:
        charts = [n for n in z.namelist() if n.startswith("xl/charts/chart")]
    assert len(charts) >= 3


def test_every_week_passes_the_independent_verifier(small_run):
    run = small_run
    for wp in run.weeks:
        assert wp.instance.chance and wp.loadings is not None  # pooled, correlated by the residuals
        assert find_violations(wp.instance, wp.result.assignment_frame()) == []
        assert find_violations(wp.peak_instance, wp.peak_result.assignment_frame()) == []
        assert wp.result.objective <= wp.peak_cost + 1e-9  # shape-aware never costs more than peak-based


def test_same_inputs_same_plan(small_run, small_scenario):
    a = small_run
    b = run_plan(load_scenario(small_scenario))
    pd.testing.assert_frame_equal(a.plan, b.plan)
    pd.testing.assert_frame_equal(a.assignment, b.assignment)


def test_refuses_an_output_folder_with_a_plan(planned, small_scenario, tmp_path):
    out = tmp_path / "out"
    shutil.copytree(planned[0], out)  # a copy: the shared folder stays as the run wrote it
    before = (out / "plan.csv").read_text()
    result = runner.invoke(app, ["run", str(small_scenario), "--out", str(out)])
    assert result.exit_code == 2 and "--force" in result.output
    assert (out / "plan.csv").read_text() == before


def test_missing_data_file_is_a_clear_error(tmp_path):
    p = tmp_path / "s.yaml"
    p.write_text("data: {format: huawei, path: nowhere.csv}\n")
    result = runner.invoke(app, ["run", str(p), "--out", str(tmp_path / "o")])
    assert result.exit_code == 2
    assert "nowhere.csv does not exist" in result.output
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("stage", ["planning", "writing"])
def test_an_interrupted_run_leaves_no_plan_folder(tiny_scenario, tmp_path, monkeypatch, stage):
    import planner.export.files
    import planner.pipeline

    def interrupt(*args, meanwhile=None, **kwargs):
        if meanwhile is not None:
            meanwhile()  # the tables are written
        raise KeyboardInterrupt

    # Ctrl-C while planning, or half-way through writing (after the tables, during the workbook).
    if stage == "planning":
        monkeypatch.setattr(planner.pipeline, "run_plan", interrupt)
    else:
        monkeypatch.setattr(planner.export.files, "write_files", interrupt)
    out = tmp_path / "o"
    result = runner.invoke(app, ["run", str(tiny_scenario), "--out", str(out)])
    assert result.exit_code == 130
    assert "interrupted" in result.output
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir()] == ["tiny.yaml"]  # no temporary folder left either
