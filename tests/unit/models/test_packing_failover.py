"""Failure domains (issue 17 item 1): the reserve and spread forms, zones, and the independent
failover check, on crafted instances."""

import dataclasses

import numpy as np
import pandas as pd
import pytest

from models.packing.failover import FailoverInfeasible, FailoverRules, assign_zones, plan_reserve
from models.packing.failover_spread import sibling_map, spread_instance, spread_result
from models.packing.instance import PackingInstance, ServerType
from models.packing.solve import solve_packing
from models.packing.result import SolveOptions
from models.packing.verify import find_violations
from models.packing.verify_failover import find_failover_violations
from packing_fixtures import RES, random_instance, slots


def _instance(n=10, seed=3, premium=(0, 1, 2)):
    inst = random_instance(n_groups=n, n_slots=24, seed=seed)
    customer = tuple("prem" if g in premium else f"c{g}" for g in range(n))
    headroom = np.array([0.2 if g in premium else 0.05 for g in range(n)])
    return dataclasses.replace(inst, customer=customer, headroom=headroom, spread=np.where(
        np.isin(np.arange(n), premium), 2, 1))


def _rules(inst, level, premium=(0, 1, 2), zones=("a",), form="reserve"):
    lv = tuple(level if g in premium else None for g in range(inst.n_groups))
    return FailoverRules(lv, (None,) * inst.n_groups, {s.name: tuple(zones) for s in inst.server_types}, form,
                         label=tuple("premium" if g in premium else "other" for g in range(inst.n_groups)))


def _solve(inst):
    res = solve_packing(inst, "heuristic", SolveOptions(time_limit_s=10))
    assert res.status.has_solution and not find_violations(inst, res)
    return res


def _workers(result, zone_of):
    return pd.DataFrame([(w, t, zone_of[w]) for w, t in result.workers], columns=["worker_id", "server_type", "zone"])


def _removal_loop(inst, result, plan, premium, level="worker"):
    """The test's own check: remove each worker (or zone), move its premium shards as the map says,
    and recompute every surviving worker's load against its physical capacity."""
    cap = {s.name: np.array(s.capacity) for s in inst.server_types}
    wtype = dict(result.workers)
    zone_of = plan.zone_of_worker
    frame = result.assignment_frame()
    index = {g: i for i, g in enumerate(inst.group_ids)}
    domains = sorted(set(zone_of.values())) if level == "zone" else sorted(wtype)
    worst = 0.0
    for d in domains:
        failed = {w for w in wtype if (zone_of[w] if level == "zone" else w) == d}
        load = {w: np.zeros(inst.demand.shape[1:]) for w in wtype if w not in failed}
        for r in frame.itertuples(index=False):
            demand = r.fraction * inst.demand[index[r.group_id]]
            if r.worker_id not in failed:
                load[r.worker_id] += demand
            elif index[r.group_id] in premium:
                moved = plan.targets[(plan.targets.group_id == r.group_id) & (plan.targets.shard == r.shard)]
                assert moved["share"].sum() == pytest.approx(1.0)
                for t, s in zip(moved["target_worker"], moved["share"]):
                    load[t] += s * demand  # a target in the failed domain raises KeyError
        for w, lw in load.items():
            worst = max(worst, float((lw / cap[wtype[w]]).max()))
    return worst


def test_reserve_form_survives_losing_any_worker():
    inst, premium = _instance(), (0, 1, 2)
    res = _solve(inst)
    rules = _rules(inst, "worker")
    zone_of = assign_zones(inst, res, rules)
    plan = plan_reserve(inst, res, rules, zone_of)
    full = plan.with_spares(res, {s.name: s.cost for s in inst.server_types})
    assert full.objective == pytest.approx(res.objective + plan.spare_cost)
    assert _removal_loop(inst, full, plan, premium) <= 1 + 1e-6
    assert not find_failover_violations(inst, res, _workers(full, plan.zone_of_worker), rules.level, plan.targets)
    assert plan.cost_by_label.get("premium", 0.0) == pytest.approx(plan.spare_cost)


