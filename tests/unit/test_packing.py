"""planner.packing / qos / servers: tables in, PackingInstance and verified tables out."""

import numpy as np
import pandas as pd
import pytest

from models.packing.verify import find_violations
from planner.errors import InfeasiblePlanError, InputDataError
from planner.packing import solve, summary, to_packing_instance, workers_frame
from planner.qos import DEFAULT_TIERS, Tier, tiers_frame, tiers_from_frame
from planner.servers import default_servers, load_servers, server_types

DS = pd.date_range("2027-01-04", periods=6, freq="h")


def _demand(n=4, scale=4.0):
    rows = []
    for g in range(n):
        for t, d in enumerate(DS):
            c = scale * (1.5 + np.cos(2 * np.pi * (t - 3 * g) / 6))
            rows.append((f"g{g}", d, c, 4 * c))
    return pd.DataFrame(rows, columns=["group_id", "ds", "cpu_cores", "memory_gb"])


def _forecast(demand):
    long = demand.melt(id_vars=["group_id", "ds"], var_name="resource", value_name="mean")
    long = long.rename(columns={"group_id": "unique_id"})
    for i, q in enumerate(("q50", "q90", "q95", "q99")):
        long[q] = long["mean"] * (1 + 0.1 * i)
    return long


def _groups():
    return pd.DataFrame({"group_id": ["g0", "g1", "g2", "g3"], "customer": ["a", "a", "b", "c"],
                         "tier": ["premium", "premium", "standard", "dedicated"]})


def test_resource_demand_table_becomes_an_instance():
    inst = to_packing_instance(_demand(), _groups())
    assert inst.group_ids == ("g0", "g1", "g2", "g3")
    assert inst.slots[0] == "2027-01-04T00:00" and inst.demand.shape == (4, 6, 2)
    assert list(inst.headroom) == [0.2, 0.2, 0.1, 0.2]
    assert inst.isolation == (None, None, None, "c") and list(inst.spread) == [2, 2, 1, 1]


STACKED = {name: Tier(name, q, t.headroom, t.spread, t.isolated)
           for (name, t), q in zip(DEFAULT_TIERS.items(), ("q99", "q95", "q90", "q99"))}


def test_forecast_table_uses_each_groups_tier_quantile_when_stacked():
    demand = _demand()
    inst = to_packing_instance(_forecast(demand), _groups(), STACKED)
    base = to_packing_instance(demand)
    assert not inst.chance
    # premium -> q99 = 1.3 x mean, standard -> q95 = 1.2 x mean
    np.testing.assert_allclose(inst.demand[0], 1.3 * base.demand[0])
    np.testing.assert_allclose(inst.demand[2], 1.2 * base.demand[2])


def test_forecast_table_gives_pooled_tiers_mean_sigma_and_epsilon():
    demand = _demand()
    inst = to_packing_instance(_forecast(demand), _groups())
    base = to_packing_instance(demand)
    assert inst.chance
    np.testing.assert_allclose(inst.demand, base.demand)  # the mean
    # sigma = max((q99 - q50) / 2.326, (q95 - q50) / 1.645) = max(0.3 / 2.326, 0.2 / 1.645) x mean
    np.testing.assert_allclose(inst.sigma, max(0.3 / 2.326, 0.2 / 1.645) * base.demand)
    np.testing.assert_allclose(inst.overflow_risk, [0.001, 0.001, 0.01, 0.001])


def test_known_demand_has_nothing_to_pool():
    # A ResourceDemand table (actual or given peaks) is packed as it is under any tiers.
    inst = to_packing_instance(_demand(), _groups())
    assert not inst.chance and inst.sigma is None


def test_a_forecast_without_quantiles_cannot_give_sigma():
    fc = _forecast(_demand()).drop(columns=["q95", "q99"])
    with pytest.raises(InputDataError, match=r"lacks column\(s\) \['q95', 'q99'\].*spread \(sigma\)"):
        to_packing_instance(fc, _groups())
    # the stacked method at a column the forecast has still works
    stacked = {n: Tier(n, "q90", t.headroom, t.spread, t.isolated) for n, t in DEFAULT_TIERS.items()}
    assert not to_packing_instance(fc, _groups(), stacked).chance


