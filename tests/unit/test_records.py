"""The plan history (planner/records.py): record and read back, compare, two writers at once,
damaged and locked databases, and the CLI around it."""

import sqlite3
import subprocess
import sys
import textwrap
import time

import pandas as pd
import pytest
from typer.testing import CliRunner

from planner.cli import app
from planner.records import HistoryError, RunStore, input_checksums
from planner.records_compare import compare_runs, flatten_definition
from planner.scenarios import Scenario, default_scenario, scenario_dict

runner = CliRunner()


def _plan(installed_m64: int, weeks: int = 2) -> pd.DataFrame:
    rows = []
    for w in range(weeks):
        for t, n in (("c-32", 2), ("m-64", installed_m64)):
            rows.append({"week": w, "pool": "default", "server_type": t, "required": n, "installed": n,
                         "purchased": 0, "cost": 250.0 * n, "cpu_utilisation": 0.4, "memory_utilisation": 0.3,
                         "headroom": 0.2, "risk": 0.5, "week_start": f"2027-01-0{w + 4}", "note": "x"})
    return pd.DataFrame(rows)


def _purchases() -> pd.DataFrame:
    return pd.DataFrame({"week": [0], "pool": ["default"], "server_type": ["m-64"], "purchased": [1],
                         "arrives_week": [6], "cost": [2000.0]})


def _summary(cost: float, risk: dict) -> dict:
    return {"scenario": "default", "total_cost": cost, "purchase_cost": 0.0, "risk_slot_hours_by_tier": risk,
            "procurement": {"status": "optimal"}}


def _record(store, scenario, cost=1000.0, m64=3):
    inputs = input_checksums(scenario)
    return store.record("plan", scenario, _summary(cost, {"standard": 1.0}), _plan(m64), _purchases(), inputs,
                        out_dir="out")


def test_a_recorded_run_reads_back_whole(tmp_path):
    store = RunStore(tmp_path / "h.sqlite")
    sc = default_scenario()
    run_id = _record(store, sc)
    rec = store.get(run_id)
    assert rec.kind == "plan" and rec.scenario == "default" and rec.total_cost == 1000.0
    pd.testing.assert_frame_equal(rec.plan[_plan(3).columns], _plan(3), check_dtype=False)
    pd.testing.assert_frame_equal(rec.purchases, _purchases(), check_dtype=False)
    assert rec.scenario_definition == scenario_dict(sc)
    assert set(rec.inputs["name"]) == {"scenario", "data"}
    assert store.resolve("last") == run_id
    with pytest.raises(HistoryError, match="no run 99"):
        store.get(99)
    with pytest.raises(HistoryError, match="expected a run number"):
        store.resolve("yesterday")


def test_compare_reports_the_changed_field_cost_servers_and_inputs(tmp_path):
    store = RunStore(tmp_path / "h.sqlite")
    a = default_scenario()
    b = Scenario.model_validate({**scenario_dict(a), "growth": {"global": 1.3}})
    ra = _record(store, a, cost=1000.0, m64=3)
    rb = store.record("plan", b, _summary(1300.0, {"standard": 2.5}), _plan(5), None, input_checksums(b))
    cmp = compare_runs(store.get(ra), store.get(rb))
    assert cmp.fields.to_dict("records") == [{"field": "growth.global", "a": 1.0, "b": 1.3}]
    assert list(cmp.inputs["name"]) == ["scenario"]  # same synthetic data, different definition
    cost = cmp.totals.set_index("metric").loc["total_cost"]
    assert (cost["a"], cost["b"], cost["delta"]) == (1000.0, 1300.0, 300.0)
    m64 = cmp.servers.set_index("server_type").loc["m-64"]
    assert (m64["installed_a"], m64["installed_b"], m64["delta"]) == (3, 5, 2)
    assert cmp.risk.set_index("tier").loc["standard", "delta"] == pytest.approx(1.5)


def test_flatten_keys_list_items_by_type():
    flat = flatten_definition({"servers": [{"type": "c-32", "cost_per_month": 1100}], "growth": {"global": 1.0}})
    assert flat == {"servers[c-32].type": "c-32", "servers[c-32].cost_per_month": 1100, "growth.global": 1.0}


