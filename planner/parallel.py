"""Where a run's independent tasks execute: in this process, in a pool of local processes
(``planner run --jobs N``, joblib's reusable loky workers), or as Dask tasks on a cluster
(``planner run --scheduler ADDR``) or on a LocalCluster started for the run (``--workers N``).

Every task is a module-level function of picklable arguments whose result depends on its arguments
only (counted search steps, fixed seeds), so the plan is the same wherever the tasks run.
``dask[distributed]`` is an optional extra, imported only when asked for.
"""

from __future__ import annotations

import contextlib
import time
from typing import Callable, Sequence

from planner.errors import InputDataError, PlannerError

__all__ = ["LocalExecutor", "ProcessExecutor", "DaskExecutor", "open_executor", "default_jobs", "usable_cores",
           "CONNECT_TIMEOUT_S", "LOCAL_CLUSTER_CONFIG"]

CONNECT_TIMEOUT_S = 10.0

# Dask config for the LocalCluster of ``--workers``. Dask's nanny starts each worker with
# MALLOC_TRIM_THRESHOLD_=65536 (distributed.nanny.pre-spawn-environ). Setting any malloc tunable
# turns off glibc's sliding mmap threshold: every array above 128 KiB is then a fresh mmap whose
# pages fault in and are zeroed by the kernel, and is unmapped when freed. A 2,000-function run spent
# 44 s of system time (26.6 M page faults) against 24 s without it (docs/scale.md). The tasks trim
# their worker's heap themselves (planner.pipeline._trim_in_worker), as the --jobs processes do.
LOCAL_CLUSTER_CONFIG = {"distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None}


class LocalExecutor:
    """Runs tasks one after another in this process."""

    name = "local"
    workers = 1
    address = None
    local_processes = False  # no other process to hand work to

    def map(self, fn: Callable, items: Sequence, progress: Callable[[int], None] | None = None,
            prepare: Callable | None = None) -> list:
        """``fn(item)`` for each item in order; ``prepare`` (if given) turns an item into ``fn``'s
        argument right before it runs (so that large task data exists one task at a time)."""
        out = []
        for item in items:
            out.append(fn(item if prepare is None else prepare(item)))
            if progress:
                progress(1)
        return out


class ProcessExecutor:
    """Runs tasks in ``jobs`` local worker processes (joblib's loky backend, whose workers are
    reused across calls and runs, so a run pays their start once); results come back in order.

    At most twice as many tasks as processes are dispatched ahead (``prepare`` runs in this process
    as each is dispatched), for the same reason as :class:`DaskExecutor`."""

    name = "processes"
    address = None
    local_processes = True  # on this machine: its tasks may write into this run's folder

    def __init__(self, jobs: int):
        if jobs < 2:
            raise ValueError(f"a process pool needs at least 2 jobs, got {jobs}")
        self.workers = int(jobs)

    def map(self, fn: Callable, items: Sequence, progress: Callable[[int], None] | None = None,
            prepare: Callable | None = None) -> list:
        """As :meth:`LocalExecutor.map`; one task runs in this process when there is only one."""
        if len(items) < 2:
            return LocalExecutor().map(fn, items, progress, prepare)
        from joblib import Parallel, delayed

        tasks = (delayed(_with_warnings)(fn, item if prepare is None else prepare(item)) for item in items)
        out = []
        for pair in Parallel(n_jobs=self.workers, return_as="generator", pre_dispatch="2*n_jobs")(tasks):
            out.append(_rewarn(pair))
            if progress:
                progress(1)
        return out


def _with_warnings(fn: Callable, arg):
    """``fn(arg)`` and the warnings it raised (message, category): a task's warnings (a degraded fit,
    a broken deferral) are news the run must show, and a worker process's stderr is not the user's."""
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = fn(arg)
    return result, [(str(w.message), w.category) for w in caught]


def _rewarn(pair):
    """The task's result, its warnings raised again in this process."""
    import warnings

    result, caught = pair
    for message, category in caught:
        warnings.warn(message, category, stacklevel=2)
    return result


def usable_cores() -> int:
    """The cores this process may use (its CPU affinity where the OS tells it)."""
    import os

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def default_jobs() -> int:
    """Processes for a run's packing tasks: the usable cores, at most 4 (a week's task is a few
    seconds to a minute; more processes mostly add memory)."""
    return max(1, min(usable_cores(), 4))


class DaskExecutor:
    """Submits tasks to a ``dask.distributed`` client; results come back in submission order.

    At most ``in_flight`` tasks (default: twice the workers) are submitted at a time, the next as
    each one completes: a fleet's pool-week tasks carry their forecast rows, and submitting them
    all at once would hold every task's data in the scheduler and every result in the client."""

    name = "dask"
    local_processes = False  # its workers may be other machines, without this run's folder

    def __init__(self, client, in_flight: int | None = None):
        self.client = client
        self.in_flight = in_flight

    @property
    def address(self) -> str:
        return self.client.scheduler.address

    @property
    def workers(self) -> int:
        return max(1, len(self.client.scheduler_info().get("workers", {})))

    def map(self, fn: Callable, items: Sequence, progress: Callable[[int], None] | None = None,
            prepare: Callable | None = None) -> list:
        """As :meth:`LocalExecutor.map`; ``prepare`` runs in this process as each task is submitted."""
        from dask.distributed import as_completed

        if not items:
            return []
        limit = max(1, self.in_flight or 2 * self.workers)
        out = [None] * len(items)
        where = {}
        nxt = 0

        def submit():
            nonlocal nxt
            fut = self.client.submit(_with_warnings, fn, items[nxt] if prepare is None else prepare(items[nxt]),
                                     pure=False)
            where[fut.key] = nxt
            nxt += 1
            return fut

        running = as_completed([submit() for _ in range(min(limit, len(items)))], loop=self.client.loop)
        try:
            for fut in running:
                out[where.pop(fut.key)] = _rewarn(fut.result())
                fut.release()
                if progress:
                    progress(1)
                if nxt < len(items):
                    running.add(submit())
        finally:
            for fut in list(running.futures):
                fut.release()
        return out


def _import_dask(flag: str):
    try:
        from dask.distributed import Client, LocalCluster
    except ImportError:
        raise PlannerError(f"{flag} needs dask.distributed, which is not installed; install it with "
                           "pip install 'planner[dask]' (or run without it, in one process)") from None
    return Client, LocalCluster


@contextlib.contextmanager
def open_executor(scheduler: str | None = None, workers: int | None = None,
                  connect_timeout_s: float = CONNECT_TIMEOUT_S, jobs: int | None = 1):
    """The executor of a run: local when neither ``scheduler`` nor ``workers`` is given, in ``jobs``
    processes (``None``: :func:`default_jobs`) when that is more than one, else in this process.

    Raises:
        InputDataError: both given, ``workers`` < 1, or the scheduler does not answer within
            ``connect_timeout_s`` seconds (never a hang).
        PlannerError: dask.distributed is not installed.
    """
    if scheduler is not None and workers is not None:
        raise InputDataError("give either --scheduler (an existing cluster) or --workers (a local one), not both")
    if scheduler is None and workers is None:
        jobs = default_jobs() if jobs is None else jobs
        if jobs < 1:
            raise InputDataError(f"--jobs must be at least 1, got {jobs}")
        yield ProcessExecutor(jobs) if jobs > 1 else LocalExecutor()
        return
    if workers is not None and workers < 1:
        raise InputDataError(f"--workers must be at least 1, got {workers}")
    Client, LocalCluster = _import_dask("--scheduler" if scheduler else "--workers")
    import logging

    cluster = None
    # Dask logs every refused connection while it retries; the one error below says it all.
    quiet = [logging.getLogger(n) for n in ("distributed", "distributed.comm", "distributed.client")]
    levels = [q.level for q in quiet]
    for q in quiet:
        q.setLevel(logging.CRITICAL)
    t0 = time.perf_counter()
    try:
        if scheduler is not None:
            client = Client(scheduler, timeout=f"{connect_timeout_s:g}s", set_as_default=False)
        else:
            import dask

            with dask.config.set(LOCAL_CLUSTER_CONFIG):  # each nanny reads it as the cluster starts
                cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                       dashboard_address=None, silence_logs=logging.ERROR)
            client = Client(cluster, set_as_default=False)
    except Exception as exc:  # noqa: BLE001 - any failure to connect is reported the same way
        if cluster is not None:
            cluster.close()
        if scheduler is None:
            raise PlannerError(f"could not start a local Dask cluster of {workers} workers: {exc}") from None
        raise InputDataError(f"cannot connect to the Dask scheduler at {scheduler!r} (gave up after "
                             f"{time.perf_counter() - t0:.1f} s; {type(exc).__name__}: {exc}); check the address "
                             "(tcp://host:8786) and that the scheduler is running, or drop --scheduler") from None
    finally:
        for q, lvl in zip(quiet, levels):
            q.setLevel(lvl)
    try:
        yield DaskExecutor(client)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
