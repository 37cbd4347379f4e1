"""Tests of the plan export: sheet frames, the xlsx workbook (read back, charts) and the PNG plots."""

from __future__ import annotations

import re
import shutil
import subprocess
import zipfile

import numpy as np
import pandas as pd
import pytest

from planner.export.plots import plot_forecast_vs_history, plot_servers_by_type, plot_utilisation_heatmap, write_plots
from planner.export.spreadsheet import read_plan_workbook, read_summary_blocks, write_plan_workbook
from planner.export.tables import (
    ChartSpec,
    column_from_header,
    default_charts,
    header,
    plan_to_frames,
    weekly_frame,
)

WEEKS = 4
TYPES = (("pool-a", "m-large"), ("pool-a", "m-small"), ("pool-b", "g-big"))


def _plan() -> pd.DataFrame:
    rows = []
    for w in range(WEEKS):
        for i, (pool, stype) in enumerate(TYPES):
            installed = 2 + w + i
            rows.append(
                {
                    "week": w,
                    "pool": pool,
                    "server_type": stype,
                    "required": installed - (1 if w == 0 and i == 0 else 0) + (1 if w == 3 and i == 2 else 0),
                    "installed": installed,
                    "purchased": 1 if w else 0,
                    "cost": 230.7692 * installed + 0.5 * i,
                    "cpu_utilisation": 0.5 + 0.05 * w + 0.01 * i,
                    "memory_utilisation": 0.4 + 0.03 * w,
                    "headroom": 0.15,
                    "risk": 0.25 * w + i,
                }
            )
    return pd.DataFrame(rows)


def _frames(**extra):
    ds = pd.date_range("2027-01-04", periods=6, freq="h")
    purchases = pd.DataFrame(
        {"week": [0, 1], "pool": ["pool-a", "pool-b"], "server_type": ["m-large", "g-big"],
         "purchased": [4, 2], "arrives_week": [2, 2], "cost": [3692.307692, 1500.0]}
    )
    assignment = pd.DataFrame(
        {"group_id": ["=app1", "app2", "app2"], "shard": [0, 0, 1], "worker_id": ["w000", "w000", "w001"],
         "server_type": ["m-large", "m-large", "m-small"], "share": [1.0, 0.5, 0.5]}
    )
    utilisation = pd.DataFrame(
        [(w, "pool-a", f"w{k:03d}", "m-large", s, 0.3 + 0.01 * s + 0.1 * k, 0.2 + 0.02 * k)
         for w in range(2) for k in range(3) for s in range(168)],
        columns=["week", "pool", "worker_id", "server_type", "slot", "cpu_utilisation", "memory_utilisation"],
    )
    qos = pd.DataFrame(
        {"customer": ["acme", "bolt"], "tier": ["premium", "standard"], "quantile": ["q99", "q90"],
         "headroom": [0.2, 0.1], "risk": [0.01, 1.5]}
    )
    forecast = pd.DataFrame(
        [(g, d, r, m, m * 0.9, m * 1.1, m * 1.2, m * 1.4)
         for g, base in (("app1", 2.0), ("app2", 5.0))
         for r in ("cpu_cores", "memory_gb")
         for d, m in zip(ds, base + np.arange(6) * 0.1)],
        columns=["unique_id", "ds", "resource", "mean", "q50", "q90", "q95", "q99"],
    )
    kwargs = dict(purchases=purchases, assignment=assignment, utilisation=utilisation, qos=qos, forecast=forecast,
                  summary={"scenario": "default", "solver": {"status": "optimal", "gap": 0.0}, "seed": 7})
    kwargs.update(extra)
    return plan_to_frames(_plan(), **kwargs), kwargs


def _comparison() -> pd.DataFrame:
    return pd.DataFrame(
        {"scenario": ["base", "grow30", "cheap"], "total_cost": [1000.0, 1300.0, 900.0], "servers": [10, 13, 10],
         "servers_m-large": [6, 8, 4], "cpu_utilisation": [0.6, 0.62, 0.58], "memory_utilisation": [0.5, 0.5, 0.5],
         "risk": [1.0, 1.2, 1.1]}
    )


@pytest.fixture(scope="module")
def workbook(tmp_path_factory):
    frames, kwargs = _frames(comparison=_comparison(), profiles=pd.DataFrame({"unique_id": ["f1"], "cluster": [2]}))
    path = write_plan_workbook(tmp_path_factory.mktemp("wb") / "plan.xlsx", frames)
    return path, frames, kwargs


