"""Newcomer's trial of the commands (session 13, docs/scenarios.md): each case is a command line a
new user typed, which gave a traceback, an "internal error", a silent wrong value, the wrong file
name, or a hint that did not work. Every one now gives one line naming the file, row or option."""

import functools
import shlex

import pandas as pd
import pytest
from typer.testing import CliRunner

from planner import columns as C
from planner.cli import app

runner = CliRunner()

# Plans in seconds: a case that ran before its fix must not take the 300-function default's minutes.
TINY = """
name: tiny
data:
  synthetic: {functions: 20, days: 28, seed: 2}
horizon: {weeks: 1}
solver: {backend: heuristic, time_limit_s: 5}
forecast: {n_windows: 1, n_jobs: 1}
"""


def _error(result, *needles):
    """Exit 2, no traceback, an ``error:`` line holding every needle (the console wraps long lines)."""
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    text = " ".join(result.output.split())
    assert "Traceback" not in text and "internal error" not in text and "error:" in text, text
    for n in needles:
        assert n in text, (n, text)
    return text


# -- ingest: the Azure layout's duration and memory files ----------------------------------------
@pytest.fixture(scope="module")
def azure_trace(tmp_path_factory):
    out = tmp_path_factory.mktemp("trial") / "az"
    r = runner.invoke(app, ["synth", "--functions", "12", "--days", "2", "--format", "azure", "--out", str(out)])
    assert r.exit_code == 0, r.output
    return out


def _corrupt(src, tmp_path, name, column, value):
    import shutil

    dst = tmp_path / "az"
    shutil.copytree(src, dst)
    frame = pd.read_csv(dst / name, dtype=str)
    frame.loc[2, column] = value  # line 4 of the file
    frame.to_csv(dst / name, index=False)
    return dst


@pytest.mark.parametrize("name, column, value, said", [
    ("function_durations_percentiles.anon.d01.csv", "Average", "fast", "'fast' is not a number"),
    ("function_durations_percentiles.anon.d01.csv", "Count", "-5", "'-5' is negative"),
    ("app_memory_percentiles.anon.d02.csv", "AverageAllocatedMb", "lots", "'lots' is not a number"),
    ("app_memory_percentiles.anon.d02.csv", "AverageAllocatedMb", "-128", "'-128' is negative"),
    ("app_memory_percentiles.anon.d02.csv", "SampleCount", "inf", "'inf' is not finite"),
])
def test_azure_side_files_with_bad_figures_name_file_row_and_column(azure_trace, tmp_path, name, column, value, said):
    """Text was an internal error (TypeError); a negative memory was averaged into the app's size."""
    trace = _corrupt(azure_trace, tmp_path, name, column, value)
    r = runner.invoke(app, ["ingest", str(trace), "--format", "azure", "--out", str(tmp_path / "i")])
    _error(r, f"{name}, row 4, column {column!r}", said)
    assert not (tmp_path / "i").exists()


def test_azure_empty_duration_cell_is_a_missing_record_counted_in_the_warning(azure_trace, tmp_path):
    base = runner.invoke(app, ["ingest", str(azure_trace), "--format", "azure", "--out", str(tmp_path / "a")])
    trace = _corrupt(azure_trace, tmp_path, "function_durations_percentiles.anon.d01.csv", "Average", "")
    r = runner.invoke(app, ["ingest", str(trace), "--format", "azure", "--out", str(tmp_path / "b")])
    assert base.exit_code == 0 and r.exit_code == 0, r.output
    catalog = pd.read_parquet(tmp_path / "b" / "catalog.parquet")
    assert catalog[C.DURATION_S].notna().all() and (catalog[C.DURATION_S] > 0).all()


