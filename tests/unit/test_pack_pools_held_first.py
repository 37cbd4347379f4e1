"""pack_pools' held-first pass: servers are not decommissioned, so a week that leaves servers of earlier
weeks idle while needing more of another type is packed again on the servers earlier weeks hold; the
re-packed plan replaces its own when it exists (a year's plan would otherwise buy early what only a
later week needs)."""

from dataclasses import dataclass

import pandas as pd

import planner.pipeline as pipeline
from planner import columns as C


@dataclass
class _Result:
    objective: float
    workers: tuple = ()
    placements: tuple = ()


@dataclass
class _Week:
    week: int
    kind: str
    result: _Result
    peak_result: _Result | None = None
    pool: str | None = None
    failover: object = None


def _fleet(**counts) -> tuple:
    return tuple((f"{t}{i}", t) for t, c in counts.items() for i in range(c))


def _run(monkeypatch, own: dict, held_ok: set):
    """Weeks packed as ``own`` says (week -> type counts; week 3 the peak); a re-pack on the held
    servers succeeds for the weeks in ``held_ok``. Returns (weeks, notes, the re-packs asked for)."""
    n = len(own)
    fleet_stage = {"calls": 0}
    repacks = []

    def fake_task(task):
        kind, _rows, _groups, _tiers, catalog, _start, w, *_rest = task
        if kind == "bound":
            return 10.0 if w == 3 else 1.0
        if kind == "free":
            return _Week(w, "free", _Result(100.0, _fleet(**own[w])))
        if kind != "fleet":
            raise AssertionError(kind)
        limit = dict(zip(catalog["type"], catalog["max_count"].astype(int)))
        fleet_stage["calls"] += 1
        if fleet_stage["calls"] < n:  # the fleet stage: every week but the peak, on the peak's fleet
            assert all(own[w].get(t, 0) <= limit[t] for t in limit)
            return _Week(w, "fleet", _Result(90.0, _fleet(**own[w])))
        repacks.append((w, limit))  # the held-first pass, after the fleet stage
        if w not in held_ok:
            return "no plan on the held servers"
        return _Week(w, "held", _Result(90.0, _fleet(**{t: c for t, c in limit.items() if c})))

    monkeypatch.setattr(pipeline, "_week_task", fake_task)
    groups = pd.DataFrame({C.GROUP_ID: ["g1"], C.CUSTOMER: ["c"], "tier": ["standard"]})
    servers = pd.DataFrame({"type": ["a", "b"], "max_count": [None, None]})
    starts = list(pd.date_range("2027-01-04", periods=n, freq="7D"))
    out = pipeline.pack_pools({"": ([pd.DataFrame() for _ in range(n)], groups, servers)}, {}, starts, solver=None)
    weeks, notes = out[""]
    return weeks, notes, repacks


def test_a_week_that_switches_mix_is_packed_on_the_servers_already_held(monkeypatch):
    own = {0: {"a": 1, "b": 4}, 1: {"a": 3, "b": 3}, 2: {"a": 1, "b": 4}, 3: {"a": 3, "b": 4}}
    weeks, notes, repacks = _run(monkeypatch, own, held_ok={1})
    assert repacks == [(1, {"a": 1, "b": 4})]  # only week 1 leaves a b idle while needing more a
    assert weeks[1].kind == "held" and sorted(t for _, t in weeks[1].result.workers) == ["a"] + ["b"] * 4
    assert len(notes) == 1 and "week 1 packed on the servers earlier weeks hold (1 × a, 4 × b)" in notes[0]
    assert "3 × a, 3 × b" in notes[0]


def test_a_week_whose_held_servers_do_not_suffice_keeps_its_own_mix(monkeypatch):
    own = {0: {"a": 1, "b": 4}, 1: {"a": 3, "b": 3}, 2: {"a": 1, "b": 4}, 3: {"a": 3, "b": 4}}
    weeks, notes, repacks = _run(monkeypatch, own, held_ok=set())
    # week 1 keeps its mix; week 2 then holds 3 a and 4 b, so nothing else is re-packed
    assert repacks == [(1, {"a": 1, "b": 4})]
    assert weeks[1].kind == "fleet" and notes == []


def test_growth_within_the_held_mix_is_not_packed_again(monkeypatch):
    # every week needs at least what the earlier weeks hold: nothing is left idle, nothing re-packed
    own = {0: {"a": 1, "b": 3}, 1: {"a": 1, "b": 3}, 2: {"a": 1, "b": 4}, 3: {"a": 2, "b": 4}}
    weeks, notes, repacks = _run(monkeypatch, own, held_ok={0, 1, 2, 3})
    assert repacks == [] and notes == [] and [wp.kind for wp in weeks] == ["fleet", "fleet", "fleet", "free"]
