"""The huawei-dc4 backtest of examples/: plan from 23 days, replay the last 7."""

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from planner.cli import app

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "backtest-huawei.yaml"
runner = CliRunner()


def test_huawei_backtest_premium_overflow_and_cost(huawei_path, tmp_path):
    out = tmp_path / "bt"
    result = runner.invoke(app, ["backtest", str(EXAMPLE), "--actuals", str(huawei_path), "--out", str(out)])
    assert result.exit_code == 0, result.output
    by_tier = pd.read_csv(out / "by_tier.csv").set_index(["plan", "tier"])
    premium = by_tier.loc[("shape", "premium")]
    assert premium["slot_hours"] > 0 and premium["slot_hours"] % 168 == 0  # whole weeks of workers
    assert premium["overflow_share"] <= 0.01
    summary = json.loads((out / "summary.json").read_text())
    # Packing by shape never needs more than sizing each group by its own peak (with the
    # horizon-calibrated quantiles both can fit the same whole servers on this small fleet).
    assert summary["cost"] <= summary["peak_cost"]
    assert summary["cost_vs_hindsight"] == pytest.approx(summary["cost"] / summary["hindsight_cost"], rel=1e-3)
    exposure = pd.read_csv(out / "exposure.csv")
    assert set(exposure["plan"]) == {"shape", "peak", "hindsight"}
