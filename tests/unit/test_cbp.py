"""The .cbp reader (chance-constrained bin packing) and `planner pack --cbp`."""

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import typer
from scipy.stats import norm
from typer.testing import CliRunner

from planner.cbp import cbp_bound, read_cbp, solve_cbp, to_packing_instance
from planner.commands import pack
from planner.errors import InputDataError

runner = CliRunner()
app = typer.Typer()
pack.register(app)
app.command("noop")(lambda: None)  # a second command keeps `pack` a sub-command


def write(tmp_path, kind="g", alpha=0.9, sigma=None, means=None, variances=None, name="x.cbp", head=None):
    means = [10.0, 12.0, 8.0, 20.0, 5.0, 7.0, 9.0, 14.0] if means is None else means
    variances = [4.0, 9.0, 1.0, 16.0, 1.0, 2.0, 3.0, 5.0] if variances is None else variances
    if sigma is None:
        sigma = {"g": norm.ppf(alpha), "d": math.sqrt(alpha / (1 - alpha)),
                 "h": math.sqrt(-math.log(1 - alpha) / 2)}[kind]
    head = head or f"{kind} 72 {len(means)} {alpha}"
    p = tmp_path / name
    p.write_text(f"{head}\n{float(sigma)!r}\n{' '.join(map(repr, means))} \n{' '.join(map(repr, variances))} \n")
    return p


@pytest.mark.parametrize("kind,method", [("g", "gaussian"), ("d", "cantelli"), ("h", "hoeffding")])
def test_reads_each_form(tmp_path, kind, method):
    c = read_cbp(write(tmp_path, kind))
    assert c.method == method and c.n == 8 and c.capacity == 72.0
    inst = to_packing_instance(c)
    assert inst.chance and inst.risk_z[0] == pytest.approx(c.sigma)
    # one item alone: a + sigma * sqrt(b)
    np.testing.assert_allclose(inst.standalone()[:, 0, 0], c.mean + c.sigma * np.sqrt(c.variance))


def test_solution_bins_hold_the_conic_constraint(tmp_path):
    c = read_cbp(write(tmp_path, "g", 0.95))
    _, bins, info = solve_cbp(c, "cpsat", time_limit_s=5, seed=0)
    assert info["bins"] == len(set(bins)) and info["lower_bound"] <= info["bins"]
    for b in set(bins):
        idx = [i for i, x in enumerate(bins) if x == b]
        assert c.mean[idx].sum() + c.sigma * math.sqrt(c.variance[idx].sum()) <= 72 + 1e-9
    assert cbp_bound(c) <= info["bins"]


@pytest.mark.parametrize("head,lines,match", [
    ("g 72 8", None, r"line 1: expected 'type capacity n alpha'"),
    ("x 72 8 0.9", None, r"line 1: type 'x' is not one of"),
    ("g 72 8 1.2", None, r"line 1: alpha 1.2 must be in \(0.5, 1\)"),
    ("g -72 8 0.9", None, r"line 1: capacity -72 must be > 0"),
    (None, "means", r"line 3: 7 means; expected n = 8"),
    (None, "nan", r"line 4: variances: value 2 'abc' is not a number"),
    (None, "sigma", r"line 2: sigma 3 is not the gaussian multiplier"),
    (None, "short", r"has 3 non-empty line\(s\); expected 4"),
])
def test_malformed_files_name_the_line(tmp_path, head, lines, match):
    if lines == "means":
        p = write(tmp_path, means=[1.0] * 7)
        p.write_text(p.read_text().replace(" 7 0.9", " 8 0.9"))
    elif lines == "nan":
        p = write(tmp_path)
        text = p.read_text().splitlines()
        text[3] = "1.0 abc " + " ".join(["1.0"] * 6)
        p.write_text("\n".join(text) + "\n")
    elif lines == "sigma":
        p = write(tmp_path, sigma=3.0)
    elif lines == "short":
        p = write(tmp_path)
        p.write_text("\n".join(p.read_text().splitlines()[:3]) + "\n")
    else:
        p = write(tmp_path, head=head)
    with pytest.raises(InputDataError, match=match):
        read_cbp(p)