def test_a_plan_without_the_rule_fails_the_check_on_a_crafted_instance():
    # Two premium groups of 4.5 cores and four fillers of 5 cores on 10-core servers: the packing
    # fills every worker to 9.5 cores, so no worker can take a lost premium shard over.
    demand = np.zeros((6, 4, 2))
    demand[:2, :, 0], demand[2:, :, 0] = 4.5, 5.0
    demand[:, :, 1] = 1.0
    types = (ServerType("s", (10.0, 40.0), 100.0),)
    inst = PackingInstance(tuple(f"g{i}" for i in range(6)), slots(4), RES, demand, types)
    res = _solve(inst)
    assert len(res.workers) == 3
    rules = _rules(inst, "worker", premium=(0, 1))
    zone_of = {w: "a" for w, _ in res.workers}
    workers = _workers(res, zone_of)
    # No map at all: every lost premium shard is reported.
    empty = pd.DataFrame(columns=["group_id", "shard", "worker_id", "target_worker", "share"])
    v = find_failover_violations(inst, res, workers, rules.level, empty)
    assert {x.family for x in v} == {"failover_map"} and len(v) == 2
    # The best a plan without spares can do: move each lost shard to another worker; it overflows.
    frame = res.assignment_frame()
    other = {w: next(o for o, _ in res.workers if o != w) for w, _ in res.workers}
    naive = pd.DataFrame([(r.group_id, r.shard, r.worker_id, "worker", other[r.worker_id], 1.0)
                          for r in frame.itertuples(index=False) if r.group_id in ("g0", "g1")],
                         columns=["group_id", "shard", "worker_id", "level", "target_worker", "share"])
    v = find_failover_violations(inst, res, workers, rules.level, naive)
    assert v and {x.family for x in v} == {"failover"}
    assert "above its capacity 10" in str(v[0])
    # With the rule the reserve form adds a spare server and passes.
    plan = plan_reserve(inst, res, rules, zone_of)
    assert len(plan.spares) == 1
    full = plan.with_spares(res, {"s": 100.0})
    assert not find_failover_violations(inst, res, _workers(full, plan.zone_of_worker), rules.level, plan.targets)


def test_spread_form_survives_losing_any_worker():
    inst, premium = _instance(), (0, 1, 2)
    rules = _rules(inst, "worker", form="spread")
    solved, info = spread_instance(inst, rules)
    assert (solved.shard_counts()[list(premium)] >= 2).all()
    res = _solve(solved)
    real, mapped, _ = spread_result(inst, solved, res, info)
    assert not find_violations(real, mapped)
    zone_of = assign_zones(real, mapped, rules)
    plan = sibling_map(real, mapped, rules, zone_of)
    assert _removal_loop(real, mapped, plan, premium) <= 1 + 1e-6
    assert not find_failover_violations(real, mapped, _workers(mapped, zone_of), rules.level, plan.targets)


@pytest.mark.parametrize("form", ["reserve", "spread"])
def test_zone_level_survives_losing_any_zone(form):
    inst, premium = _instance(n=12, seed=5), (0, 1, 2)
    rules = _rules(inst, "zone", zones=("a", "b", "c"), form=form)
    if form == "spread":
        solved, info = spread_instance(inst, rules)
        res = _solve(solved)
        real, res, fixed = spread_result(inst, solved, res, info)
        zone_of = assign_zones(real, res, rules, fixed)
        plan = sibling_map(real, res, rules, zone_of)
    else:
        real = inst
        res = _solve(inst)
        zone_of = assign_zones(real, res, rules)
        plan = plan_reserve(real, res, rules, zone_of)
        res = plan.with_spares(res, {s.name: s.cost for s in inst.server_types})
    assert len(set(plan.zone_of_worker.values())) >= 2
    assert _removal_loop(real, res, plan, premium, level="zone") <= 1 + 1e-6
    assert _removal_loop(real, res, plan, premium, level="worker") <= 1 + 1e-6
    workers = _workers(res, plan.zone_of_worker)
    assert not find_failover_violations(real, res, workers, rules.level, plan.targets)
    # Each premium shard's targets lie in another zone.
    for r in plan.targets.itertuples(index=False):
        assert plan.zone_of_worker[r.target_worker] != plan.zone_of_worker[r.worker_id]


def test_zone_rule_with_one_zone_is_explained():
    inst = _instance()
    rules = _rules(inst, "zone", zones=("a",), form="spread")
    with pytest.raises(FailoverInfeasible, match="may only run in zone\\(s\\) \\['a'\\]: no other zone to fail over to"):
        spread_instance(inst, rules)
    res = _solve(inst)
    reserve = _rules(inst, "zone", zones=("a",))
    with pytest.raises(FailoverInfeasible, match="cannot fail over when zone a is lost"):
        plan_reserve(inst, res, reserve, {w: "a" for w, _ in res.workers})


