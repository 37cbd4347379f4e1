"""Each backend on tiny instances with known optima; every plan passes the verifier."""

import numpy as np
import pytest

from models.packing.explain import explain_infeasibility
from models.packing.instance import PackingInstance, ServerType
from models.packing.result import SolveOptions, SolveStatus
from models.packing.solve import solve_packing
from models.packing.verify import find_violations
from packing_fixtures import RES, anticorrelated_pair, one_type, random_instance, slots

EXACT = ["cpsat", "milp"]
OPTS = SolveOptions(time_limit_s=20.0, workers=1, seed=0)


def _peaky(seed):
    """60 groups with narrow daily peaks on 16-core servers: the greedy is one server above the bound."""
    from models.packing.synthetic import diurnal_instance

    return diurnal_instance(60, 24, seed=seed, peakiness=8, mean_cores=2.0,
                            types=(ServerType("s", (16.0, 64.0), 100.0),))


def _workers_of(result, group):
    return [p.worker_id for p in result.placements if p.group_id == group]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_backend_parity_on_small_instances(seed):
    inst = random_instance(n_groups=9, n_slots=24, seed=seed)
    results = {b: solve_packing(inst, b, OPTS) for b in EXACT}
    for b, r in results.items():
        assert r.status == SolveStatus.OPTIMAL, (b, r.message)
        assert find_violations(inst, r) == []
    assert results["cpsat"].objective == pytest.approx(results["milp"].objective)
    heur = solve_packing(inst, "heuristic", OPTS)
    assert heur.objective >= results["cpsat"].objective - 1e-9
    assert results["cpsat"].bound <= results["cpsat"].objective + 1e-9


@pytest.mark.parametrize("backend", EXACT + ["heuristic"])
def test_anticorrelated_pair_shares_one_worker(backend):
    inst = anticorrelated_pair()
    r = solve_packing(inst, backend, OPTS)
    assert r.status == SolveStatus.OPTIMAL
    assert r.objective == 100.0 and len(r.workers) == 1
    peak = solve_packing(inst, "peak", OPTS)
    assert peak.objective == 200.0 and len(peak.workers) == 2
    assert find_violations(inst, peak) == []


@pytest.mark.parametrize("backend", EXACT + ["heuristic"])
def test_group_larger_than_any_server_is_sharded_on_distinct_workers(backend):
    demand = np.zeros((2, 4, 2))
    demand[0, :, 0] = [25.0, 20.0, 10.0, 5.0]  # 25 cores > 10-core server: 3 shards of <= 8.34
    demand[1, :, 0] = 1.5
    demand[:, :, 1] = 1.0
    inst = PackingInstance(("big", "small"), slots(4), RES, demand, one_type())
    assert list(inst.shard_counts()) == [3, 1]
    r = solve_packing(inst, backend, OPTS)
    assert r.status.has_solution and find_violations(inst, r) == []
    ws = _workers_of(r, "big")
    assert len(ws) == 3 and len(set(ws)) == 3
    assert sum(p.fraction for p in r.placements if p.group_id == "big") == pytest.approx(1.0)
    assert r.objective == 300.0


@pytest.mark.parametrize("backend", EXACT + ["heuristic"])
def test_isolated_customer_gets_workers_of_its_own(backend):
    demand = np.full((3, 4, 2), 2.0)
    iso = ("acme", None, None)
    inst = PackingInstance(("a", "b", "c"), slots(4), RES, demand, one_type(),
                           customer=("acme", "x", "y"), isolation=iso)
    r = solve_packing(inst, backend, OPTS)
    assert r.status == SolveStatus.OPTIMAL and find_violations(inst, r) == []
    assert r.objective == 200.0
    wa = set(_workers_of(r, "a"))
    assert wa.isdisjoint(_workers_of(r, "b") + _workers_of(r, "c"))


@pytest.mark.parametrize("backend", EXACT + ["heuristic"])
def test_spread_puts_a_customer_on_distinct_workers(backend):
    demand = np.full((3, 4, 2), 1.0)
    inst = PackingInstance(("a1", "a2", "b"), slots(4), RES, demand, one_type(),
                           customer=("acme", "acme", "bob"), spread=np.array([2, 2, 1]))
    r = solve_packing(inst, backend, OPTS)
    assert r.status == SolveStatus.OPTIMAL and find_violations(inst, r) == []
    assert len(set(_workers_of(r, "a1") + _workers_of(r, "a2"))) == 2
    assert r.objective == 200.0


def test_single_group_with_spread_is_split():
    demand = np.full((1, 4, 2), 1.0)
    inst = PackingInstance(("a",), slots(4), RES, demand, one_type(), spread=np.array([3]))
    r = solve_packing(inst, "cpsat", OPTS)
    assert len(set(_workers_of(r, "a"))) == 3 and find_violations(inst, r) == []