def test_an_item_too_large_for_a_bin_is_refused(tmp_path):
    with pytest.raises(InputDataError, match="item 3 alone needs .* > capacity 72"):
        read_cbp(write(tmp_path, means=[1.0, 1.0, 1.0, 70.0], variances=[1.0, 1.0, 1.0, 25.0]))


def test_pack_cbp_writes_bins_and_summary(tmp_path):
    p = write(tmp_path, "d", 0.8)
    out = tmp_path / "out"
    result = runner.invoke(app, ["pack", "--cbp", str(p), "--time-limit", "3", "--out", str(out)])
    assert result.exit_code == 0, result.output
    bins = pd.read_csv(out / "bins.csv")
    assert list(bins.columns) == ["item", "bin"] and list(bins["item"]) == list(range(8))
    info = json.loads((out / "summary.json").read_text())
    assert {"bins", "lower_bound", "runtime_s"} <= set(info) and info["bins"] == bins["bin"].nunique()


def test_pack_cbp_bad_input_exits_2(tmp_path):
    p = write(tmp_path, head="q 72 8 0.9")
    result = runner.invoke(app, ["pack", "--cbp", str(p), "--out", str(tmp_path / "o")])
    assert result.exit_code == 2 and "line 1: type 'q'" in result.output
    both = runner.invoke(app, ["pack", "--cbp", str(p), "--demand", str(p), "--out", str(tmp_path / "o")])
    assert both.exit_code == 2 and "exactly one of --demand" in both.output


def test_constraint_is_the_published_one(tmp_path):
    """lidingxu/cbp (srccpp/reader_cbp.cpp, probdata_cbp.cpp, bc.py) packs S when
    sum(a_S) + Dalpha * sqrt(sum(b_S)) <= c, with Dalpha the file's line 2 and b as written (a
    variance, not a standard deviation). Three items a = 20, b = 4 at alpha 0.99 (Dalpha 9.95):
    two fit (68.14), three do not (94.47) -> 2 bins. Read as standard deviations (b^2) no two fit
    (3 bins); with sqrt((1 - alpha) / alpha) all three fit (1 bin)."""
    c = read_cbp(write(tmp_path, "d", 0.99, means=[20.0] * 3, variances=[4.0] * 3))
    assert c.sigma == pytest.approx(math.sqrt(99.0))
    result, bins, info = solve_cbp(c, "cpsat", time_limit_s=5, seed=0)
    assert info["bins"] == 2 == info["lower_bound"] and info["status"] == "optimal"
    assert sorted(bins.count(k) for k in set(bins)) == [1, 2]
    # 1.5 items a best-fit bin: the dive runs and, at the bound, the engine does not
    assert info["search"] == "dive" and info["dive"]["reason"] == "finished" and result is None


def test_dive_is_skipped_with_its_reason_and_can_be_turned_off(tmp_path):
    c = read_cbp(write(tmp_path, "g", 0.6, means=[3.0] * 12, variances=[1.0] * 12))  # 12 items, one bin
    _, _, info = solve_cbp(c, "cpsat", time_limit_s=5, seed=0)
    assert info["search"] == "engine" and not info["dive"]["ran"]
    assert info["dive"]["reason"].startswith("skipped: ") and "items a best-fit bin > 4" in info["dive"]["reason"]
    c = read_cbp(write(tmp_path, "d", 0.99, means=[20.0] * 3, variances=[4.0] * 3, name="y.cbp"))
    result, _, info = solve_cbp(c, "cpsat", time_limit_s=5, seed=0, dive=False)
    assert info["search"] == "engine" and info["dive"]["reason"] == "off" and result is not None
    assert info["bins"] == 2


CLOUD = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "cbp-cloudsmall"
HARD = "d_72_100_0.99_2021-09-01-17:36:01.cbp"


@pytest.mark.skipif(not (CLOUD / HARD).exists(), reason="CloudSmall data (../shared/data) not present")
def test_dive_finds_the_published_37_bins():
    """The instance where the engine alone stops at 38 (the published branch-and-price runs: 37)."""
    from planner.cbp import run_dive

    c = read_cbp(CLOUD / HARD)
    bins, info = run_dive(c, budget_s=60, seed=0)
    assert info["reason"] == "finished" and len(bins) == 37 == info["bins"]
    assert info["max_lhs"] <= c.capacity
