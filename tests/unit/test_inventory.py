"""The installed fleet: an inventory in the scenario or a CSV beside it, checked against the server
catalog; the default scenario and its data ship with the package."""

import pandas as pd
import pytest

from planner.errors import ScenarioError
from planner.scenarios import default_scenario, installed_fleet, load_scenario

SERVERS = """servers:
  - {type: a, cpu_cores: 8, memory_gb: 32, cost_per_month: 100, lead_time_weeks: 2}
  - {type: b, cpu_cores: 16, memory_gb: 64, cost_per_month: 180, pool: big}
"""


def write(tmp_path, name, text):
    p = tmp_path / name
    p.write_text(text)
    return p


def test_inventory_list_and_file_give_the_installed_fleet(tmp_path):
    inline = load_scenario(write(tmp_path, "i.yaml", SERVERS + "inventory: [{server_type: b, count: 3}]\n"))
    write(tmp_path, "inv.csv", "server_type,pool,count\na,default,2\nb,big,3\n")
    from_file = load_scenario(write(tmp_path, "f.yaml", SERVERS + "inventory: inv.csv\n"))
    assert installed_fleet(inline).set_index("server_type")["installed"].to_dict() == {"a": 0, "b": 3}
    fleet = installed_fleet(from_file)
    assert fleet.to_dict("records") == [{"pool": "default", "server_type": "a", "installed": 2},
                                        {"pool": "big", "server_type": "b", "installed": 3}]


def test_inventory_file_is_relative_to_the_scenario_that_names_it(tmp_path):
    (tmp_path / "base").mkdir()
    write(tmp_path / "base", "inv.csv", "server_type,count\na,4\n")
    write(tmp_path / "base", "base.yaml", SERVERS + "inventory: inv.csv\n")
    child = load_scenario(write(tmp_path, "child.yaml", "base: base/base.yaml\nname: child\n"))
    assert installed_fleet(child).set_index("server_type")["installed"]["a"] == 4


def test_inventory_naming_an_unknown_server_type_is_an_error(tmp_path):
    with pytest.raises(ScenarioError, match=r"inventory\[0\]: server type 'x' is not in the server catalog \(a, b\)"):
        load_scenario(write(tmp_path, "s.yaml", SERVERS + "inventory: [{server_type: x, count: 1}]\n"))
    write(tmp_path, "inv.csv", "server_type,count\na,1\nzz-99,2\n")
    with pytest.raises(ScenarioError, match=r"inv\.csv: row 3, column 'server_type': server type 'zz-99' is not in "
                                            r"the scenario's server catalog \(a, b\)"):
        load_scenario(write(tmp_path, "f.yaml", SERVERS + "inventory: inv.csv\n"))


@pytest.mark.parametrize("text, match", [
    ("server_type,count\na,two\n", r"row 2, column 'count': count 'two'; expected a whole number"),
    ("server_type,count\na,-1\n", r"row 2, column 'count'"),
    ("type,count\na,1\n", r"missing column\(s\) 'server_type'"),
    ("server_type,count,colour\na,1,red\n", r"unknown column\(s\) \[.colour.\]"),
])
def test_bad_inventory_rows_name_file_row_and_column(tmp_path, text, match):
    write(tmp_path, "inv.csv", text)
    with pytest.raises(ScenarioError, match=r"inv\.csv.*" + match):
        load_scenario(write(tmp_path, "s.yaml", SERVERS + "inventory: inv.csv\n"))


def test_inventory_pool_twice_and_limit_are_checked(tmp_path):
    with pytest.raises(ScenarioError, match=r"server type 'b' is in pool 'big', not 'default'"):
        load_scenario(write(tmp_path, "p.yaml", SERVERS + "inventory: [{server_type: b, pool: default, count: 1}]\n"))
    with pytest.raises(ScenarioError, match=r"listed twice"):
        load_scenario(write(tmp_path, "t.yaml", SERVERS + "inventory: [{server_type: a, count: 1}, {server_type: a, count: 2}]\n"))
    with pytest.raises(ScenarioError, match=r"also has servers\[\]\.initial"):
        load_scenario(write(tmp_path, "d.yaml", "servers: [{type: a, cpu_cores: 1, memory_gb: 1, cost_per_month: 1, "
                                                "initial: 1}]\ninventory: [{server_type: a, count: 1}]\n"))


def test_week0_tops_up_the_inventory_only_where_the_lead_time_weeks_need_more(tmp_path):
    from planner.pipeline import procure
    from planner.plan import servers_frame

    sc = load_scenario(write(tmp_path, "s.yaml", SERVERS + "inventory: [{server_type: a, count: 3}]\n"))
    servers = servers_frame(sc)
    required = pd.DataFrame({"week": [0, 1, 2, 3], "pool": "default", "server_type": "a", "required": [2, 5, 5, 7]})
    proc, fleet = procure(sc, servers, required)
    a = fleet.set_index("server_type").loc["a"]
    # weeks 0-1 are inside a's 2-week lead time and need up to 5: 2 more in transit on top of the 3
    assert (a["inventory"], a["in_transit"], a["installed"]) == (3, 2, 5)
    assert proc.purchases[["week", "server_type", "purchased", "arrives_week"]].to_dict("records") == [
        {"week": 1, "server_type": "a", "purchased": 2, "arrives_week": 3}]  # week 3 needs 7: ordered lead time ahead
    given = sc.model_copy(update={"procurement": sc.procurement.model_copy(update={"initial_fleet": "given"})})
    proc, fleet = procure(given, servers, required)
    assert fleet.set_index("server_type").loc["a", "installed"] == 3 and proc.has_shortfall  # weeks 0-1 short


def test_default_scenario_comes_from_the_embedded_data_folder():
    from planner.embedded import DATA_DIR, data_path

    s = default_scenario()
    assert s.source_path == data_path("default", "scenario.yaml").resolve()
    assert s.source_path.is_relative_to(DATA_DIR.resolve())
    assert s.anticipated and s.retired  # the default has a launch and a retirement
    assert s.inventory.from_history_weeks >= 1  # its installed fleet: what the history's last weeks needed
    assert all(x.lead_time_weeks > 0 for x in s.servers)


@pytest.mark.parametrize("spec, match", [
    ("{from_history_weeks: 0}", r"from_history_weeks: Input should be greater than or equal to 1"),
    ("{from_history: 1}", r"from_history: unknown field \(did you mean 'from_history_weeks'\?\)"),
])
def test_a_bad_inventory_from_history_is_an_error(tmp_path, spec, match):
    with pytest.raises(ScenarioError, match=match):
        load_scenario(write(tmp_path, "s.yaml", SERVERS + f"inventory: {spec}\n"))