@pytest.mark.parametrize("backend", EXACT)
def test_headroom_limits_worker_utilisation(backend):
    demand = np.zeros((2, 2, 2))
    demand[:, :, 0] = 4.5  # 9 cores together: fit 10 cores, not 10 x (1 - 0.2)
    inst = PackingInstance(("a", "b"), slots(2), RES, demand, one_type(), headroom=np.array([0.2, 0.0]))
    r = solve_packing(inst, backend, OPTS)
    assert r.objective == 200.0 and find_violations(inst, r) == []


def test_server_mix_picks_cheapest_fleet():
    demand = np.zeros((3, 2, 2))
    demand[:, :, 0] = 6.0
    types = (ServerType("small", (8.0, 32.0), 100.0), ServerType("large", (16.0, 64.0), 150.0))
    inst = PackingInstance(("a", "b", "c"), slots(2), RES, demand, types)
    for b in EXACT:
        r = solve_packing(inst, b, OPTS)
        assert r.objective == 250.0  # one large (a, b) + one small (c)
        assert find_violations(inst, r) == []


def test_isolation_with_too_few_servers_is_explained():
    demand = np.full((2, 2, 2), 1.0)
    inst = PackingInstance(("a", "b"), slots(2), RES, demand, one_type(max_count=1),
                           customer=("acme", "bob"), isolation=("acme", "bob"))
    reasons = explain_infeasibility(inst)
    assert any(v.family == "isolation" and v.amount == 1 for v in reasons)
    r = solve_packing(inst, "cpsat", OPTS)
    assert not r.status.has_solution


def test_shards_beyond_max_count_are_explained():
    demand = np.zeros((1, 2, 2))
    demand[0, :, 0] = 35.0  # 4 shards of 10-core servers, only 3 allowed
    inst = PackingInstance(("huge",), slots(2), RES, demand, one_type(max_count=3))
    reasons = explain_infeasibility(inst)
    fam = {v.name: v for v in reasons}
    assert "distinct_shards[huge]" in fam and fam["distinct_shards[huge]"].amount == 1
    assert any(v.family == "capacity" for v in reasons)  # 35 > 3 x 10 cores in aggregate


def test_same_input_same_plan():
    inst = random_instance(n_groups=9, seed=3)
    a = solve_packing(inst, "cpsat", OPTS)
    b = solve_packing(inst, "cpsat", OPTS)
    assert a.placements == b.placements


@pytest.mark.parametrize("backend", EXACT)
def test_large_neighbourhood_search_improves_or_keeps_the_greedy(backend):
    inst = _peaky(seed=0)
    opts = SolveOptions(time_limit_s=8.0, exact_max_items=20, lns_workers=3, lns_step_s=1.0, shrink_share=0.0)
    r = solve_packing(inst, backend, opts, max_lns_iterations=6)
    assert r.status.has_solution and find_violations(inst, r) == []
    assert r.objective <= r.stats["heuristic_cost"] + 1e-9
    assert r.stats["lns_iterations"] >= 1


def test_deterministic_search_gives_the_same_plan():
    inst = _peaky(seed=3)
    opts = SolveOptions(time_limit_s=30.0, exact_max_items=20, lns_max_iterations=5, lns_step_s=0.5,
                        deterministic=True, shrink_share=0.0)
    a, b = solve_packing(inst, "cpsat", opts), solve_packing(inst, "cpsat", opts)
    assert a.placements == b.placements and 1 <= a.stats["lns_iterations"] <= 5


def test_a_counted_shrink_budget_gives_the_same_plan_and_is_kept():
    # shrink_max_moves: the search's length is a move count, not the wall clock (issue 14 figures).
    inst = _peaky(seed=3)
    opts = SolveOptions(time_limit_s=60.0, exact_max_items=20, lns_max_iterations=0, deterministic=True,
                        shrink_moves=50, shrink_max_moves=400, balance_moves=0)
    a, b = solve_packing(inst, "cpsat", opts), solve_packing(inst, "cpsat", opts)
    assert a.placements == b.placements and find_violations(inst, a) == []
    assert 0 < a.stats["shrink_moves"] <= 400
    none = solve_packing(inst, "cpsat", SolveOptions(time_limit_s=60.0, exact_max_items=20, lns_max_iterations=0,
                                                   deterministic=True, shrink_max_moves=0, balance_moves=0))
    assert none.stats["shrink_moves"] == 0 and none.objective == none.stats["heuristic_cost"]
    with pytest.raises(ValueError, match="shrink_max_moves"):
        SolveOptions(shrink_max_moves=-1)
