"""Keep-alive policies: warm memory, cold starts, the hybrid histogram, and bad windows."""

import numpy as np
import pandas as pd
import pytest

from models.keepalive import KeepAlivePolicy, lagged_max, parse_policy, policy_windows
from planner import columns as C
from planner.demand import resource_demand
from planner.keepalive import apply_warm, demand_with_keep_alive, warm_demand
from planner.telemetry import Telemetry


def trace(columns: dict, minutes=1440, freq="1min", memory_mb=1024.0, duration_s=0.5, apps=None):
    """Telemetry with one function per entry: the intervals (row numbers) where it is invoked once."""
    ids = list(columns)
    counts = np.zeros((minutes, len(ids)), dtype=np.float32)
    for j, rows in enumerate(columns.values()):
        counts[np.asarray(rows, dtype=int), j] += 1
    index = pd.date_range("2026-01-05", periods=minutes, freq=freq)
    tel = Telemetry(pd.DatetimeIndex(index, freq=freq), pd.Index(ids), counts)
    apps = apps or {f: f for f in ids}
    cat = pd.DataFrame({C.UNIQUE_ID: ids, C.APP: [apps[f] for f in ids], C.CUSTOMER: ["c" if i % 2 == 0 else "d" for i in range(len(ids))],
                        C.CPU_MILLICORES: 1000.0, C.MEMORY_MB: memory_mb, C.DURATION_S: duration_s,
                        C.GROUP_ID: [apps[f] for f in ids]})
    return tel, cat


def test_hourly_function_with_ten_minute_keep_alive_holds_memory_ten_minutes_and_always_cold_starts():
    tel, cat = trace({"f": range(0, 1440, 60)})
    w = warm_demand(tel, cat, "fixed:10")
    app = w.apps.iloc[0]
    assert app["invocations"] == 24 and app["cold_starts"] == 24
    assert app["warm_gb_hours"] == pytest.approx(24 * 10 / 60 * 1.0)  # 1 GB for 10 min of each hour
    # Memory at minute level: resident in minutes 0..9 of each hour, never in 10..59.
    frames, _ = demand_with_keep_alive(tel, cat, "fixed:10", slot="1min", levels=("group",))
    mem = frames["group"][C.MEMORY_GB].to_numpy().reshape(24, 60)
    assert (mem[:, :10] == 1.0).all() and (mem[:, 10:] == 0.0).all()


def test_a_61_minute_window_never_cold_starts_after_the_first_call_and_60_is_not_enough():
    tel, cat = trace({"f": range(0, 1440, 60)})
    assert warm_demand(tel, cat, "fixed:61").apps["cold_starts"].iloc[0] == 1
    assert warm_demand(tel, cat, "fixed:60").apps["cold_starts"].iloc[0] == 24


def test_none_keeps_todays_memory_and_every_invocation_is_cold():
    rng = np.random.default_rng(1)
    tel, cat = trace({"f": rng.choice(1440, 300, replace=False), "g": rng.choice(1440, 50, replace=False)},
                     duration_s=90.0)
    frames, w = demand_with_keep_alive(tel, cat, "none", levels=("group",))
    pd.testing.assert_frame_equal(frames["group"], resource_demand(tel, cat))
    assert w.cold_start_rate == 1.0
    # Recomputed by the keep-alive path, memory agrees with planner/demand.py exactly.
    np.testing.assert_allclose(apply_warm(frames["group"], w)[C.MEMORY_GB], frames["group"][C.MEMORY_GB])


def test_longer_windows_hold_more_memory_and_leave_fewer_cold_starts():
    rng = np.random.default_rng(2)
    tel, cat = trace({"f": rng.choice(1440, 120, replace=False), "g": rng.choice(1440, 20, replace=False)})
    runs = [warm_demand(tel, cat, p) for p in ("fixed:5", "fixed:10", "fixed:20")]
    gbh = [w.apps["warm_gb_hours"].sum() for w in runs]
    cold = [w.apps["cold_starts"].sum() for w in runs]
    assert gbh[0] < gbh[1] < gbh[2] and cold[0] > cold[1] > cold[2]


def test_hybrid_learns_a_planted_periodic_idle_time():
    # Every 30 minutes with a minute of jitter, for four days: pre-warm just before the next call.
    rng = np.random.default_rng(3)
    calls = np.arange(0, 4 * 1440 - 40, 30) + rng.integers(-1, 2, size=len(range(0, 4 * 1440 - 40, 30)))
    tel, cat = trace({"f": np.clip(calls, 0, None)}, minutes=4 * 1440)
    hyb = warm_demand(tel, cat, "hybrid")
    app = hyb.apps.iloc[0]
    assert app["pattern"] == "histogram"
    assert 25 <= app["prewarm_min"] <= 29 and app["keepalive_min"] <= 12
    assert app["cold_starts"] == 1  # only the very first call
    fixed = warm_demand(tel, cat, "fixed:33")  # the shortest fixed window without cold starts
    assert fixed.apps["cold_starts"].iloc[0] == 1
    assert app["warm_gb_hours"] < 0.5 * fixed.apps["warm_gb_hours"].iloc[0]
    assert warm_demand(tel, cat, "fixed:10").apps["cold_starts"].iloc[0] == len(calls)


