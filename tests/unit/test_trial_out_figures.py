"""What the report's and the PNGs' figures show a reviewer: the required line of the peak weeks is
not hidden at the axis' top edge; the heat map's colour bar label fits the figure; a plan line
that coincides with hindsight stays visible; '1 server', not '1 servers'."""

import numpy as np
import pandas as pd

from planner.export.plots import utilisation_heatmap_figure
from planner.export.report import _backtest_html, _table, _weekly_figure


def _plan():
    # required rises to 5 in the last weeks, where 5 are installed: the line sits on the bars' top
    weeks = range(4)
    return pd.DataFrame({"week": list(weeks), "pool": "p", "server_type": "m-64", "required": [4, 4, 5, 5],
                         "installed": [4, 5, 5, 5], "purchased": 0, "cost": 1000.0, "cpu_utilisation": 0.3,
                         "memory_utilisation": 0.05, "headroom": 0.5, "risk": 0.0})


def test_report_required_line_is_drawn_below_the_top_and_over_whole_weeks():
    fig = _weekly_figure(_plan())
    ax = fig.axes[0]
    assert ax.get_ylim()[1] > 5  # room above the peak: the line at 5 is not the frame
    fig.canvas.draw()
    from matplotlib.patches import StepPatch

    stairs = [p for p in ax.patches if isinstance(p, StepPatch)]
    assert len(stairs) == 1
    values, edges, _ = stairs[0].get_data()
    assert list(values) == [4, 4, 5, 5] and edges[0] == -0.5 and edges[-1] == 3.5


def test_heatmap_colour_bar_label_fits_a_two_worker_figure():
    util = pd.DataFrame([{"worker_id": w, "slot": s, "cpu_utilisation": 0.3, "memory_utilisation": 0.1}
                         for w in ("w000", "w001") for s in range(168)])
    fig = utilisation_heatmap_figure(util)
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    bar = fig.axes[-1]
    label = bar.yaxis.label.get_window_extent(renderer)
    box = fig.bbox
    assert box.y0 <= label.y0 and label.y1 <= box.y1 and label.x1 <= box.x1
    ticks = [t.get_text() for t in bar.get_yticklabels() if t.get_text()]
    assert ticks and all(t.endswith("%") for t in ticks)


def test_backtest_lines_that_coincide_stay_distinguishable(monkeypatch):
    drawn = []
    import planner.export.report as report

    monkeypatch.setattr(report, "_img", lambda fig, alt: drawn.append(fig) or "")
    weekly = pd.DataFrame({"origin": pd.Timestamp("2026-09-28"), "week": np.arange(3), "plan_servers": 2,
                           "peak_servers": 3, "hindsight_servers": 2})
    tiers = pd.DataFrame({"plan": ["shape"], "tier": ["standard"]})
    _backtest_html({"summary": {"cost_vs_hindsight": 1.0},
                    "tables": {"weekly": weekly, "by_tier": tiers, "by_customer": tiers}})
    lines = drawn[0].axes[0].get_lines()
    styles = {(ln.get_linestyle(), ln.get_marker()) for ln in lines}
    assert len(lines) == 3 and len(styles) == 3
    ticks = drawn[0].axes[0].get_yticks()
    assert all(float(t).is_integer() for t in ticks)  # whole servers


def test_one_server_reads_singular():
    table = pd.DataFrame([("servers bought", 1.0, "servers"), ("servers at the end", 5.0, "servers")],
                         columns=["item", "value", "unit"])
    html = _table(table)
    assert ">1 server<" in html and ">5 servers<" in html


def test_forecast_figure_labels_its_time_axis():
    from planner.export.plots import forecast_vs_history_figure

    ds = pd.date_range("2026-12-01", periods=48, freq="h")
    history = pd.DataFrame({"group_id": "g", "ds": ds[:24], "cpu_cores": 1.0})
    forecast = pd.DataFrame({"unique_id": "g", "ds": ds[24:], "resource": "cpu_cores", "mean": 1.0, "q50": 1.0,
                             "q99": 1.5})
    fig = forecast_vs_history_figure(history, forecast)
    assert fig.axes[-1].get_xlabel() and all(ax.get_ylabel() for ax in fig.axes)