def test_zones_balance_protected_load_and_follow_a_zone_price():
    inst = _instance(n=12, seed=5)
    res = _solve(inst)
    rules = _rules(inst, "zone", zones=("a", "b"))
    zone_of = assign_zones(inst, res, rules)
    assert set(zone_of.values()) == {"a", "b"}
    plain = dataclasses.replace(rules, level=(None,) * inst.n_groups, zone_cost={"a": 300.0, "b": 50.0})
    assert set(assign_zones(inst, res, plain).values()) == {"b"}  # no rule: every worker in the clean zone


def test_the_check_catches_a_target_in_the_failed_zone():
    inst = _instance(n=12, seed=5)
    res = _solve(inst)
    rules = _rules(inst, "zone", zones=("a", "b"))
    zone_of = assign_zones(inst, res, rules)
    plan = plan_reserve(inst, res, rules, zone_of)
    full = plan.with_spares(res, {s.name: s.cost for s in inst.server_types})
    bad = plan.targets.copy()
    same = {w: next(o for o in zone_of if zone_of[o] == zone_of[w]) for w in zone_of}
    bad["target_worker"] = bad["worker_id"].map(same)
    v = find_failover_violations(inst, res, _workers(full, plan.zone_of_worker), rules.level, bad)
    assert any(x.family == "failover_map" and "lost too" in x.message for x in v)


def test_spread_form_with_zone_and_worker_tiers_together():
    inst = _instance(n=12, seed=5)
    lv = tuple("zone" if g in (0, 1) else "worker" if g in (2, 3) else None for g in range(inst.n_groups))
    rules = FailoverRules(lv, (None,) * inst.n_groups, {s.name: ("a", "b") for s in inst.server_types}, "spread")
    solved, info = spread_instance(inst, rules)
    res = _solve(solved)
    real, res, fixed = spread_result(inst, solved, res, info)
    assert (real.shard_counts()[[2, 3]] >= 2).all()  # worker-level groups split within their zone
    zone_of = assign_zones(real, res, rules, fixed)
    plan = sibling_map(real, res, rules, zone_of)
    assert not find_failover_violations(real, res, _workers(res, zone_of), rules.level, plan.targets)


def test_chance_constrained_failover_uses_the_pooled_load():
    # A (protected) mean 3 on w0, B mean 5 on w1, sd 0.5 each, target 0.001 (z = 3.09) on 10 cores:
    # moving A onto w1 fits by the means (8) but not by the pooled load 8 + 3.09 sqrt(0.5) = 10.2.
    demand = np.zeros((2, 2, 2))
    demand[0, :, 0], demand[1, :, 0] = 3.0, 5.0
    demand[:, :, 1] = 1.0
    types = (ServerType("s", (10.0, 40.0), 100.0),)
    linear = PackingInstance(("A", "B"), slots(2), RES, demand, types)
    chance = dataclasses.replace(linear, sigma=np.full((2, 2, 2), 0.5), overflow_risk=np.array([0.001, 0.001]))
    frame = pd.DataFrame({"group_id": ["A", "B"], "shard": [0, 0], "fraction": [1.0, 1.0],
                          "worker_id": ["w0", "w1"], "server_type": ["s", "s"]})
    workers = pd.DataFrame({"worker_id": ["w0", "w1"], "server_type": ["s", "s"], "zone": ["a", "a"]})
    fmap = pd.DataFrame({"group_id": ["A"], "shard": [0], "worker_id": ["w0"], "target_worker": ["w1"], "share": [1.0]})
    assert not find_failover_violations(linear, frame, workers, ("worker", None), fmap)
    v = find_failover_violations(chance, frame, workers, ("worker", None), fmap)
    assert v and v[0].family == "failover" and "above its capacity 10" in v[0].message
    # The reserve form sizes by a linear upper bound of the pooled load: it opens a spare and passes.
    from models.packing.result import PackingResult, Placement, SolveStatus

    res = PackingResult(SolveStatus.FEASIBLE, "test", 200.0, 200.0, 0.0,
                        (Placement("A", 0, 1.0, "w0", "s"), Placement("B", 0, 1.0, "w1", "s")),
                        (("w0", "s"), ("w1", "s")))
    rules = FailoverRules(("worker", None), (None, None), {"s": ("a",)})
    plan = plan_reserve(chance, res, rules, {"w0": "a", "w1": "a"})
    assert len(plan.spares) == 1
    full = plan.with_spares(res, {"s": 100.0})
    assert not find_failover_violations(chance, res, _workers(full, plan.zone_of_worker), rules.level, plan.targets)
