"""Fleet-scale storage: compact demand tables (categorical keys, float32 values) give the same plan."""

import pandas as pd

from planner.pipeline import run_plan
from planner.scenarios import load_scenario


TINY = """
name: tiny
data:
  synthetic: {functions: 50, days: 28, seed: 2}
horizon: {weeks: 1}
solver: {backend: heuristic, time_limit_s: 5}
forecast: {n_windows: 1, n_jobs: 1}
"""


def test_compact_demand_gives_the_same_plan(tmp_path, monkeypatch):
    import planner.demand

    small_scenario = tmp_path / "tiny.yaml"
    small_scenario.write_text(TINY)
    plain = run_plan(load_scenario(small_scenario))
    assert plain.history.demand["cpu_cores"].dtype == "float64"
    monkeypatch.setattr(planner.demand, "COMPACT_ROWS", 0)  # every table counts as fleet-sized
    compact = run_plan(load_scenario(small_scenario))
    assert compact.history.demand["cpu_cores"].dtype == "float32"
    assert isinstance(compact.history.demand["group_id"].dtype, pd.CategoricalDtype)
    for name in ("forecast", "plan", "assignment", "qos", "purchases"):
        pd.testing.assert_frame_equal(getattr(compact, name), getattr(plain, name), obj=name)
