"""Load balancing on a fixed fleet: less load near capacity, same cost, every rule kept."""

import numpy as np
import pytest

from models.packing.balance import balance_load, excess_above
from models.packing.heuristics import best_heuristic
from models.packing.instance import PackingInstance
from models.packing.result import SolveOptions
from models.packing.shrink import ShrinkOptions, shrink_fleet
from models.packing.solution import Packing, packing_cost
from models.packing.solve import solve_packing
from packing_fixtures import RES, one_type, ruled_instance, slots, verified

FAR = 1e12


def _lopsided():
    """Two 10-core workers: one holds 5 + 5 cores (full), the other 2.5 + 2.5 (half full)."""
    demand = np.zeros((4, 3, 2))
    demand[:, :, 0] = np.array([5.0, 5.0, 2.5, 2.5])[:, None]
    demand[:, :, 1] = 1.0
    inst = PackingInstance(("a", "b", "c", "d"), slots(3), RES, demand, one_type())
    return inst, Packing(np.array([0, 0, 1, 1]), np.array([0, 0]))


def _peak_utilisation(inst, packing):
    it = inst.items()
    loads = np.zeros((len(packing.worker_kind),) + it.demand.shape[1:])
    np.add.at(loads, packing.item_worker, it.demand)
    cap = inst.kinds().capacity[packing.worker_kind]
    return (loads / cap[:, None, :]).max(axis=(1, 2))


def test_evens_out_a_lopsided_plan_at_the_same_cost():
    inst, start = _lopsided()
    assert excess_above(inst, start, 0.9) == pytest.approx(3 * 1.0 / 10)  # 1 core over 9, 3 slots
    stats = {}
    plan = balance_load(inst, start, FAR, stats=stats)
    assert packing_cost(inst, plan) == packing_cost(inst, start)
    assert np.allclose(_peak_utilisation(inst, plan), 0.75)  # 5 + 2.5 on each worker
    assert stats["balance_excess_after"] == 0.0 < stats["balance_excess_before"]
    assert verified(inst, plan) == []


def test_keeps_every_rule_and_lowers_the_excess():
    inst = ruled_instance()
    tight = shrink_fleet(inst, best_heuristic(inst), FAR, ShrinkOptions(escalate=False, attempt_moves=300))
    before = excess_above(inst, tight, 0.8)
    plan = balance_load(inst, tight, FAR, ceiling=0.8, seed=3)
    assert verified(inst, plan) == []
    assert packing_cost(inst, plan) <= packing_cost(inst, tight)
    assert excess_above(inst, plan, 0.8) < before
    it = inst.items()
    assert not set(plan.item_worker[it.iso_class == 1]) & set(plan.item_worker[it.iso_class == 0])
    assert len(set(plan.item_worker[it.customer == inst.customers.index("p")])) >= 3


def test_a_balanced_plan_is_left_alone():
    inst, _ = _lopsided()
    stats = {}
    plan = balance_load(inst, Packing(np.array([0, 1, 0, 1]), np.array([0, 0])), FAR, stats=stats)
    assert stats["balance_excess_before"] == 0.0 and stats["balance_moves"] == 0
    assert np.array_equal(plan.item_worker, [0, 1, 0, 1])


def test_same_seed_same_plan_and_solve_reports_the_pass():
    inst = ruled_instance()
    opts = SolveOptions(time_limit_s=20.0, exact_max_items=5, lns_max_iterations=2, deterministic=True,
                        seed=2, balance_ceiling=0.8)
    a, b = solve_packing(inst, "cpsat", opts), solve_packing(inst, "cpsat", opts)
    assert a.placements == b.placements
    assert a.stats["balance_excess_after"] <= a.stats["balance_excess_before"]
    assert a.stats["balance_moves"] >= 1
    off = solve_packing(inst, "cpsat", SolveOptions(time_limit_s=20.0, exact_max_items=5, lns_max_iterations=2,
                                                    deterministic=True, seed=2, balance_moves=0))
    assert "balance_moves" not in off.stats and a.objective <= off.objective


def test_options_are_validated():
    with pytest.raises(ValueError, match="balance_ceiling"):
        SolveOptions(balance_ceiling=0.0)
    with pytest.raises(ValueError, match="balance_share"):
        SolveOptions(balance_share=1.0)
    with pytest.raises(ValueError, match="ceiling"):
        balance_load(*_lopsided(), FAR, ceiling=1.5)
