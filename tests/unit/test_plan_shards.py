"""Sharded groups are tried at finer shard counts so that they can use a cheaper server type."""

import numpy as np
import pytest

from models.packing.instance import PackingInstance, ServerType
from planner.errors import InfeasiblePlanError
from planner.plan import _cheapest, shard_alternatives

SMALL, LARGE = ServerType("c-16", (16.0, 64.0), 580.0), ServerType("m-64", (64.0, 256.0), 2000.0)


def premium_instance(servers=(SMALL, LARGE)):
    # One premium group of 40 cores (spread 2: two 20-core shards; with headroom 0.2 a shard needs
    # 25 usable cores, so only the m-64 holds one) and a second customer's small group.
    demand = np.zeros((2, 4, 2))
    demand[0, :, 0], demand[0, :, 1] = 40.0, 8.0
    demand[1, :, 0], demand[1, :, 1] = 2.0, 1.0
    return PackingInstance(("big", "small"), ("t0", "t1", "t2", "t3"), ("cpu_cores", "memory_gb"), demand,
                           servers, headroom=[0.2, 0.0], customer=("a", "b"), spread=[2, 1])


def test_alternatives_split_sharded_groups_for_each_smaller_type():
    inst = premium_instance()
    assert list(inst.shard_counts()) == [2, 1]
    alts = shard_alternatives(inst)
    # 40 / (16 * 0.8) = 3.125 -> 4 shards fit a c-16; the m-64 needs no more than the default.
    assert [list(a.shard_counts()) for a in alts] == [[4, 1]]


def test_unsharded_instances_have_no_alternatives():
    demand = np.full((1, 2, 2), 3.0)
    inst = PackingInstance(("g",), ("t0", "t1"), ("cpu_cores", "memory_gb"), demand, (SMALL, LARGE))
    assert shard_alternatives(inst) == []


def test_cheapest_variant_uses_the_smaller_servers():
    inst, result = _cheapest(premium_instance(), "cpsat", time_limit_s=10, workers=1, seed=0)
    assert list(inst.shard_counts()) == [4, 1]
    # Four c-16 (2,320) against two m-64 (4,000) at the default shard count.
    assert result.objective == pytest.approx(4 * 580.0)
    assert sorted(t for _, t in result.workers) == ["c-16"] * 4


def test_the_default_count_wins_when_finer_shards_cost_more():
    dear_small = ServerType("c-16", (16.0, 64.0), 1500.0)
    inst, result = _cheapest(premium_instance((dear_small, LARGE)), "cpsat", time_limit_s=10, workers=1, seed=0)
    assert list(inst.shard_counts()) == [2, 1]
    assert result.objective == pytest.approx(2 * 2000.0)


def test_no_variant_with_a_plan_raises_the_default_error():
    capped = ServerType("m-64", (64.0, 256.0), 2000.0, max_count=1)
    with pytest.raises(InfeasiblePlanError):
        _cheapest(premium_instance((capped,)), "cpsat", time_limit_s=5, workers=1, seed=0)


def _week_plan(inst, result):
    import pandas as pd

    from planner.plan import WeekPlan

    zeros = np.zeros(inst.demand.shape)
    return WeekPlan(0, pd.Timestamp("2026-01-05"), inst, zeros, zeros, result, result.objective)


def _scaled(inst, factor):
    import dataclasses

    return dataclasses.replace(inst, demand=inst.demand * factor)


def test_the_peak_plan_is_reused_only_where_the_verifier_accepts_it():
    from planner.plan import reuse_plan

    inst, result = _cheapest(premium_instance(), "cpsat", time_limit_s=10, workers=1, seed=0)
    peak = _week_plan(inst, result)
    # A quieter week: same groups, 90% of the demand; its default shard count (2) is raised to the plan's (4).
    reused = reuse_plan(_scaled(premium_instance(), 0.9), peak)
    assert reused is not None
    r_inst, r_result = reused
    assert list(r_inst.shard_counts()) == [4, 1] and r_result.objective == result.objective
    assert r_result.bound <= r_result.objective
    # A busier week overloads the same workers: refused.
    assert reuse_plan(_scaled(premium_instance(), 1.3), peak) is None
