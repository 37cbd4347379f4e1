"""A small fleet with no inventory: the servers its first weeks need are already on order, nothing is
bought. The terminal and the Summary page say so in the same words, with the week that needs them."""

import json

import pytest


def test_terminal_and_summary_page_say_the_same_about_servers_on_order(small_run_folder):
    out, output = small_run_folder  # the session's `planner run` of the small scenario (conftest.py)
    summary = json.loads((out / "summary.json").read_text())
    on_order = {t: v for t, v in summary["installed_fleet"].items() if v["in_transit"]}
    assert on_order and not summary["orders"]  # the case this test is about
    assert all(0 <= v["in_transit_week"] < summary["weeks"] for v in on_order.values())
    text = " ".join(output.split())
    assert "in transit" not in text
    from planner.export.review import fleet_text, nothing_to_buy_text

    nothing = nothing_to_buy_text(summary)
    assert f"what to buy: {nothing}" in text
    n = sum(v["in_transit"] for v in on_order.values())
    assert f"{n} server{'s' if n > 1 else ''} already on order" in nothing
    import html

    report = html.unescape((out / "report.html").read_text())
    assert nothing in report and "the installed fleet covers every week" not in report
    pytest.importorskip("openpyxl")
    import openpyxl

    cells = [c for row in openpyxl.load_workbook(out / "plan.xlsx", read_only=True)["Summary"].iter_rows(values_only=True)
             for c in row if isinstance(c, str)]
    assert nothing in cells  # the What to buy block's line
    assert fleet_text(summary) in cells and "already on order (needed from week" in fleet_text(summary)
    # nothing bought: the Purchases and Why sheets have no row, and say why instead of a header alone
    wb = openpyxl.load_workbook(out / "plan.xlsx", read_only=True)
    for name in ("Purchases", "Why"):
        rows = list(wb[name].iter_rows(values_only=True))
        assert len(rows) == 2 and rows[1][0].startswith("no rows: ") and nothing.removeprefix("nothing: ") in rows[1][0]
