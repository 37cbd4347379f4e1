"""Pools as independent sub-plans, the placement pass, Dask tasks, and their bad inputs."""

import re
import time

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from planner import columns as C
from planner.cli import app
from planner.errors import InfeasiblePlanError, InputDataError, PlannerError, ScenarioError
from planner.pipeline import run_plan
from planner.pools import allowed_pools, place_groups, split_groups_by_pool
from planner.qos import Tier
from planner.scenarios import Scenario, load_scenario

runner = CliRunner()

BASE = """
data:
  synthetic: {functions: 60, days: 42, seed: 3}
horizon: {weeks: 2}
solver: {backend: heuristic, time_limit_s: 5}
forecast: {history_weeks: 4, n_windows: 1, n_jobs: 1}
"""
# Every tier isolated: no two customers share a worker, so pools made of whole customers cannot
# interact and a joint solve must cost what the pools cost apart.
ISOLATED = """
tiers:
  premium: {isolated: true}
  standard: {isolated: true}
  economy: {isolated: true}
"""
JOINT = BASE + ISOLATED + """
name: joint
servers:
  - {type: c-16, cpu_cores: 16, memory_gb: 64, cost_per_month: 580}
  - {type: c-32, cpu_cores: 32, memory_gb: 128, cost_per_month: 1100}
"""
SPLIT = BASE + ISOLATED + r"""
name: split
servers:
  - {type: c-16, cpu_cores: 16, memory_gb: 64, cost_per_month: 580, pool: [east, west]}
  - {type: c-32, cpu_cores: 32, memory_gb: 128, cost_per_month: 1100, pool: [east, west]}
pools:
  rules:
    - {customer_match: 'cust\d*[02468]', pools: [east]}
    - {customer_match: 'cust\d*[13579]', pools: [west]}
"""
FLEXIBLE = BASE + r"""
name: flexible
servers:
  - {type: c-32, cpu_cores: 32, memory_gb: 128, cost_per_month: 1100, pool: [eu, us, ap]}
  - {type: m-64, cpu_cores: 64, memory_gb: 256, cost_per_month: 2000, pool: [eu, us]}
pools:
  rules:
    - {customer_match: 'cust\d*[0-3]', pools: [eu]}
    - {customer_match: 'cust\d*[4-6]', pools: [us]}
    - {customer_match: 'cust\d*[7-9]', pools: [us, ap]}
"""


def _scenario(tmp_path, text, name="s.yaml"):
    path = tmp_path / name
    path.write_text(text)
    return load_scenario(path)


def test_pools_that_do_not_interact_cost_what_a_joint_solve_costs(tmp_path):
    joint = run_plan(_scenario(tmp_path, JOINT, "joint.yaml"))
    split = run_plan(_scenario(tmp_path, SPLIT, "split.yaml"))
    assert set(split.plan["pool"]) == {"east", "west"}
    assert set(split.placement["pool"]) == {"east", "west"}
    per_week = lambda run: pd.Series([wp.result.objective for wp in run.weeks],  # noqa: E731
                                     [wp.week for wp in run.weeks]).groupby(level=0).sum()
    pd.testing.assert_series_equal(per_week(split), per_week(joint))
    assert split.summary["total_cost"] == pytest.approx(joint.summary["total_cost"])
    by_type = lambda run: run.plan.groupby(["week", "server_type"])["installed"].sum()  # noqa: E731
    pd.testing.assert_series_equal(by_type(split), by_type(joint))
    totals = split.pools.set_index("pool")
    assert totals.loc["all pools", "total_cost"] == pytest.approx(totals.drop("all pools")["total_cost"].sum())
    assert totals.loc["all pools", "total_cost"] == pytest.approx(split.summary["total_cost"], abs=0.01)