# -- ingest: the catalog ---------------------------------------------------------------------------
@pytest.mark.parametrize("column", [C.CUSTOMER, C.APP])
def test_catalog_with_an_empty_customer_or_app_is_refused(tmp_path, column):
    """An empty cell became the customer (or app) "nan", which then planned as a customer of its own."""
    ds = pd.date_range("2026-01-05", periods=24, freq="5min")
    pd.DataFrame({C.UNIQUE_ID: ["f1"] * 24 + ["f2"] * 24, C.DS: list(ds) * 2, C.Y: 3.0}).to_csv(
        tmp_path / "long.csv", index=False)
    catalog = pd.DataFrame({C.UNIQUE_ID: ["f1", "f2"], C.APP: "a", C.CUSTOMER: "c", C.CPU_MILLICORES: 300.0,
                            C.MEMORY_MB: 128.0, C.DURATION_S: 0.5})
    catalog.loc[1, column] = None
    catalog.to_csv(tmp_path / "catalog.csv", index=False)
    r = runner.invoke(app, ["ingest", str(tmp_path / "long.csv"), "--format", "long", "--catalog",
                            str(tmp_path / "catalog.csv"), "--out", str(tmp_path / "i")])
    _error(r, f"catalog.csv, row 3, column {column!r}", f"empty {column} for function 'f2'")


# -- forecast options ------------------------------------------------------------------------------
@pytest.fixture
def demand(tmp_path):
    ds = pd.date_range("2026-01-05", periods=21 * 24, freq="h")
    frame = pd.DataFrame({C.GROUP_ID: "g1", C.DS: ds, C.CPU_CORES: 1.0 + (ds.hour > 8), C.MEMORY_GB: 2.0})
    path = tmp_path / "demand.parquet"
    frame.to_parquet(path)
    return path


@pytest.mark.parametrize("args, said", [
    (["--n-windows", "0"], "--n-windows must be at least 1"),  # was the default, silently
    (["--n-windows", "-3"], "--n-windows must be at least 1"),  # ran
    (["--n-jobs", "0"], "--n-jobs must be a number of workers >= 1"),  # internal error from joblib
    (["--resources", "cpu_cores,cpu_cores"], "expected distinct demand columns"),  # blamed a duplicate timestamp
    (["--resources", ","], "expected distinct demand columns"),
])
def test_forecast_options_out_of_range_are_refused_before_fitting(demand, tmp_path, args, said):
    out = tmp_path / "fc.parquet"
    r = runner.invoke(app, ["forecast", "--demand", str(demand), "--horizon", "24", *args, "--out", str(out)])
    _error(r, said)
    assert not out.exists()


def test_a_dead_scheduler_is_a_one_line_error_within_seconds(demand, tmp_path, monkeypatch):
    """forecast and whatif connected late, and dask's own OSError became an "internal error" after 30 s."""
    import planner.parallel as parallel

    monkeypatch.setattr(parallel, "open_executor", functools.partial(parallel.open_executor, connect_timeout_s=1))
    dead = "tcp://127.0.0.1:9"
    r = runner.invoke(app, ["forecast", "--demand", str(demand), "--horizon", "24", "--scheduler", dead,
                            "--out", str(tmp_path / "fc.parquet")])
    _error(r, f"cannot connect to the Dask scheduler at {dead!r}")
    (tmp_path / "base.yaml").write_text(TINY)
    (tmp_path / "v.yaml").write_text("base: base.yaml\nname: v\n")
    r = runner.invoke(app, ["whatif", str(tmp_path / "base.yaml"), str(tmp_path / "v.yaml"), "--scheduler", dead,
                            "--out", str(tmp_path / "w")])
    _error(r, f"cannot connect to the Dask scheduler at {dead!r}")


# -- whatif, backtest, run: contradictions and wrong names --------------------------------------
def test_whatif_variants_with_the_same_name_are_refused(tmp_path):
    """A variant that forgets `name:` inherits its base's: both plans went to one folder, the later
    replacing the earlier, and the comparison showed two rows of the same name."""
    (tmp_path / "base.yaml").write_text(TINY)
    (tmp_path / "v.yaml").write_text("base: base.yaml\ngrowth: {global: 1.5}\n")
    (tmp_path / "w.yaml").write_text("base: base.yaml\nname: 'a b'\n")
    (tmp_path / "x.yaml").write_text("base: base.yaml\nname: 'a_b'\n")
    r = runner.invoke(app, ["whatif", str(tmp_path / "base.yaml"), str(tmp_path / "v.yaml"), "--out", str(tmp_path / "o")])
    _error(r, "base.yaml and", "v.yaml are both named 'tiny'", "give each scenario a distinct `name:`")
    r = runner.invoke(app, ["whatif", str(tmp_path / "base.yaml"), str(tmp_path / "w.yaml"), str(tmp_path / "x.yaml"),
                            "--out", str(tmp_path / "o")])
    _error(r, "named 'a b' and 'a_b'", "the folder a_b/")
    assert not (tmp_path / "o").exists()