def test_frames_have_the_sheets_in_order():
    frames, _ = _frames()
    assert list(frames) == ["Summary", "Weekly", "Plan", "Purchases", "Assignment", "Utilisation", "QoS", "Forecast",
                            "Details"]
    assert list(frames["Plan"].columns[:11]) == [
        "week", "pool", "server_type", "required", "installed", "purchased", "cost",
        "cpu_utilisation", "memory_utilisation", "headroom", "risk",
    ]
    empty = plan_to_frames(_plan())
    assert empty["Purchases"].empty and "arrives_week" in empty["Purchases"].columns


def test_weekly_frame_sums_the_plan():
    weekly = weekly_frame(_plan())
    plan = _plan()
    assert list(weekly["week"]) == list(range(WEEKS))
    assert weekly["installed_m-large"].tolist() == plan[plan.server_type == "m-large"]["installed"].tolist()
    assert weekly["cost"].sum() == pytest.approx(plan["cost"].sum())
    assert weekly["cumulative_cost"].iloc[-1] == pytest.approx(plan["cost"].sum())
    w0 = plan[plan.week == 0]
    expected = (w0.cpu_utilisation * w0.installed).sum() / w0.installed.sum()
    assert weekly["cpu_utilisation"].iloc[0] == pytest.approx(expected)


def test_details_list_computed_and_given_metrics():
    frames, _ = _frames()
    summary = frames["Details"].set_index("metric")
    assert summary.loc["total_cost", "value"] == pytest.approx(_plan()["cost"].sum())
    assert summary.loc["solver.status", "value"] == "optimal"
    assert summary.loc["weeks_with_shortfall", "value"] == 1
    assert summary.loc["total_cost", "unit"] == "currency"


def test_comparison_deltas_against_base():
    frames, _ = _frames(comparison=_comparison(), base_scenario="base")
    comp = frames["Comparison"].set_index("scenario")
    assert comp.loc["grow30", "delta_total_cost"] == pytest.approx(300.0)
    assert comp.loc["cheap", "delta_total_cost_pct"] == pytest.approx(-0.1)
    assert comp.loc["base", "delta_servers_m-large"] == 0
    assert bool(comp.loc["base", "base"]) is True
    with pytest.raises(ValueError, match="base scenario 'nope'"):
        _frames(comparison=_comparison(), base_scenario="nope")


def test_missing_column_is_named():
    with pytest.raises(ValueError, match=r"Plan table: missing column\(s\) \['risk'\]"):
        plan_to_frames(_plan().drop(columns="risk"))


def test_headers_carry_units_and_strip_back():
    assert header("installed") == "installed [servers]"
    assert header("cpu_utilisation") == "cpu_utilisation [%]"
    assert header("delta_total_cost") == "delta_total_cost [currency]"
    assert header("pool") == "pool"
    for col in ("installed", "installed_m-large", "risk", "pool", "delta_total_cost_pct"):
        assert column_from_header(header(col)) == col


def test_large_forecast_keeps_whole_largest_groups():
    ds = pd.date_range("2027-01-04", periods=50, freq="h")
    forecast = pd.concat(
        [pd.DataFrame({"unique_id": f"g{i}", "ds": ds, "resource": "cpu_cores", "mean": float(i)}) for i in range(10)]
    )
    frames = plan_to_frames(_plan(), forecast=forecast, max_rows=120)
    assert sorted(frames["Forecast"]["unique_id"].unique()) == ["g8", "g9"]
    notes = frames["Details"][frames["Details"]["metric"].str.startswith("note_")]["value"].tolist()
    assert any("Forecast" in n for n in notes)


def test_workbook_reads_back_the_same_numbers(workbook):
    pytest.importorskip("openpyxl")
    path, frames, _ = workbook
    back = read_plan_workbook(path)
    assert list(back) == list(frames)
    for sheet in ("Plan", "Weekly", "Purchases", "QoS", "Utilisation", "Comparison"):
        got, want = back[sheet], frames[sheet]
        assert list(got.columns) == [str(c) for c in want.columns], sheet
        for col in want.columns:
            if pd.api.types.is_numeric_dtype(want[col]) and not pd.api.types.is_bool_dtype(want[col]):
                np.testing.assert_allclose(
                    got[col].to_numpy(float), want[col].to_numpy(float), rtol=1e-12, err_msg=sheet
                )
            else:
                assert got[col].astype(str).tolist() == want[col].astype(str).tolist(), (sheet, col)
    # strings that look like formulas stay text; timestamps stay timestamps
    assert back["Assignment"]["group_id"].iloc[0] == "=app1"
    assert pd.api.types.is_datetime64_any_dtype(back["Forecast"]["ds"])
    assert (back["Forecast"]["ds"] == frames["Forecast"]["ds"]).all()


