"""A week's shard variants solved side by side pick the plan that solving them one after another
picks (planner.plan.select_cheapest is _cheapest's only rule), and the order the pool-weeks run in
changes nothing."""

import dataclasses

import numpy as np
import pandas as pd
import pytest

from planner import columns as C
from planner.errors import InfeasiblePlanError
from planner.plan import _cheapest, cheapest_variants, select_cheapest

from test_plan_shards import LARGE, SMALL, premium_instance  # one premium group, one shard alternative

OPTIONS = dict(time_limit_s=30, workers=1, seed=0)


def _solve_all(inst):
    from planner.packing import solve

    variants, _ = cheapest_variants(inst, "cpsat")
    out = {}
    for k, v in enumerate(variants):
        try:
            out[k] = solve(v, "cpsat", **OPTIONS)
        except InfeasiblePlanError as exc:
            out[k] = exc
    return out


def _same(a, b):
    (ia, ra), (ib, rb) = a, b
    assert list(ia.shard_counts()) == list(ib.shard_counts())
    assert ra.objective == rb.objective
    assert ra.assignment_frame().equals(rb.assignment_frame())


@pytest.mark.parametrize("small_cost", [580.0, 1500.0])
def test_variants_solved_in_advance_give_the_sequential_choice(small_cost):
    # 580: the 4-shard variant (four c-16) wins; 1500: its bound (>= 4 x 1,500) prunes it.
    inst = premium_instance((dataclasses.replace(SMALL, cost=small_cost), LARGE))
    variants, bounds = cheapest_variants(inst, "cpsat")
    assert len(variants) == 2 and bounds[0] is None
    sequential = _cheapest(inst, "cpsat", **OPTIONS)
    solved = _solve_all(inst)
    _same(_cheapest(inst, "cpsat", solved=solved, **OPTIONS), sequential)
    _same(_cheapest(inst, "cpsat", solved={1: solved[1]}, **OPTIONS), sequential)  # the rest solved here
    assert list(sequential[0].shard_counts()) == ([4, 1] if small_cost == 580.0 else [2, 1])


def test_a_pruned_variant_is_ignored_whatever_its_result():
    inst = premium_instance((dataclasses.replace(SMALL, cost=1500.0), LARGE))
    variants, bounds = cheapest_variants(inst, "cpsat")
    solved = _solve_all(inst)
    assert bounds[1] >= solved[0].objective  # the rule skips variant 1 ...
    fake = dataclasses.replace(solved[1], objective=1.0)  # ... so even a (false) cheaper result of it is not taken
    chosen, result = _cheapest(inst, "cpsat", solved={0: solved[0], 1: fake}, **OPTIONS)
    assert chosen is variants[0] and result.objective == solved[0].objective
    # Asked only for the variants not pruned, in order: the default alone here.
    asked = []
    select_cheapest(variants, bounds, lambda i: asked.append(i) or solved[i])
    assert asked == [0]


def test_errors_solved_in_advance_count_as_the_sequential_ones():
    inst = premium_instance()
    solved = _solve_all(inst)
    # The default failing: the first error is kept and the alternative (never pruned then) wins.
    err = InfeasiblePlanError("variant 0 has no plan")
    chosen, result = _cheapest(inst, "cpsat", solved={0: err, 1: solved[1]}, **OPTIONS)
    assert list(chosen.shard_counts()) == [4, 1] and result.objective == solved[1].objective
    with pytest.raises(InfeasiblePlanError, match="variant 0 has no plan"):
        _cheapest(inst, "cpsat", solved={0: err, 1: InfeasiblePlanError("variant 1 neither")}, **OPTIONS)


# -- pack_pools: the peak week's variants as tasks, the fleet weeks longest first -------------------


class Recording:
    """An in-process executor of ``workers`` slots that runs each map's tasks in reverse order
    (results returned in submission order, as every executor does) and records what it ran."""

    name, address = "recording", None

    def __init__(self, workers):
        self.workers, self.calls = workers, []

    def map(self, fn, items, progress=None, prepare=None):
        tasks = [prepare(i) if prepare else i for i in items]
        self.calls.append([(t[0], t[6], t[-1] if t[0] == "variant" else None) for t in tasks])
        out = [fn(t) for t in reversed(tasks)][::-1]
        if progress:
            progress(len(items))
        return out


