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
    # again with --force and another variant: the scenario folders are replaced (os.replace cannot move
    # a folder onto a non-empty one), and the variant no longer compared leaves no folder behind
    again = runner.invoke(app, ["whatif", str(scenarios / "base.yaml"), str(scenarios / "grow4.0.yaml"),
                                "--out", str(out), "--force"])
    assert again.exit_code == 0, again.output
    assert list(pd.read_csv(out / "comparison.csv")["scenario"]) == ["base", "grow 4.0"]
    assert (out / "grow_4.0" / "plan.csv").exists() and not (out / "grow_1.3").exists()


def test_comparison_workbook_has_no_silent_empty_sheet(scenarios, tmp_path):
    """comparison.xlsx held empty Assignment, Utilisation and Forecast sheets (a what-if keeps none
    of them) and the base's Purchases only: now each scenario's purchases stacked with its name,
    the sheets it cannot fill left out with a line saying why, and no sheet without rows unexplained."""
    openpyxl = pytest.importorskip("openpyxl")
    from planner.export.spreadsheet import read_plan_workbook

    # short lead times and growth in the second week: a variant that buys (the base buys nothing)
    (scenarios / "buys.yaml").write_text("""base: base.yaml
name: buys
growth: {global: [1.0, 20.0]}
servers:
  - {type: c-32, cpu_cores: 32, memory_gb: 128, cost_per_month: 1100, lead_time_weeks: 1}
  - {type: m-64, cpu_cores: 64, memory_gb: 256, cost_per_month: 2000, lead_time_weeks: 1}
""")
    out = tmp_path / "cmp"
    result = runner.invoke(app, ["whatif", str(scenarios / "base.yaml"), str(scenarios / "buys.yaml"),
                                 "--out", str(out), "--no-history"])
    assert result.exit_code == 0, result.output
    back = read_plan_workbook(out / "comparison.xlsx")
    assert not {"Assignment", "Utilisation", "Forecast"} & set(back)
    notes = " ".join(back["Details"].loc[back["Details"]["metric"].str.startswith("note_"), "value"].astype(str))
    for sheet in ("Assignment", "Utilisation", "Forecast"):
        assert sheet in notes
    assert "are the base scenario's" in notes  # which scenario the single-plan sheets show
    purchases = back["Purchases"]
    assert purchases.columns[0] == "scenario"
    table = pd.read_csv(out / "comparison.csv").set_index("scenario")
    assert table.loc["buys", "servers_purchased"] > 0  # the variant buys: the sheet must show it
    bought = purchases.groupby("scenario")["purchased"].sum()
    for name in table.index:
        assert bought.get(name, 0) == table.loc[name, "servers_purchased"], name
    per_folder = pd.read_csv(out / "buys" / "purchases.csv")
    assert per_folder["purchased"].sum() == table.loc["buys", "servers_purchased"]
    wb = openpyxl.load_workbook(out / "comparison.xlsx", read_only=True)
    for name in wb.sheetnames:
        rows = [r for r in wb[name].iter_rows(values_only=True) if any(v is not None for v in r)]
        assert len(rows) > 1, name  # a header alone: an empty sheet that does not say why
