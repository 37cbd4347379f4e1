"""A backtest's outputs say what its terminal said: each origin's forecast fallbacks and the run's
warnings appear in backtest.xlsx (Backtest sheet, Backtest warnings sheet) and report.html, and
the origin is a date like on the other sheets, not the text '2026-09-28 00:00:00'."""

import pandas as pd

from planner.export.report import write_report
from planner.export.spreadsheet import read_plan_workbook, write_plan_workbook
from planner.export.tables import backtest_charts, backtest_frames

FB = {"series": 28, "fallbacks": 2, "share": 2 / 28,
      "reasons": {"history too short for a full-horizon backtest": 2}, "launch_ramp": 0}
WARN = "1 of 28 series forecast without a yearly cycle"


def _origin(day, fb):
    return {"origin": f"{day} 00:00:00", "cost": 6600.0, "hindsight_cost": 6600.0, "peak_cost": 9900.0,
            "peak_hindsight_cost": 9900.0, "cost_vs_hindsight": 1.0, "peak_vs_hindsight": 1.0,
            "peak_cost_vs_hindsight": 1.5, "overflow_within_target": True, "peak_overflow_within_target": True,
            "forecast_fallbacks": fb}


def _backtest(warnings=(WARN,)):
    days = ["2026-09-28", "2026-12-28"]
    summary = {"scenario": "bt", "cost_vs_hindsight": 1.0, "peak_vs_hindsight": 1.0, "peak_cost_vs_hindsight": 1.5,
               "overflow_within_target": True,
               "origins": [_origin(days[0], FB), _origin(days[1], {**FB, "fallbacks": 0, "share": 0.0, "reasons": {}})],
               "warnings": list(warnings)}
    weekly = pd.DataFrame([{"week": w, "week_start": pd.Timestamp(d) + pd.Timedelta(weeks=w), "plan_servers": 2,
                            "peak_servers": 3, "hindsight_servers": 2, "plan_cost_per_month": 2200.0,
                            "hindsight_cost_per_month": 2200.0, "origin": pd.Timestamp(d)}
                           for d in days for w in range(2)])
    by_tier = pd.DataFrame([{"plan": "shape", "tier": "standard", "slot_hours": 336, "overflow_hours": 0,
                             "overflow_share": 0.0, "target": 0.01, "worst": 0.14, "origin": pd.Timestamp(d),
                             "within_target": True} for d in days])
    by_customer = by_tier.drop(columns=["tier", "target", "within_target"]).assign(customer="c1")
    return summary, {"weekly": weekly, "by_tier": by_tier, "by_customer": by_customer}


def test_backtest_workbook_shows_each_origins_fallbacks_and_the_warnings(tmp_path):
    summary, tables = _backtest()
    frames = backtest_frames(tables, summary)
    write_plan_workbook(tmp_path / "backtest.xlsx", frames, backtest_charts(frames))
    book = read_plan_workbook(tmp_path / "backtest.xlsx")
    head = book["Backtest"]
    assert pd.api.types.is_datetime64_any_dtype(head["origin"])
    assert list(head["origin"].dt.strftime("%Y-%m-%d")) == ["2026-09-28", "2026-12-28"]
    assert head["forecast_fallbacks"].iloc[0] == "2 of 28 series (7.1%): history too short for a full-horizon backtest ×2"
    assert head["forecast_fallbacks"].iloc[1].startswith("0 of 28 series")
    warn = list(book["Backtest warnings"]["warning"])
    assert warn == ["origin 2026-09-28: forecast: fell back to a simple model for 2 of 28 series (7.1%): "
                    "history too short for a full-horizon backtest ×2", WARN]


def test_backtest_workbook_without_warnings_says_so(tmp_path):
    summary, tables = _backtest(warnings=())
    summary["origins"][0]["forecast_fallbacks"] = summary["origins"][1]["forecast_fallbacks"]
    frames = backtest_frames(tables, summary)
    write_plan_workbook(tmp_path / "b.xlsx", frames, backtest_charts(frames))
    import openpyxl

    ws = openpyxl.load_workbook(tmp_path / "b.xlsx")["Backtest warnings"]
    assert ws["A2"].value.startswith("no rows: no warning")


def test_backtest_report_shows_the_fallbacks_and_which_plan_its_summary_is(tmp_path):
    summary, tables = _backtest()
    plan = pd.DataFrame({"week": [0, 1], "pool": "p", "server_type": "c-32", "required": [2, 2], "installed": [2, 2],
                         "purchased": [0, 0], "cost": [500.0, 500.0], "cpu_utilisation": 0.05,
                         "memory_utilisation": 0.01, "headroom": 0.9, "risk": 0.0})
    path = write_report(tmp_path / "report.html", title="Backtest: bt", plan=plan,
                        summary={"scenario": "bt", "horizon_start": "2026-12-28", "warnings": [WARN]},
                        backtest={"summary": summary, "tables": tables})
    text = path.read_text()
    assert "origin 2026-09-28: forecast: fell back to a simple model for 2 of 28 series (7.1%)" in text
    assert "Capacity plan: bt, 2 weeks from 2026-12-28" in text
    assert "2026-09-28 00:00:00" not in text
    assert text.count(WARN) == 1  # on the Summary, not again in the backtest section


def test_backtest_workbook_chart_keeps_coinciding_lines_apart(tmp_path):
    import openpyxl

    summary, tables = _backtest()
    frames = backtest_frames(tables, summary)
    write_plan_workbook(tmp_path / "b.xlsx", frames, backtest_charts(frames))
    charts = openpyxl.load_workbook(tmp_path / "b.xlsx")["Backtest"]._charts
    assert len(charts) == 2
    series = charts[0].series
    markers = [s.marker.symbol for s in series]
    assert len(set(markers)) == 3
    assert series[2].spPr.ln.prstDash == "dash"  # hindsight dashed over the plan
