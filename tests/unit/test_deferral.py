"""Deferrable work: the reshaping LP keeps arrival, deadline, conservation and peak rate; strict
groups never move; the verifier catches a reshaping that breaks a rule; deadline classes and their
bad inputs."""

import dataclasses

import numpy as np
import pandas as pd
import pytest

from models.deferral import apply_flows, check_reshape, moved_work, reshape_lax
from models.packing.deferral import defer_before_packing, defer_per_worker
from models.packing.instance import PackingInstance, ServerType
from models.packing.verify import find_violations
from planner import columns as C
from planner.deferral import deadline_table
from planner.errors import InputDataError, ScenarioError
from planner.scenarios import DeferralSpec, Scenario


def daily(n_groups, seed=0, days=2, phase=14.0):
    rng = np.random.default_rng(seed)
    t = np.arange(24 * days) % 24
    shape = 1 + 0.9 * np.cos(2 * np.pi * (t[None, :] - phase - rng.normal(0, 2, (n_groups, 1))) / 24)
    cpu = shape * rng.uniform(0.5, 3.0, (n_groups, 1))
    return np.stack([cpu, cpu * rng.uniform(1, 4, (n_groups, 1))], axis=2)


@pytest.mark.parametrize("objective", ["own", "joint"])
def test_flows_never_run_work_before_arrival_or_after_the_deadline_and_conserve_it(objective):
    demand = daily(8, seed=1)
    window = np.array([0, 3, 1, 6, 0, 2, 11, 3])
    r = reshape_lax(demand, window, objective=objective)
    for g, flow in enumerate(r.flows):
        if window[g] == 0:
            assert flow is None
            continue
        coo = flow.tocoo()
        assert (coo.col >= coo.row).all(), "work ran before it arrived"
        assert (coo.col - coo.row <= window[g]).all(), "work ran after its deadline"
        np.testing.assert_allclose(np.asarray(flow.sum(axis=1)).ravel(), 1.0, atol=1e-12)
        np.testing.assert_allclose(r.demand[g].sum(axis=0), demand[g].sum(axis=0), rtol=1e-12)
        assert (r.demand[g] <= demand[g].max(axis=0) * (1 + 1e-9)).all(), "above the group's peak rate"
    assert check_reshape(demand, r.demand, window) == []


def test_a_strict_group_is_never_moved_even_when_moving_it_would_help():
    demand = daily(3, seed=2)
    window = np.array([0, 0, 4])
    r = reshape_lax(demand, window, objective="joint")
    np.testing.assert_array_equal(r.demand[:2], demand[:2])
    assert r.flows[0] is None and r.flows[1] is None


def test_lax_work_fills_the_valley_beside_strict_load():
    # Strict load peaks at slot 2; lax work arrives at slot 2 and may wait 3 slots.
    strict = np.array([1.0, 1.0, 4.0, 1.0, 1.0, 1.0])
    lax = np.array([0.0, 0.0, 3.0, 0.0, 0.0, 0.0])
    demand = np.stack([strict, lax])[:, :, None]
    r = reshape_lax(demand, np.array([0, 3]), objective="joint")
    total = r.demand.sum(axis=0)[:, 0]
    # The lax work cannot run before slot 2 and may not exceed its own peak (3): best is to leave
    # slot 2 to the strict load and spread the 3 units over slots 3..5 -> peak 4 (the strict one).
    assert total.max() == pytest.approx(4.0)
    assert r.demand[1, 2, 0] == pytest.approx(0.0, abs=1e-9)
    assert moved_work(demand, r.flows)[1, 0] == pytest.approx(3.0)


def test_the_forecast_mean_moves_with_the_same_flows():
    demand = daily(4, seed=3)
    window = np.array([2, 0, 5, 1])
    r = reshape_lax(demand, window, objective="own")
    np.testing.assert_allclose(apply_flows(demand, r.flows), r.demand)


def instance_of(demand, servers=(ServerType("s", (4.0, 64.0), 100.0),)):
    n_g, n_t, _ = demand.shape
    return PackingInstance(tuple(f"g{i}" for i in range(n_g)), tuple(f"t{t}" for t in range(n_t)),
                           ("cpu_cores", "memory_gb"), demand, servers)


def one_worker(instance):
    return pd.DataFrame({"group_id": list(instance.group_ids), "shard": 0, "fraction": 1.0,
                         "worker_id": "w0", "server_type": "s"})


def test_verifier_checks_a_reshaped_instance_against_arrival_deadline_conservation_and_strictness():
    demand = daily(3, seed=4)
    window = np.array([0, 3, 2])
    shaped, _ = defer_before_packing(instance_of(demand, (ServerType("s", (100.0, 1000.0), 1.0),)), window, "joint")
    assign = one_worker(shaped)
    assert find_violations(shaped, assign) == []

    def tampered(change):
        d = np.array(shaped.demand)
        change(d)
        return dataclasses.replace(shaped, demand=d)

    def families(inst):
        return {v.family for v in find_violations(inst, assign)}

    early = tampered(lambda d: (d.__setitem__((1, 0, 0), d[1, 0, 0] + 0.5), d.__setitem__((1, 5, 0), d[1, 5, 0] - 0.5)))
    assert "deferral_arrival" in families(early)
    late = np.array(shaped.demand)
    late[2, :, 0] = 0.0
    late[2, -1, 0] = demand[2, :, 0].sum()  # everything at the very end: too late and above the peak
    fam = families(dataclasses.replace(shaped, demand=late))
    assert {"deferral_deadline", "deferral_peak"} <= fam
    assert "deferral_conservation" in families(tampered(lambda d: d.__setitem__((1, 7, 1), d[1, 7, 1] * 0.5)))
    assert "deferral_strict" in families(tampered(lambda d: d.__setitem__((0, 3, 0), d[0, 3, 0] + 0.1)))


