"""Bad input and bad output paths through the CLI: one line naming the thing and what was expected,
exit status 2, no traceback; the traceback only with the global --debug."""

import os
import tempfile

import pandas as pd
import pytest
from typer.testing import CliRunner

from planner import columns as C
from planner.cli import app

runner = CliRunner()

HUAWEI = "date,296---224---pool22-300-128\n" + "".join(
    f"{t},{i % 7}\n" for i, t in enumerate(pd.date_range("2026-01-05", periods=48, freq="5min")))
BINARY = bytes(range(256)) * 8


@pytest.fixture
def files(tmp_path):
    (tmp_path / "dc.csv").write_text(HUAWEI)
    (tmp_path / "binary.csv").write_bytes(BINARY)
    (tmp_path / "binary.yaml").write_bytes(BINARY)
    (tmp_path / "a-file").write_text("not a folder\n")
    (tmp_path / "folder").mkdir()
    ds = pd.date_range("2026-01-05", periods=24, freq="5min")
    pd.DataFrame({C.UNIQUE_ID: "f1", C.DS: ds, C.Y: 3.0}).to_csv(tmp_path / "long.csv", index=False)
    pd.DataFrame({C.UNIQUE_ID: ["f1"], C.APP: "a", C.CUSTOMER: "c", C.CPU_MILLICORES: 300.0, C.MEMORY_MB: 128.0,
                  C.DURATION_S: 0.5}).to_csv(tmp_path / "catalog.csv", index=False)
    return tmp_path


def _one_line_error(result, *needles):
    text = result.output.strip()
    assert result.exit_code == 2, result.output
    assert "Traceback" not in text and result.exception is None or isinstance(result.exception, SystemExit), text
    # the error is one line (a progress line may come before it; a scenario error lists its fields after)
    assert [line for line in text.splitlines() if line.startswith("error:")], text
    for n in needles:
        assert n in text, (n, text)


def test_output_path_that_is_a_file(files):
    r = runner.invoke(app, ["ingest", str(files / "dc.csv"), "--format", "huawei", "--out", str(files / "a-file")])
    _one_line_error(r, "a-file: is a file; --out must be a folder")
    r = runner.invoke(app, ["run", "--out", str(files / "a-file")])
    _one_line_error(r, "a-file: is a file; --out must be a folder")
    r = runner.invoke(app, ["synth", "--functions", "3", "--days", "1", "--out", str(files / "a-file" / "sub")])
    _one_line_error(r, "a-file: is a file, so")


def test_unwritable_output_folder_is_refused_before_any_work(files, monkeypatch):
    real = os.access
    monkeypatch.setattr(os, "access", lambda p, mode: False if str(p) == str(files / "folder") else real(p, mode))
    r = runner.invoke(app, ["ingest", str(files / "dc.csv"), "--format", "huawei", "--out", str(files / "folder" / "x")])
    _one_line_error(r, "folder: folder is not writable; choose another --out")


def test_a_write_the_system_refuses_is_one_line(files, monkeypatch):
    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied", kwargs.get("dir"))

    monkeypatch.setattr(tempfile, "mkdtemp", refuse)
    r = runner.invoke(app, ["ingest", str(files / "dc.csv"), "--format", "huawei", "--out", str(files / "out")])
    _one_line_error(r, "Permission denied")


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root writes into read-only folders")
def test_read_only_folder(files):
    os.chmod(files / "folder", 0o555)
    try:
        r = runner.invoke(app, ["ingest", str(files / "dc.csv"), "--format", "huawei", "--out", str(files / "folder" / "x")])
        _one_line_error(r, "not writable")
    finally:
        os.chmod(files / "folder", 0o755)


@pytest.mark.parametrize("args", [
    ["ingest", "BINARY", "--format", "huawei", "--out", "OUT"],
    ["ingest", "BINARY", "--format", "long", "--catalog", "CATALOG", "--out", "OUT"],
    ["ingest", "LONG", "--format", "long", "--catalog", "BINARY", "--out", "OUT"],
    ["profile", "--telemetry", "BINARY", "--format", "huawei", "--out", "OUT"],
    ["pack", "--demand", "BINARY", "--out", "OUT"],
    ["forecast", "--telemetry", "BINARY", "--out", "OUT.csv"],
])
def test_binary_input_file(files, args):
    names = {"BINARY": "binary.csv", "CATALOG": "catalog.csv", "LONG": "long.csv", "OUT": "out"}
    args = [str(files / names[a]) if a in names else str(files / "out.csv") if a == "OUT.csv" else a for a in args]
    _one_line_error(runner.invoke(app, args), "binary.csv: not a text CSV file")


def test_binary_scenario_file(files):
    _one_line_error(runner.invoke(app, ["run", str(files / "binary.yaml"), "--out", str(files / "out")]),
                    "binary.yaml: not a text YAML file")


