"""`planner run --backtest` filed the quarter-before backtest's warnings among the plan's own: the
plan's Summary said "8 of 14 series ... hold 8 weeks" of a forecast it never made."""

import json

from typer.testing import CliRunner

from planner.cli import app

SCENARIO = """
name: tiny-bt
data:
  synthetic: {functions: 20, days: 84, seed: 2}
horizon: {weeks: 4}
solver: {backend: heuristic, time_limit_s: 5}
forecast: {n_jobs: 1}
"""


def test_the_backtests_warnings_are_its_own_not_the_plans(tmp_path):
    (tmp_path / "t.yaml").write_text(SCENARIO)
    out = tmp_path / "o"
    r = CliRunner().invoke(app, ["run", str(tmp_path / "t.yaml"), "--backtest", "--no-plots", "--no-history",
                                 "--jobs", "1", "--out", str(out)])
    assert r.exit_code == 0, r.output
    summary = json.loads((out / "summary.json").read_text())
    plan_said, past_said = summary["warnings"], summary["backtest"]["warnings"]
    # 12 weeks of history before the horizon, 8 before the quarter-before's origin
    assert plan_said and all("hold 12 weeks" in w for w in plan_said if "yearly cycle" in w)
    assert past_said and all("hold 8 weeks" in w for w in past_said if "yearly cycle" in w)
    assert not set(plan_said) & set(past_said)