def test_workbook_headers_units_freeze_and_filter(workbook):
    openpyxl = pytest.importorskip("openpyxl")
    path, _, _ = workbook
    wb = openpyxl.load_workbook(path)
    plan = wb["Plan"]
    titles = [c.value for c in plan[1]]
    assert "installed [servers]" in titles and "cost [currency]" in titles and "cpu_utilisation [%]" in titles
    assert plan.freeze_panes == "A2"
    assert plan.auto_filter.ref.startswith("A1:")
    col = titles.index("cpu_utilisation [%]") + 1
    assert plan.cell(row=2, column=col).number_format == "0.0%"
    assert plan.column_dimensions["A"].width >= 8


def test_charts_present_and_reference_the_data_sheets(workbook):
    path, frames, _ = workbook
    with zipfile.ZipFile(path) as zf:
        names = zf.namelist()
        charts = sorted(n for n in names if re.fullmatch(r"xl/charts/chart\d+\.xml", n))
        assert len(charts) == len(default_charts(frames)) == 4
        xml = {n: zf.read(n).decode() for n in charts}
        drawings = [n for n in names if n.startswith("xl/drawings/drawing")]
    assert drawings
    refs = " ".join(xml.values())
    assert "Weekly!$B$2" in refs  # first type's installed series
    assert "Comparison!" in refs
    assert sum("<c:barChart>" in x and "<c:lineChart>" in x for x in xml.values()) == 1  # cost: column + line
    assert any('<c:grouping val="stacked"/>' in x for x in xml.values())


def test_bad_chart_spec_fails_before_writing(tmp_path):
    frames, _ = _frames()
    spec = ChartSpec(title="x", sheet="Weekly", categories="week", values=("nope",))
    with pytest.raises(ValueError, match="no column 'nope'"):
        write_plan_workbook(tmp_path / "plan.xlsx", frames, [spec])
    assert not list(tmp_path.iterdir())


def test_failed_write_leaves_no_file(tmp_path):
    frames, _ = _frames()
    frames = {**frames, "bad/name": frames["Plan"]}
    with pytest.raises(ValueError, match="sheet name"):
        write_plan_workbook(tmp_path / "plan.xlsx", frames, [])
    assert not list(tmp_path.iterdir())


_SOFFICE = shutil.which("soffice") or shutil.which("libreoffice")


def _soffice(args, tmp_path):
    """Run LibreOffice headless with a private profile (parallel runs must not share one)."""
    profile = (tmp_path / "lo-profile").as_uri()
    done = subprocess.run(
        [_SOFFICE, f"-env:UserInstallation={profile}", "--headless", *args],
        capture_output=True, text=True, timeout=180,
    )
    assert done.returncode == 0, done.stderr
    return done


@pytest.mark.skipif(_SOFFICE is None, reason="LibreOffice is not installed")
def test_libreoffice_reads_the_numbers_and_the_charts(workbook, tmp_path):
    path, frames, _ = workbook
    # every sheet to CSV (raw values, UTF-8, all sheets): LibreOffice opened the file without repair
    csv_filter = "csv:Text - txt - csv (StarCalc):44,34,76,1,,0,false,true,false,false,false,-1"
    _soffice(["--convert-to", csv_filter, "--outdir", str(tmp_path / "csv"), str(path)], tmp_path)
    plan = pd.read_csv(tmp_path / "csv" / "plan-Plan.csv").rename(columns=column_from_header)
    for col in ("required", "installed", "purchased", "cost", "risk"):
        np.testing.assert_allclose(plan[col].to_numpy(float), frames["Plan"][col].to_numpy(float), rtol=1e-9)
    util = plan["cpu_utilisation"].astype(str).str.rstrip("%").astype(float) / 100
    np.testing.assert_allclose(util.to_numpy(), frames["Plan"]["cpu_utilisation"].to_numpy(float), atol=5e-3)
    # the native charts survive LibreOffice's import (an ODS keeps each chart as an embedded object)
    _soffice(["--convert-to", "ods", "--outdir", str(tmp_path / "ods"), str(path)], tmp_path)
    with zipfile.ZipFile(tmp_path / "ods" / "plan.ods") as zf:
        objects = [n for n in zf.namelist() if re.fullmatch(r"Object \d+/content.xml", n)]
        charts = [zf.read(n).decode() for n in objects if "<chart:chart" in zf.read(n).decode()]
    assert len(charts) == len(default_charts(frames))
    assert any("Weekly." in c for c in charts) and any("Comparison." in c for c in charts)


