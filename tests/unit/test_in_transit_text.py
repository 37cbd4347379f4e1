"""Servers already on order (``in_transit``) are said the same way on the terminal and on the Summary
page: how many, of which type, for which week, and that they, not a purchase, cover the need."""

import pandas as pd

from planner.export.review import fleet_text, nothing_to_buy_text
from planner.scenarios import load_scenario

SERVERS = """servers:
  - {type: a, cpu_cores: 8, memory_gb: 32, cost_per_month: 100, lead_time_weeks: 3}
"""


def test_procure_says_from_which_week_the_orders_in_transit_are_needed(tmp_path):
    from planner.pipeline import procure
    from planner.plan import servers_frame

    (tmp_path / "s.yaml").write_text(SERVERS + "inventory: [{server_type: a, count: 3}]\n")
    sc = load_scenario(tmp_path / "s.yaml")
    required = pd.DataFrame({"week": [0, 1, 2, 3], "pool": "default", "server_type": "a", "required": [2, 3, 5, 5]})
    proc, fleet = procure(sc, servers_frame(sc), required)
    a = fleet.set_index("server_type").loc["a"]
    # weeks 0-2 are inside the 3-week lead time; week 2 is the first to need more than the 3 installed
    assert (a["inventory"], a["in_transit"], a["in_transit_week"]) == (3, 2, 2)
    assert proc.purchases["purchased"].sum() == 0


SUMMARY = {"horizon_start": "2026-02-23 00:00:00",
           "installed_fleet": {"c-32": {"pool": "default", "inventory": 0, "in_transit": 1, "in_transit_week": 2},
                               "m-64": {"pool": "default", "inventory": 5, "in_transit": 0},
                               "r-64": {"pool": "default", "inventory": 0, "in_transit": 0}}}


def test_fleet_text_names_the_orders_on_their_way_and_their_week():
    text = fleet_text(SUMMARY)
    assert text == "c-32 0 + 1 already on order (needed from week 2, 2026-03-09), m-64 5"
    assert "in transit" not in text and "r-64" not in text
    assert fleet_text({"installed_fleet": {}}) == "none"


def test_nothing_to_buy_says_what_covers_the_need():
    assert nothing_to_buy_text(SUMMARY) == ("nothing: the installed fleet and 1 server already on order "
                                            "(c-32 1, needed from week 2) cover every week")
    no_orders = {"installed_fleet": {"m-64": {"inventory": 5, "in_transit": 0}}}
    assert nothing_to_buy_text(no_orders) == "nothing: the installed fleet covers every week"
    only = {"installed_fleet": {"c-32": {"inventory": 0, "in_transit": 2, "in_transit_week": 0},
                                "m-64": {"inventory": 0, "in_transit": 4, "in_transit_week": 1}}}
    assert nothing_to_buy_text(only) == ("nothing: 6 servers already on order (c-32 2 needed from week 0, "
                                         "m-64 4 needed from week 1) cover every week")
    one = {"installed_fleet": {"c-32": {"inventory": 0, "in_transit": 1, "in_transit_week": 3}}}
    assert nothing_to_buy_text(one) == "nothing: 1 server already on order (c-32 1, needed from week 3) covers every week"


def test_a_type_offered_in_several_pools_counts_every_pool():
    from planner.review import installed_by_type

    fleet = pd.DataFrame({"pool": ["eu", "us", "eu"], "server_type": ["c-32", "c-32", "m-64"],
                          "inventory": [2, 3, 1], "in_transit": [0, 1, 0], "in_transit_week": [0, 4, 0]})
    got = installed_by_type(fleet)
    assert got["c-32"]["inventory"] == 5 and got["c-32"]["in_transit"] == 1 and got["c-32"]["in_transit_week"] == 4
    assert got["c-32"]["pool"] == "several" and got["m-64"]["pool"] == "eu" and "by_pool" not in got["m-64"]
    assert got["c-32"]["by_pool"] == {"eu": {"inventory": 2, "in_transit": 0},
                                      "us": {"inventory": 3, "in_transit": 1, "in_transit_week": 4}}
    text = fleet_text({"horizon_start": "2026-02-23", "installed_fleet": got})
    assert text == "c-32 5 + 1 already on order (needed from week 4, 2026-03-23) (eu 2, us 3 + 1), m-64 1"