def test_hybrid_falls_back_for_apps_with_too_few_idle_periods_and_says_so():
    tel, cat = trace({"rare": [100, 700, 1300], "busy": np.arange(0, 1440, 2)})
    w = warm_demand(tel, cat, "hybrid")
    rare = w.apps.set_index(C.APP).loc["rare"]
    assert rare["pattern"] == "few_idle" and rare["keepalive_min"] == 240  # the whole histogram range
    assert w.summary()["fallbacks"] == {"few_idle": 1}


def test_hybrid_uses_the_typical_gap_when_most_gaps_are_beyond_the_range():
    tel, cat = trace({"daily": np.arange(0, 7 * 1440, 1440) + 5}, minutes=7 * 1440)
    w = policy_windows(tel.counts > 0, 1.0, KeepAlivePolicy(kind="hybrid", min_idle_periods=3))
    assert w.pattern[0] == "out_of_range"
    assert w.lo[0] == int(1440 * 0.85) and w.hi[0] == int(np.ceil(1440 * 1.15))
    # With the default minimum of idle periods, six gaps are too few to learn from.
    assert warm_demand(tel, cat, "hybrid").apps["pattern"].iloc[0] == "few_idle"


def test_apps_share_instances_and_cold_starts_roll_up_per_customer():
    # Two functions of one app alternate minutes: under fixed:2 the app's instance serves both.
    tel, cat = trace({"f1": range(0, 600, 2), "f2": range(1, 600, 2)}, apps={"f1": "a", "f2": "a"})
    w = warm_demand(tel, cat, "fixed:2")
    assert len(w.apps) == 1 and w.apps["cold_starts"].iloc[0] == 1
    per = w.customers()
    assert per.set_index(C.CUSTOMER).loc["c", "cold_starts"] == 1


def test_idle_instances_reserve_the_stated_share_of_cpu():
    tel, cat = trace({"f": range(0, 1440, 60)}, duration_s=6.0)
    plain, _ = demand_with_keep_alive(tel, cat, "fixed:10", slot="1min", levels=("group",))
    reserved, _ = demand_with_keep_alive(tel, cat, "fixed:10", slot="1min", levels=("group",), idle_cpu_share=0.25)
    cpu0 = plain["group"][C.CPU_CORES].to_numpy().reshape(24, 60)
    cpu1 = reserved["group"][C.CPU_CORES].to_numpy().reshape(24, 60)
    np.testing.assert_allclose(cpu1[:, 0], cpu0[:, 0], rtol=1e-6)  # busy minute: 0.1 core of work
    np.testing.assert_allclose(cpu1[:, 1:10], 0.25, rtol=1e-6)  # idle warm minutes: a quarter core
    assert (cpu1[:, 10:] == 0).all()


def test_lagged_max_matches_a_direct_loop():
    rng = np.random.default_rng(4)
    x = rng.integers(0, 5, size=(200, 6)).astype(np.float32) * (rng.random((200, 6)) < 0.2)
    lo, hi = np.array([1, 1, 3, 5, 2, 4]), np.array([0, 7, 9, 5, 30, 2])
    got = lagged_max(x, lo, hi)
    for u in range(6):
        for t in range(200):
            s = [x[t - d, u] for d in range(lo[u], hi[u] + 1) if t - d >= 0]
            assert got[t, u] == (max(s) if s else 0.0)


@pytest.mark.parametrize("text, message", [
    ("fixed:-5", "positive number of minutes"),
    ("fixed:0", "positive number of minutes"),
    ("fixed:5000", "longer than a day"),
    ("fixed:abc", "not understood"),
    ("forever", "not understood"),
])
def test_bad_windows_are_refused_with_the_reason(text, message):
    with pytest.raises(ValueError, match=message):
        parse_policy(text)


def test_a_window_finer_than_the_trace_is_an_error_naming_the_interval():
    tel, cat = trace({"f": range(0, 288, 12)}, minutes=288, freq="5min")
    with pytest.raises(ValueError, match="5-min intervals.*too coarse"):
        warm_demand(tel, cat, "fixed:1")
    with pytest.raises(ValueError, match="multiple of 5 min"):
        warm_demand(tel, cat, "fixed:7")
    assert warm_demand(tel, cat, "fixed:10").apps["keepalive_min"].iloc[0] == 10