def test_plots_are_pngs_and_deterministic(tmp_path):
    _, kwargs = _frames()
    forecast = kwargs["forecast"]
    history = pd.DataFrame(
        {"group_id": np.repeat(["app1", "app2"], 24),
         "ds": np.tile(pd.date_range("2027-01-03", periods=24, freq="h"), 2),
         "cpu_cores": np.r_[np.linspace(1, 3, 24), np.linspace(4, 6, 24)], "memory_gb": 1.0}
    )
    paths = write_plots(tmp_path / "plots", plan=_plan(), history=history, forecast=forecast,
                        utilisation=kwargs["utilisation"])
    assert [p.name for p in paths] == ["servers_by_type.png", "forecast_vs_history.png", "utilisation_heatmap.png"]
    for p in paths:
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    again = plot_servers_by_type(_plan(), tmp_path / "again.png")
    assert again.read_bytes() == paths[0].read_bytes()
    plot_utilisation_heatmap(kwargs["utilisation"], tmp_path / "mem.png", resource="memory_utilisation", week=0)
    plot_forecast_vs_history(history, forecast, tmp_path / "one.png", n_groups=1, resource="memory_gb")
    assert not [p for p in tmp_path.rglob("*.tmp")]


def test_summary_page_blocks_and_its_orders_equal_the_purchases(workbook):
    pytest.importorskip("openpyxl")
    path, frames, kwargs = workbook
    page = frames["Summary"]
    assert [b.title.split(" (")[0] for b in page.blocks] == [
        "Warnings", "What to buy", "Cost of the quarter", "Risk per tier", "Utilisation", "What drives the purchases"]
    blocks = read_summary_blocks(path)
    buy = blocks["What to buy (order week = need week − lead time)"]
    purchases = kwargs["purchases"].sort_values(["week", "pool", "server_type"], ignore_index=True)
    assert buy["server_type"].tolist() == purchases["server_type"].tolist()
    assert buy["pool"].tolist() == purchases["pool"].tolist()
    assert buy["purchased"].astype(int).tolist() == purchases["purchased"].tolist()
    assert buy["order_week"].astype(int).tolist() == purchases["week"].tolist()
    assert buy["need_week"].astype(int).tolist() == purchases["arrives_week"].tolist()
    np.testing.assert_allclose(buy["cost"].astype(float), purchases["cost"])
    # the plan table of the fixture has a week short of servers: the first block says so
    assert "SHORTFALL" in blocks["Warnings"]["warning"].iloc[0]


def test_every_sheet_has_a_print_setup(workbook):
    openpyxl = pytest.importorskip("openpyxl")
    path, frames, _ = workbook
    wb = openpyxl.load_workbook(path)
    for name in frames:
        ws = wb[name]
        assert ws.page_setup.orientation == "landscape", name
        # one page wide (1 is the file format's default, which openpyxl reads back as None)
        assert ws.sheet_properties.pageSetUpPr.fitToPage and ws.page_setup.fitToWidth in (None, 1), name
        assert ws.print_area, name
        if name != "Summary":
            assert ws.print_title_rows == "$1:$1", name  # the header row repeats on every page
            assert ws.page_setup.fitToHeight == 0, name  # as many pages tall as needed
    assert wb["Summary"].page_setup.fitToHeight in (None, 1)  # the review page is one page


