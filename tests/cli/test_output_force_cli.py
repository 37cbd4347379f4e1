"""`planner forecast` and `planner pack` refuse to replace an existing output without --force, as
`planner run`, `whatif` and `backtest` do, and write through a temporary path renamed into place."""

import json
import os

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from planner.cli import app

runner = CliRunner()


def _demand(path):
    ds = pd.date_range("2027-01-04", periods=3 * 168, freq="h")
    t = np.arange(len(ds))
    frames = [pd.DataFrame({"group_id": f"g{g}", "ds": ds, "cpu_cores": 2 + g + np.sin(2 * np.pi * t / 24),
                            "memory_gb": 4 + g + np.cos(2 * np.pi * t / 24)}) for g in range(3)]
    pd.concat(frames, ignore_index=True).to_csv(path, index=False)
    return path


def _forecast(src, out, *extra):
    return runner.invoke(app, ["forecast", "--demand", str(src), "--horizon", "24", "--models", "seasonal_naive",
                               "--n-windows", "1", "--out", str(out), *extra])


def test_forecast_refuses_an_existing_output_without_force(tmp_path):
    src = _demand(tmp_path / "demand.csv")
    out = tmp_path / "fc.csv"
    out.write_text("mine\n")
    result = _forecast(src, out)
    assert result.exit_code == 2, result.output
    assert str(out) in result.output.replace("\n", "") and "--force" in result.output
    assert out.read_text() == "mine\n"  # untouched
    assert not (tmp_path / "fc.models.csv").exists()  # refused before any work or write


def test_forecast_refuses_when_only_a_side_file_exists(tmp_path):
    src = _demand(tmp_path / "demand.csv")
    side = tmp_path / "fc.models.csv"
    side.write_text("mine\n")
    result = _forecast(src, tmp_path / "fc.csv")
    assert result.exit_code == 2 and "fc.models.csv" in result.output and "--force" in result.output
    assert side.read_text() == "mine\n" and not (tmp_path / "fc.csv").exists()


def test_forecast_force_replaces_atomically(tmp_path, monkeypatch):
    src = _demand(tmp_path / "demand.csv")
    out = tmp_path / "fc.csv"
    out.write_text("mine\n")
    renamed = []
    real = os.replace

    def spy(a, b):  # every output arrives by a rename of a temporary file beside it
        renamed.append((os.fspath(a), os.fspath(b)))
        return real(a, b)

    monkeypatch.setattr(os, "replace", spy)
    result = _forecast(src, out, "--force")
    assert result.exit_code == 0, result.output
    assert len(pd.read_csv(out)) == 3 * 2 * 24
    targets = {b for _, b in renamed}
    assert {str(out), str(tmp_path / "fc.models.csv"), str(tmp_path / "fc.calibration.csv")} <= targets
    assert all(os.path.dirname(a) == str(tmp_path) and os.path.basename(a).startswith(".") for a, _ in renamed)
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []  # no temporary left


@pytest.fixture
def pack_inputs(tmp_path):
    return _demand(tmp_path / "demand.csv")


def _pack(demand, out, *extra):
    return runner.invoke(app, ["pack", "--demand", str(demand), "--solver", "heuristic", "--time-limit", "5",
                               "--out", str(out), *extra])


def test_pack_refuses_a_folder_that_holds_files_without_force(pack_inputs, tmp_path):
    out = tmp_path / "packed"
    out.mkdir()
    (out / "summary.json").write_text("{}\n")
    result = _pack(pack_inputs, out)
    assert result.exit_code == 2, result.output
    assert str(out) in result.output.replace("\n", "") and "--force" in result.output
    assert (out / "summary.json").read_text() == "{}\n" and not (out / "assignment.csv").exists()
    # an empty folder is not a previous output: no --force needed
    empty = tmp_path / "empty"
    empty.mkdir()
    assert _pack(pack_inputs, empty).exit_code == 0


def test_pack_force_replaces(pack_inputs, tmp_path):
    out = tmp_path / "packed"
    assert _pack(pack_inputs, out).exit_code == 0
    (out / "summary.json").write_text("{}\n")
    result = _pack(pack_inputs, out, "--force")
    assert result.exit_code == 0, result.output
    assert "n_workers" in json.loads((out / "summary.json").read_text())
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".packed")]  # the temporary folder is gone


@pytest.mark.parametrize("command", [
    ["synth", "--functions", "3", "--days", "1"],
    ["ingest", "TRACE", "--format", "huawei"],
    ["profile", "--telemetry", "TRACE", "--format", "huawei"],
])
def test_synth_ingest_profile_refuse_a_folder_with_files(tmp_path, command):
    out = tmp_path / "out"
    out.mkdir()
    (out / "telemetry.parquet").write_text("mine\n")
    args = [str(tmp_path / "trace.csv") if a == "TRACE" else a for a in command]
    result = runner.invoke(app, [*args, "--out", str(out)])
    assert result.exit_code == 2, result.output
    assert "--force" in result.output and str(out) in result.output.replace("\n", "")
    assert (out / "telemetry.parquet").read_text() == "mine\n"  # refused before reading or writing anything


def test_synth_force_replaces(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "telemetry.parquet").write_text("mine\n")
    result = runner.invoke(app, ["synth", "--functions", "3", "--days", "1", "--out", str(out), "--force"])
    assert result.exit_code == 0, result.output
    assert pd.read_parquet(out / "telemetry.parquet")["unique_id"].nunique() == 3
