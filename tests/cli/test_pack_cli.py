"""`planner pack` and `planner verify` through the CLI: outputs, exit codes, messages."""

import json

import numpy as np
import pandas as pd
import pytest
import typer
from typer.testing import CliRunner

from planner.commands import pack, verify

runner = CliRunner()
app = typer.Typer()
pack.register(app)
verify.register(app)


@pytest.fixture
def inputs(tmp_path):
    rng = np.random.default_rng(0)
    ds = pd.date_range("2027-01-04", periods=24, freq="h")
    rows = []
    for g in range(8):
        phase, size = rng.uniform(0, 24), rng.uniform(2, 16)
        for t, d in enumerate(ds):
            shape = 0.55 + 0.45 * np.cos(2 * np.pi * (t - phase) / 24)
            rows.append((f"g{g}", d, size * shape, 4 * size * (0.7 + 0.3 * shape)))
    demand = tmp_path / "demand.csv"
    pd.DataFrame(rows, columns=["group_id", "ds", "cpu_cores", "memory_gb"]).to_csv(demand, index=False)
    groups = tmp_path / "groups.csv"
    pd.DataFrame({"group_id": [f"g{g}" for g in range(8)], "customer": [f"c{g % 3}" for g in range(8)],
                  "tier": ["premium", "standard", "dedicated"] * 2 + ["economy", "standard"]}).to_csv(groups, index=False)
    return tmp_path, demand, groups


@pytest.mark.parametrize("backend", ["cpsat", "milp", "heuristic", "peak"])
def test_pack_writes_verified_outputs(inputs, backend):
    tmp, demand, groups = inputs
    out = tmp / f"out-{backend}"
    result = runner.invoke(app, ["pack", "--demand", str(demand), "--groups", str(groups), "--solver", backend,
                                 "--time-limit", "10", "--out", str(out)])
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "summary.json").read_text())
    for key in ("status", "cost", "bound", "gap", "lower_bound", "peak_cost", "runtime_s"):
        assert key in summary
    assert summary["cost"] >= summary["lower_bound"] - 1e-6
    if backend in ("cpsat", "milp"):  # the shrink search runs first; the exact model may only improve on it
        assert summary["cost"] <= summary["shrink_cost"] + 1e-6
    assignment = pd.read_csv(out / "assignment.csv")
    assert list(assignment.columns) == ["group_id", "shard", "fraction", "worker_id", "server_type"]
    assert set(pd.read_csv(out / "workers.csv")["worker_id"]) == set(assignment["worker_id"])
    check = runner.invoke(app, ["verify", "--demand", str(demand), "--groups", str(groups),
                                "--assignment", str(out / "assignment.csv")])
    assert check.exit_code == 0, check.output


def test_pack_balances_unless_told_not_to(inputs):
    tmp, demand, groups = inputs
    for flag, out in (("--balance", tmp / "on"), ("--no-balance", tmp / "off")):
        result = runner.invoke(app, ["pack", "--demand", str(demand), "--groups", str(groups), "--iterations", "2",
                                     flag, "--out", str(out)])
        assert result.exit_code == 0, result.output
    on = json.loads((tmp / "on" / "summary.json").read_text())
    off = json.loads((tmp / "off" / "summary.json").read_text())
    assert "balance_excess_before" in on["search"] and "balance_excess_before" not in off["search"]
    assert on["search"]["balance_excess_after"] <= on["search"]["balance_excess_before"]
    assert on["cost"] <= off["cost"]


def test_verify_fails_on_a_broken_assignment(inputs):
    tmp, demand, groups = inputs
    out = tmp / "out"
    assert runner.invoke(app, ["pack", "--demand", str(demand), "--solver", "heuristic", "--out", str(out)]).exit_code == 0
    broken = pd.read_csv(out / "assignment.csv").assign(worker_id="w000", server_type="c-32")  # all on one small worker
    broken.to_csv(tmp / "broken.csv", index=False)
    result = runner.invoke(app, ["verify", "--demand", str(demand), "--assignment", str(tmp / "broken.csv")])
    assert result.exit_code == 1
    assert "capacity[w000," in result.output


def test_pack_bad_input_exits_2_with_message(inputs):
    tmp, demand, _ = inputs
    frame = pd.read_csv(demand)
    frame.loc[5, "memory_gb"] = -1
    frame.to_csv(tmp / "neg.csv", index=False)
    result = runner.invoke(app, ["pack", "--demand", str(tmp / "neg.csv"), "--out", str(tmp / "x")])
    assert result.exit_code == 2
    assert "negative demand" in result.output
    result = runner.invoke(app, ["pack", "--demand", str(tmp / "missing.csv"), "--out", str(tmp / "x")])
    assert result.exit_code == 2 and "file not found" in result.output


def test_pack_groups_errors_name_the_groups_file(inputs):
    """An unknown tier in --groups named its row and column but not the file."""
    tmp, demand, groups = inputs
    frame = pd.read_csv(groups)
    frame.loc[2, "tier"] = "gold"
    frame.to_csv(tmp / "my-groups.csv", index=False)
    result = runner.invoke(app, ["pack", "--demand", str(demand), "--groups", str(tmp / "my-groups.csv"),
                                 "--out", str(tmp / "x")])
    text = " ".join(result.output.split())
    assert result.exit_code == 2 and "my-groups.csv" in text and "unknown tier 'gold'" in text, text
