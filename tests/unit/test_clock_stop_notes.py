"""A week whose counted search the wall clock cut short is reported (its plan depends on the load)."""

from types import SimpleNamespace

from planner.pipeline import clock_stop_notes


def _week(week, stats):
    return SimpleNamespace(week=week, result=SimpleNamespace(stats=stats))


def test_only_weeks_cut_short_are_reported_with_their_phases():
    weeks = [_week(0, {"lns_iterations": 20}), _week(1, {"clock_stops": ["neighbourhood search (3 of 20 steps)"]})]
    notes = clock_stop_notes(weeks, None, 300)
    assert len(notes) == 1
    assert notes[0].startswith("week 1: neighbourhood search (3 of 20 steps) stopped at the 300 s time limit")
    assert clock_stop_notes(weeks, "gpu", 60)[0].startswith("pool gpu, week 1:")
