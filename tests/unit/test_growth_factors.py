"""Growth multipliers per forecast row: none without growth (no per-row arrays), else global x
customer x group."""

import numpy as np
import pandas as pd

from planner import columns as C
from planner import pipeline
from planner.scenarios import default_scenario


def _forecast():
    start = pd.Timestamp("2026-01-05")
    ds = pd.date_range(start, periods=24 * 14, freq="h")
    rows = [(g, t) for g in ("a1", "a2", "b1") for t in ds]
    frame = pd.DataFrame(rows, columns=[C.UNIQUE_ID, C.DS])
    frame[C.UNIQUE_ID] = frame[C.UNIQUE_ID].astype("category")
    groups = pd.DataFrame({C.GROUP_ID: ["a1", "a2", "b1"], C.CUSTOMER: ["A", "A", "B"]})
    return frame, groups, start


def test_growth_factors(monkeypatch):
    frame, groups, start = _forecast()
    monkeypatch.setattr(pipeline, "horizon_start", lambda scenario, history: start)
    base = default_scenario()
    assert pipeline._growth_factors(base, None, frame, groups) is None
    grown = base.model_copy(update={"growth": base.growth.model_copy(update={
        "all": 2.0, "customers": {"A": [1.0, 3.0]}, "groups": {"b1": 0.5}})})
    f = pipeline._growth_factors(grown, None, frame, groups)
    week = ((frame[C.DS] - start) // pd.Timedelta("7D")).to_numpy()
    ids = frame[C.UNIQUE_ID].astype(str).to_numpy()
    want = np.where(np.isin(ids, ["a1", "a2"]), np.where(week == 0, 2.0, 6.0), 1.0)
    want = np.where(ids == "b1", 2.0 * 0.5, want)
    np.testing.assert_allclose(f, want)
