"""pack_pools' restart: when a week does not fit the peak week's fleet and its own free packing costs
more than the peak week's, the cost bound misjudged the peak; the pool starts again from that week,
and every other week is packed onto the new peak week's fleet. Its last pass, held servers first (below)."""

from dataclasses import dataclass, field

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
    envelope: tuple = field(default=())


def test_a_dearer_free_week_becomes_the_peak_and_the_pool_starts_again(monkeypatch):
    n = 4
    bounds = [10.0, 9.0, 5.0, 4.0]  # the bound says week 0 is the peak ...
    free_cost = [100.0, 130.0, 60.0, 50.0]  # ... but week 1 packed freely costs more
    calls = []

    def fake_task(task):
        kind, _rows, _groups, _tiers, catalog, _start, w, *_rest, fallback, _deferral, _domains, _res, _extra = task
        calls.append((kind, w))
        if kind == "bound":
            return bounds[w]
        if kind == "free":
            return _Week(w, "free", _Result(free_cost[w], workers=(("w0", f"peak{w}"),)))
        if kind == "fleet":
            env = tuple(catalog["env"])
            # week 1 does not fit week 0's fleet; everything fits week 1's
            if env == ("peak0",) and w == 1:
                return "does not fit"
            return _Week(w, "fleet", _Result(free_cost[w] * 0.9), envelope=env)
        raise AssertionError(kind)

    def fake_envelope(servers, peak):
        return servers.assign(env=[t for _, t in peak.result.workers][0])

    monkeypatch.setattr(pipeline, "_week_task", fake_task)
    monkeypatch.setattr("planner.plan.envelope_servers", fake_envelope)
    groups = pd.DataFrame({C.GROUP_ID: ["g1", "g2"], C.CUSTOMER: ["c", "c"], "tier": ["standard"] * 2})
    servers = pd.DataFrame({"type": ["a"], "max_count": [None]})
    slices = [pd.DataFrame() for _ in range(n)]
    starts = list(pd.date_range("2027-01-04", periods=n, freq="7D"))
    out = pipeline.pack_pools({"": (slices, groups, servers)}, {}, starts, solver=None)
    weeks, notes = out[""]
    assert [wp.kind for wp in weeks] == ["fleet", "free", "fleet", "fleet"]  # week 1 is the peak now
    assert all(wp.envelope == ("peak1",) for wp in weeks if wp.kind == "fleet")  # on the new peak's fleet
    assert notes == []  # after the restart every week fits: no week keeps a mix of its own
    # the first round's fleet stage ran on week 0's fleet, then again on week 1's
    fleet_calls = [w for k, w in calls if k == "fleet"]
    assert sorted(fleet_calls[:3]) == [1, 2, 3] and sorted(fleet_calls[3:]) == [0, 2, 3]
    assert calls.count(("free", 0)) == 1 and calls.count(("free", 1)) == 1  # free packings are not repeated


# The held-first pass: servers are not decommissioned, so a week that leaves servers of earlier weeks
# idle while needing more of another type is packed again on the servers earlier weeks hold; the
# re-packed plan replaces its own when it exists (a year's plan would otherwise buy early what only a
# later week needs).


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
