"""The Summary's drivers and the Why sheet give a group the same share of an order's growth: Why
lists an order's top groups only, so the share divides by the growth of all of them."""

import pandas as pd
import pytest

from planner.review import drivers


def _why(rows):
    return pd.DataFrame(rows, columns=["order", "group_id", "customer", "growth", "share_of_growth"])


def test_driver_share_equals_the_why_share_of_one_order():
    # the order's groups grew 5, 3, 1 and 1 (total 10); Why lists the top two
    why = _why([(1, "g1", "c1", 5.0, 0.5), (1, "g2", "c2", 3.0, 0.3)])
    d = drivers(why)
    assert [x["share"] for x in d["group_id"]] == [0.5, 0.3]
    assert [x["share"] for x in d["customer"]] == [0.5, 0.3]


def test_driver_share_over_several_orders():
    # order 1 grew 10 in all (g1 5 listed), order 2 grew 4 (g1 2, g3 2 listed)
    why = _why([(1, "g1", "c1", 5.0, 0.5), (2, "g1", "c1", 2.0, 0.5), (2, "g3", "c3", 2.0, 0.5)])
    d = drivers(why)
    assert d["group_id"][0] == {"group_id": "g1", "growth": 7.0, "share": pytest.approx(0.5)}
    assert d["group_id"][1]["share"] == pytest.approx(round(2 / 14, 3))


def test_order_without_growth_gives_no_share():
    why = _why([(1, "(no group grew on this type: the packing changed its mix)", "", float("nan"), float("nan"))])
    assert drivers(why) == {"customer": [], "group_id": []}
