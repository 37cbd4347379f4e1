"""pack_pools' restart: when a week does not fit the peak week's fleet and its own free packing costs
more than the peak week's, the cost bound misjudged the peak; the pool starts again from that week,
and every other week is packed onto the new peak week's fleet."""

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