def test_contradicting_options_are_refused_before_any_work(tmp_path):
    (tmp_path / "base.yaml").write_text(TINY)
    (tmp_path / "v.yaml").write_text("base: base.yaml\nname: v\n")
    s, v, h = str(tmp_path / "base.yaml"), str(tmp_path / "v.yaml"), str(tmp_path / "h.sqlite")
    out = str(tmp_path / "o")
    _error(runner.invoke(app, ["whatif", s, v, "--n-jobs", "2", "--scheduler", "tcp://127.0.0.1:9", "--out", out]),
           "--n-jobs runs local processes; give it without --scheduler")
    for cmd in (["run", s], ["whatif", s, v], ["backtest", s]):
        _error(runner.invoke(app, [*cmd, "--history", h, "--no-history", "--out", out]),
               "--no-history contradict each other")
    assert not (tmp_path / "o").exists() and not (tmp_path / "h.sqlite").exists()


def test_backtest_origins_and_step_are_checked_before_the_scenario_is_read(tmp_path):
    """They were checked after the history was read (seconds to minutes); a scenario file that does
    not exist shows the order: the option is refused first."""
    missing = str(tmp_path / "nothere.yaml")
    _error(runner.invoke(app, ["backtest", missing, "--origins", "0", "--out", str(tmp_path / "o")]),
           "--origins 0: give at least one origin")
    _error(runner.invoke(app, ["backtest", missing, "--every", "0w", "--out", str(tmp_path / "o")]),
           "--every '0w': the step between origins must be positive")


def test_backtest_missing_actuals_names_the_file_given(tmp_path):
    """A synthetic scenario with --actuals that does not exist said "telemetry.parquet: file not found"."""
    (tmp_path / "s.yaml").write_text("name: s\ndata: {synthetic: {functions: 5, days: 28}}\n")
    r = runner.invoke(app, ["backtest", str(tmp_path / "s.yaml"), "--actuals", str(tmp_path / "actual.csv"),
                            "--out", str(tmp_path / "o")])
    text = _error(r, "actual.csv: --actuals: file not found")
    assert "telemetry.parquet" not in text


# -- verify, synth, scenario messages --------------------------------------------------------------
def test_verify_assignment_with_an_empty_worker_is_a_row_error(tmp_path):
    ds = pd.date_range("2026-01-05", periods=24, freq="h")
    pd.DataFrame({C.GROUP_ID: ["g1"] * 24 + ["g2"] * 24, C.DS: list(ds) * 2, C.CPU_CORES: 1.0,
                  C.MEMORY_GB: 2.0}).to_csv(tmp_path / "demand.csv", index=False)
    (tmp_path / "a.csv").write_text("group_id,shard,fraction,worker_id,server_type\n"
                                    "g1,0,1.0,w000,c-32\ng2,0,1.0,,c-32\n")
    r = runner.invoke(app, ["verify", "--demand", str(tmp_path / "demand.csv"), "--assignment", str(tmp_path / "a.csv")])
    _error(r, "a.csv, row 3, column 'worker_id': empty worker_id")


def test_synth_bad_interval_names_the_option(tmp_path):
    r = runner.invoke(app, ["synth", "--functions", "3", "--days", "1", "--interval", "7x", "--out", str(tmp_path / "o")])
    assert r.exit_code == 2 and "--interval '7x' is not a positive duration" in " ".join(r.output.split()), r.output


def test_growth_error_names_the_field_once(tmp_path):
    (tmp_path / "s.yaml").write_text("growth: {global: -1}\n")
    text = _error(runner.invoke(app, ["run", str(tmp_path / "s.yaml"), "--out", str(tmp_path / "o")]),
                  "growth.global: multipliers must be > 0")
    assert "growth.global: growth.global" not in text


