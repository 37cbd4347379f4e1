"""Failure domains in scenarios (issue 17 item 1): zones on server types and inventory, racks,
tier rules, and the bad-input cases the issue lists."""

import pandas as pd
import pytest
from typer.testing import CliRunner

from planner.cli import app
from planner.errors import InfeasiblePlanError, ScenarioError
from planner.failover import check_survivable, installed_servers, racks_of
from planner.scenarios import load_scenario

SERVERS = """servers:
  - {type: a, cpu_cores: 8, memory_gb: 32, cost_per_month: 100, zones: [east, west]}
  - {type: b, cpu_cores: 16, memory_gb: 64, cost_per_month: 180}
"""


def _load(tmp_path, text):
    path = tmp_path / "s.yaml"
    path.write_text(text)
    return load_scenario(path)


def test_a_zone_in_a_tier_rule_that_no_server_has(tmp_path):
    with pytest.raises(ScenarioError, match=r"tiers.premium.zones: zone\(s\) \['north'\] are not a zone of any server "
                                            r"\(servers\[\].zones name: default, east, west\)"):
        _load(tmp_path, SERVERS + "tiers:\n  premium: {survive: zone, zones: [east, north]}\n")


def test_survive_zone_with_one_zone_is_explained_not_a_crash(tmp_path):
    sc = _load(tmp_path, "tiers:\n  premium: {survive: zone}\n")
    with pytest.raises(InfeasiblePlanError, match="tier 'premium' must survive the loss of a zone .* only run in zone "
                                                  "'default' .* no zone to fail over to"):
        check_survivable(sc)
    (tmp_path / "one.yaml").write_text("data: {synthetic: {functions: 20, days: 56, seed: 1}}\nhorizon: {weeks: 1}\n"
                                       "tiers:\n  premium: {survive: zone}\n")
    result = CliRunner().invoke(app, ["run", str(tmp_path / "one.yaml"), "--out", str(tmp_path / "out"), "--no-history"])
    assert result.exit_code == 1, result.output
    assert "must survive the loss of a zone" in result.output and "Traceback" not in result.output
    assert not (tmp_path / "out").exists()
    # A tier limited to one zone of several is the same case.
    sc = _load(tmp_path, SERVERS + "tiers:\n  premium: {survive: zone, zones: [east]}\n")
    with pytest.raises(InfeasiblePlanError, match="only run in zone 'east'"):
        check_survivable(sc)
    check_survivable(_load(tmp_path, SERVERS + "tiers:\n  premium: {survive: zone}\n"))  # three zones: fine


def test_inventory_carries_zone_and_rack(tmp_path):
    (tmp_path / "inv.csv").write_text("server_type,count,zone,rack\na,2,east,r1\na,1,west,\nb,1,,r9\n")
    sc = _load(tmp_path, SERVERS + "inventory: inv.csv\n")
    assert [(i.server_type, i.count, i.zone, i.rack) for i in sc.inventory] == [
        ("a", 2, "east", "r1"), ("a", 1, "west", None), ("b", 1, None, "r9")]
    inst = installed_servers(sc)
    assert inst == {"a": {"east": ["r1", "r1"], "west": [""]}, "b": {"default": ["r9"]}}
    workers = pd.DataFrame({"week": [0, 0, 0, 0], "worker_id": ["w0", "w1", "w2", "w3"],
                            "server_type": ["a", "a", "a", "b"], "zone": ["east", "east", "east", "default"]})
    assert racks_of(workers, inst).tolist() == ["r1", "r1", "", "r9"]  # the third east server is new


def test_inventory_zone_must_be_a_zone_of_its_type(tmp_path):
    with pytest.raises(ScenarioError, match=r"inventory\[0\]: zone 'north' is not a zone of server type 'a' "
                                            r"\(servers\[\].zones: east, west\)"):
        _load(tmp_path, SERVERS + "inventory:\n  - {server_type: a, count: 1, zone: north}\n")
    with pytest.raises(ScenarioError, match=r"inventory\[1\]: server type 'a' in zone 'east' is listed twice"):
        _load(tmp_path, SERVERS + "inventory:\n  - {server_type: a, count: 1, zone: east}\n"
                                  "  - {server_type: a, count: 2, zone: east}\n")


def test_tier_fields_validate(tmp_path):
    with pytest.raises(ScenarioError, match=r"tiers.premium.survive: Input should be 'none', 'worker' or 'zone'"):
        _load(tmp_path, "tiers:\n  premium: {survive: rack}\n")
    with pytest.raises(ScenarioError, match=r"tiers.standard.max_risk_ratio: Input should be greater than or equal to 1"):
        _load(tmp_path, "tiers:\n  standard: {max_risk_ratio: 0.5}\n")
    with pytest.raises(ScenarioError, match=r"servers.0: zones lists a zone twice"):
        _load(tmp_path, "servers:\n  - {type: a, cpu_cores: 8, memory_gb: 32, cost_per_month: 100, zones: [x, x]}\n")


def test_a_spread_week_that_took_the_reserve_form_is_reported(tmp_path):
    from types import SimpleNamespace

    from models.packing.failover import FailoverPlan
    from planner.failover import redundancy_summary

    sc = _load(tmp_path, SERVERS + "tiers:\n  premium: {survive: worker}\nredundancy: {form: spread}\n")
    empty = pd.DataFrame()
    weeks = [SimpleNamespace(week=1, failover=FailoverPlan(empty, (), {}, form="spread")),
             SimpleNamespace(week=2, failover=FailoverPlan(empty, (("spare0", "a", "east"),), {}, 100.0,
                                                           {"premium": 100.0}, "reserve"))]
    out = redundancy_summary(weeks, sc)
    assert out["reserve_fallback_weeks"] == [2]
    assert out["spares_per_week"] == [0, 1] and out["cost_per_month_peak"] == {"premium": 100.0}
