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


def _chance_fleet(n, seed=3):
    from models.packing.synthetic import diurnal_instance

    base = diurnal_instance(n, n_slots=48, seed=seed)
    rng = np.random.default_rng(seed)
    return PackingInstance(base.group_ids, base.slots, base.resources, base.demand, base.server_types,
                           sigma=base.demand * rng.uniform(0.1, 0.5, (n, 1, 1)),
                           overflow_risk=rng.choice([0.001, 0.01, 0.05], n), headroom=rng.choice([0.0, 0.1, 0.2], n))


@pytest.mark.parametrize("seed", [3, 4])
def test_aggregated_chord_bound_is_valid_and_below_the_exact_chord_bound(seed):
    from models.packing.bounds import aggregate_chord_bound, chord_bound

    inst = _chance_fleet(60, seed)
    plan = solve_packing(inst, "heuristic", SolveOptions(time_limit_s=20.0, workers=1, seed=0))
    exact, agg = chord_bound(inst), aggregate_chord_bound(inst)
    assert 0 < agg <= exact + 1e-6 <= plan.objective + 1e-6
    # Its chance term is what makes it a bound at all above the linear part: without it, lower.
    linear = PackingInstance(inst.group_ids, inst.slots, inst.resources, inst.demand, inst.server_types,
                             headroom=inst.headroom)
    assert aggregate_bound(linear) < agg


def test_chord_bound_takes_the_aggregated_form_above_the_item_limit(monkeypatch):
    from models.packing import bounds

    inst = _chance_fleet(60)
    monkeypatch.setattr(bounds, "aggregate_chord_bound", lambda instance, integer=True: -1.0)
    assert bounds.chord_bound(inst) > 0 and bounds.chord_bound(inst, exact_items=60) > 0  # the exact programme
    assert bounds.chord_bound(inst, exact_items=59) == -1.0
    assert bounds.lower_bound(inst, chord_items=59)["chord"] == -1.0


def test_lower_bound_is_computed_once_per_instance_and_chord_limit(monkeypatch):
    import dataclasses

    from models.packing import bounds

    inst = _chance_fleet(30)
    calls = []
    real = bounds.chord_bound
    monkeypatch.setattr(bounds, "chord_bound", lambda *a, **k: calls.append(k) or real(*a, **k))
    first = bounds.lower_bound(inst, 150)
    expected = dict(first)
    first["best"] = -1.0  # a caller's edit does not reach the kept bounds
    again = bounds.lower_bound(inst, 150)
    assert len(calls) == 1 and again == expected and expected["best"] > 0
    assert expected["best"] == max(expected["aggregate"], expected["fleet"], expected["chord"])
    bounds.lower_bound(inst, 10)  # another chord limit is another programme
    assert len(calls) == 2
    # A copy with its own cache (as dataclasses.replace of an instance gives: _cache is not an init field)
    # computes again, and finds the same bounds.
    copy = dataclasses.replace(inst)
    assert bounds.lower_bound(copy, 150) == expected and len(calls) == 3
