"""Units and number formats a reviewer reads off plan.xlsx: the Details sheet labels the installed
fleet's cost as currency (it said servers), forecast coverage as a share (it said resource unit);
probabilities far below 1 % show their digits (0.046 %, as report.html, not 0.0 %); risk rates of
1e-7 do not read 0.000."""

import openpyxl
import pandas as pd

from planner.export.spreadsheet import write_plan_workbook
from planner.export.tables import plan_to_frames, unit_of

PLAN = pd.DataFrame({"week": [0, 1], "pool": "p", "server_type": "m-64", "required": [3, 3], "installed": [3, 3],
                     "purchased": [0, 0], "cost": [1384.6, 1384.6], "cpu_utilisation": 0.34,
                     "memory_utilisation": 0.06, "headroom": 0.48, "risk": [0.0, 0.0],
                     "overflow_risk": 0.001, "overflow_probability": [0.000464, 0.0003]})
QOS = pd.DataFrame({"customer": ["c1"], "tier": ["premium"], "quantile": [""], "headroom": [0.2], "risk": [0.0],
                    "overflow_probability": [0.000464], "risk_rate": [1.97e-07], "headroom_breach_rate": [0.000178]})
SUMMARY = {"scenario": "s", "installed_fleet_cost": 21300.0, "cost_change_vs_installed": 1846.15,
           "forecast_calibration": {"coverage": {"w1-2": {"q99": 0.9917}}},
           "risk_vs_target": {"premium": {"method": "gaussian", "target": 0.001, "predicted_overflow_probability": 0.000464,
                                          "expected_overflow_share": 8e-06, "risk_slot_hours": 0.0, "slot_hours": 4368}},
           "fairness": {"premium": {"customers": 6, "risk_rate_mean": 4.43e-12, "risk_rate_max": 2.02e-11,
                                    "max_over_mean": 1.0, "jain": 1.0, "rate_floor": 1e-06,
                                    "breach_rate_mean": 4.83e-08, "breach_rate_max": 2.32e-07,
                                    "breach_max_over_mean": 1.0, "breach_jain": 1.0}}}


def _book(tmp_path):
    frames = plan_to_frames(PLAN, qos=QOS, summary=SUMMARY)
    write_plan_workbook(tmp_path / "plan.xlsx", frames)
    return openpyxl.load_workbook(tmp_path / "plan.xlsx")


def test_details_units_of_the_fleet_cost_and_the_forecast_coverage(tmp_path):
    ws = _book(tmp_path)["Details"]
    rows = {r[0].value: r for r in ws.iter_rows(min_row=2)}
    assert rows["installed_fleet_cost"][2].value == "currency"
    assert rows["installed_fleet_cost"][1].number_format == "#,##0.00"
    assert rows["cost_change_vs_installed"][2].value == "currency"
    assert rows["forecast_calibration.coverage.w1-2.q99"][2].value == "%"
    assert unit_of("installed_c-32") == "servers" and unit_of("unserved_risk") == "slot-hours"


def _cells(ws, header):
    titles = {c.value: c.column for c in ws[1]}
    return [ws.cell(row=i, column=titles[header]) for i in range(2, ws.max_row + 1)]


def test_small_probabilities_show_their_digits(tmp_path):
    book = _book(tmp_path)
    prob = _cells(book["Plan"], "overflow_probability [%]")[0]
    assert prob.number_format == "0.0##%"  # 0.000464 -> 0.046%, not 0.0%
    assert _cells(book["Plan"], "cpu_utilisation [%]")[0].number_format == "0.0%"
    summary = book["Summary"]
    found = [c for row in summary.iter_rows() for c in row if c.value == 0.000464]
    assert found and all(c.number_format == "0.0##%" for c in found)
    details = {r[0].value: r for r in book["Details"].iter_rows(min_row=2)}
    assert details["risk_vs_target.premium.predicted_overflow_probability"][1].number_format == "0.0##%"


def test_rates_of_one_in_a_million_do_not_read_zero(tmp_path):
    book = _book(tmp_path)
    assert _cells(book["QoS"], "risk_rate")[0].number_format == "0.00E+00"
    summary = book["Summary"]
    found = [c for row in summary.iter_rows() for c in row if c.value == 2.32e-07]
    assert found and all(c.number_format == "0.00E+00" for c in found)


def test_details_lists_records_in_words():
    summary = {"orders": [{"order": 1, "server_type": "m-64", "purchased": 1}],
               "drivers": {"customer": [{"customer": "cust0034", "growth": 0.6, "share": 0.821},
                                        {"customer": "cust0001", "growth": 0.1, "share": 0.166}]},
               "estimated_power": ["c-32", "m-64"]}
    details = plan_to_frames(PLAN, summary=summary)["Details"].set_index("metric")["value"]
    assert details["orders"] == "order 1, server_type m-64, purchased 1"
    assert details["drivers.customer"] == (
        "customer cust0034, growth 0.6, share 0.821; customer cust0001, growth 0.1, share 0.166")
    assert details["estimated_power"] == "c-32, m-64"


def test_cold_start_rate_is_a_percentage(tmp_path):
    frames = plan_to_frames(PLAN, qos=QOS.assign(cold_start_rate=1.0))
    write_plan_workbook(tmp_path / "plan.xlsx", frames)
    cell = _cells(openpyxl.load_workbook(tmp_path / "plan.xlsx")["QoS"], "cold_start_rate [%]")[0]
    assert cell.value == 1.0 and cell.number_format == "0.0%"
