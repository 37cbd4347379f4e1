"""The Dask executor keeps a bounded number of tasks in flight and returns results in order."""

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
