"""The Huawei reader on the real dc4 trace, and Little's law on hand-checked rows."""

import math

import numpy as np
import pandas as pd
import pytest

from planner import columns as C
from planner.catalog import DEFAULT_DURATION_S
from planner.demand import resource_demand
from planner.ingest import read_huawei


def test_reads_rows_functions_and_instance_sizes(huawei_path):
    tel, cat = read_huawei(huawei_path)
    assert tel.counts.shape == (8640, 8)
    assert tel.interval_s == 300
    assert tel.index[0] == pd.Timestamp("2016-07-01 00:00:00")
    assert tel.index[-1] == pd.Timestamp("2016-07-30 23:55:00")
    row = cat.set_index(C.UNIQUE_ID).loc["116---168---pool32-2600-3072"]
    assert (row[C.CPU_MILLICORES], row[C.MEMORY_MB], row[C.APP], row["pool"]) == (2600, 3072, "168", "pool32")
    assert sorted(cat[C.GROUP_ID].unique()) == ["128", "134", "168", "224", "346"]
    assert (cat[C.DURATION_S] == DEFAULT_DURATION_S).all()
    # First data row of the file, first column.
    assert tel.counts[0, 0] == 10949.0


def test_littles_law_on_hand_checked_rows(huawei_path):
    tel, cat = read_huawei(huawei_path, catalog=pd.DataFrame({
        C.UNIQUE_ID: ["296---224---pool22-300-128"], C.APP: ["224"], C.CUSTOMER: ["224"],
        C.CPU_MILLICORES: [300.0], C.MEMORY_MB: [128.0], C.DURATION_S: [0.5],
    }))
    fn = resource_demand(tel, cat, level="function")
    first_hour = fn[(fn[C.UNIQUE_ID] == "296---224---pool22-300-128") & (fn[C.DS] == "2016-07-01 00:00")].iloc[0]
    # 00:00-00:55 counts from the file; the peak interval is 00:40 with 56,225 requests.
    counts = np.array([10949, 17080, 28264, 34482, 37851, 33659, 37262, 53642, 56225, 44406, 44046, 45310])
    conc = counts / 300 * 0.5
    assert first_hour[C.INVOCATIONS] == counts.sum()
    assert first_hour[C.CONCURRENCY] == pytest.approx(56225 / 300 * 0.5, rel=1e-6)  # 93.708
    assert first_hour[C.CPU_CORES] == pytest.approx(93.7083 * 0.3, rel=1e-4)
    assert first_hour[C.MEMORY_GB] == pytest.approx(math.ceil(93.7083) * 128 / 1024)  # 94 instances
    assert first_hour[C.CPU_CORES_MEAN] == pytest.approx(conc.mean() * 0.3, rel=1e-5)
    assert first_hour[C.MEMORY_GB_MEAN] == pytest.approx(np.ceil(conc).mean() * 0.125, rel=1e-6)


def test_group_peak_is_peak_of_sum_not_sum_of_peaks(huawei_path):
    tel, cat = read_huawei(huawei_path)
    groups = resource_demand(tel, cat, level="group")
    funcs = resource_demand(tel, cat, level="function")
    g224 = groups[groups[C.GROUP_ID] == "224"].set_index(C.DS)[C.CPU_CORES]
    members = funcs[funcs[C.UNIQUE_ID].str.contains("---224---")]
    sum_of_peaks = members.groupby(C.DS)[C.CPU_CORES].sum()
    assert (g224 <= sum_of_peaks * (1 + 1e-5) + 1e-9).all()  # float32 sums
    assert (g224 < sum_of_peaks - 1e-6).any()
    # Invocations add up exactly.
    assert groups[C.INVOCATIONS].sum() == pytest.approx(tel.counts.sum(dtype="float64"))
    assert len(groups) == 5 * 720
