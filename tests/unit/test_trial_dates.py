"""Loose ends of the session-13 newcomer trial: dates that change nothing are said, a slot hint
that is a real multiple, an empty history file, and errors that name the scenario."""

import types
import warnings

import numpy as np
import pandas as pd
import pytest

from planner.errors import InputDataError, ScenarioError


def test_a_slot_hint_lists_multiples_of_the_interval():
    from planner.demand import slot_factor
    from planner.telemetry import Telemetry

    index = pd.date_range("2026-01-05", periods=12, freq="2h")
    tel = Telemetry(index, pd.Index(["f"]), np.ones((12, 1), np.float32))
    with pytest.raises(InputDataError, match=r"e\.g\. 2h, 4h or 8h"):  # 1h was offered: not a multiple of 2h
        slot_factor(tel, "3h")


def test_an_empty_history_file_is_explained(tmp_path):
    from planner.records import HistoryError, RunStore

    (tmp_path / "h.db").write_bytes(b"")
    with pytest.raises(HistoryError, match="holds no plan history"):
        RunStore(tmp_path / "h.db").runs()


def test_horizon_start_inside_the_history_names_the_scenario():
    from planner.pipeline import horizon_start

    sc = types.SimpleNamespace(horizon=types.SimpleNamespace(start="2026-01-01"), source_path="q1.yaml")
    with pytest.raises(ScenarioError, match=r"^q1\.yaml: horizon\.start 2026-01-01 is inside the history"):
        horizon_start(sc, types.SimpleNamespace(end=pd.Timestamp("2026-02-02")))


def test_launch_dates_the_horizon_never_sees_are_said():
    from planner.pipeline import _check_launch_dates

    forecast = pd.DataFrame({"ds": pd.date_range("2027-01-04", periods=13 * 168, freq="h")})
    svc = lambda name, launch: types.SimpleNamespace(name=name, launch=launch, ramp_weeks=2.0)  # noqa: E731
    sc = types.SimpleNamespace(anticipated=[svc("late", "2027-09-01"), svc("past", "2024-05-01"),
                                            svc("inside", "2027-02-01"), svc("ramping", "2026-12-28")])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        _check_launch_dates(sc, forecast)
    said = [str(w.message) for w in caught]
    assert len(said) == 2
    assert "'late' launches 2027-09-01, after the horizon ends (2027-04-04)" in said[0]
    assert "'past' launched 2024-05-01, before the horizon starts (2027-01-04)" in said[1]


def test_data_until_after_the_data_is_said():
    from planner.history import _cut
    from planner.telemetry import Telemetry

    index = pd.date_range("2026-01-05", periods=48, freq="h")
    tel = Telemetry(index, pd.Index(["f"]), np.ones((48, 1), np.float32))
    with pytest.warns(UserWarning, match="after the data's last slot"):
        assert len(_cut(tel, pd.Timestamp("2026-03-01")).index) == 48
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert len(_cut(tel, pd.Timestamp("2026-01-06")).index) == 24  # a real cut says nothing
        assert len(_cut(tel, index[-1] + pd.Timedelta("1h")).index) == 48  # the data's own end
