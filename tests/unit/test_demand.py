"""Demand aggregation: the fast per-function path agrees with the general one, slots are aligned,
partial slots keep honest means."""

import numpy as np
import pandas as pd
import pytest

from planner import columns as C
from planner.demand import resource_demand, resource_demand_levels, slot_factor
from planner.telemetry import Telemetry


def small(start="2026-01-01 00:30", n=30, seed=0):
    rng = np.random.default_rng(seed)
    index = pd.date_range(start, periods=n, freq="15min")
    counts = rng.poisson(rng.uniform(1, 400, 4), size=(n, 4)).astype(np.float32)
    tel = Telemetry(pd.DatetimeIndex(index, freq="15min"), pd.Index(["a", "b", "c", "d"]), counts)
    cat = pd.DataFrame({C.UNIQUE_ID: list("abcd"), C.APP: ["x", "x", "y", "y"], C.CUSTOMER: ["p", "p", "q", "q"],
                        C.CPU_MILLICORES: [300.0, 1000, 500, 2600], C.MEMORY_MB: [128.0, 512, 256, 3072],
                        C.DURATION_S: [0.2, 3.0, 1.5, 40.0], C.GROUP_ID: ["x", "x", "y", "y"]})
    return tel, cat


def test_fast_function_path_equals_quantile_one_path():
    tel, cat = small()
    fast = resource_demand(tel, cat, level="function")
    general = resource_demand(tel, cat, level="function", peak_quantile=1.0)
    for col in (C.INVOCATIONS, C.CONCURRENCY, C.CPU_CORES, C.MEMORY_GB, C.CPU_CORES_MEAN, C.MEMORY_GB_MEAN):
        np.testing.assert_allclose(fast[col], general[col], rtol=1e-5, err_msg=col)


def test_slots_align_to_the_hour_and_partial_slots_average_what_is_there():
    tel, cat = small()
    d = resource_demand(tel, cat, level="function")
    a = d[d[C.UNIQUE_ID] == "a"].reset_index(drop=True)
    assert a[C.DS].iloc[0] == pd.Timestamp("2026-01-01 00:00")
    # First slot holds the 00:30 and 00:45 intervals only.
    conc = tel.counts[:2, 0] / 900 * 0.2
    assert a[C.CPU_CORES_MEAN].iloc[0] == pytest.approx(conc.mean() * 0.3, rel=1e-5)
    assert a[C.INVOCATIONS].iloc[0] == tel.counts[:2, 0].sum()
    assert len(a) == 8  # 00:00 ... 07:00


def test_levels_in_one_pass_equal_separate_calls():
    tel, cat = small(seed=3)
    both = resource_demand_levels(tel, cat)
    pd.testing.assert_frame_equal(both["group"], resource_demand(tel, cat, level="group"))
    g = both["group"].set_index([C.GROUP_ID, C.DS])
    f = both["function"].merge(cat[[C.UNIQUE_ID, C.GROUP_ID]]).groupby([C.GROUP_ID, C.DS])
    np.testing.assert_allclose(g[C.INVOCATIONS], f[C.INVOCATIONS].sum(), rtol=1e-6)
    np.testing.assert_allclose(g[C.CPU_CORES_MEAN], f[C.CPU_CORES_MEAN].sum(), rtol=1e-5)


def test_slot_must_be_a_multiple_of_the_interval():
    tel, _ = small()
    assert slot_factor(tel, "1h") == 4
    with pytest.raises(ValueError, match="whole multiple"):
        slot_factor(tel, "20min")