def test_huawei_format_on_a_folder(files):
    r = runner.invoke(app, ["ingest", str(files / "folder"), "--format", "huawei", "--out", str(files / "out")])
    _one_line_error(r, "folder: is a folder; expected one CSV file for --format huawei")


def test_long_format_without_a_catalog(files):
    for cmd in (["ingest", str(files / "long.csv")], ["profile", "--telemetry", str(files / "long.csv")]):
        r = runner.invoke(app, [*cmd, "--format", "long", "--out", str(files / "out")])
        _one_line_error(r, "the long format needs a catalog file: give --catalog FILE")


@pytest.mark.parametrize("slot, says", [("7min", "must be a whole multiple of the telemetry interval (5min)"),
                                        ("banana", "slot 'banana' is not a positive duration")])
def test_bad_slot(files, slot, says):
    r = runner.invoke(app, ["ingest", str(files / "dc.csv"), "--format", "huawei", "--slot", slot, "--out", str(files / "out")])
    _one_line_error(r, says)
    r = runner.invoke(app, ["profile", "--telemetry", str(files / "dc.csv"), "--format", "huawei", "--slot", slot,
                            "--out", str(files / "out")])
    _one_line_error(r)
    assert not (files / "out").exists()


def test_bad_slot_in_a_scenario(files):
    (files / "s.yaml").write_text("data: {slot: banana}\n")
    _one_line_error(runner.invoke(app, ["run", str(files / "s.yaml"), "--out", str(files / "out")]), "data.slot")


@pytest.mark.parametrize("cmd", [["run", "{s}"], ["whatif", "{s}", "{s}"], ["backtest", "{s}", "--actuals", "{dc}"]])
def test_scenario_path_that_is_a_folder(files, cmd):
    args = [a.format(s=files / "folder", dc=files / "dc.csv") for a in cmd]
    _one_line_error(runner.invoke(app, [*args, "--out", str(files / "out")]),
                    "folder: is a folder; expected a scenario YAML file")


def test_further_cases(files):
    r = runner.invoke(app, ["forecast", "--telemetry", str(files / "long.csv"), "--freq", "banana", "--out", str(files / "f.csv")])
    _one_line_error(r, "unknown frequency 'banana'")
    r = runner.invoke(app, ["forecast", "--telemetry", str(files / "folder"), "--out", str(files / "f.csv")])
    _one_line_error(r, "is a folder; expected a table file")
    r = runner.invoke(app, ["verify", "--demand", str(files / "long.csv"), "--assignment", str(files / "folder")])
    _one_line_error(r, "folder: not a file")
    r = runner.invoke(app, ["ingest", str(files / "binary.csv"), "--format", "azure", "--out", str(files / "out")])
    _one_line_error(r, "not a folder of Azure 2019 day files")
    # backtest reads its actuals before hours of planning
    (files / "bt.yaml").write_text(f"data: {{format: huawei, path: {files / 'dc.csv'}}}\n")
    r = runner.invoke(app, ["backtest", str(files / "bt.yaml"), "--actuals", str(files / "folder"), "--out", str(files / "o")])
    _one_line_error(r, "folder: is a folder; expected one CSV file for --format huawei")
    r = runner.invoke(app, ["backtest", str(files / "bt.yaml"), "--actuals", str(files / "none.csv"), "--out", str(files / "o")])
    _one_line_error(r, "none.csv: file not found")


def test_debug_shows_the_traceback(files):
    r = runner.invoke(app, ["--debug", "run", str(files / "folder"), "--out", str(files / "out")])
    assert r.exit_code == 1 and type(r.exception).__name__ == "ScenarioError"


def test_an_unexpected_error_is_one_line_and_says_it_is_a_bug(files, monkeypatch):
    import planner.ingest.job as job

    def broken(*args, **kwargs):
        raise KeyError("boom")

    monkeypatch.setattr(job, "ingest", broken)
    r = runner.invoke(app, ["ingest", str(files / "dc.csv"), "--format", "huawei", "--out", str(files / "out")])
    assert r.exit_code == 1 and "Traceback" not in r.output
    assert "internal error: KeyError" in r.output and "--debug" in r.output


@pytest.mark.parametrize("text", ["", "# only a comment\n", "{}\n"])
def test_an_empty_scenario_is_refused_not_planned_as_the_default(files, text):
    (files / "empty.yaml").write_text(text)
    for cmd in (["run", str(files / "empty.yaml")], ["whatif", str(files / "empty.yaml"), str(files / "empty.yaml")]):
        r = runner.invoke(app, [*cmd, "--out", str(files / "out")])
        _one_line_error(r, "empty.yaml: the scenario file is empty")
    assert not (files / "out").exists()


def test_version():
    r = runner.invoke(app, ["--version"])
    assert r.exit_code == 0 and r.output.startswith("planner ")
    from importlib.metadata import version

    assert version("planner") in r.output
