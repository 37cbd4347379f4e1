"""A plan that buys: an installed fleet, a launch inside the horizon, orders placed a lead time
ahead; the one-page Summary, the Why sheet and report.html show them (the report in a real
headless browser when Chromium is installed)."""

import json
import re
import shutil
import subprocess

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from planner.cli import app

runner = CliRunner()
# History ends Monday 2026-02-23; the launch comes in week 2 (2026-03-09), after c-32's lead time.
BUYS = """
name: small-buy
data:
  synthetic: {functions: 120, days: 56, seed: 1}
horizon: {weeks: 4}
servers:
  - {type: c-16, cpu_cores: 16, memory_gb: 64, cost_per_month: 600, lead_time_weeks: 1}
  - {type: c-32, cpu_cores: 32, memory_gb: 128, cost_per_month: 1100, lead_time_weeks: 2}
inventory: [{server_type: c-32, count: 2}]
anticipated:
  - {name: launch-x, customer: cust0001, analogs: [app00040], scale: 4, launch: 2026-03-09, ramp_weeks: 0.2,
     success_probability: 1.0}
solver: {backend: heuristic, time_limit_s: 5}
forecast: {history_weeks: 4, n_windows: 1, n_jobs: 1}
"""
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


@pytest.fixture(scope="module")
def planned(tmp_path_factory):
    folder = tmp_path_factory.mktemp("buy")
    (folder / "buy.yaml").write_text(BUYS)
    out = folder / "out"
    res = runner.invoke(app, ["run", str(folder / "buy.yaml"), "--out", str(out)])
    assert res.exit_code == 0, res.output
    return out, res.output


def test_the_plan_buys_with_lead_times_honoured(planned):
    out, output = planned
    purchases = pd.read_csv(out / "purchases.csv")
    assert len(purchases) >= 1
    lead = {"c-16": 1, "c-32": 2}
    assert (purchases["arrives_week"] - purchases["week"] == purchases["server_type"].map(lead)).all()
    orders = pd.read_csv(out / "orders.csv")
    assert (orders["order_week"] == orders["need_week"] - orders["lead_time_weeks"]).all()
    assert orders["purchased"].sum() == purchases["purchased"].sum()
    plan = pd.read_csv(out / "plan.csv")
    assert (plan["installed"] >= plan["required"]).all()  # bought in time: no shortfall
    summary = json.loads((out / "summary.json").read_text())
    assert summary["installed_fleet"]["c-32"]["inventory"] == 2
    assert summary["cost_change_vs_installed"] == pytest.approx(summary["total_cost"] - summary["installed_fleet_cost"])
    assert "what to buy" in output.lower()
    assert "+ 1 anticipated" in output  # groups: the history's and the launch


def test_why_names_the_launch_and_the_summary_names_the_drivers(planned):
    out, _ = planned
    why = pd.read_csv(out / "why.csv")
    assert "launch-x" in set(why["group_id"])
    launch = why[why["group_id"] == "launch-x"]
    assert (launch["planned_peak_week0"] == 0).all() and (launch["growth"] > 0).all()  # a new group counts whole
    summary = json.loads((out / "summary.json").read_text())
    assert summary["drivers"]["group_id"][0]["group_id"] == "launch-x"
    assert summary["drivers"]["customer"][0]["customer"] == "cust0001"
    assert len(summary["drivers"]["customer"]) <= 3
    # the history's groups and the anticipated one add up to the groups the plan holds (groups.csv)
    assert summary["anticipated_groups"] == 1
    assert summary["groups"] + summary["anticipated_groups"] == len(pd.read_csv(out / "groups.csv"))


