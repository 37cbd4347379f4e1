"""Fleet-scale storage: compact demand tables (categorical keys, float32 values) give the same plan."""

import pandas as pd

from planner.pipeline import run_plan
from planner.scenarios import load_scenario


def test_compact_demand_gives_the_same_plan(small_scenario, monkeypatch):
    import planner.demand

    plain = run_plan(load_scenario(small_scenario))
    assert plain.history.demand["cpu_cores"].dtype == "float64"
    monkeypatch.setattr(planner.demand, "COMPACT_ROWS", 0)  # every table counts as fleet-sized
    compact = run_plan(load_scenario(small_scenario))
    assert compact.history.demand["cpu_cores"].dtype == "float32"
    assert isinstance(compact.history.demand["group_id"].dtype, pd.CategoricalDtype)
    for name in ("forecast", "plan", "assignment", "qos", "purchases"):
        pd.testing.assert_frame_equal(getattr(compact, name), getattr(plain, name), obj=name)
