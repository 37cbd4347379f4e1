"""Every risk total is the correctly rounded sum of its contributions (planner.risk.sum_by): the
same bits whatever the rows' order and whichever pandas adds them (pandas 2 and 3 rounded the Plan
table's risk differently in its last bits)."""

import math

import numpy as np
import pandas as pd

from planner.risk import CONTRIBUTION_COLUMNS, aggregate_risk, exact_sum, overflow_vs_target, sum_by


def _contributions(seed=0, n=400):
    """Contributions as a pooled-risk plan makes them: Gaussian tails from 1e-30 to 1e-2 slot-hours."""
    rng = np.random.default_rng(seed)
    worker = rng.integers(0, 12, n)
    return pd.DataFrame({
        "week": rng.integers(0, 3, n), "pool": "default", "server_type": np.where(worker < 4, "c-32", "m-64"),
        "worker_id": [f"w{i}" for i in worker], "installed": True,
        "group_id": [f"g{i:03d}" for i in range(n)], "customer": [f"cust{i}" for i in rng.integers(0, 5, n)],
        "tier": rng.choice(["premium", "standard"], n),
        "risk": 10.0 ** rng.uniform(-30, -2, n) * rng.uniform(0.5, 1, n),
        "exposure": rng.uniform(0, 168, n), "breach": 10.0 ** rng.uniform(-10, 0, n),
    })[list(CONTRIBUTION_COLUMNS)]


def test_risk_totals_are_the_exact_sums_of_the_contributions():
    c = _contributions()
    risk = aggregate_risk(c)
    for (week, stype), v in risk.by_week_type.items():
        assert v == math.fsum(c.loc[(c["week"] == week) & (c["server_type"] == stype), "risk"])
    for cust, v in risk.by_customer.items():
        assert v == math.fsum(c.loc[c["customer"] == cust, "risk"])
    assert risk.by_tier == {t: math.fsum(part["risk"]) for t, part in c.groupby("tier")}
    assert risk.total == math.fsum(c["risk"])
    for r in risk.by_worker.itertuples():
        assert r.risk == math.fsum(c.loc[(c["week"] == r.week) & (c["worker_id"] == r.worker_id), "risk"])


def test_risk_totals_do_not_depend_on_the_rows_order():
    c = _contributions(seed=1)
    workers = c[["week", "worker_id"]].drop_duplicates().assign(slot_hours=168, overflow_probability=0.01,
                                                                overflow_risk=0.01)
    a = aggregate_risk(c, workers=workers)
    b = aggregate_risk(c.sample(frac=1.0, random_state=3).reset_index(drop=True), workers=workers)
    assert a.total == b.total and a.by_tier == b.by_tier
    pd.testing.assert_series_equal(a.by_week_type, b.by_week_type, check_exact=True)
    pd.testing.assert_series_equal(a.by_customer, b.by_customer, check_exact=True)
    pd.testing.assert_series_equal(a.breach_by_customer, b.breach_by_customer, check_exact=True)
    pd.testing.assert_frame_equal(overflow_vs_target(a, "server_type"), overflow_vs_target(b, "server_type"),
                                  check_exact=True)


def test_sum_by_is_groupby_sum_with_its_index_and_nan_rules():
    f = pd.DataFrame({"k": ["b", "a", "b", "c", None], "x": [1.0, 2.0, np.nan, np.nan, 5.0]})
    got = sum_by(f, "k", "x", min_count=1)["x"]
    pd.testing.assert_series_equal(got, f.groupby("k", sort=True)["x"].sum(min_count=1))
    assert sum_by(f, "k", "x")["x"].to_dict() == {"a": 2.0, "b": 1.0, "c": 0.0}
    assert exact_sum([1.0, 1e100, 1.0, -1e100]) == 2.0 and exact_sum([]) == 0.0
    assert math.isnan(exact_sum([np.nan], min_count=1))
