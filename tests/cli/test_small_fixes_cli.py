"""Small things a user trips on: one name for the Azure format (azure2019 an alias everywhere),
planner synth --format azure honouring --start, the README's stage-by-stage examples."""

import re
import shlex
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from planner.cli import app

runner = CliRunner()
README = Path(__file__).resolve().parents[2] / "README.md"


@pytest.fixture
def azure_trace(tmp_path):
    out = tmp_path / "az"
    r = runner.invoke(app, ["synth", "--functions", "12", "--days", "2", "--format", "azure", "--start", "2026-03-02",
                            "--out", str(out)])
    assert r.exit_code == 0, r.output
    return out


def test_synth_azure_honours_start(azure_trace, tmp_path):
    r = runner.invoke(app, ["ingest", str(azure_trace), "--format", "azure", "--out", str(tmp_path / "i")])
    assert r.exit_code == 0, r.output
    demand = pd.read_parquet(tmp_path / "i" / "demand.parquet")
    assert demand["ds"].min() == pd.Timestamp("2026-03-02") and demand["ds"].max() < pd.Timestamp("2026-03-04")


@pytest.mark.parametrize("fmt", ["azure", "azure2019"])
def test_one_azure_format_name_with_an_alias_everywhere(azure_trace, tmp_path, fmt):
    r = runner.invoke(app, ["ingest", str(azure_trace), "--format", fmt, "--out", str(tmp_path / "i")])
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["profile", "--telemetry", str(azure_trace), "--format", fmt, "--out", str(tmp_path / "p")])
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["forecast", "--telemetry", str(azure_trace), "--format", fmt, "--horizon", "24",
                            "--out", str(tmp_path / "f.parquet")])
    assert r.exit_code == 0, r.output
    fc = pd.read_parquet(tmp_path / "f.parquet")
    assert fc["ds"].min() == pd.Timestamp("2026-03-04")  # the day after the trace


def _readme_stage_lines():
    text = README.read_text()
    block = re.search(r"Each stage on its own.*?```bash\n(.*?)```", text, re.S).group(1)
    return [line.split("  #")[0] for line in block.splitlines() if line.startswith("planner ")]


def test_readme_lists_a_working_example_for_each_command():
    text = README.read_text()
    table = text[text.index("## Commands"):text.index("`planner COMMAND --help`")]
    for cmd in ("forecast", "pack", "verify"):
        assert f"`planner {cmd} ..." not in table and f"`planner {cmd} --" in table, cmd
    assert {line.split()[1] for line in _readme_stage_lines()} >= {"synth", "ingest", "forecast", "pack", "verify", "profile"}
    # the file the README says runs its stage lines is this one
    named = re.search(r"Each stage on its own.*?\((tests/\S+\.py) runs these lines\)", text, re.S).group(1)
    assert Path(__file__).resolve() == README.parent / named


def test_readme_stage_examples_run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for line in _readme_stage_lines():
        if "planner-out" in line:  # needs `planner run`; the slow verify test runs this line on the default run
            continue
        r = runner.invoke(app, shlex.split(line)[1:])
        assert r.exit_code == 0, f"{line}\n{r.output}"
    assert "no violation" in r.output or (tmp_path / "out" / "profile" / "pairs.csv").exists()
