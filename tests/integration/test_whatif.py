"""What-if runs: the comparison, and more growth never needing fewer servers or less cost."""

import pandas as pd
import pytest
from typer.testing import CliRunner

from planner.cli import app
from planner.whatif import comparison_table, run_whatif

runner = CliRunner()

TINY = """
name: base
data:
  synthetic: {functions: 40, days: 42, seed: 4}
horizon: {weeks: 2}
solver: {backend: cpsat, time_limit_s: 5}
forecast: {history_weeks: 3, n_windows: 1, n_jobs: 1}
# Stacked quantiles (linear capacity rows): the exact model proves these optima. Under pooled risk
# (the default) it solves a linear stand-in of the chance constraint and proves optimality only
# where the chord relaxation's bound meets the plan (docs/packing.md).
tiers:
  premium: {quantile: q99, method: stacked}
  standard: {quantile: q95, method: stacked}
  economy: {quantile: q90, method: stacked}
  dedicated: {quantile: q99, method: stacked}
"""


@pytest.fixture
def scenarios(tmp_path):
    (tmp_path / "base.yaml").write_text(TINY)
    for factor in (1.3, 4.0, 20.0):
        (tmp_path / f"grow{factor}.yaml").write_text(f"base: base.yaml\nname: grow {factor}\ngrowth: {{global: {factor}}}\n")
    return tmp_path


def test_more_growth_never_needs_fewer_servers_or_less_cost(scenarios):
    results = run_whatif([str(scenarios / n) for n in ("base.yaml", "grow1.3.yaml", "grow4.0.yaml", "grow20.0.yaml")])
    for r in results:  # monotonicity holds for proven optima; make sure that is what we compare
        assert all(p["status"] == "optimal" for p in r["summary"]["packing"]), r["summary"]["packing"]
    table = comparison_table(results).set_index("scenario")
    assert table.loc["base", "total_cost"] <= table.loc["grow 1.3", "total_cost"] <= table.loc["grow 4.0", "total_cost"]
    assert table.loc["base", "servers"] <= table.loc["grow 1.3", "servers"] <= table.loc["grow 4.0", "servers"]
    assert table.loc["grow 4.0", "total_cost"] <= table.loc["grow 20.0", "total_cost"]
    assert table.loc["grow 4.0", "servers"] <= table.loc["grow 20.0", "servers"]
    # The small fleet's floor is its spread rules, not its demand: growth shows once demand dominates.
    assert table.loc["base", "total_cost"] < table.loc["grow 20.0", "total_cost"]


def test_whatif_cli_writes_comparison_workbook(scenarios, tmp_path):
    out = tmp_path / "cmp"
    result = runner.invoke(app, ["whatif", str(scenarios / "base.yaml"), str(scenarios / "grow1.3.yaml"), "--out", str(out)])
    assert result.exit_code == 0, result.output
    table = pd.read_csv(out / "comparison.csv")
    assert list(table["scenario"]) == ["base", "grow 1.3"]
    assert (out / "comparison.xlsx").exists() and (out / "base" / "plan.csv").exists()
    assert "Δ cost" in result.output