# -- the history hint of a run ---------------------------------------------------------------------


def test_the_history_hint_a_run_prints_works_from_the_working_folder(tmp_path, monkeypatch):
    """`planner run --out out/q1` records beside the folder (out/planner-history.sqlite) and said
    "(planner history show 1)", which from the working folder found no database."""
    monkeypatch.delenv("PLANNER_HISTORY", raising=False)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "tiny.yaml").write_text(TINY)
    r = runner.invoke(app, ["run", "tiny.yaml", "--out", "out/q1", "--no-plots", "--jobs", "1"])
    assert r.exit_code == 0, r.output
    text = " ".join(r.output.split())
    hint = text.split("recorded as run 1 in ", 1)[1].split("(", 1)[1].rsplit(")", 1)[0]
    assert hint.startswith("planner history show 1 --db ") and "planner-history.sqlite" in hint, hint
    shown = runner.invoke(app, shlex.split(hint)[1:])
    assert shown.exit_code == 0 and "run 1: plan of 'tiny'" in shown.output, shown.output
    # where the default database is the one used, the short form is the one that works
    r = runner.invoke(app, ["run", "tiny.yaml", "--out", "q2", "--no-plots", "--jobs", "1"])
    assert r.exit_code == 0 and "(planner history show 1)" in " ".join(r.output.split()), r.output


def test_pack_cbp_refuses_the_demand_only_options(tmp_path):
    """--groups, --servers and --tiers were silently ignored with --cbp."""
    (tmp_path / "i.cbp").write_text("d 10 3 0.6\n1.224744871391589\n2 3 4\n0.5 0.5 0.5\n")
    (tmp_path / "g.csv").write_text("group_id,customer,tier\ng1,c,premium\n")
    r = runner.invoke(app, ["pack", "--cbp", str(tmp_path / "i.cbp"), "--groups", str(tmp_path / "g.csv"),
                            "--out", str(tmp_path / "o")])
    _error(r, "--groups cannot be used with --cbp")
    assert not (tmp_path / "o").exists()
    r = runner.invoke(app, ["pack", "--cbp", str(tmp_path / "i.cbp"), "--time-limit", "2", "--out", str(tmp_path / "o")])
    assert r.exit_code == 0 and (tmp_path / "o" / "bins.csv").exists(), r.output


def test_profile_more_clusters_than_series_is_an_option_error(tmp_path):
    """--clusters above the number of series with a shape was an internal error from the clustering."""
    ds = pd.date_range("2026-01-05", periods=14 * 24 * 12, freq="5min")
    rows = [pd.DataFrame({C.UNIQUE_ID: f"f{i}", C.DS: ds, C.Y: (ds.hour + i) % 24 * 1.0}) for i in range(3)]
    pd.concat(rows).to_parquet(tmp_path / "t.parquet")
    pd.DataFrame({C.UNIQUE_ID: [f"f{i}" for i in range(3)], C.APP: "a", C.CUSTOMER: "c", C.CPU_MILLICORES: 300.0,
                  C.MEMORY_MB: 128.0, C.DURATION_S: 0.5}).to_csv(tmp_path / "c.csv", index=False)
    r = runner.invoke(app, ["profile", "--telemetry", str(tmp_path / "t.parquet"), "--format", "long", "--catalog",
                            str(tmp_path / "c.csv"), "--clusters", "50", "--out", str(tmp_path / "o")])
    _error(r, "--clusters 50: more clusters than series with a shape to cluster")
    assert not (tmp_path / "o").exists()


# -- ingest: a catalog beside a Huawei or Azure trace ----------------------------------------------
HUAWEI = "date,296---224---pool22-300-128,116---168---pool32-2600-3072\n" + "".join(
    f"{t},{i % 7},{i % 3}\n" for i, t in enumerate(pd.date_range("2026-01-05", periods=48, freq="5min")))