@pytest.mark.parametrize("method", ["per_series", "batch"])
def test_dask_tasks_give_the_single_process_plan(tmp_path, method):
    pytest.importorskip("dask.distributed")
    sc = _scenario(tmp_path, FLEXIBLE.replace("n_jobs: 1}", f"n_jobs: 1, method: {method}}}"))
    local = run_plan(sc)
    dask = run_plan(sc, workers=2)
    assert dask.summary["parallel"] == {"executor": "dask", "workers": 2}
    assert local.summary["parallel"]["executor"] == "local"
    assert local.summary["forecast_method"] == dask.summary["forecast_method"] == method
    assert (local.placement["placed_by"] == "first pass").any()
    for name in ("plan", "assignment", "utilisation", "qos", "purchases", "pools", "forecast"):
        pd.testing.assert_frame_equal(getattr(dask, name), getattr(local, name), obj=name)
    pd.testing.assert_frame_equal(dask.placement, local.placement)


def test_a_process_pool_gives_the_single_process_plan(tmp_path):
    sc = _scenario(tmp_path, FLEXIBLE)
    local = run_plan(sc)
    pooled = run_plan(sc, jobs=2)
    assert pooled.summary["parallel"] == {"executor": "processes", "workers": 2}
    for name in ("plan", "assignment", "utilisation", "qos", "purchases", "pools", "placement"):
        pd.testing.assert_frame_equal(getattr(pooled, name), getattr(local, name), obj=name)


def test_cross_pool_totals_reach_the_workbook(tmp_path):
    pytest.importorskip("openpyxl")
    from planner.export.spreadsheet import read_plan_workbook

    out = tmp_path / "out"
    (tmp_path / "f.yaml").write_text(FLEXIBLE)
    result = runner.invoke(app, ["run", str(tmp_path / "f.yaml"), "--out", str(out), "--no-plots", "--no-history"])
    assert result.exit_code == 0, result.output
    pools = read_plan_workbook(out / "plan.xlsx")["Pools"].set_index("pool")
    plan = pd.read_csv(out / "plan.csv")
    assert pools.loc["all pools", "total_cost"] == pytest.approx(plan["cost"].sum())
    for pool, cost in plan.groupby("pool")["cost"].sum().items():
        assert pools.loc[pool, "total_cost"] == pytest.approx(cost)
    placement = pd.read_csv(out / "placement.csv")
    assert set(placement.columns) >= {"group_id", "allowed", "source", "pool", "placed_by"}


# -- the placement pass on hand-made shapes ------------------------------------------------------
def _forecast(shapes: dict[str, np.ndarray], start) -> pd.DataFrame:
    ds = pd.date_range(start, periods=168, freq="1h")
    rows = []
    for g, cpu in shapes.items():
        for res, v in ((C.CPU_CORES, cpu), (C.MEMORY_GB, cpu * 2)):
            rows.append(pd.DataFrame({C.UNIQUE_ID: g, C.DS: ds, C.RESOURCE: res, C.MEAN: v, "q50": v, "q90": v,
                                      "q95": v, "q99": v}))
    return pd.concat(rows, ignore_index=True)


def _servers(max_count=None):
    return pd.DataFrame({"type": ["c-32", "c-32"], "pool": ["a", "b"], C.CPU_CORES: [32.0, 32.0],
                         C.MEMORY_GB: [128.0, 128.0], "cost_per_month": [1000.0, 1000.0],
                         "max_count": pd.array([max_count, None], dtype="Int64")})


