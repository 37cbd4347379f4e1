"""Fleet-shrinking search: removes and downsizes workers, keeps every rule, reproducible."""

import functools

import numpy as np
import pytest

from models.packing.bounds import lower_bound
from models.packing.heuristics import best_heuristic
from models.packing.instance import PackingInstance, ServerType
from models.packing.result import SolveOptions, SolveStatus
from models.packing.shrink import ShrinkOptions, shrink_fleet
from models.packing.solution import Packing, packing_cost
from models.packing.solve import solve_packing
from models.packing.synthetic import diurnal_instance
from models.packing.verify import find_violations
from packing_fixtures import RES, anticorrelated_pair, ruled_instance, slots, verified

FAR = 1e12  # a deadline that never comes: the move budget or the candidates stop the search


def _singletons(instance) -> Packing:
    """Every item on a worker of its own, of the cheapest kind that holds it."""
    it, kinds = instance.items(), instance.kinds()
    kind = []
    for i in range(len(it)):
        ok = kinds.accepts(it.headroom[i]) & np.all(kinds.capacity >= it.demand[i].max(axis=0), axis=1)
        kind.append(int(np.flatnonzero(ok)[np.argmin(kinds.cost[ok])]))
    return Packing(np.arange(len(it)), np.array(kind, dtype=np.int64))


def _peaky(seed):
    return diurnal_instance(60, 24, seed=seed, peakiness=8, mean_cores=2.0,
                            types=(ServerType("s", (16.0, 64.0), 100.0),))


def test_reaches_the_bound_where_the_greedy_is_one_server_above():
    inst = _peaky(seed=0)
    greedy = best_heuristic(inst)
    bound = lower_bound(inst)["best"]
    assert packing_cost(inst, greedy) > bound
    stats = {}
    plan = shrink_fleet(inst, greedy, FAR, ShrinkOptions(escalate=False), stats)
    assert packing_cost(inst, plan) == pytest.approx(bound)
    assert stats["shrink_removed"] >= 1 and verified(inst, plan) == []


def test_keeps_every_rule_from_a_wasteful_start():
    inst = ruled_instance()
    assert inst.shard_counts()[0] > 1
    start = _singletons(inst)
    assert verified(inst, start) == []
    stats = {}
    plan = shrink_fleet(inst, start, FAR, ShrinkOptions(escalate=False, attempt_moves=300), stats)
    assert verified(inst, plan) == []
    assert packing_cost(inst, plan) < 0.6 * packing_cost(inst, start)
    it = inst.items()
    # the isolated customer's workers hold nobody else; the spread customer uses 3 workers
    iso_workers = set(plan.item_worker[it.iso_class == 1])
    assert not iso_workers & set(plan.item_worker[it.iso_class == 0])
    assert len(set(plan.item_worker[it.customer == inst.customers.index("p")])) >= 3


def test_downsizes_a_worker_when_no_worker_can_go():
    # Two 10-core items need two workers (20 > 16); with a 2-core item beside each, both need a
    # large server. Downsizing one to small overflows it until its 2-core item moves over.
    demand = np.zeros((4, 2, 2))
    demand[:, :, 0] = [[10.0, 10.0], [10.0, 10.0], [2.0, 2.0], [2.0, 2.0]]
    types = (ServerType("small", (10.0, 40.0), 100.0), ServerType("large", (16.0, 64.0), 150.0))
    inst = PackingInstance(("a", "b", "c", "d"), slots(2), RES, demand, types)
    start = Packing(np.array([0, 1, 0, 1]), np.array([1, 1]))  # large(a, c) + large(b, d)
    assert packing_cost(inst, start) == 300.0
    stats = {}
    plan = shrink_fleet(inst, start, FAR, ShrinkOptions(escalate=False), stats)
    assert packing_cost(inst, plan) == 250.0 and stats["shrink_downsized"] == 1
    assert verified(inst, plan) == []


def test_leaves_an_optimal_plan_alone():
    inst = anticorrelated_pair()
    start = best_heuristic(inst)
    plan = shrink_fleet(inst, start, FAR, ShrinkOptions(escalate=False))
    assert packing_cost(inst, plan) == packing_cost(inst, start) == 100.0


def test_same_seed_and_budget_same_plan():
    inst = _peaky(seed=3)
    opts = ShrinkOptions(seed=7, max_moves=400, escalate=True, attempt_moves=50)
    a = shrink_fleet(inst, _singletons(inst), FAR, opts)
    b = shrink_fleet(inst, _singletons(inst), FAR, opts)
    assert np.array_equal(a.item_worker, b.item_worker) and np.array_equal(a.worker_kind, b.worker_kind)


