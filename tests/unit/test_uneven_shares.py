"""benchmarks/uneven_shares.py: the cutting-plane share LP (and its shard-limited MILP) against a
brute-force grid on a two-group, two-worker instance the verifier then checks."""

import sys
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from benchmarks.uneven_shares import ShareModel, verify  # noqa: E402
from models.packing.instance import PackingInstance, ServerType  # noqa: E402
from models.packing.verify import find_violations  # noqa: E402


def two_groups(small: float) -> PackingInstance:
    """A (mean 10, sigma 1) and B (mean 4, sigma 0.5), correlated 0.5, epsilon 5 % (z 1.645), on
    a 10-core and a ``small``-core server; two slots, the second lighter."""
    mean = np.array([[10.0, 8.0], [4.0, 3.0]])[:, :, None]
    sigma = np.array([[1.0, 0.8], [0.5, 0.4]])[:, :, None]
    return PackingInstance(
        group_ids=("A", "B"), slots=("t0", "t1"), resources=("cpu",), demand=mean, sigma=sigma,
        overflow_risk=np.array([0.05, 0.05]), correlation=np.array([[1.0, 0.5], [0.5, 1.0]]),
        server_types=(ServerType("big", (10.0,), 2.0), ServerType("small", (small,), 1.0)),
    )


def grid_min(inst: PackingInstance, b_whole: bool = False) -> float:
    """Smallest max load ratio over a fine grid of A's share on the big worker (and B's, or B
    whole on one worker), computed with the chance rule directly."""
    z = inst.risk_z[0]
    rho = inst.correlation_matrix()
    cap = np.array([10.0, inst.server_types[1].capacity[0]])
    best = np.inf
    a_grid = np.linspace(0, 1, 2001)
    b_grid = np.array([0.0, 1.0]) if b_whole else np.linspace(0, 1, 401)
    for fb in b_grid:
        worst = np.zeros_like(a_grid)
        for w, (fa, fbw) in enumerate(((a_grid, fb), (1 - a_grid, 1 - fb))):
            for t in range(2):
                m = fa * inst.demand[0, t, 0] + fbw * inst.demand[1, t, 0]
                sa, sb = fa * inst.sigma[0, t, 0], fbw * inst.sigma[1, t, 0]
                sd = np.sqrt(sa**2 + sb**2 + 2 * rho[0, 1] * sa * sb)
                worst = np.maximum(worst, (m + z * sd) / cap[w])
        best = min(best, worst.min())
    return float(best)


def test_feasible_only_with_uneven_shares():
    inst = two_groups(small=8.0)
    # equal shards of A (5 + 5) fail wherever B goes: the verifier says so
    for b_on in ("w0", "w1"):
        frame = pd.DataFrame({"group_id": ["A", "A", "B"], "fraction": [0.5, 0.5, 1.0],
                              "worker_id": ["w0", "w1", b_on],
                              "server_type": ["big", "small", "big" if b_on == "w0" else "small"]})
        assert any(v.family == "chance" for v in find_violations(inst, frame))
    m = ShareModel(inst, [0, 1], [0.0, 0.0])
    res = m.solve(tol=1e-7)
    assert res["status"] == "converged"
    assert res["lower"] <= res["upper"] <= res["lower"] + 1e-6
    assert abs(res["upper"] - grid_min(inst)) < 2e-3  # the grid is coarse, the LP exact
    assert res["upper"] < 1.0
    frame, viol = verify(m, res["f"])
    assert viol == []
    # B whole (at most one worker), A in up to two shards: the MILP agrees with its own grid, and
    # A's shards are far from equal
    m2 = ShareModel(inst, [0, 1], [0.0, 0.0])
    whole = m2.solve(shards=np.array([2, 1]), tol=1e-7)
    assert abs(whole["upper"] - grid_min(inst, b_whole=True)) < 2e-3
    assert res["upper"] - 1e-9 <= whole["upper"] < 1.0
    assert np.count_nonzero(whole["f"][1] > 0) == 1
    assert abs(whole["f"][0, 0] - whole["f"][0, 1]) > 0.2
    assert verify(m2, whole["f"])[1] == []


def test_infeasible_on_too_small_a_fleet():
    inst = two_groups(small=6.0)  # 16 cores for a mean of 14 plus the pooled spread's 2.4
    res = ShareModel(inst, [0, 1], [0.0, 0.0]).solve(tol=1e-7)
    assert res["lower"] > 1.0
    assert abs(res["upper"] - grid_min(inst)) < 2e-3