def test_summary_sheet_purchase_rows_equal_the_purchases_table(planned):
    pytest.importorskip("openpyxl")
    from planner.export.spreadsheet import read_plan_workbook, read_summary_blocks

    out, _ = planned
    blocks = read_summary_blocks(out / "plan.xlsx")
    buy = blocks["What to buy (order week = need week − lead time)"]
    purchases = pd.read_csv(out / "purchases.csv").sort_values(["week", "pool", "server_type"], ignore_index=True)
    assert buy["server_type"].tolist() == purchases["server_type"].tolist()
    assert buy["pool"].tolist() == purchases["pool"].tolist()
    assert buy["purchased"].astype(int).tolist() == purchases["purchased"].tolist()
    assert buy["order_week"].astype(int).tolist() == purchases["week"].tolist()
    assert buy["need_week"].astype(int).tolist() == purchases["arrives_week"].tolist()
    np.testing.assert_allclose(buy["cost"].astype(float), purchases["cost"])
    assert pd.to_datetime(buy["order_date"]).dt.date.astype(str).tolist() == \
        pd.read_csv(out / "orders.csv")["order_date"].str[:10].tolist()
    sheets = read_plan_workbook(out / "plan.xlsx")
    assert {"Why", "Details"} <= set(sheets)
    assert "launch-x" in set(sheets["Why"]["group_id"])
    assert "total_cost" in set(sheets["Details"]["metric"])  # the raw metrics moved to Details


def _browser(args, tmp_path):
    return subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                           f"--user-data-dir={tmp_path / 'chromium-profile'}", *args],
                          capture_output=True, text=True, timeout=120)


@pytest.mark.skipif(CHROMIUM is None, reason="no Chromium to render report.html (Debian: apt-get install chromium)")
def test_report_renders_in_a_headless_browser(planned, tmp_path):
    import matplotlib.image as mpimg

    out, _ = planned
    text = (out / "report.html").read_text()
    assert "<script" not in text and "http://" not in text and "https://" not in text  # self-contained
    # A copy with a probe script (the report itself has none) reports what the browser rendered.
    probe = tmp_path / "probe.html"
    probe.write_text(text.replace("</body>", """<script>window.addEventListener('load', () => {
      const imgs = [...document.images].map(i => i.complete && i.naturalWidth > 0);
      const h2 = [...document.querySelectorAll('h2')].map(h => h.textContent);
      document.title = 'PROBE' + JSON.stringify({imgs, h2}) + 'END';});</script></body>"""))
    done = _browser(["--virtual-time-budget=10000", "--dump-dom", probe.as_uri()], tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    found = json.loads(re.search(r"PROBE(.*?)END", done.stdout).group(1).replace("&quot;", '"'))
    assert found["h2"] == ["Summary", "Purchase timeline", "Servers and cost per week", "Utilisation heat map",
                           "Forecast against history", "Backtest against hindsight"]
    assert len(found["imgs"]) >= 4 and all(found["imgs"])  # every inlined PNG decoded
    shot = tmp_path / "shot.png"
    done = _browser([f"--screenshot={shot}", "--window-size=1280,3000", (out / "report.html").as_uri()], tmp_path)
    assert done.returncode == 0 and shot.exists(), done.stderr[-2000:]
    pixels = mpimg.imread(shot)[..., :3]
    assert pixels.std() > 0.05  # not blank
    assert (pixels.reshape(-1, 3).std(axis=1) > 0.1).mean() > 0.01  # coloured charts, not only text


@pytest.mark.slow
def test_the_default_run_buys_with_lead_times_honoured(tmp_path):
    """The embedded default (minutes): some server type is bought in some week, a lead time ahead."""
    from planner.pipeline import run_plan
    from planner.scenarios import default_scenario

    sc = default_scenario()
    run = run_plan(sc)
    lead = {s.type: s.lead_time_weeks for s in sc.servers}
    p = run.purchases
    assert len(p) >= 1 and (p["arrives_week"] - p["week"] == p["server_type"].map(lead)).all()
    assert (run.plan["installed"] >= run.plan["required"]).all()
    assert "video-api" in set(run.why["group_id"])  # the launch drives the purchases