def test_solve_reports_the_shrink_phase():
    inst = _peaky(seed=0)
    r = solve_packing(inst, "cpsat", SolveOptions(time_limit_s=10.0, exact_max_items=20, shrink_share=0.5))
    assert r.status == SolveStatus.OPTIMAL and find_violations(inst, r) == []
    assert r.stats["shrink_cost"] < r.stats["heuristic_cost"]


def test_options_are_validated():
    with pytest.raises(ValueError):
        ShrinkOptions(attempt_moves=0)
    with pytest.raises(ValueError, match="shrink_share"):
        SolveOptions(shrink_share=1.5)


@pytest.mark.parametrize("ruled", [True, False])
def test_move_scores_equal_the_change_they_predict(ruled):
    # Brute force: apply each move to a copy and measure the infeasibility (overflow + spread).
    # The ruled instance has two headroom levels, so moves change worker capacities, and a spread
    # customer; the other has one level (the fast path).
    import copy

    from models.packing.repair import OverflowRepair

    inst = ruled_instance() if ruled else _peaky(seed=1)
    it = inst.items()
    rng = np.random.default_rng(0)
    n_w = 6  # squeeze the shared class onto few workers: overfull, spread short
    item_worker = np.where(it.iso_class == 1, n_w, rng.integers(0, n_w, len(it)))
    stype = np.zeros(n_w + 1, dtype=np.int64)  # the smallest type everywhere
    unit = inst.capacity.max(axis=0)
    worker_class = np.append(np.zeros(n_w, dtype=np.int64), 1)
    repair = OverflowRepair(inst, unit, item_worker, inst.capacity[stype] / unit,
                            np.ones(n_w + 1, bool), worker_class, rng)
    assert repair.total() > 0 and (repair.deficit() > 0) == ruled and repair.dynamic == ruled
    for a in range(n_w):
        members = np.flatnonzero(repair.w_of == a)
        if members.size == 0:
            continue
        rel = repair.relocation_scores(a, members)
        for x, i in enumerate(members[:6]):
            for b in range(n_w):
                if b == a:
                    continue
                trial = copy.deepcopy(repair)
                trial.relocate(int(i), b)
                assert rel[x, b] == pytest.approx(trial.total() - repair.total(), abs=1e-4)
        partners = np.flatnonzero((repair.w_of != a) & (it.iso_class == 0))
        sw = repair.swap_scores(a, members, partners)
        for x, i in enumerate(members[:3]):
            for y, j in enumerate(partners):
                trial = copy.deepcopy(repair)
                b = int(trial.w_of[j])
                trial.relocate(int(i), b)
                trial.relocate(int(j), a)
                assert sw[x, y] == pytest.approx(trial.total() - repair.total(), abs=1e-4)


def _exchange_instance():
    # Eleven 10-core items (110 cores). Two large servers (64 cores, 2,000 each) hold them; one large
    # and one mid (40 cores, 1,300) hold only 104, so neither a removal nor a downgrade can be
    # repaired, but three mids (120 cores, 3,900) can: only an exchange of two workers for three
    # of the cheaper type reaches them.
    demand = np.zeros((11, 2, 2))
    demand[:, :, 0], demand[:, :, 1] = 10.0, 1.0
    types = (ServerType("large", (64.0, 256.0), 2000.0), ServerType("mid", (40.0, 160.0), 1300.0))
    return PackingInstance(tuple(f"g{i:02d}" for i in range(11)), slots(2), RES, demand, types)


def test_exchanges_two_workers_for_three_of_a_cheaper_type():
    inst = _exchange_instance()
    start = Packing(np.array([0] * 6 + [1] * 5), np.array([0, 0]))  # large(6 items) + large(5 items)
    assert packing_cost(inst, start) == 4000.0 and verified(inst, start) == []
    stats = {}
    plan = shrink_fleet(inst, start, FAR, ShrinkOptions(escalate=False), stats)
    assert packing_cost(inst, plan) == 3900.0 and stats["shrink_exchanged"] == 1
    assert sorted(inst.server_types[k].name for k in inst.kinds().server_type[plan.worker_kind]) == ["mid"] * 3
    assert verified(inst, plan) == []