def test_huawei_catalog_as_written_by_ingest_overrides_the_trace(tmp_path):
    """A catalog CSV with Huawei's numeric app and func columns was an internal error (pandas 3
    refused the ints in the reader's text columns)."""
    (tmp_path / "dc.csv").write_text(HUAWEI)
    (tmp_path / "cat.csv").write_text("unique_id,app,customer,cpu_millicores,memory_mb,duration_s,func\n"
                                      "296---224---pool22-300-128,224,224,300,512,0.5,296\n")
    r = runner.invoke(app, ["ingest", str(tmp_path / "dc.csv"), "--format", "huawei", "--catalog",
                            str(tmp_path / "cat.csv"), "--out", str(tmp_path / "i")])
    assert r.exit_code == 0, r.output
    cat = pd.read_parquet(tmp_path / "i" / "catalog.parquet").set_index(C.UNIQUE_ID)
    assert cat.loc["296---224---pool22-300-128", C.MEMORY_MB] == 512.0  # the catalog's
    assert cat.loc["116---168---pool32-2600-3072", C.MEMORY_MB] == 3072.0  # the trace's own
    assert cat.loc["296---224---pool22-300-128", "func"] == "296"


def test_a_catalog_naming_none_of_the_traces_functions_is_refused(tmp_path, azure_trace):
    """It overrode nothing, silently: e.g. Huawei functions keyed by their number alone."""
    (tmp_path / "dc.csv").write_text(HUAWEI)
    (tmp_path / "cat.csv").write_text("unique_id,app,customer,cpu_millicores,memory_mb,duration_s\n"
                                      "296,224,224,300,512,0.5\n")
    for trace, fmt in ((tmp_path / "dc.csv", "huawei"), (azure_trace, "azure")):
        r = runner.invoke(app, ["ingest", str(trace), "--format", fmt, "--catalog", str(tmp_path / "cat.csv"),
                                "--out", str(tmp_path / "i")])
        _error(r, "cat.csv, column 'unique_id': names none of the", "its unique_id e.g. '296'")


def test_backtest_table_fits_80_columns_without_cutting_names(monkeypatch):
    """Piped or in a CI log (80 columns) the table showed "2026-…", "hindsi…" and "econo…"."""
    import io
    from pathlib import Path

    from rich.console import Console

    import planner.commands.backtest as bt

    buf = io.StringIO()
    monkeypatch.setattr(bt, "console", Console(file=buf, width=80))
    rows = [("2026-09-28 00:00:00", plan, tier, 4368, 0, 0.0, 0.001, 0.14, 0.044, True)
            for plan in ("hindsight", "peak", "shape") for tier in ("dedicated", "economy", "premium")]
    by_tier = pd.DataFrame(rows, columns=["origin", "plan", "tier", "slot_hours", "overflow_hours", "overflow_share",
                                          "target", "worst", "cpu_utilisation", "within_target"])
    summary = {"scenario": "s", "origin": "2026-09-28", "cost": 1.0, "hindsight_cost": 1.0, "peak_cost": 1.0,
               "peak_hindsight_cost": 1.0, "cost_vs_hindsight": 1.0, "peak_cost_vs_hindsight": 1.0,
               "peak_vs_hindsight": 1.0, "unplanned_groups": [], "planned_groups_without_actuals": [],
               "overflow_within_target": True, "peak_overflow_within_target": True}
    bt.print_backtest(summary, by_tier, Path("bt"))
    lines = buf.getvalue().splitlines()
    assert "…" not in buf.getvalue()
    row = next(line for line in lines if "hindsight" in line and "dedicated" in line).split()
    assert row == ["2026-09-28", "hindsight", "dedicated", "4,368", "0", "0.00%", "0.1%", "14%", "4.4%"]


