"""Pools packed in chunks (planner.plan.CHUNK_ITEMS): a fleet's large pools are split into chunks
of groups, each packed as a sub-plan of its own and merged into the pool's fleet. Forced here on a
small fleet with a chunk limit of a few groups."""

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from planner.cli import app
from planner.pipeline import run_plan
from planner.plan import chunk_members
from planner.scenarios import load_scenario
from test_pools import FLEXIBLE as POOLS_FLEXIBLE

runner = CliRunner()

# The three-pool fleet of test_pools.py (one customer group free to run in us or ap).
FLEXIBLE = POOLS_FLEXIBLE.replace("name: flexible", "name: chunked")
LIMIT = 4


@pytest.fixture
def chunked(monkeypatch):
    monkeypatch.setattr("planner.plan.CHUNK_ITEMS", LIMIT)


def _scenario(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text(FLEXIBLE)
    return load_scenario(path)


@pytest.fixture(scope="module")
def planned(tmp_path_factory):
    """run_plan on FLEXIBLE once per (chunk limit, seam workers) for the module; None: the product's
    default. Several tests read the same plan (read only); a test's own second run stays its own."""
    sc = _scenario(tmp_path_factory.mktemp("chunks"))
    runs = {}

    def plan(chunk_items=None, seam_workers=None):
        key = (chunk_items, seam_workers)
        if key not in runs:
            with pytest.MonkeyPatch.context() as mp:
                if chunk_items is not None:
                    mp.setattr("planner.plan.CHUNK_ITEMS", chunk_items)
                if seam_workers is not None:
                    mp.setattr("planner.plan.SEAM_WORKERS", seam_workers)
                runs[key] = run_plan(sc)
        return runs[key]

    return plan


def test_chunks_hold_consecutive_sizes_keep_units_whole_and_are_deterministic():
    size = pd.Series([9.0, 1.0, 5.0, 7.0, 3.0, 2.0, 8.0], index=list("abcdefg"))
    chunks = chunk_members(size, 3)
    # 7 groups, at most 3 a chunk: 3 chunks of up to 3; by size a(9) g(8) d(7) | c(5) e(3) f(2) | b(1)
    assert chunks == [["a", "d", "g"], ["c", "e", "f"], ["b"]]
    assert chunk_members(size.sample(frac=1, random_state=1), 3) == chunks  # input order does not matter
    assert chunk_members(size, 7) == [sorted(size.index)]  # at the limit: one chunk, as before
    ties = pd.Series(1.0, index=[f"g{i:02d}" for i in range(10)])
    assert chunk_members(ties, 4) == [["g00", "g01", "g02", "g03"], ["g04", "g05", "g06", "g07"], ["g08", "g09"]]
    # a unit (an isolated customer's groups) stays whole, placed by its largest group
    units = pd.Series({"b": "x", "e": "x", "g": "x"})
    together = chunk_members(size, 3, units)
    assert together[0] == ["a", "b", "e", "g"]  # the chunk fills up to 3, then takes the unit whole
    assert sorted(g for c in together for g in c) == sorted(size.index)


def test_a_chunked_plan_merges_every_group_into_one_verified_pool_fleet(planned):
    from models.packing.verify import find_violations

    run = planned(LIMIT, 0)  # chunked, no seams
    notes = " ".join(run.summary["packing_notes"])
    chunked_pools = [p for p, n in run.placement.groupby("pool").size().items() if n > LIMIT]
    assert chunked_pools, "the test needs a pool larger than the chunk limit"
    assert "chunks of at most 4" in notes
    pool_of = run.placement.set_index("group_id")["pool"]
    fc = run.forecast.assign(week=(run.forecast["ds"] - run.weeks[0].start) // pd.Timedelta(days=7))
    live = fc[fc[["q50", "q90", "q95", "q99"]].max(axis=1) > 0].groupby("week")["unique_id"].agg(lambda s: set(s.astype(str)))
    for wp in run.weeks:
        frame = wp.result.assignment_frame()
        # every group of the pool-week with demand placed, whole, and nothing else: no chunk drops one
        expected = {g for g in live[wp.week] if pool_of[g] == wp.pool}
        assert set(frame["group_id"]) == set(wp.instance.group_ids) == expected
        assert frame.groupby("group_id")["fraction"].sum().round(9).eq(1.0).all()
        assert find_violations(wp.instance, frame) == []
        assert find_violations(wp.peak_instance, wp.peak_result.assignment_frame()) == []
        workers = [w for w, _ in wp.result.workers]
        assert len(workers) == len(set(workers))
        assert wp.mean.shape[0] == len(wp.instance.group_ids) == wp.spread.shape[0]
        if wp.pool in chunked_pools:
            # the peak-based instance holds the planned instance's cubes, not a second copy of them
            assert wp.peak_instance.demand is wp.instance.demand and wp.peak_instance.sigma is wp.instance.sigma
            parts = {w.split("/")[1] for w in workers}
            assert len(parts) > 1 and all(p.startswith("part") for p in parts)
            # a chunk's groups never share a worker with another chunk's
            chunk_of = frame.assign(part=frame["worker_id"].str.split("/").str[1]).groupby("group_id")["part"].nunique()
            assert (chunk_of == 1).all()
    # one chunk membership in every week of a pool
    for p in chunked_pools:
        members = [wp.result.assignment_frame().assign(part=lambda f: f["worker_id"].str.split("/").str[1])
                   .drop_duplicates("group_id").set_index("group_id")["part"] for wp in run.weeks if wp.pool == p]
        common = members[0].index.intersection(members[1].index)
        assert len(common) and (members[0][common] == members[1][common]).all()
    # the Plan table's requirement is the merged fleets' worker count
    required = run.plan.groupby(["week", "pool"])["required"].sum()
    for wp in run.weeks:
        assert required[(wp.week, wp.pool)] == len(wp.result.workers)


def test_a_chunked_plan_is_deterministic_and_the_same_on_dask(tmp_path, chunked, planned):
    import planner.plan

    sc = _scenario(tmp_path)
    first, again = planned(LIMIT, planner.plan.SEAM_WORKERS), run_plan(sc)  # the first run earlier, in the module
    for name in ("plan", "assignment", "purchases", "pools"):
        pd.testing.assert_frame_equal(getattr(again, name), getattr(first, name), obj=name)
    pytest.importorskip("dask.distributed")
    dask = run_plan(sc, workers=2)
    assert dask.summary["parallel"]["executor"] == "dask"
    for name in ("plan", "assignment", "utilisation", "qos", "purchases", "pools", "placement"):
        pd.testing.assert_frame_equal(getattr(dask, name), getattr(first, name), obj=name)


def test_planner_verify_accepts_a_chunked_run_and_catches_a_dropped_group(tmp_path, chunked):
    out = tmp_path / "out"
    (tmp_path / "s.yaml").write_text(FLEXIBLE)
    result = runner.invoke(app, ["run", str(tmp_path / "s.yaml"), "--out", str(out), "--no-plots", "--no-history"])
    assert result.exit_code == 0, result.output
    verify = ["verify", "--demand", str(out / "forecast.parquet"), "--assignment"]
    result = runner.invoke(app, [*verify, str(out / "assignment.csv")])
    assert result.exit_code == 0, result.output
    assert "ok: 2 week(s)" in result.output
    a = pd.read_csv(out / "assignment.csv")
    part = a[a["worker_id"].str.count("/") == 2]
    assert len(part), "no chunked worker in the assignment"
    gone = part["group_id"].iloc[0]
    bad = tmp_path / "bad"
    bad.mkdir()
    a[~((a["week"] == part["week"].iloc[0]) & (a["group_id"] == gone))].to_csv(bad / "assignment.csv", index=False)
    for name in ("groups.csv", "tiers.csv", "servers.csv"):
        (bad / name).write_bytes((out / name).read_bytes())
    result = runner.invoke(app, [*verify, str(bad / "assignment.csv")])
    assert result.exit_code == 1, result.output
    assert f"group {gone!r} has demand" in " ".join(result.output.split())


def test_chunking_leaves_small_pools_as_they_were(tmp_path, monkeypatch, planned):
    """Pools at or under the limit are packed whole: the plan is the one without chunking."""
    sc = _scenario(tmp_path)
    whole = planned()  # the product's chunk limit
    biggest = int(whole.placement.groupby("pool").size().max())
    monkeypatch.setattr("planner.plan.CHUNK_ITEMS", biggest)
    same = run_plan(sc)
    for name in ("plan", "assignment", "purchases"):
        pd.testing.assert_frame_equal(same.__getattribute__(name), whole.__getattribute__(name), obj=name)
    assert not any("chunks" in n for n in same.summary["packing_notes"])
    assert np.isclose(same.summary["total_cost"], whole.summary["total_cost"])


def test_the_seams_re_pack_the_emptiest_workers_of_the_chunks_for_less(tmp_path, chunked, monkeypatch, planned):
    from models.packing.verify import find_violations

    sc = _scenario(tmp_path)
    monkeypatch.setattr("planner.plan.SEAM_WORKERS", 1)
    seamed = run_plan(sc)
    plain = planned(LIMIT, 0)
    cost = lambda run: {(wp.pool, wp.week): wp.result.objective for wp in run.weeks}  # noqa: E731
    before, after = cost(plain), cost(seamed)
    assert all(after[k] <= before[k] + 1e-9 for k in before)
    assert sum(after.values()) < sum(before.values())  # the tiny chunks each leave a part-filled worker
    assert any("re-packed together in" in n for n in seamed.summary["packing_notes"])
    for wp in seamed.weeks:
        frame = wp.result.assignment_frame()
        assert find_violations(wp.instance, frame) == []
        assert set(frame["group_id"]) == set(wp.instance.group_ids)
        workers = [w for w, _ in wp.result.workers]
        assert len(workers) == len(set(workers))


@pytest.mark.parametrize("profile_groups, method", [(None, "auto"), (4, "batch")])
def test_dropping_the_telemetry_counts_changes_nothing_but_the_memory(tmp_path, monkeypatch, profile_groups, method,
                                                                       planned):
    """`planner run` without --backtest drops the invocation matrix once the forecast is made
    (0.7 GB at 20,000 functions), the demand's unread columns (before the batch forecast when it
    runs) and, above PROFILE_GROUPS groups, the rows of the groups the Profiles table and the
    report's figure do not read: the plan, every table and file are unchanged."""
    from planner.pipeline import PROFILE_GROUPS

    limit = PROFILE_GROUPS if profile_groups is None else profile_groups
    monkeypatch.setattr("planner.pipeline.PROFILE_GROUPS", limit)
    text = FLEXIBLE if method == "auto" else FLEXIBLE.replace("forecast: {", "forecast: {method: batch, ")
    path = tmp_path / "s.yaml"
    path.write_text(text)
    sc = load_scenario(path)
    # with the product's defaults, the plan test_chunking_leaves_small_pools_as_they_were read
    kept = planned() if (profile_groups, method) == (None, "auto") else run_plan(sc)
    # (in two worker processes for the batch case: tasks that trim their worker's heap)
    dropped = run_plan(sc, keep_telemetry=False, jobs=2 if method == "batch" else 1)
    assert dropped.history.telemetry.counts.size == 0 and kept.history.telemetry.counts.size > 0
    # the keep-alive matrices go too; the cold starts per app stay (QoS, summary: compared below)
    assert dropped.history.warm.memory_gb.size == 0 and kept.history.warm.memory_gb.size > 0
    assert dropped.history.warm.memory_gb.shape[0] == len(kept.history.warm.groups)
    pd.testing.assert_frame_equal(dropped.history.warm.apps, kept.history.warm.apps)
    assert dropped.summary["functions"] == kept.summary["functions"] == 60
    assert dropped.summary["forecast_method"] == ("batch" if method == "batch" else "per_series")
    for name in ("plan", "assignment", "purchases", "qos", "forecast", "utilisation", "profiles", "residuals"):
        a, b = getattr(dropped, name), getattr(kept, name)
        pd.testing.assert_frame_equal(a, b, obj=name)
    # the demand keeps the columns read after the forecast only (the others' memory is freed)
    cols = [c for c in kept.history.demand.columns if c in ("group_id", "ds", "cpu_cores", "invocations")]
    assert sorted(dropped.history.demand.columns) == sorted(cols)
    assert "memory_gb" in kept.history.demand.columns
    n_groups = kept.history.demand["group_id"].nunique()
    left = dropped.history.demand["group_id"].nunique()
    if profile_groups is None:
        assert n_groups <= limit
        pd.testing.assert_frame_equal(dropped.history.demand, kept.history.demand[cols])
    else:  # the largest groups' rows, as they were (the figure's 4 groups are among them here)
        assert n_groups > limit and left == limit
        rows = kept.history.demand[kept.history.demand["group_id"].isin(set(dropped.history.demand["group_id"]))]
        assert np.array_equal(dropped.history.demand.index, rows.index)
        assert np.array_equal(dropped.history.demand["cpu_cores"], rows["cpu_cores"])
    # and the files written from it are the same: the report's figure, the plots, every table
    from planner.export.run_files import write_run

    for run, name in ((kept, "kept"), (dropped, "dropped")):
        write_run(run, tmp_path / name)
    for path in sorted((tmp_path / "kept").iterdir()):
        if path.suffix in (".csv", ".png", ".html", ".json"):
            other = (tmp_path / "dropped" / path.name).read_bytes()
            if path.name == "summary.json":  # run times differ
                import json

                a, b = json.loads(path.read_text()), json.loads(other)
                a.pop("timings_s"), b.pop("timings_s")
                a.pop("packing"), b.pop("packing")  # each week's runtime_s
                a.pop("parallel"), b.pop("parallel")  # in this process or in two
                assert a == b
            else:
                assert path.read_bytes() == other, path.name


def test_the_trimming_executor_runs_the_executors_tasks_in_order():
    """The forecast's blocks go through pipeline._TrimmingExecutor (each task trims its worker's
    heap once done): the same results, in order, from the executor's worker processes."""
    from planner.parallel import ProcessExecutor
    from planner.pipeline import _TrimmingExecutor

    ex = _TrimmingExecutor(ProcessExecutor(2))
    assert ex.workers == 2 and ex.name == "processes" and ex.address is None
    done = []
    assert ex.map(abs, [-3, 1, -4, 1, -5, 9], progress=done.append) == [3, 1, 4, 1, 5, 9]
    assert ex.map(abs, [-2], prepare=lambda x: x * 10) == [20]  # one task: in this process, prepared
    assert done == [1] * 6
