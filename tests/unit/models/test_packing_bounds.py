"""Column-generation bound: valid (<= proven optimum), at least the aggregate bound, strictly tighter
when items that are each more than half a server peak in the same slot."""

import numpy as np
import pytest

from models.packing.bounds import aggregate_bound, column_generation, column_generation_bound
from models.packing.instance import PackingInstance
from models.packing.result import SolveOptions, SolveStatus
from models.packing.solve import solve_packing
from packing_fixtures import RES, one_type, random_instance, slots


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_cg_bound_is_valid_and_at_least_the_aggregate_bound(seed):
    inst = random_instance(n_groups=9, n_slots=24, seed=seed)
    opt = solve_packing(inst, "cpsat", SolveOptions(time_limit_s=20.0, workers=1, seed=0))
    assert opt.status == SolveStatus.OPTIMAL
    cg = column_generation(inst, time_limit=20.0)
    assert cg.aggregate - 1e-6 <= cg.bound <= opt.objective + 1e-6
    assert cg.farley <= cg.rmp + 1e-6


def test_cg_bound_is_strictly_tighter_for_big_items_in_one_slot():
    # Three items of 6 cores on a 10-core server, all in slot 0: no two share a worker.
    demand = np.zeros((3, 4, 2))
    demand[:, 0, 0] = 6.0
    demand[:, 1:, 0] = 1.0
    demand[:, :, 1] = 1.0
    inst = PackingInstance(("a", "b", "c"), slots(4), RES, demand, one_type())
    agg = aggregate_bound(inst)
    cg = column_generation(inst, time_limit=10.0)
    assert agg == pytest.approx(180.0)
    assert cg.converged and cg.bound == pytest.approx(300.0) and cg.bound > agg
    opt = solve_packing(inst, "cpsat", SolveOptions(time_limit_s=10.0))
    assert opt.objective == pytest.approx(300.0)
    assert column_generation_bound(inst, time_limit=10.0) == pytest.approx(300.0)


def test_cg_bound_stopped_early_is_still_valid():
    inst = random_instance(n_groups=9, n_slots=24, seed=3)
    opt = solve_packing(inst, "cpsat", SolveOptions(time_limit_s=20.0, workers=1, seed=0))
    cg = column_generation(inst, time_limit=0.01)
    assert cg.bound <= opt.objective + 1e-6
