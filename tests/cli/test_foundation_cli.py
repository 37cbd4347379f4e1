"""The foundation commands through the CLI: exit codes, outputs, messages."""

import json

import pandas as pd
from typer.testing import CliRunner

from planner.cli import app

runner = CliRunner()


def test_help_lists_commands():
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for name in ("synth", "ingest", "run"):
        assert name in result.output


def test_synth_then_ingest_long(tmp_path):
    fleet = tmp_path / "fleet"
    result = runner.invoke(app, ["synth", "--functions", "50", "--days", "2", "--seed", "3", "--out", str(fleet)])
    assert result.exit_code == 0, result.output
    out = tmp_path / "ingested"
    result = runner.invoke(app, ["ingest", str(fleet / "telemetry.parquet"), "--format", "long",
                                 "--catalog", str(fleet / "catalog.csv"), "--out", str(out)])
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "summary.json").read_text())
    assert summary["functions"] == 50 and summary["slots"] == 48 and summary["interval"] == "5min"
    demand = pd.read_parquet(out / "demand.parquet")
    assert len(demand) == summary["groups"] * 48
    assert {"telemetry.parquet", "catalog.parquet", "demand_functions.parquet"} <= {p.name for p in out.iterdir()}


def test_ingest_huawei(tmp_path, huawei_path):
    result = runner.invoke(app, ["ingest", str(huawei_path), "--format", "huawei", "--out", str(tmp_path / "o")])
    assert result.exit_code == 0, result.output
    summary = json.loads((tmp_path / "o" / "summary.json").read_text())
    assert (summary["functions"], summary["groups"], summary["slots"]) == (8, 5, 720)
    tel = pd.read_parquet(tmp_path / "o" / "telemetry.parquet")
    assert len(tel) == 8 * 8640 and tel["y"].sum() == 112_655_292.0  # the file's total


def test_bad_input_exits_2_and_writes_nothing(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("date,not-a-function\n2026-01-01,1\n")
    out = tmp_path / "o"
    result = runner.invoke(app, ["ingest", str(bad), "--format", "huawei", "--out", str(out)])
    assert result.exit_code == 2
    assert "column name does not follow" in result.output
    assert not out.exists()


def test_ingest_missing_file(tmp_path):
    result = runner.invoke(app, ["ingest", str(tmp_path / "nope.csv"), "--format", "huawei", "--out", str(tmp_path / "o")])
    assert result.exit_code == 2
    assert "file not found" in result.output