def test_long_tables_print_their_first_rows_with_whole_groups_per_page(tmp_path):
    openpyxl = pytest.importorskip("openpyxl")
    from planner.export import spreadsheet

    util = pd.DataFrame([(w, "p", f"w{k}", "t", s, 0.5, 0.5) for w in range(3) for k in range(2) for s in range(168)],
                        columns=["week", "pool", "worker_id", "server_type", "slot", "cpu_utilisation",
                                 "memory_utilisation"])
    frames = plan_to_frames(_plan(), utilisation=util)
    path = write_plan_workbook(tmp_path / "p.xlsx", frames, [])
    ws = openpyxl.load_workbook(path)["Utilisation"]
    last = spreadsheet._PRINT_MAX_ROWS
    assert ws.print_area.endswith(f"${last + 1}")  # header + the first rows
    assert "first 500 of 1,008 rows are printed" in ws.oddHeader.left.text
    breaks = [b.id for b in ws.row_breaks.brk]
    assert breaks and all((b - 1) % 168 == 0 for b in breaks)  # a worker's week starts each new page
    plan_ws = openpyxl.load_workbook(path)["Plan"]
    assert not plan_ws.row_breaks.brk  # 12 rows: one page, no manual break


def test_utilisation_chart_says_it_is_the_mean():
    frames, _ = _frames()
    titles = [c.title for c in default_charts(frames)]
    assert "Utilisation at the planning peak" not in titles
    assert any(t.startswith("Expected utilisation per week (mean") for t in titles)


@pytest.mark.skipif(_SOFFICE is None, reason="LibreOffice is not installed")
def test_libreoffice_prints_a_few_pages(tmp_path):
    util = pd.DataFrame([(w, "p", f"w{k:02d}", "t", s, 0.5, 0.5) for w in range(13) for k in range(10)
                         for s in range(168)],
                        columns=["week", "pool", "worker_id", "server_type", "slot", "cpu_utilisation",
                                 "memory_utilisation"])  # 21,840 rows: hundreds of pages without a print setup
    frames, _ = _frames(utilisation=util)
    path = write_plan_workbook(tmp_path / "plan.xlsx", frames)
    _soffice(["--convert-to", "pdf", "--outdir", str(tmp_path / "pdf"), str(path)], tmp_path)
    pages = len(re.findall(rb"/Type\s*/Page[^s]", (tmp_path / "pdf" / "plan.pdf").read_bytes()))
    assert 0 < pages <= 40, pages


def test_an_empty_sheet_says_why_and_reads_back_empty(tmp_path):
    """A sheet with no rows is never silent: its first data line says why (and reading the workbook
    back still gives an empty table); a sheet left out is named on the Details sheet."""
    openpyxl = pytest.importorskip("openpyxl")
    frames = plan_to_frames(_plan(), purchases=_frames()[1]["purchases"].iloc[:0],
                            leave_out={"Forecast": "a what-if keeps no forecast"})
    assert "Forecast" not in frames and "Assignment" in frames
    notes = frames["Details"][frames["Details"]["metric"].str.startswith("note_")]["value"].tolist()
    assert any("Forecast" in n and "a what-if keeps no forecast" in n for n in notes)
    path = write_plan_workbook(tmp_path / "e.xlsx", frames)
    wb = openpyxl.load_workbook(path)
    for name in ("Purchases", "Assignment", "Utilisation", "QoS"):
        ws = wb[name]
        assert ws.max_row == 2 and str(ws["A2"].value).startswith("no rows: "), name
    assert "nothing is bought" in wb["Purchases"]["A2"].value
    # any other table without rows (here an empty Why) says so too
    frames = plan_to_frames(_plan(), why=pd.DataFrame(columns=["order", "group_id"]))
    ws = openpyxl.load_workbook(write_plan_workbook(tmp_path / "w.xlsx", frames))["Why"]
    assert ws.max_row == 2 and ws["A2"].value.startswith("no rows: no order to explain: nothing")
    back = read_plan_workbook(path)
    assert back["Purchases"].empty and "arrives_week" in back["Purchases"].columns
    assert "Forecast" not in back


def test_stacked_purchases_keep_the_scenarios_in_their_order():
    purchases = _frames()[1]["purchases"]
    stacked = pd.concat([purchases.assign(scenario="zeta"), purchases.iloc[:1].assign(scenario="alpha")],
                        ignore_index=True)
    sheet = plan_to_frames(_plan(), purchases=stacked)["Purchases"]
    assert sheet.columns[0] == "scenario"
    assert sheet["scenario"].tolist() == ["zeta", "zeta", "alpha"]  # the base first, not alphabetical