def test_history_list_fits_80_columns_without_cutting_dates_or_folders(tmp_path, monkeypatch):
    """Its boxed table showed every date as "2026-1…" and every output folder as "/work/…"."""
    from planner.records import RunStore, input_checksums
    from planner.scenarios import default_scenario

    monkeypatch.chdir(tmp_path)
    sc = default_scenario()
    plan = pd.DataFrame({"week": [0], "pool": "default", "server_type": "c-32", "required": 2, "installed": 2,
                         "purchased": 0, "cost": 500.0, "risk": 0.0})
    summary = {"scenario": "default", "total_cost": 6600.0, "risk_slot_hours_by_tier": {"standard": 0.0},
               "procurement": {"status": "optimal"}}
    RunStore(tmp_path / "h.sqlite").record("plan", sc, summary, plan, None, input_checksums(sc),
                                           out_dir=str(tmp_path / "out" / "q1"))
    r = runner.invoke(app, ["history", "list", "--db", "h.sqlite"], terminal_width=80)
    assert r.exit_code == 0, r.output
    assert "…" not in r.output, r.output
    row = next(line.split() for line in r.output.splitlines() if line.split()[:2] == ["1", "plan"])
    assert row[2].count("-") == 2 and row[3].count(":") == 1  # date and time, whole
    assert row[-1] == "out/q1"  # relative to the working folder, whole


def test_forecast_report_that_would_replace_the_forecast_or_cannot_be_written_is_refused(demand, tmp_path):
    """--report equal to --out silently replaced the forecast with the model report; --report x.txt
    was an internal error once every series was fitted."""
    same = tmp_path / "fc.csv"
    r = runner.invoke(app, ["forecast", "--demand", str(demand), "--horizon", "24", "--report", str(same),
                            "--out", str(same)])
    _error(r, "would overwrite --out")
    r = runner.invoke(app, ["forecast", "--demand", str(demand), "--horizon", "24", "--report",
                            str(tmp_path / "m.models.csv"), "--out", str(tmp_path / "m.calibration.csv")])
    _error(r, "would overwrite --out")
    r = runner.invoke(app, ["forecast", "--demand", str(demand), "--horizon", "24", "--report",
                            str(tmp_path / "rep.txt"), "--out", str(tmp_path / "f.parquet")])
    _error(r, "rep.txt: --report must end in .csv or .parquet")
    assert not list(tmp_path.glob("*.csv")) and not (tmp_path / "f.parquet").exists()


def test_run_backtest_line_says_yes_or_no_as_backtest_does(tmp_path):
    """`planner run --backtest` printed "every tier within target: True" (a Python value)."""
    import json

    (tmp_path / "tiny.yaml").write_text(TINY)
    out = tmp_path / "o"
    r = runner.invoke(app, ["run", str(tmp_path / "tiny.yaml"), "--backtest", "--no-plots", "--no-history",
                            "--jobs", "1", "--out", str(out)])
    assert r.exit_code == 0, r.output
    within = json.loads((out / "summary.json").read_text())["backtest"]["overflow_within_target"]
    text = " ".join(r.output.split())
    assert f"every tier within target: {'yes' if within else 'no'}" in text, text
    assert "True" not in text and "False" not in text


def test_options_that_apply_to_another_input_are_refused(demand, tmp_path):
    """forecast --demand with --format (a --telemetry option), forecast --telemetry with --resources
    (a --demand option) and synth --format azure with --interval were ignored, silently."""
    r = runner.invoke(app, ["forecast", "--demand", str(demand), "--format", "huawei", "--horizon", "24",
                            "--out", str(tmp_path / "a.csv")])
    _error(r, "--format applies to --telemetry only")
    ds = pd.date_range("2026-01-05", periods=24 * 12, freq="5min")
    pd.DataFrame({C.UNIQUE_ID: "f1", C.DS: ds, C.Y: 3.0}).to_parquet(tmp_path / "t.parquet")
    r = runner.invoke(app, ["forecast", "--telemetry", str(tmp_path / "t.parquet"), "--resources", "cpu_cores",
                            "--horizon", "24", "--out", str(tmp_path / "b.csv")])
    _error(r, "--resources applies to --demand only")
    r = runner.invoke(app, ["synth", "--functions", "3", "--days", "1", "--format", "azure", "--interval", "30min",
                            "--out", str(tmp_path / "az")])
    assert r.exit_code == 2 and "--interval applies to --format long only" in " ".join(r.output.split()), r.output
    assert not (tmp_path / "az").exists() and not list(tmp_path.glob("*.csv"))
    # the same options where they apply still run
    r = runner.invoke(app, ["synth", "--functions", "3", "--days", "1", "--format", "long", "--interval", "30min",
                            "--out", str(tmp_path / "lg")])
    assert r.exit_code == 0, r.output
