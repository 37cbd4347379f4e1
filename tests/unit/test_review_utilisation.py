"""The Summary sheet's mean utilisation is the terminal's and summary.json's figure: weeks weighted
by their installed servers (a plain mean of the weeks read 25.2% where the terminal said 25.0%)."""

import numpy as np
import pandas as pd
import pytest

from planner.export.review import review_sheet
from planner.export.tables import plan_to_frames, weekly_frame

# week 0: one server at 20% CPU; week 1: three at 40% (the fleet grew)
PLAN = pd.DataFrame({"week": [0, 1], "pool": "p", "server_type": "t", "required": [1, 3], "installed": [1, 3],
                     "purchased": [0, 2], "cost": [100.0, 300.0], "cpu_utilisation": [0.2, 0.4],
                     "memory_utilisation": [0.1, 0.3], "headroom": [0.5, 0.5], "risk": 0.0})


def test_summary_utilisation_weighs_weeks_by_installed_servers():
    plan = PLAN
    sheet = review_sheet(plan, weekly_frame(plan), {})
    util = next(b.table for b in sheet.blocks if b.title == "Utilisation").set_index("item")["value"]
    # summary.json's cpu_utilisation_mean (planner.pipeline): the plan's rows weighted by installed
    expected = np.average(plan["cpu_utilisation"], weights=plan["installed"])
    assert util["CPU, mean expected"] == pytest.approx(expected) and expected == pytest.approx(0.35)
    assert util["memory, mean expected"] == pytest.approx(np.average(plan["memory_utilisation"], weights=plan["installed"]))


def test_details_sheet_mean_utilisation_is_the_same_figure():
    details = plan_to_frames(PLAN)["Details"].set_index("metric")["value"]
    assert details["mean_cpu_utilisation"] == pytest.approx(0.35)
    assert details["mean_memory_utilisation"] == pytest.approx(0.25)


def test_details_sheet_lists_each_metric_once():
    """summary.json repeats some of the plan's figures (weeks, total_cost): the Details sheet
    showed them twice, once rounded (23,146.15 beside 23,146.1538)."""
    details = plan_to_frames(PLAN, summary={"weeks": 2, "total_cost": 400.004, "solver": {"backend": "cpsat"}})["Details"]
    assert not details["metric"].duplicated().any()
    rows = details.set_index("metric")["value"]
    assert rows["total_cost"] == pytest.approx(400.0) and rows["weeks"] == 2 and rows["solver.backend"] == "cpsat"
