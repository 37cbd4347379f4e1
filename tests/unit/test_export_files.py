"""The rendered outputs written side by side (planner.export.files): the same files in worker
processes as in this process, the tables written meanwhile here, a job's error raised here."""

import threading

import pandas as pd
import pytest

from planner.export.files import write_file, write_files
from planner.parallel import DaskExecutor, LocalExecutor, ProcessExecutor


def _plan():
    return pd.DataFrame({"week": [0, 0, 1], "week_start": pd.to_datetime(["2027-01-04"] * 2 + ["2027-01-11"]),
                         "server_type": ["c-32", "m-64", "c-32"], "count": [2, 1, 3],
                         "cost": [2200.0, 2000.0, 3300.0]})


def _jobs(folder, bad_sheet=False):
    frames = {"Plan" if not bad_sheet else "Plan/bad": _plan()}
    return [("workbook", folder / "plan.xlsx", {"frames": frames, "charts_spec": []}),
            ("report", folder / "report.html", {"title": "Capacity plan: test"})]


def _workbook_cells(path):
    openpyxl = pytest.importorskip("openpyxl")
    ws = openpyxl.load_workbook(path)["Plan"]
    return [[c.value for c in row] for row in ws.iter_rows()]


def test_the_process_pool_writes_the_same_files_while_this_process_writes_the_tables(tmp_path):
    here, there = tmp_path / "here", tmp_path / "there"
    here.mkdir(), there.mkdir()
    calls = []
    write_files(_jobs(here), LocalExecutor(), meanwhile=lambda: calls.append("serial"))
    write_files(_jobs(there), ProcessExecutor(2),
                meanwhile=lambda: calls.append(threading.current_thread() is threading.main_thread()))
    assert calls == ["serial", True]  # the tables: once each, in the caller's thread
    assert (here / "report.html").read_text() == (there / "report.html").read_text()
    assert _workbook_cells(here / "plan.xlsx") == _workbook_cells(there / "plan.xlsx")
    assert _workbook_cells(there / "plan.xlsx")[1][2:] == ["c-32", 2, 2200]


def test_a_failed_job_in_a_worker_is_raised_here_after_the_tables(tmp_path):
    wrote = []
    with pytest.raises(ValueError, match="sheet name 'Plan/bad'"):
        write_files(_jobs(tmp_path, bad_sheet=True), ProcessExecutor(2), meanwhile=lambda: wrote.append(1))
    assert wrote == [1] and not (tmp_path / "plan.xlsx").exists()


def test_dask_and_unknown_kinds_stay_in_this_process():
    # A Dask cluster's workers may be other machines without the run's folder.
    assert DaskExecutor.local_processes is False and LocalExecutor.local_processes is False
    assert ProcessExecutor.local_processes is True
    with pytest.raises(ValueError, match="unknown output kind 'pdf'"):
        write_file(("pdf", None, {}))


def test_the_figure_drawn_from_its_rows_is_the_figure_drawn_from_everything(tmp_path):
    import numpy as np

    from planner.export.plots import figure_groups, figure_rows, plot_forecast_vs_history

    rng = np.random.default_rng(3)
    ds = pd.date_range("2026-11-02", periods=96, freq="h")
    fds = pd.date_range(ds[-1] + pd.Timedelta("1h"), periods=48, freq="h")
    gids = [f"g{i}" for i in range(9)]
    history = pd.DataFrame({"group_id": np.repeat(gids, len(ds)), "ds": np.tile(ds, len(gids)),
                            "cpu_cores": rng.gamma(2.0, 1.0, len(gids) * len(ds)) * np.repeat(np.arange(1, 10), len(ds)),
                            "memory_gb": rng.random(len(gids) * len(ds))})
    forecast = pd.concat([pd.DataFrame({"unique_id": g, "ds": fds, "resource": r, "mean": 1.0 + k,
                                        "q50": 1.0 + k, "q99": 2.0 + k})
                          for k, g in enumerate(gids[:-1]) for r in ("cpu_cores", "memory_gb")], ignore_index=True)
    h, f = figure_rows(history, forecast)
    shown = figure_groups(history, forecast)
    # g8 has the largest peaks but no forecast: the figure shows the four largest of the others
    peaks = history[history["group_id"] != "g8"].groupby("group_id")["cpu_cores"].max()
    assert shown == list(peaks.sort_values(ascending=False).index[:4]) and "g8" not in shown
    assert set(h["group_id"]) == set(shown) and set(f["resource"]) == {"cpu_cores"} and set(f["unique_id"]) == set(shown)
    whole = plot_forecast_vs_history(history, forecast, tmp_path / "whole.png").read_bytes()
    cut = plot_forecast_vs_history(h, f, tmp_path / "cut.png").read_bytes()
    assert whole == cut