def test_the_first_pass_puts_a_flexible_group_where_it_fills_a_trough():
    start = pd.Timestamp("2027-01-04")
    hour = np.arange(168) % 24
    day, night = np.where((hour >= 8) & (hour < 20), 20.0, 2.0), np.where((hour >= 8) & (hour < 20), 2.0, 20.0)
    fc = _forecast({"day_a": day, "night_b": night, "flex": day}, start)
    groups = pd.DataFrame({C.GROUP_ID: ["day_a", "night_b", "flex"], C.CUSTOMER: ["x", "y", "z"], "tier": "t"})
    tiers = {"t": Tier("t", "q95", 0.0, 1, False)}
    allowed = pd.DataFrame({C.GROUP_ID: groups[C.GROUP_ID], "allowed": [("a",), ("b",), ("a", "b")], "source": "test"})
    placed = place_groups(allowed, fc, groups, tiers, _servers(), start, 1).table.set_index(C.GROUP_ID)
    # Beside the night-peaking group a day-peaking one raises the peak 20 -> 22 cores (62.5 a month
    # of fluid c-32 cost), beside the day-peaking one 20 -> 40 (625).
    assert placed.loc["flex", "pool"] == "b" and placed.loc["flex", "placed_by"] == "first pass"
    assert placed.loc["flex", "marginal_cost"] == pytest.approx(1000 * 2 / 32)
    assert placed.loc["day_a", "placed_by"] == "only pool"
    # With pool b limited to one 21-core server (the pair needs 22 cores), the group goes to a instead.
    servers = _servers().assign(**{C.CPU_CORES: [32.0, 21.0], "max_count": pd.array([None, 1], dtype="Int64")})
    placed = place_groups(allowed, fc, groups, tiers, servers, start, 1).table.set_index(C.GROUP_ID)
    assert placed.loc["flex", "pool"] == "a"
    # Both pools capped: the group fits nowhere, and the error says which group and pools.
    capped = _servers().assign(**{C.CPU_CORES: [21.0, 21.0], "max_count": pd.array([1, 1], dtype="Int64")})
    with pytest.raises(InfeasiblePlanError, match=r"group 'flex' may run in pools a, b but none has room"):
        place_groups(allowed, fc, groups, tiers, capped, start, 1)


def test_a_group_that_no_pool_may_take_is_named():
    sc = Scenario.model_validate({"pools": {"source": "catalog"},
                                  "servers": [{"type": "c", "cpu_cores": 8, "memory_gb": 32, "cost_per_month": 1,
                                               "pool": "eu"}]})
    catalog = pd.DataFrame({C.UNIQUE_ID: ["f1", "f2", "f3"], C.GROUP_ID: ["g1", "g2", "g2"],
                            "pool": ["eu", "mars", "mars|venus"]})
    catalog = split_groups_by_pool(catalog, sc)
    assert sorted(catalog[C.GROUP_ID].unique()) == ["g1", "g2@mars", "g2@mars|venus"]
    groups = pd.DataFrame({C.GROUP_ID: sorted(catalog[C.GROUP_ID].unique()), C.CUSTOMER: "c", "tier": "standard"})
    servers = pd.DataFrame({"type": ["c"], "pool": ["eu"]})
    with pytest.raises(ScenarioError, match=r"no pool may take group 'g2@mars' may run only in mars \(catalog\)"):
        allowed_pools(groups, catalog, sc, servers)
    with pytest.raises(InputDataError, match="gives no 'pool' column"):
        split_groups_by_pool(catalog.drop(columns="pool"), sc)


def _huawei_csv(path):
    rng = np.random.default_rng(0)
    ds = pd.date_range("2016-07-01", periods=28 * 288, freq="5min")
    cols = {"date": ds.strftime("%Y-%m-%d %H:%M:%S")}
    for name, lam in (("1---a---pool1-300-128", 400), ("2---a---pool2-300-128", 200), ("3---b---pool1-400-256", 300)):
        cols[name] = rng.poisson(lam, len(ds)).astype(float)
    pd.DataFrame(cols).to_csv(path, index=False)


HUAWEI = """
name: trace pools
data: {{format: huawei, path: {path}}}
horizon: {{weeks: 1}}
pools: {{source: trace}}
solver: {{backend: heuristic, time_limit_s: 5}}
forecast: {{history_weeks: 3, n_windows: 1, n_jobs: 1}}
servers:
  - {{type: c-16, cpu_cores: 16, memory_gb: 64, cost_per_month: 580, pool: {pools}}}
"""


