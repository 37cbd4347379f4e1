"""A warning `planner run` prints (here: customers.tiers names a customer without groups) is also
in summary.json and on the Summary page: the terminal said it, the review sheet said "none"."""

import html
import json

import pytest
from typer.testing import CliRunner

from planner.cli import app

TINY = """
name: tiny
data:
  synthetic: {functions: 50, days: 28, seed: 2}
horizon: {weeks: 1}
customers: {tiers: {nobody: premium}}
solver: {backend: heuristic, time_limit_s: 5}
forecast: {n_windows: 1, n_jobs: 1}
"""
SAID = "customers.tiers names 'nobody', which has no groups in the data"


def test_run_warning_reaches_summary_json_and_the_summary_page(tmp_path):
    (tmp_path / "tiny.yaml").write_text(TINY)
    out = tmp_path / "out"
    r = CliRunner().invoke(app, ["run", str(tmp_path / "tiny.yaml"), "--out", str(out), "--no-plots", "--jobs", "1",
                                 "--no-history"])
    assert r.exit_code == 0, r.output
    assert SAID in " ".join(r.output.split())  # the terminal (stderr is mixed in)
    assert json.loads((out / "summary.json").read_text())["warnings"] == [SAID]
    pytest.importorskip("openpyxl")
    from planner.export.spreadsheet import read_summary_blocks

    assert SAID in read_summary_blocks(out / "plan.xlsx")["Warnings"]["warning"].tolist()
    assert SAID in html.unescape((out / "report.html").read_text())


def test_whatif_says_each_scenarios_warnings_from_its_worker_process(tmp_path):
    """`planner whatif` plans in worker processes, where a warning was lost: each scenario's
    warnings come back in its summary and are printed under its name."""
    (tmp_path / "tiny.yaml").write_text(TINY)
    (tmp_path / "v.yaml").write_text("base: tiny.yaml\nname: variant\n")
    r = CliRunner().invoke(app, ["whatif", str(tmp_path / "tiny.yaml"), str(tmp_path / "v.yaml"), "--n-jobs", "2",
                                 "--out", str(tmp_path / "wi"), "--no-history"])
    assert r.exit_code == 0, r.output
    text = " ".join(r.output.split())
    assert f"tiny: warning: {SAID}" in text and f"variant: warning: {SAID}" in text
    # ... and reach the files: each scenario's summary.json, the Comparison's count, the variant's on Details
    wi = tmp_path / "wi"
    shown = json.loads((wi / "variant" / "summary.json").read_text())["warnings_shown"]
    assert SAID in shown and any(w.startswith("forecast: fell back") for w in shown)  # 28 days: short histories
    assert "variant: warning: forecast: fell back to a simple model for" in text  # the terminal says them too
    import pandas as pd

    counts = pd.read_csv(wi / "comparison.csv").set_index("scenario")["warnings"].to_dict()
    assert counts == {"tiny": len(shown), "variant": len(shown)}
    pytest.importorskip("openpyxl")
    details = pd.read_excel(wi / "comparison.xlsx", sheet_name="Details", header=None).astype(str)
    assert details.apply(lambda c: c.str.contains(f"scenario variant: warning: {SAID}", regex=False)).any().any()


def test_backtest_warnings_reach_its_summary_json_and_report(tmp_path):
    """`planner backtest` printed its warnings on the terminal only: its summary.json had no
    ``warnings`` and its report said none."""
    scenario = tmp_path / "bt.yaml"
    scenario.write_text("""
name: tiny-bt
data:
  synthetic: {functions: 50, days: 35, seed: 2}
  until: 2026-01-26
horizon: {weeks: 1}
customers: {tiers: {nobody: premium}}
solver: {backend: heuristic, time_limit_s: 5}
forecast: {history_weeks: 3, n_windows: 1, n_jobs: 1}
""")
    out = tmp_path / "bt"
    r = CliRunner().invoke(app, ["backtest", str(scenario), "--out", str(out), "--no-history"])
    assert r.exit_code == 0, r.output
    assert json.loads((out / "summary.json").read_text())["warnings"] == [SAID]
    assert SAID in html.unescape((out / "report.html").read_text())


def test_a_repeated_warning_is_listed_once_with_its_count(tmp_path, monkeypatch):
    """The same warning said three times during a run is one line "(×3)" on the terminal, in
    summary.json, on the Summary page and in report.html: not three lines, and not one silently."""
    import warnings

    import planner.pipeline

    real = planner.pipeline.run_plan
    AGAIN = "a gap in g7's history was repaired"

    def run_plan(*args, **kwargs):
        for _ in range(3):
            warnings.warn(AGAIN, stacklevel=1)
        return real(*args, **kwargs)

    monkeypatch.setattr(planner.pipeline, "run_plan", run_plan)
    (tmp_path / "tiny.yaml").write_text(TINY)
    out = tmp_path / "out"
    r = CliRunner().invoke(app, ["run", str(tmp_path / "tiny.yaml"), "--out", str(out), "--no-plots", "--jobs", "1",
                                 "--no-history"])
    assert r.exit_code == 0, r.output
    said = f"{AGAIN} (×3)"
    text = " ".join(r.output.split())
    assert text.count(AGAIN) == 1 and said in text
    assert json.loads((out / "summary.json").read_text())["warnings"] == [said, SAID]  # in the order first said
    report = html.unescape((out / "report.html").read_text())
    assert report.count(AGAIN) == 1 and said in report
    pytest.importorskip("openpyxl")
    from planner.export.spreadsheet import read_summary_blocks

    listed = read_summary_blocks(out / "plan.xlsx")["Warnings"]["warning"].tolist()
    assert [w for w in listed if AGAIN in w] == [said]
