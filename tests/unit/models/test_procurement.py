"""Tests of the multi-week purchase MILP (models/procurement.py)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from models.procurement import (
    MONTHS_PER_WEEK,
    ProcurementOptions,
    ProcurementProblem,
    ProcurementStatus,
    solve_procurement,
)

N_WEEKS = 8


def _servers(**overrides) -> pd.DataFrame:
    base = {
        "type": ["m-large", "m-small", "g-big"],
        "pool": ["pool-a", "pool-a", "pool-b"],
        "cost_per_month": [1000.0, 300.0, 2500.0],
        "lead_time_weeks": [2, 0, 1],
        "granularity": [4, 1, 2],
        "max_count": [None, 40, 10],
        "cpu_cores": [64.0, 16.0, 96.0],
        "memory_gb": [256.0, 64.0, 768.0],
    }
    base.update(overrides)
    return pd.DataFrame(base)


def _required(scale: float = 1.0, extra: int = 0) -> pd.DataFrame:
    rows = []
    for w in range(N_WEEKS):
        rows.append((w, "pool-a", "m-large", round(scale * (2 + w)) + extra))
        rows.append((w, "pool-a", "m-small", round(scale * 3)))
        rows.append((w, "pool-b", "g-big", round(scale * (1 + w // 3))))
    return pd.DataFrame(rows, columns=["week", "pool", "server_type", "required"])


def _initial() -> pd.DataFrame:
    return pd.DataFrame({"pool": ["pool-a", "pool-b"], "server_type": ["m-large", "g-big"], "installed": [2, 1]})


def _solve(required=None, servers=None, initial="default", **kwargs):
    problem = ProcurementProblem(
        servers=_servers() if servers is None else servers,
        required=_required() if required is None else required,
        initial=_initial() if isinstance(initial, str) else initial,
        n_weeks=N_WEEKS,
        **kwargs,
    )
    return solve_procurement(problem, ProcurementOptions(time_limit_s=20))


@pytest.fixture(scope="module")
def base_result():
    return _solve()


def test_covers_everything_it_can_and_reports_the_rest(base_result):
    r = base_result
    assert r.status is ProcurementStatus.OPTIMAL
    inst = r.installed.set_index(["week", "pool", "server_type"])
    short = r.shortfall.set_index(["week", "pool", "server_type"])["shortfall"]
    for key, row in inst.iterrows():
        gap = max(0.0, row["required"] - row["installed"])
        assert short.get(key, 0.0) == pytest.approx(gap, abs=1e-6)
    # m-large needs 3 servers in week 1 but has 2 and a two-week lead time: a reported shortfall
    assert short[(1, "pool-a", "m-large")] == pytest.approx(1.0)
    assert r.shortfall.set_index(["week", "pool", "server_type"]).loc[(1, "pool-a", "m-large"), "constraint"] == (
        "cover[w01,pool-a,m-large]"
    )
    assert any("arrive only in week 2" in m for m in r.messages)


def test_lead_times_honoured(base_result):
    servers = _servers().set_index(["pool", "type"])
    for row in base_result.purchases.itertuples():
        lead = servers.loc[(row.pool, row.server_type), "lead_time_weeks"]
        assert row.arrives_week == row.week + lead
        assert row.arrives_week < N_WEEKS
        assert row.week >= 0
    # nothing arrives before its lead time, so week-0/1 m-large = the initial fleet
    inst = base_result.installed.set_index(["week", "pool", "server_type"])["installed"]
    assert inst[(0, "pool-a", "m-large")] == 2 and inst[(1, "pool-a", "m-large")] == 2


def test_granularity_and_max_count_honoured(base_result):
    gran = _servers().set_index("type")["granularity"]
    assert not base_result.purchases.empty
    for row in base_result.purchases.itertuples():
        assert row.purchased % gran[row.server_type] == 0
    last = base_result.installed[base_result.installed["week"] == N_WEEKS - 1].set_index("server_type")
    assert last.loc["g-big", "installed"] <= 10


def test_max_count_caps_the_fleet_and_reports_shortfall():
    servers = _servers(max_count=[None, 2, 10])
    r = _solve(servers=servers, initial=None)
    small = r.installed[r.installed["server_type"] == "m-small"]
    assert small["installed"].max() == 2
    short = r.shortfall[r.shortfall["server_type"] == "m-small"]
    assert sorted(short["week"]) == list(range(N_WEEKS))
    assert short["shortfall"].tolist() == pytest.approx([1.0] * N_WEEKS)
    assert any("max_count" in m for m in r.messages)


def test_nullable_integer_max_count_and_extra_columns_are_accepted():
    servers = _servers(max_count=pd.array([pd.NA, 2, 10], dtype="Int64")).assign(initial=0, note="x")
    r = _solve(servers=servers, initial=None)
    assert r.installed[r.installed["server_type"] == "m-small"]["installed"].max() == 2


def test_never_decommissions(base_result):
    for _, part in base_result.installed.groupby(["pool", "server_type"]):
        assert part.sort_values("week")["installed"].diff().dropna().ge(0).all()
    # falling demand keeps the fleet
    req = _required()
    req.loc[req["server_type"] == "m-large", "required"] = [9, 9, 9, 9, 2, 2, 2, 2]
    r = _solve(required=req, initial=None)
    large = r.installed[r.installed["server_type"] == "m-large"].sort_values("week")["installed"].tolist()
    assert large == sorted(large) and large[-1] >= 9


def test_costs_add_up(base_result):
    r = base_result
    assert r.installed["cost"].sum() == pytest.approx(r.total_cost)
    assert r.purchases["cost"].sum() == pytest.approx(r.purchase_cost)
    # one m-small bought in week 0 (lead 0) runs the whole horizon
    expected = 300.0 * MONTHS_PER_WEEK * N_WEEKS
    small = r.purchases[(r.purchases["server_type"] == "m-small") & (r.purchases["week"] == 0)]
    assert small["cost"].iloc[0] / small["purchased"].iloc[0] == pytest.approx(expected)


def test_budget_cap_creates_reported_shortfall(base_result):
    budget = base_result.total_cost * 0.8
    r = _solve(budget=budget)
    assert r.status is ProcurementStatus.OPTIMAL
    assert r.total_cost <= budget + 1e-6
    assert r.shortfall["shortfall"].sum() > base_result.shortfall["shortfall"].sum() + 0.5
    assert any("budget" in m for m in r.messages)


def test_budget_below_initial_fleet_allows_no_purchase():
    r = _solve(budget=1.0)
    assert r.purchases.empty
    assert r.has_shortfall
    assert any("no purchase is possible" in m for m in r.messages)


@pytest.mark.parametrize("substitution", ["none", "capacity"])
def test_more_requirement_never_costs_less(substitution):
    costs, objectives = [], []
    for extra in (0, 1, 3, 6):
        r = _solve(required=_required(extra=extra), substitution=substitution)
        assert r.status is ProcurementStatus.OPTIMAL
        costs.append(r.total_cost)
        objectives.append(r.objective)
    assert objectives == sorted(objectives)
    assert costs == sorted(costs)


def test_capacity_substitution_is_never_dearer_and_covers_capacity():
    strict = _solve(initial=None)
    loose = _solve(initial=None, substitution="capacity")
    assert loose.objective <= strict.objective + 1e-6
    caps = _servers().set_index("type")[["cpu_cores", "memory_gb"]]
    inst = loose.installed.join(caps, on="server_type")
    for col in ("cpu_cores", "memory_gb"):
        inst[f"have_{col}"] = inst["installed"] * inst[col]
        inst[f"need_{col}"] = inst["required"] * inst[col]
    pooled = inst.groupby(["week", "pool"])[[c for c in inst.columns if c.startswith(("have_", "need_"))]].sum()
    short = loose.shortfall.groupby(["week", "pool", "resource"])["shortfall"].sum()
    for (week, pool), row in pooled.iterrows():
        for col in ("cpu_cores", "memory_gb"):
            missing = max(0.0, row[f"need_{col}"] - row[f"have_{col}"])
            assert short.get((week, pool, col), 0.0) == pytest.approx(missing, abs=1e-6)
    assert set(loose.shortfall["server_type"]) <= {"*"}


def test_deterministic(base_result):
    again = _solve()
    pd.testing.assert_frame_equal(again.purchases, base_result.purchases)
    pd.testing.assert_frame_equal(again.installed, base_result.installed)
    pd.testing.assert_frame_equal(again.shortfall, base_result.shortfall)
    assert again.objective == base_result.objective


def test_cbc_backend_agrees(base_result):
    r = solve_procurement(
        ProcurementProblem(_servers(), _required(), _initial(), n_weeks=N_WEEKS),
        ProcurementOptions(backend="cbc", time_limit_s=20),
    )
    assert r.status is ProcurementStatus.OPTIMAL
    assert r.objective == pytest.approx(base_result.objective, rel=1e-6)


def test_lead_time_beyond_horizon_means_shortfall_every_week():
    servers = _servers(lead_time_weeks=[N_WEEKS, 0, 0])
    r = _solve(servers=servers, initial=None)
    assert r.status is ProcurementStatus.OPTIMAL
    large = r.shortfall[r.shortfall["server_type"] == "m-large"]
    assert sorted(large["week"]) == list(range(N_WEEKS))
    assert "m-large" not in set(r.purchases["server_type"])


def test_nothing_to_buy_is_optimal_and_empty():
    req = _required().assign(required=0)
    r = _solve(required=req)
    assert r.status is ProcurementStatus.OPTIMAL
    assert r.purchases.empty and r.shortfall.empty
    assert r.total_cost == pytest.approx(r.installed["cost"].sum())


def test_bad_input_names_the_row():
    bad = _required()
    bad.loc[4, "server_type"] = "nope"
    with pytest.raises(ValueError, match=r"required row 4: .*'nope'"):
        _solve(required=bad)
    with pytest.raises(ValueError, match="missing column"):
        _solve(servers=_servers().drop(columns="cost_per_month"))
    with pytest.raises(ValueError, match="granularity"):
        _solve(servers=_servers(granularity=[0, 1, 1]))
    with pytest.raises(ValueError, match="backend"):
        ProcurementOptions(backend="gurobi")


def _hard_instance():
    """24 types in 3 pools with mixed lead times and granularities: a knapsack under a budget."""
    rng = np.random.default_rng(0)
    servers, required = [], []
    for p in range(3):
        for t in range(8):
            servers.append(
                {"type": f"t{t}", "pool": f"p{p}", "cost_per_month": float(rng.integers(200, 3000)),
                 "lead_time_weeks": int(rng.integers(0, 5)), "granularity": int(rng.choice([1, 2, 4, 8])),
                 "cpu_cores": float(rng.choice([16, 32, 64, 96])), "memory_gb": float(rng.choice([64, 128, 256, 768]))}
            )
            base = rng.integers(0, 20)
            required += [(w, f"p{p}", f"t{t}", int(base + w * rng.random() * 2)) for w in range(13)]
    return pd.DataFrame(servers), pd.DataFrame(required, columns=["week", "pool", "server_type", "required"])


def test_time_limit_still_gives_a_plan_within_budget():
    servers, required = _hard_instance()
    problem = ProcurementProblem(servers, required, None, n_weeks=13, budget=2e5, substitution="capacity")
    r = solve_procurement(problem, ProcurementOptions(time_limit_s=2))
    assert r.status in (ProcurementStatus.OPTIMAL, ProcurementStatus.FEASIBLE)
    assert not r.purchases.empty and r.has_shortfall
    assert r.total_cost <= 2e5 + 1e-6
    assert r.runtime_s < 6
    if r.status is ProcurementStatus.FEASIBLE:
        assert any("time limit" in m for m in r.messages)


def test_budget_lexicographic_is_exact_on_a_larger_instance():
    servers, required = _hard_instance()
    free = solve_procurement(ProcurementProblem(servers, required, None, n_weeks=13))
    capped = solve_procurement(ProcurementProblem(servers, required, None, n_weeks=13, budget=1e6))
    assert free.status is capped.status is ProcurementStatus.OPTIMAL
    assert capped.total_cost <= 1e6 + 1e-6 < free.total_cost
    assert capped.shortfall["shortfall"].sum() > free.shortfall["shortfall"].sum()