def test_trace_pools_split_a_group_and_a_pool_without_servers_is_a_clear_error(tmp_path):
    _huawei_csv(tmp_path / "dc.csv")
    (tmp_path / "bad.yaml").write_text(HUAWEI.format(path=tmp_path / "dc.csv", pools="pool1"))
    result = runner.invoke(app, ["run", str(tmp_path / "bad.yaml"), "--out", str(tmp_path / "o"), "--no-history"])
    assert result.exit_code == 2, result.output
    assert "no pool may take group 'a@pool2' may run only in pool2 (trace)" in " ".join(result.output.split())
    assert not (tmp_path / "o").exists()
    (tmp_path / "ok.yaml").write_text(HUAWEI.format(path=tmp_path / "dc.csv", pools="[pool1, pool2]"))
    run = run_plan(load_scenario(tmp_path / "ok.yaml"))
    assert run.placement.set_index(C.GROUP_ID)["pool"].to_dict() == {"a@pool1": "pool1", "a@pool2": "pool2",
                                                                     "b": "pool1"}
    assert set(run.plan["pool"]) == {"pool1", "pool2"}


def test_an_unreachable_scheduler_fails_within_seconds(small_scenario, tmp_path, monkeypatch):
    pytest.importorskip("dask.distributed")
    import inspect

    import planner.parallel

    # The run gives up after the timeout it asks for (the product's default, a few seconds); the test
    # asks for 1 s of it, so as not to wait the whole default out.
    real, asked = planner.parallel.open_executor, []
    default = inspect.signature(real).parameters["connect_timeout_s"].default

    def one_second(*args, connect_timeout_s=default, **kwargs):
        asked.append(connect_timeout_s)
        return real(*args, connect_timeout_s=min(connect_timeout_s, 1.0), **kwargs)

    monkeypatch.setattr(planner.parallel, "open_executor", one_second)
    t0 = time.perf_counter()
    result = runner.invoke(app, ["run", str(small_scenario), "--out", str(tmp_path / "o"),
                                 "--scheduler", "tcp://127.0.0.1:9"])
    assert time.perf_counter() - t0 < 30 and asked == [planner.parallel.CONNECT_TIMEOUT_S] and asked[0] < 30
    assert result.exit_code == 2, result.output
    text = " ".join(result.output.split())
    assert "cannot connect to the Dask scheduler at 'tcp://127.0.0.1:9'" in text
    assert float(re.search(r"gave up after ([0-9.]+) s", text).group(1)) < 10  # the 1 s, not a hang
    assert not (tmp_path / "o").exists()


def test_without_dask_the_options_say_how_to_install_it(monkeypatch):
    import sys

    from planner.parallel import open_executor

    monkeypatch.setitem(sys.modules, "dask.distributed", None)  # import fails as if not installed
    with pytest.raises(PlannerError, match=r"pip install 'planner\[dask\]'"):
        with open_executor(workers=2):
            pass
    with pytest.raises(InputDataError, match="not both"):
        with open_executor("tcp://x:1", 2):
            pass


