"""The verifier rejects each kind of broken assignment."""

import numpy as np
import pandas as pd
import pytest

from models.packing.instance import PackingInstance, ServerType
from models.packing.result import SolveOptions
from models.packing.solve import solve_packing
from models.packing.verify import find_violations
from packing_fixtures import RES, anticorrelated_pair, one_type, slots


def _frame(rows):
    return pd.DataFrame(rows, columns=["group_id", "shard", "fraction", "worker_id", "server_type"])


def _families(inst, rows):
    return {v.family for v in find_violations(inst, _frame(rows))}


def test_valid_plan_has_no_violation():
    inst = anticorrelated_pair()
    assert find_violations(inst, _frame([("a", 0, 1.0, "w1", "s"), ("b", 0, 1.0, "w1", "s")])) == []


def test_capacity_violation_names_worker_slot_resource():
    inst = anticorrelated_pair()
    inst2 = PackingInstance(inst.group_ids, inst.slots, RES, inst.demand * 1.5, inst.server_types)
    vs = find_violations(inst2, _frame([("a", 0, 1.0, "w1", "s"), ("b", 0, 1.0, "w1", "s")]))
    assert vs and all(v.family == "capacity" for v in vs)
    assert vs[0].name == "capacity[w1,t000,cpu_cores]"
    assert vs[0].amount == pytest.approx(15.0 - 10.0)


def test_hand_broken_solver_plan_is_caught():
    inst = anticorrelated_pair()
    good = solve_packing(inst, "cpsat", SolveOptions(time_limit_s=5)).assignment_frame()
    broken = good.copy()
    broken.loc[0, "fraction"] = 0.5  # half of group a disappears
    assert "assign_once" in {v.family for v in find_violations(inst, broken)}


def test_each_rule_family_is_checked():
    demand = np.full((3, 2, 2), 1.0)
    inst = PackingInstance(("a", "b", "c"), slots(2), RES, demand, one_type(max_count=1),
                           customer=("acme", "acme", "bob"), spread=np.array([2, 2, 1]),
                           isolation=(None, None, "bob"))
    ok_rows = [("a", 0, 1.0, "w1", "s"), ("b", 0, 1.0, "w2", "s"), ("c", 0, 1.0, "w3", "s")]
    assert _families(inst, ok_rows) == {"max_count"}
    assert "spread" in _families(inst, [("a", 0, 1.0, "w1", "s"), ("b", 0, 1.0, "w1", "s"), ("c", 0, 1.0, "w3", "s")])
    assert "isolation" in _families(inst, [("a", 0, 1.0, "w1", "s"), ("b", 0, 1.0, "w2", "s"), ("c", 0, 1.0, "w2", "s")])
    assert "assign_once" in _families(inst, ok_rows[:2])
    assert "unknown_group" in _families(inst, ok_rows + [("zzz", 0, 1.0, "w1", "s")])
    assert "unknown_server_type" in _families(inst, ok_rows[:2] + [("c", 0, 1.0, "w3", "nope")])
    two_types = PackingInstance(inst.group_ids, inst.slots, RES, demand,
                                (ServerType("s", (10.0, 40.0), 100.0), ServerType("t", (10.0, 40.0), 90.0)))
    assert "worker_type" in _families(two_types, [("a", 0, 1.0, "w1", "s"), ("b", 0, 1.0, "w1", "t"),
                                                  ("c", 0, 1.0, "w3", "s")])
    shards = [("a", 0, 0.5, "w1", "s"), ("a", 1, 0.5, "w1", "s"), ("b", 0, 1.0, "w2", "s"), ("c", 0, 1.0, "w3", "s")]
    assert "distinct_shards" in _families(inst, shards)
    assert "fraction" in _families(inst, [("a", 0, -0.5, "w1", "s"), ("a", 1, 1.5, "w4", "s")] + ok_rows[1:])


def test_headroom_of_the_strictest_group_applies():
    demand = np.zeros((2, 1, 2))
    demand[:, :, 0] = 4.5
    inst = PackingInstance(("a", "b"), slots(1), RES, demand, one_type(), headroom=np.array([0.2, 0.0]))
    vs = find_violations(inst, _frame([("a", 0, 1.0, "w1", "s"), ("b", 0, 1.0, "w1", "s")]))
    assert [v.family for v in vs] == ["capacity"] and vs[0].amount == pytest.approx(1.0)