def test_exchange_respects_max_count():
    base = _exchange_instance()
    capped = (base.server_types[0], ServerType("mid", (40.0, 160.0), 1300.0, max_count=2))
    inst = PackingInstance(base.group_ids, base.slots, base.resources, base.demand, capped)
    start = Packing(np.array([0] * 6 + [1] * 5), np.array([0, 0]))
    plan = shrink_fleet(inst, start, FAR, ShrinkOptions(escalate=False))
    assert packing_cost(inst, plan) == 4000.0 and verified(inst, plan) == []


@functools.lru_cache
def _at_bound(seed):
    inst = _peaky(seed=seed)
    plan = shrink_fleet(inst, best_heuristic(inst), FAR, ShrinkOptions(escalate=False))
    assert packing_cost(inst, plan) == pytest.approx(lower_bound(inst)["best"])
    return inst, plan


def _stuck_engine(seed=0):
    """A repair that cannot succeed: a plan at the lower bound with one worker closed, its items moved
    to another."""
    from models.packing.repair import OverflowRepair

    inst, plan = _at_bound(seed)
    unit = inst.capacity.max(axis=0)
    n_w = int(plan.item_worker.max()) + 1
    item_worker = np.where(plan.item_worker == n_w - 1, 0, plan.item_worker)  # the last worker's items on the first
    open_ = np.ones(n_w, dtype=bool)
    open_[n_w - 1] = False
    cap = np.tile(inst.capacity[0] / unit, (n_w, 1))
    cap[n_w - 1] = 0.0
    return OverflowRepair(inst, unit, item_worker, cap, open_, np.zeros(n_w, dtype=np.int64),
                          np.random.default_rng(1))


def test_a_repair_stops_after_stall_moves_without_a_lower_infeasibility():
    # The same engine stepped by hand: the stalled run ends exactly `stall` moves after the last
    # move that lowered the best infeasibility, with the plan those moves made.
    stall = 7
    ref = _stuck_engine()
    best, since, moves = ref.total(), 0, 0
    while since < stall and moves < 500:
        assert ref.move(best)
        moves += 1
        now = ref.total()
        since = 0 if now < best else since + 1
        best = min(best, now)
    assert since == stall and moves < 500 and best > 0  # it did stall, short of the budget
    engine = _stuck_engine()
    ok, used = engine.run(500, FAR, stall=stall)
    assert not ok and used == moves
    np.testing.assert_array_equal(engine.w_of, ref.w_of)
    _, used_all = _stuck_engine().run(used + 50, FAR)
    assert used_all == used + 50  # without the rule the budget runs out


def test_stall_rule_keeps_a_removal_that_succeeds_early_and_cuts_the_failing_ones():
    inst = _peaky(seed=0)
    greedy = best_heuristic(inst)
    bound = lower_bound(inst)["best"]
    full, stalled = {}, {}
    a = shrink_fleet(inst, greedy, FAR, ShrinkOptions(escalate=False, attempt_moves=250), full)
    b = shrink_fleet(inst, greedy, FAR, ShrinkOptions(escalate=False, attempt_moves=250, stall_moves=10), stalled)
    assert packing_cost(inst, a) == packing_cost(inst, b) == pytest.approx(bound)
    assert stalled["shrink_removed"] == full["shrink_removed"] >= 1 and verified(inst, b) == []
    assert stalled["shrink_moves"] < full["shrink_moves"]


def test_stall_options_are_validated():
    with pytest.raises(ValueError, match="stall_moves"):
        ShrinkOptions(stall_moves=0)
    with pytest.raises(ValueError, match="shrink_stall"):
        SolveOptions(shrink_stall=0)


def test_solve_passes_the_stall_rule_to_the_shrink_search():
    inst = _peaky(seed=4)  # the greedy is one server above the bound, and no removal succeeds
    opts = dict(time_limit_s=120.0, deterministic=True, shrink_moves=250, shrink_max_moves=1500,
                lns_max_iterations=1, balance_moves=0)
    full = solve_packing(inst, "cpsat", SolveOptions(**opts))
    stalled = solve_packing(inst, "cpsat", SolveOptions(**opts, shrink_stall=10))
    assert stalled.stats["shrink_cost"] == full.stats["shrink_cost"] == full.stats["heuristic_cost"]
    assert stalled.stats["shrink_moves"] < full.stats["shrink_moves"] // 2
    assert find_violations(inst, stalled) == []


def test_the_pipeline_gives_a_fruitless_change_up():
    from planner.plan import SHRINK_STALL, solve_options
    from planner.scenarios import Solver

    assert solve_options(Solver())["shrink_stall"] == SHRINK_STALL
    assert "shrink_stall" not in solve_options(Solver(iterations=None))  # the timed search keeps its budget