def _week_inputs(weeks=3):
    from planner.plan import servers_frame, tiers_of, week_starts
    from planner.scenarios import Scenario, Solver

    sc = Scenario.model_validate({"servers": [
        {"type": "c-16", "cpu_cores": 16, "memory_gb": 64, "cost_per_month": 580},
        {"type": "m-64", "cpu_cores": 64, "memory_gb": 256, "cost_per_month": 2000}]})
    starts = week_starts(pd.Timestamp("2027-01-04"), weeks)
    hours = pd.date_range(starts[0], periods=168 * weeks, freq="h")
    rng = np.random.default_rng(7)
    size = {"big": 36.0, "s1": 5.0, "s2": 4.0, "s3": 3.0}  # big: premium, sharded
    rows = []
    for g, cpu in size.items():
        # The weeks differ in level (week 1 the busiest), so their bounds and demand differ.
        level = cpu * (1 + 0.1 * np.array([0.0, 1.0, 0.5])[np.arange(len(hours)) // 168])
        cpu_mean = level * (1 + 0.2 * np.sin(np.arange(len(hours)) * 2 * np.pi / 24)) + rng.uniform(0, 0.2, len(hours))
        for res, mean in ((C.CPU_CORES, cpu_mean), (C.MEMORY_GB, cpu_mean * 2)):
            rows.append(pd.DataFrame({C.UNIQUE_ID: g, C.DS: hours, C.RESOURCE: res, C.MEAN: mean, "q50": mean,
                                      "q90": mean * 1.1, "q95": mean * 1.15, "q99": mean * 1.25}))
    forecast = pd.concat(rows, ignore_index=True)
    groups = pd.DataFrame({C.GROUP_ID: list(size), C.CUSTOMER: ["a", "b", "c", "d"],
                           "tier": ["premium", "standard", "standard", "economy"]})
    solver = Solver(backend="cpsat", iterations=3, time_limit_s=60)
    return forecast, groups, tiers_of(sc), servers_frame(sc), starts, solver


def _fingerprint(weeks):
    return [(wp.week, wp.result.objective, tuple(wp.instance.shard_counts()), wp.peak_cost,
             wp.result.assignment_frame().to_csv(index=False)) for wp in weeks]


def test_variant_tasks_and_the_pack_order_leave_the_plan_as_it_was():
    from planner.parallel import LocalExecutor
    from planner.pipeline import pack_horizon

    forecast, groups, tiers, servers, starts, solver = _week_inputs()
    one, _ = pack_horizon(forecast, groups, tiers, servers, starts, solver, executor=LocalExecutor())
    ex = Recording(workers=2)
    two, _ = pack_horizon(forecast, groups, tiers, servers, starts, solver, executor=ex)
    assert _fingerprint(two) == _fingerprint(one)
    kinds = [[k for k, _, _ in call] for call in ex.calls]
    # bounds; the peak week's two variants side by side, then its packing; the other weeks
    assert kinds[1] == ["variant", "variant"] and kinds[2] == ["free"] and kinds[3] == ["fleet", "fleet"]
    peak = ex.calls[2][0][1]
    assert peak == 1 and [w for _, w, _ in ex.calls[1]] == [peak, peak]
    # The big group has a 4-shard variant (c-16s): the week really had two variants to solve.
    from planner.plan import _week_instance

    inst = _week_instance(forecast, groups, tiers, servers, starts[peak])[3]
    assert len(cheapest_variants(inst, "cpsat")[0]) == 2
    # Fleet weeks longest expected first: week 2 (level 1.05) before week 0 (level 1.0).
    assert [w for _, w, _ in ex.calls[3]] == [2, 0]


def test_a_process_pool_solves_the_variants_apart_for_the_same_plan():
    from planner.parallel import LocalExecutor, ProcessExecutor
    from planner.pipeline import pack_horizon

    forecast, groups, tiers, servers, starts, solver = _week_inputs(2)
    one, _ = pack_horizon(forecast, groups, tiers, servers, starts, solver, executor=LocalExecutor())
    two, _ = pack_horizon(forecast, groups, tiers, servers, starts, solver, executor=ProcessExecutor(2))
    assert _fingerprint(two) == _fingerprint(one)
