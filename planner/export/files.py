"""The run's rendered files (plan.xlsx, report.html, the PNG plots) written side by side.

Each is a few seconds of one core at the end of a run (the workbook's cells and zip, the report's
and the plots' matplotlib figures), when the run's worker processes are idle. With a local process
pool they are written there, while this process writes the tables; elsewhere (``--jobs 1``, or Dask,
whose workers may not share this machine's disk) one after the other here. The same files either way.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Callable, Sequence

__all__ = ["OutputJob", "write_file", "write_files"]

# (kind, path, keyword arguments of the writer): kind is "workbook", "report" or "plots" (path: a folder)
OutputJob = tuple[str, Path, dict]


def write_file(job: OutputJob) -> str:
    """Write one rendered output (a process-pool task: module-level, picklable arguments)."""
    kind, path, kwargs = job
    if kind == "workbook":
        from planner.export.spreadsheet import write_plan_workbook

        write_plan_workbook(path, **kwargs)
    elif kind == "report":
        from planner.export.report import write_report

        write_report(path, **kwargs)
    elif kind == "plots":
        from planner.export.plots import write_plots

        write_plots(path, **kwargs)
    else:
        raise ValueError(f"unknown output kind {kind!r}")
    return kind


def write_files(jobs: Sequence[OutputJob], executor=None, meanwhile: Callable[[], None] | None = None) -> None:
    """Write ``jobs`` and run ``meanwhile()`` (the tables) in this process: the jobs on ``executor``'s
    local processes when it has them (``executor.local_processes``), in a thread that waits for them
    while ``meanwhile`` runs; else everything here, in order. A job's error is raised here."""
    if executor is None or not getattr(executor, "local_processes", False) or len(jobs) < 2:
        if meanwhile is not None:
            meanwhile()
        for job in jobs:
            write_file(job)
        return
    failed: list[BaseException] = []

    def wait_for_jobs():
        try:
            executor.map(write_file, list(jobs))
        except BaseException as exc:  # noqa: BLE001 - raised again in the caller's thread below
            failed.append(exc)

    thread = threading.Thread(target=wait_for_jobs, name="planner-outputs")
    thread.start()
    try:
        if meanwhile is not None:
            meanwhile()
    finally:
        thread.join()
    if failed:
        raise failed[0]
