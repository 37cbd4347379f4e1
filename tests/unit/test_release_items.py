"""Packed pool-weeks keep their plans, not their working arrays."""

from types import SimpleNamespace

import numpy as np

from models.packing.instance import PackingInstance
from models.packing.synthetic import diurnal_instance
from planner.pipeline import release_items


def test_release_items_drops_cached_items_and_scenarios_and_items_rebuild_the_same():
    base = diurnal_instance(12, n_slots=24, seed=1)
    rng = np.random.default_rng(0)
    inst = PackingInstance(base.group_ids, base.slots, base.resources, base.demand, base.server_types,
                           sigma=base.demand * 0.2, overflow_risk=np.full(12, 0.01),
                           loadings=rng.uniform(0, 0.3, (12, 2)), scenarios=rng.standard_normal((50, 12)))
    before = inst.items()
    mu, phi, psi = (x.copy() for x in before.moments())
    wp = SimpleNamespace(instance=inst, peak_instance=None)
    assert release_items(wp) is wp
    assert "items" not in inst._cache and inst.scenarios is None
    after = inst.items()
    assert after is not before
    for a, b in zip(after.moments(), (mu, phi, psi)):
        np.testing.assert_array_equal(a, b)