def test_solve_and_tables():
    inst = to_packing_instance(_demand(), _groups())
    result = solve(inst, "cpsat", time_limit_s=10)
    assert result.status.has_solution and find_violations(inst, result) == []
    frame = result.assignment_frame()
    assert list(frame.columns) == ["group_id", "shard", "fraction", "worker_id", "server_type"]
    assert frame.groupby("group_id")["fraction"].sum().tolist() == pytest.approx([1.0] * 4)
    workers = workers_frame(inst, result)
    assert (workers["cpu_cores_peak_utilisation"] <= 1 - workers["headroom"] + 1e-9).all()
    info = summary(result)
    assert info["status"] in ("optimal", "feasible") and info["cost"] <= info["peak_cost"]


@pytest.mark.parametrize("mutate, match", [
    (lambda d: d.assign(cpu_cores=d["cpu_cores"].where(d.index != 3, -2.0)), "negative demand -2"),
    (lambda d: d.drop(index=[7]), "slots differ between groups"),
    (lambda d: d.drop(columns=["memory_gb"]), "lacks column"),
])
def test_bad_demand_is_explained(mutate, match):
    with pytest.raises(InputDataError, match=match):
        to_packing_instance(mutate(_demand()))


def test_unknown_tier_is_rejected():
    groups = _groups().assign(tier=["premium", "gold", "standard", "economy"])
    with pytest.raises(InputDataError, match="unknown tier 'gold'"):
        to_packing_instance(_demand(), groups)


def test_server_csv_errors_name_row_and_column(tmp_path):
    path = tmp_path / "servers.csv"
    frame = default_servers()
    frame.loc[1, "cpu_cores"] = -4
    frame.to_csv(path, index=False)
    with pytest.raises(InputDataError, match=r"servers.csv, row 3, column 'cpu_cores'"):
        load_servers(path)
    frame = default_servers().drop(columns=["cost_per_month"])
    frame.to_csv(path, index=False)
    with pytest.raises(InputDataError, match="missing column"):
        load_servers(path)


def test_default_catalog_and_tiers():
    types = server_types(default_servers())
    assert 2 <= len(types) <= 4 and all(t.cost > 0 for t in types)
    assert tiers_from_frame(tiers_frame()) == DEFAULT_TIERS


def test_infeasible_rules_raise_with_explanation():
    servers = default_servers().assign(max_count=1)  # 3 servers in all
    groups = _groups().assign(customer=["a", "b", "c", "d"], tier="dedicated")
    inst = to_packing_instance(_demand(), groups, servers=servers)
    with pytest.raises(InfeasiblePlanError, match=r"isolation\[.*need at least 4 workers"):
        solve(inst, "cpsat", time_limit_s=5)


def test_verifier_does_not_accept_a_pooled_group_with_zero_mean_and_a_spread_as_idle():
    from planner.verification import verify_plan

    fc = _forecast(_demand(n=2))
    spiky = fc["unique_id"] == "g1"
    fc.loc[spiky, ["mean", "q50"]] = 0.0  # no expected load, but a tail the tier must hold
    groups = pd.DataFrame({"group_id": ["g0", "g1"], "customer": ["a", "b"], "tier": ["standard", "standard"]})
    only_g0 = pd.DataFrame({"group_id": ["g0"], "shard": 0, "share": 1.0, "worker_id": "w0", "server_type": "c-32"})
    (check,) = verify_plan(fc, only_g0, groups)
    assert check.idle_absent == () and [v.family for v in check.violations] == ["unplaced"]
    fc.loc[spiky, ["q90", "q95", "q99"]] = 0.0  # no spread either: idle, its absence accepted
    (check,) = verify_plan(fc, only_g0, groups)
    assert check.idle_absent == ("g1",) and check.violations == []


def test_the_packing_default_catalog_is_the_scenario_default():
    """`planner pack`'s catalog (planner.servers.default_servers) had lead times 6/8/10 weeks, the
    scenario defaults 4/6/8: one catalog, whichever command reads it."""
    from planner.scenarios import DEFAULT_SERVERS
    from planner.servers import default_servers

    cat = default_servers().set_index("type")
    for s in DEFAULT_SERVERS:
        row = cat.loc[s.type]
        assert (row["cpu_cores"], row["memory_gb"], row["cost_per_month"], row["lead_time_weeks"]) == (
            s.cpu_cores, s.memory_gb, s.cost_per_month, s.lead_time_weeks)
    assert len(cat) == len(DEFAULT_SERVERS)