def test_deferral_lets_one_server_hold_what_needed_two():
    # Two groups peak together at slot 2 (3 + 3 cores on 4-core servers); the lax one may wait 3 slots.
    strict = np.array([1.0, 1.0, 3.0, 1.0, 0.5, 0.5, 0.5, 0.5])
    lax = np.array([0.5, 0.5, 3.0, 0.5, 0.0, 0.0, 0.0, 0.0])
    demand = np.stack([np.stack([strict, strict], axis=1), np.stack([lax, lax], axis=1)])
    inst = instance_of(demand)
    assert find_violations(inst, one_worker(inst))  # 6 cores at slot 2 do not fit
    shaped, _ = defer_before_packing(inst, np.array([0, 3]), "joint")
    assert shaped.demand.sum(axis=0)[:, 0].max() <= 4.0 + 1e-9
    assert find_violations(shaped, one_worker(shaped)) == []


def test_per_worker_pass_keeps_every_worker_within_capacity_and_leaves_shards_alone():
    demand = daily(4, seed=5, phase=12.0)
    servers = (ServerType("s", (6.0, 60.0), 1.0),)
    inst = dataclasses.replace(instance_of(demand, servers), min_shards=np.array([1, 1, 2, 1]))
    assign = pd.DataFrame({"group_id": ["g0", "g1", "g2", "g2", "g3"], "shard": [0, 0, 0, 1, 0],
                           "fraction": [1.0, 1.0, 0.5, 0.5, 1.0], "worker_id": ["a", "a", "a", "b", "b"],
                           "server_type": "s"})
    window = np.array([0, 4, 4, 4])
    shaped, flows = defer_per_worker(inst, assign, window)
    assert flows[2] is None  # sharded: its shards share one shape
    np.testing.assert_array_equal(shaped.demand[2], demand[2])
    before = {v.key[0] for v in find_violations(inst, assign) if v.family == "capacity"}
    after = {v.key[0] for v in find_violations(shaped, assign) if v.family == "capacity"}
    assert after <= before


# ---------------------------------------------------------------- deadline classes and bad input

def catalog(**extra):
    cat = pd.DataFrame({C.UNIQUE_ID: ["f1", "f2", "f3", "f4"], C.APP: ["a", "a", "b", "c"],
                        C.CUSTOMER: ["x", "x", "y", "z"], C.CPU_MILLICORES: 500.0, C.MEMORY_MB: 256.0,
                        C.DURATION_S: [0.5, 1.0, 30.0, 2.0], C.TRIGGER: ["queue", "http", "timer", "event"],
                        C.GROUP_ID: ["a", "a", "b", "c"]})
    return cat.assign(**extra)


def test_groups_take_the_strictest_class_and_windows_leave_room_for_the_duration():
    t = deadline_table(catalog(), DeferralSpec(enabled=True)).set_index(C.GROUP_ID)
    assert t.loc["a", "deadline_class"] == "strict" and t.loc["a", "window_slots"] == 0  # http inside
    assert t.loc["b", "deadline_class"] == "lax" and t.loc["b", "window_slots"] == 3  # 4 h - 30 s -> 3 slots
    for hours, slots in ((1, 0), (12, 11)):
        spec = DeferralSpec(enabled=True, classes={"lax": hours})
        assert deadline_table(catalog(), spec).set_index(C.GROUP_ID).loc["c", "window_slots"] == slots


def test_customer_and_catalog_overrides():
    spec = DeferralSpec(enabled=True, classes={"batch": 12}, customers={"z": "strict"})
    t = deadline_table(catalog(deadline=[None, "batch", None, None]), spec).set_index(C.GROUP_ID)
    assert t.loc["a", "deadline_class"] == "lax"  # the http function's catalog class is batch (12 h)
    assert t.loc["c", "deadline_class"] == "strict"  # the customer's override wins over the trigger


def test_a_class_unknown_to_the_scenario_is_an_error_naming_the_row():
    with pytest.raises(InputDataError, match=r"row 4, column 'deadline'.*'overnight'.*not defined"):
        deadline_table(catalog(deadline=[None, None, "overnight", None]), DeferralSpec(enabled=True), path="cat.csv")
    with pytest.raises(ValueError, match=r"customers\.y: deadline class 'overnight' is not defined"):
        Scenario(deferral={"customers": {"y": "overnight"}})


def test_a_missing_or_too_long_duration_makes_the_deadline_uncomputable():
    with pytest.raises(InputDataError, match=r"'f3'.*has no duration"):
        deadline_table(catalog(**{C.DURATION_S: [0.5, 1.0, np.nan, 2.0]}), DeferralSpec(enabled=True))
    with pytest.raises(InputDataError, match=r"'f4' runs 7200 s, longer than its 1-hour deadline"):
        deadline_table(catalog(**{C.DURATION_S: [0.5, 1.0, 1.0, 7200.0]}), DeferralSpec(enabled=True, classes={"lax": 1}))


def test_scenario_deadline_fields_are_validated(tmp_path):
    from planner.scenarios import load_scenario

    p = tmp_path / "s.yaml"
    p.write_text("deferral: {enabled: true, classes: {lax: -2}}\n")
    with pytest.raises(ScenarioError, match=r"deferral\.classes: .*hours in \[0, 168\]"):
        load_scenario(p)
    p.write_text("deferral: {enabled: true, classes: {lax: 12}, triggers: {http: lax}}\n")
    s = load_scenario(p).deferral
    assert s.classes == {"strict": 0.0, "lax": 12.0} and s.triggers["http"] == "lax" and s.triggers["queue"] == "lax"