def shared_groups_fleet():
    """A small synthetic fleet whose groups hold several apps of several functions (a customer's)."""
    from planner.synth import SynthSpec, make_fleet

    fleet = make_fleet(SynthSpec(n_functions=150, days=14, seed=5, interval="5min"))
    cat = fleet.catalog.copy()
    cat[C.GROUP_ID] = cat[C.CUSTOMER]
    return fleet.telemetry(), cat


@pytest.mark.parametrize("policy, idle, quantile", [("none", 0.0, None), ("fixed:20", 0.25, None),
                                                     ("hybrid", 0.0, None), ("hybrid", 0.25, 0.9)])
def test_blocks_of_groups_give_the_one_shot_derivation_bit_for_bit(policy, idle, quantile, monkeypatch):
    import planner.keepalive as ka

    tel, cat = shared_groups_fleet()
    apps_per_group = cat.groupby(C.GROUP_ID)[C.APP].nunique()
    assert apps_per_group.max() >= 3 and (cat.groupby(C.APP).size() > 1).any()
    blocks = []
    windows = ka.policy_windows
    monkeypatch.setattr(ka, "policy_windows", lambda active, *a: blocks.append(active.shape[1]) or windows(active, *a))
    one = warm_demand(tel, cat, policy, idle_cpu_share=idle, peak_quantile=quantile, block_bytes=10**15)
    assert len(blocks) == 1
    n_rows = len(tel.index)
    # ~20 functions a block: boundaries fall inside customers' runs of functions, so the blocks
    # must close at a group's end; 1 byte: every group a block of its own.
    for block_bytes in (20 * ka.WARM_BYTES_PER_CELL * n_rows, 1):
        blocks.clear()
        w = warm_demand(tel, cat, policy, idle_cpu_share=idle, peak_quantile=quantile, block_bytes=block_bytes)
        assert len(blocks) > 3 and sum(blocks) == len(one.apps)  # every unit in exactly one block
        for name in ("memory_gb", "memory_gb_mean", "cpu_cores", "cpu_cores_mean"):
            a, b = getattr(w, name), getattr(one, name)
            if idle == 0 and name.startswith("cpu"):
                assert a is None and b is None
                continue
            assert a.dtype == b.dtype == np.float64 and a.shape == b.shape == (len(w.groups), len(w.slots))
            assert a.tobytes() == b.tobytes(), name
        pd.testing.assert_frame_equal(w.apps, one.apps, check_exact=True)
        assert not w.apps.duplicated([C.GROUP_ID, C.APP]).any()  # no app split between blocks
    assert len(blocks) == cat[C.GROUP_ID].nunique()


def test_the_group_table_holds_the_warm_matrices_without_a_copy_and_refuses_writes():
    tel, cat = shared_groups_fleet()
    frames, w = demand_with_keep_alive(tel, cat, "fixed:20", levels=("group",), idle_cpu_share=0.25)
    g = frames["group"]
    for col, m in ((C.MEMORY_GB, w.memory_gb), (C.CPU_CORES_MEAN, w.cpu_cores_mean)):
        assert np.shares_memory(g[col].to_numpy(), m)
        np.testing.assert_array_equal(g[col].to_numpy(), m.reshape(-1))
    with pytest.raises(ValueError, match="read-only"):
        g.loc[0, C.MEMORY_GB] = 1.0  # would change the warm demand too: refused, not silent
    assert g[C.MEMORY_GB].iloc[0] == w.memory_gb[0, 0]


@pytest.mark.parametrize("policy, idle", [("none", 0.0), ("fixed:20", 0.25)])
def test_without_matrices_the_same_tables_and_apps_and_no_group_by_slot_arrays(policy, idle):
    tel, cat = shared_groups_fleet()
    frames, full = demand_with_keep_alive(tel, cat, policy, idle_cpu_share=idle, levels=("group",))
    frames_cut, cut = demand_with_keep_alive(tel, cat, policy, idle_cpu_share=idle, levels=("group",), matrices=False)
    pd.testing.assert_frame_equal(frames_cut["group"], frames["group"], check_exact=True)
    pd.testing.assert_frame_equal(cut.apps, full.apps, check_exact=True)
    assert cut.summary() == full.summary() and len(cut.slots) == 0
    expected = full.without_matrices()
    for name in ("memory_gb", "memory_gb_mean", "cpu_cores", "cpu_cores_mean"):
        a, b = getattr(cut, name), getattr(expected, name)
        assert (a is None) == (b is None) == (idle == 0 and name.startswith("cpu"))
        if a is not None:
            assert a.shape == b.shape == (len(full.groups), 0) and a.dtype == b.dtype