def test_file_inputs_are_checksummed_and_cached(tmp_path):
    trace = tmp_path / "trace"
    trace.mkdir()
    (trace / "a.csv").write_text("1,2\n")
    (trace / "b.csv").write_text("3,4\n")
    sc = Scenario.model_validate({"name": "t", "data": {"format": "azure", "path": str(trace)}})
    cache = {}
    first = input_checksums(sc, {"actuals": trace / "a.csv"}, cache).set_index("name")
    assert first.loc["data", "files"] == 2 and len(cache) == 2
    (trace / "b.csv").write_text("3,5\n")
    second = input_checksums(sc, {"actuals": trace / "a.csv"}, cache).set_index("name")
    assert second.loc["data", "sha256"] != first.loc["data", "sha256"]
    assert second.loc["actuals", "sha256"] == first.loc["actuals", "sha256"]


WRITER = textwrap.dedent("""
    import pathlib, sys, time
    import pandas as pd
    from planner.records import RunStore, input_checksums
    from planner.scenarios import default_scenario
    store, sc = RunStore(sys.argv[1], timeout_s=30), default_scenario()
    plan = pd.DataFrame({"week": range(50), "pool": "default", "server_type": "c-32", "required": 1,
                         "installed": 1, "purchased": 0, "cost": 1.0, "cpu_utilisation": 0.5,
                         "memory_utilisation": 0.5, "headroom": 0.1, "risk": 0.0})
    pathlib.Path(sys.argv[1] + "." + sys.argv[3]).touch()  # ready; both start writing together
    while not pathlib.Path(sys.argv[1] + ".go").exists():
        time.sleep(0.01)
    for i in range(int(sys.argv[2])):
        store.record("plan", sc, {"total_cost": float(i), "writer": sys.argv[3]}, plan, None, input_checksums(sc))
""")


def test_two_processes_recording_at_once_do_not_corrupt_the_database(tmp_path):
    db = tmp_path / "h.sqlite"
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, str(db), "15", name], stderr=subprocess.PIPE, text=True)
             for name in ("one", "two")]
    deadline = time.time() + 60
    while not all((tmp_path / f"h.sqlite.{n}").exists() for n in ("one", "two")) and time.time() < deadline:
        time.sleep(0.02)
    (tmp_path / "h.sqlite.go").touch()
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
    runs = RunStore(db).runs()
    assert len(runs) == 30 and runs["run_id"].is_unique
    con = sqlite3.connect(db)
    assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert con.execute("SELECT COUNT(*) FROM plan").fetchone()[0] == 30 * 50
    writers = [r[0] for r in con.execute("SELECT json_extract(summary_json, '$.writer') FROM runs")]
    assert writers.count("one") == 15 and writers.count("two") == 15
    con.close()


def test_a_damaged_database_gives_a_clear_error(tmp_path):
    db = tmp_path / "h.sqlite"
    db.write_bytes(b"this is not a database" * 100)
    with pytest.raises(HistoryError, match="damaged or not an SQLite file"):
        _record(RunStore(db), default_scenario())
    with pytest.raises(HistoryError, match="damaged or not an SQLite file"):
        RunStore(db).runs()


def test_a_locked_database_gives_a_clear_error_within_the_timeout(tmp_path):
    db = tmp_path / "h.sqlite"
    store = RunStore(db, timeout_s=0.5)
    _record(store, default_scenario())
    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        t0 = time.perf_counter()
        with pytest.raises(HistoryError, match="locked by another process"):
            _record(store, default_scenario())
        assert time.perf_counter() - t0 < 5
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert len(store.runs()) == 1  # the failed record left nothing half-written


def test_history_cli_list_show_compare(tmp_path):
    db = tmp_path / "h.sqlite"
    store = RunStore(db)
    a = default_scenario()
    b = Scenario.model_validate({**scenario_dict(a), "growth": {"global": 1.3}})
    _record(store, a)
    store.record("whatif", b, _summary(1300.0, {"standard": 2.5}), _plan(5), None, input_checksums(b), batch="w1")
    out = runner.invoke(app, ["history", "list", "--db", str(db)])
    assert out.exit_code == 0, out.output
    assert "whatif" in out.output and "plan" in out.output
    out = runner.invoke(app, ["history", "show", "last", "--db", str(db)])
    assert out.exit_code == 0 and "run 2" in out.output, out.output
    out = runner.invoke(app, ["history", "compare", "1", "2", "--db", str(db)])
    assert out.exit_code == 0, out.output
    assert "growth.global" in out.output and "1.3" in out.output
    missing = runner.invoke(app, ["history", "list", "--db", str(tmp_path / "none.sqlite")])
    assert missing.exit_code == 1 and "no history database" in missing.output