# -- a plan of several pools through every stage of a run -----------------------------------------
def test_a_pool_plan_is_verified_backtested_and_recorded(tmp_path):
    """Every pool's plan goes through what a one-pool plan goes through: the independent verifier
    (each pool on its own server types), the backtest against the history's last weeks and
    hindsight (placement and packing per pool), procurement and the plan history."""
    out, db = tmp_path / "out", tmp_path / "runs.db"
    (tmp_path / "f.yaml").write_text(FLEXIBLE.replace("days: 42", "days: 70"))
    result = runner.invoke(app, ["run", str(tmp_path / "f.yaml"), "--out", str(out), "--no-plots", "--backtest",
                                 "--history", str(db)])
    assert result.exit_code == 0, result.output
    plan = pd.read_csv(out / "plan.csv")
    pools_used = sorted(pd.read_csv(out / "placement.csv")["pool"].unique())
    assert len(pools_used) >= 2 and set(pools_used) <= set(plan["pool"])
    import json

    summary = json.loads((out / "summary.json").read_text())
    last = plan[plan["week"] == plan["week"].max()].groupby("server_type")["installed"].sum()
    assert summary["servers_end"] == {t: int(n) for t, n in last.items()}  # summed over the pools
    c32 = summary["installed_fleet"]["c-32"]  # offered in eu, us and ap: one entry, every pool in it
    assert set(c32["by_pool"]) == {"eu", "us", "ap"} and c32["pool"] == "several"
    assert c32["inventory"] == sum(v["inventory"] for v in c32["by_pool"].values())
    # The backtest holds the same two weeks as the plan, with every pool's servers in each week.
    weekly = pd.read_csv(out / "backtest_weekly.csv")
    assert weekly["week"].tolist() == [0, 1]
    assert summary["backtest"]["hindsight_cost"] > 0

    verify = ["verify", "--demand", str(out / "forecast.parquet"), "--assignment"]
    result = runner.invoke(app, [*verify, str(out / "assignment.csv")])
    assert result.exit_code == 0, result.output
    assert "ok: 2 week(s)" in result.output
    # One group of a pool left out of week 0: that pool's check reports it unplaced.
    a = pd.read_csv(out / "assignment.csv")
    gone = a.loc[(a["week"] == 0) & (a["pool"] == pools_used[-1]), "group_id"].iloc[0]
    bad = tmp_path / "bad"
    bad.mkdir()
    a[~((a["week"] == 0) & (a["group_id"] == gone))].to_csv(bad / "assignment.csv", index=False)
    for name in ("groups.csv", "tiers.csv", "servers.csv"):
        (bad / name).write_bytes((out / name).read_bytes())
    result = runner.invoke(app, [*verify, str(bad / "assignment.csv")])
    assert result.exit_code == 1, result.output
    assert f"group {gone!r} has demand" in " ".join(result.output.split())

    result = runner.invoke(app, ["history", "show", "last", "--db", str(db)])
    assert result.exit_code == 0, result.output
    for pool in pools_used:
        assert pool in result.output


@pytest.mark.parametrize("extra, message", [
    ("pools: {rules: [{customers: [cust1], pools: [mars]}]}",
     "pools.rules[0].pools: pool 'mars' is offered by no server type (pools: ap, eu, us)"),
    ("pools: {default: [mars]}", "pools.default: pool 'mars' is offered by no server type"),
    ("pools: {rules: [{customers: [cust1], pools: [eu], tiers: [gold]}]}", "pools.rules[0].tiers: ['gold'] not defined"),
    ("pools: {source: trace}", "pools.source: trace needs a trace that records pools (huawei); 'synthetic' does not"),
    ("inventory: [{server_type: c-32, count: 1}]",
     "inventory[0]: server type 'c-32' is offered in pools eu, us, ap; say which with inventory[].pool"),
    ("inventory: [{server_type: m-64, count: 1, pool: ap}]", "inventory[0]: server type 'm-64' is in pool 'eu' / 'us', not 'ap'"),
])
def test_pool_settings_that_cannot_hold_are_refused_naming_the_field(tmp_path, extra, message):
    text = BASE + """
servers:
  - {type: c-32, cpu_cores: 32, memory_gb: 128, cost_per_month: 1100, pool: [eu, us, ap]}
  - {type: m-64, cpu_cores: 64, memory_gb: 256, cost_per_month: 2000, pool: [eu, us]}
""" + extra + "\n"
    (tmp_path / "bad.yaml").write_text(text)
    result = runner.invoke(app, ["run", str(tmp_path / "bad.yaml"), "--out", str(tmp_path / "o"), "--no-history"])
    assert result.exit_code == 2, result.output
    assert message in " ".join(result.output.split())
    assert "Traceback" not in result.output and not (tmp_path / "o").exists()


def test_a_servers_file_offers_a_type_once_per_pool(tmp_path):
    from planner.servers import load_servers

    rows = "type,cpu_cores,memory_gb,cost_per_month,pool\nc-32,32,128,1100,eu\nc-32,32,128,1100,us\n"
    (tmp_path / "ok.csv").write_text(rows)
    assert load_servers(tmp_path / "ok.csv")["pool"].tolist() == ["eu", "us"]
    (tmp_path / "bad.csv").write_text(rows + "c-32,32,128,1200,eu\n")
    with pytest.raises(InputDataError, match=r"row 4, column 'type': duplicate server type 'c-32' in pool 'eu'"):
        load_servers(tmp_path / "bad.csv")
