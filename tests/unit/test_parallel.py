"""The Dask executor keeps a bounded number of tasks in flight and returns results in order; the
process pool returns results in order and raises its tasks' warnings in the calling process; the
LocalCluster of --workers starts its workers without dask's malloc tunable."""

import warnings

import pytest


def _square(x):
    return x * x


def test_dask_map_bounds_the_tasks_in_flight_and_keeps_the_order():
    distributed = pytest.importorskip("dask.distributed")
    from planner.parallel import DaskExecutor

    with distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=False, dashboard_address=None) as cluster, \
            distributed.Client(cluster, set_as_default=False) as client:
        ex = DaskExecutor(client, in_flight=3)
        submitted, most = [], [0]
        real_submit = client.submit

        def counting_submit(*args, **kwargs):
            fut = real_submit(*args, **kwargs)
            submitted.append(fut)
            # tasks submitted and not yet handed back to the caller: at most in_flight
            most[0] = max(most[0], len(submitted) - ticks[0])
            return fut

        ticks = [0]
        client.submit = counting_submit
        items = list(range(20))[::-1]
        out = ex.map(_square, items, progress=lambda k: ticks.__setitem__(0, ticks[0] + k))
    assert out == [x * x for x in items]
    assert len(submitted) == 20 and ticks[0] == 20
    assert most[0] == 3  # never more than in_flight outstanding, and the limit is used


def _warn_odd(x):
    if x % 2:
        warnings.warn(f"odd input {x}")
    return x * x


def test_process_pool_keeps_the_order_prepares_lazily_and_shows_task_warnings():
    from planner.parallel import ProcessExecutor, open_executor

    prepared, ticks = [], [0]

    def prepare(x):
        prepared.append(x)
        return x + 1

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = ProcessExecutor(2).map(_warn_odd, list(range(8)), progress=lambda k: ticks.__setitem__(0, ticks[0] + k),
                                     prepare=prepare)
    assert out == [(x + 1) ** 2 for x in range(8)] and prepared == list(range(8)) and ticks[0] == 8
    assert sorted(str(w.message) for w in caught) == [f"odd input {x}" for x in (1, 3, 5, 7)]
    with open_executor(jobs=1) as ex:
        assert ex.name == "local"
    with open_executor(jobs=3) as ex:
        assert ex.name == "processes" and ex.workers == 3


def test_jobs_below_one_is_refused():
    from planner.errors import InputDataError
    from planner.parallel import open_executor

    with pytest.raises(InputDataError, match="--jobs must be at least 1"):
        with open_executor(jobs=0):
            pass


def _malloc_env(_):
    import os

    return {k: os.environ.get(k) for k in ("MALLOC_TRIM_THRESHOLD_", "OMP_NUM_THREADS")}


def test_local_cluster_workers_keep_glibc_default_malloc(monkeypatch):
    # Dask's nanny would start each worker with MALLOC_TRIM_THRESHOLD_=65536, which pins glibc's mmap
    # threshold at 128 KiB (system time on every array); dask's other worker settings are kept.
    pytest.importorskip("dask.distributed")
    import os

    from planner.parallel import open_executor

    monkeypatch.delenv("MALLOC_TRIM_THRESHOLD_", raising=False)
    with open_executor(workers=1) as ex:
        assert ex.name == "dask"
        seen = ex.map(_malloc_env, [0])
    assert seen == [{"MALLOC_TRIM_THRESHOLD_": None, "OMP_NUM_THREADS": "1"}]
    assert "MALLOC_TRIM_THRESHOLD_" not in os.environ  # the nanny sets its variables in this process too
