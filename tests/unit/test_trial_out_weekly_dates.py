"""The Weekly sheet (the Summary charts' data) gives each week's start date beside its index, as the
Plan sheet and the Summary's orders do, so week 9 of a chart can be read as 2027-03-01."""

import pandas as pd

from planner.export.tables import plan_to_frames, weekly_frame


def _plan(dates=True):
    rows = [{"week": w, "pool": "p", "server_type": t, "required": 1, "installed": 1, "purchased": 0, "cost": 10.0,
             "cpu_utilisation": 0.3, "memory_utilisation": 0.1, "headroom": 0.5, "risk": 0.0,
             **({"week_start": pd.Timestamp("2026-12-28") + pd.Timedelta(weeks=w)} if dates else {})}
            for w in range(3) for t in ("a", "b")]
    return pd.DataFrame(rows)


def test_weekly_sheet_has_the_week_start():
    weekly = plan_to_frames(_plan())["Weekly"]
    assert list(weekly.columns[:2]) == ["week", "week_start"]
    assert list(weekly["week_start"].dt.strftime("%Y-%m-%d")) == ["2026-12-28", "2027-01-04", "2027-01-11"]
    assert weekly["cost"].tolist() == [20.0, 20.0, 20.0]


def test_weekly_without_dates_keeps_the_index_only():
    assert "week_start" not in weekly_frame(_plan(dates=False)).columns
