"""FaaS realism through the CLI and scenarios: ``ingest --keep-alive`` and the ``keep_alive`` field."""

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from planner.cli import app
from planner.errors import ScenarioError
from planner.scenarios import load_scenario

runner = CliRunner()


def long_trace(tmp_path, freq="1min", periods=1440):
    """One function invoked at the top of every hour, one every minute; a long CSV and catalog."""
    ds = pd.date_range("2026-01-05", periods=periods, freq=freq)
    hourly = np.where(np.arange(periods) % (60 // (pd.Timedelta(freq).seconds // 60)) == 0, 1, 0)
    rows = pd.concat([pd.DataFrame({"unique_id": "hourly", "ds": ds, "y": hourly}),
                      pd.DataFrame({"unique_id": "busy", "ds": ds, "y": 30})])
    trace = tmp_path / "trace.csv"
    rows.to_csv(trace, index=False)
    catalog = tmp_path / "catalog.csv"
    pd.DataFrame({"unique_id": ["hourly", "busy"], "app": ["h", "b"], "customer": ["c1", "c2"],
                  "cpu_millicores": [1000, 1000], "memory_mb": [1024, 1024], "duration_s": [0.5, 0.5],
                  "trigger": ["timer", "http"]}).to_csv(catalog, index=False)
    return trace, catalog


@pytest.mark.parametrize("policy, rate", [("none", 1.0), ("fixed:10", 25 / (24 + 30 * 1440)),
                                           ("fixed:61", 2 / (24 + 30 * 1440))])
def test_ingest_keep_alive_writes_memory_under_the_policy_and_the_cold_start_rate(tmp_path, policy, rate):
    trace, catalog = long_trace(tmp_path)
    out = tmp_path / "o"
    result = runner.invoke(app, ["ingest", str(trace), "--format", "long", "--catalog", str(catalog),
                                 "--keep-alive", policy, "--out", str(out)])
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "summary.json").read_text())
    assert summary["keep_alive"] == policy
    assert summary["cold_start_rate"] == pytest.approx(rate, abs=1e-6)
    demand = pd.read_parquet(out / "demand.parquet")
    hourly = demand[demand["group_id"] == "h"]
    expected = {"none": 1 / 60, "fixed:10": 10 / 60, "fixed:61": 1.0}[policy]  # GB held per hour on average
    np.testing.assert_allclose(hourly["memory_gb_mean"], expected, rtol=1e-5)
    apps = pd.read_parquet(out / "cold_starts.parquet")
    assert set(apps["app"]) == {"h", "b"} and "cold_start_rate" in apps


@pytest.mark.parametrize("policy, message", [("fixed:-5", "positive number of minutes"),
                                              ("fixed:100000", "longer than a day"),
                                              ("sometimes", "not understood")])
def test_ingest_refuses_bad_keep_alive_with_exit_2(tmp_path, policy, message):
    trace, catalog = long_trace(tmp_path)
    out = tmp_path / "o"
    result = runner.invoke(app, ["ingest", str(trace), "--format", "long", "--catalog", str(catalog),
                                 "--keep-alive", policy, "--out", str(out)])
    assert result.exit_code == 2
    assert message in " ".join(result.output.split())
    assert not out.exists()


def test_a_window_finer_than_five_minute_data_is_a_clear_error(tmp_path):
    trace, catalog = long_trace(tmp_path, freq="5min", periods=288)
    out = tmp_path / "o"
    result = runner.invoke(app, ["ingest", str(trace), "--format", "long", "--catalog", str(catalog),
                                 "--keep-alive", "fixed:1", "--out", str(out)])
    assert result.exit_code == 2
    text = " ".join(result.output.split())
    assert "trace.csv" in text and "5-min intervals" in text and "too coarse" in text
    assert not out.exists()


def test_scenario_keep_alive_field_is_validated_and_named(tmp_path):
    p = tmp_path / "s.yaml"
    p.write_text("keep_alive: fixed:-3\n")
    with pytest.raises(ScenarioError, match=r"keep_alive: .*positive number of minutes"):
        load_scenario(p)
    p.write_text("keep_alive: Fixed:20\nkeep_alive_idle_cpu: 0.1\n")
    s = load_scenario(p)
    assert (s.keep_alive, s.keep_alive_idle_cpu) == ("fixed:20", 0.1)
    p.write_text("keep_alive_idle_cpu: 2\n")
    with pytest.raises(ScenarioError, match="keep_alive_idle_cpu"):
        load_scenario(p)
