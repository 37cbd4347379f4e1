"""Instance validation, shards, slot reduction, bounds and greedies."""

import numpy as np
import pytest

from models.packing.bounds import aggregate_bound, fleet_bound, peak_bound
from models.packing.heuristics import peak_ffd, shape_ffd, shape_fill
from models.packing.instance import PackingInstance, ServerType, dominant_slots
from models.packing.solution import packing_cost
from packing_fixtures import RES, anticorrelated_pair, one_type, random_instance, slots


def test_negative_demand_is_rejected_with_group_and_slot():
    demand = np.ones((2, 3, 2))
    demand[1, 2, 0] = -1.0
    with pytest.raises(ValueError, match=r"group 'b'.*negative demand -1 of cpu_cores at slot t002"):
        PackingInstance(("a", "b"), slots(3), RES, demand, one_type())


@pytest.mark.parametrize("kwargs, match", [
    ({"headroom": np.array([1.0, 0.0])}, "headroom"),
    ({"spread": np.array([0, 1])}, "spread"),
    ({"customer": ("x", "x"), "spread": np.array([1, 2])}, "disagree on spread"),
])
def test_bad_rules_are_rejected(kwargs, match):
    with pytest.raises(ValueError, match=match):
        PackingInstance(("a", "b"), slots(2), RES, np.ones((2, 2, 2)), one_type(), **kwargs)


def test_bad_catalog_is_rejected():
    with pytest.raises(ValueError, match="server type 'z'"):
        PackingInstance(("a",), slots(1), RES, np.ones((1, 1, 2)), (ServerType("z", (0.0, 1.0), 1.0),))
    with pytest.raises(ValueError, match="duplicate server type"):
        PackingInstance(("a",), slots(1), RES, np.ones((1, 1, 2)), one_type() + one_type())


def test_dominated_slots_are_dropped_exactly():
    d = np.zeros((2, 4, 1))
    d[0, :, 0] = [1, 3, 2, 3]
    d[1, :, 0] = [1, 1, 2, 0]
    keep = dominant_slots(d)
    assert list(keep) == [1, 2]  # slot 0 <= slot 2, slot 3 <= slot 1


def test_bounds_bracket_the_optimum():
    inst = anticorrelated_pair()
    assert aggregate_bound(inst) == pytest.approx(100.0)
    assert fleet_bound(inst) == pytest.approx(100.0)
    assert peak_bound(inst) == pytest.approx(160.0)  # 16 peak cores / 10 per server


def test_fleet_bound_accounts_for_headroom_and_isolation():
    demand = np.full((2, 1, 2), 4.0)
    inst = PackingInstance(("a", "b"), slots(1), RES, demand, one_type(), headroom=np.array([0.2, 0.2]),
                           isolation=("x", None), customer=("x", "y"))
    assert aggregate_bound(inst) == pytest.approx(100.0)  # 2 x 4 / 0.8 / 10 = 1 fractional server
    assert fleet_bound(inst) == pytest.approx(200.0)  # but two isolated pools


def test_shape_aware_greedy_beats_peak_baseline():
    inst = random_instance(n_groups=40, n_slots=24, seed=4)
    peak = packing_cost(inst, peak_ffd(inst))
    for p in (shape_ffd(inst), shape_fill(inst, "dot"), shape_fill(inst, "size")):
        assert packing_cost(inst, p) <= peak
        assert packing_cost(inst, p) >= aggregate_bound(inst) - 1e-9


def test_affinity_hook_is_used():
    inst = random_instance(n_groups=10, seed=1)
    aff = np.zeros((10, 10))
    p = shape_fill(inst, "dot", affinity=aff)
    assert (p.item_worker >= 0).all()


def test_sum_by_equals_add_at():
    from models.packing.instance import sum_by

    rng = np.random.default_rng(0)
    index = rng.integers(0, 5, 40)
    values = rng.normal(size=(40, 3, 2))
    expected = np.zeros((7, 3, 2))
    np.add.at(expected, index, values)
    np.testing.assert_allclose(sum_by(index, values, 7), expected)
    assert sum_by(np.array([], dtype=np.int64), values[:0], 3).shape == (3, 3, 2)


def test_a_replaced_instance_shares_its_cubes_and_a_callers_array_is_still_copied():
    """dataclasses.replace of an instance (other server types, shard counts) shares its read-only
    demand and sigma instead of holding a fleet's cubes twice; a caller's writable array is copied,
    so changing it afterwards changes no instance."""
    import dataclasses

    demand, sigma = np.ones((2, 3, 2)), np.full((2, 3, 2), 0.5)
    inst = PackingInstance(("a", "b"), slots(3), RES, demand, one_type(), sigma=sigma,
                           overflow_risk=np.array([0.05, np.nan]))
    demand[:] = 7.0
    sigma[:] = 9.0
    assert inst.demand.max() == 1.0 and inst.sigma[0].max() == 0.5
    assert inst.sigma[1].max() == 0.0  # no target: no spread
    other = dataclasses.replace(inst, server_types=(ServerType("big", (64.0, 256.0), 2.0),))
    assert other.demand is inst.demand and other.sigma is inst.sigma
    assert not other.demand.flags.writeable
    with pytest.raises(ValueError):
        other.demand[0, 0, 0] = 3.0
