"""``report.html``: the plan for people, in one self-contained file (no script, no CDN, every image
inlined as a PNG data URI), so it opens offline and can be mailed.

Sections: Summary (the review page of :mod:`planner.export.review`), Purchase timeline, Servers and
cost per week, Utilisation heat map, Forecast against history (largest groups), Backtest against
hindsight (when the run has one; otherwise the section says how to get it).
"""

from __future__ import annotations

import base64
import html
import math
import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from planner.export.tables import SheetBlocks, header, unit_of
from planner.io import atomic_path

__all__ = ["SECTIONS", "write_report"]

SECTIONS = ("Summary", "Purchase timeline", "Servers and cost per week", "Utilisation heat map",
            "Forecast against history", "Backtest against hindsight")

_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,Arial,sans-serif;margin:2em auto;max-width:1100px;
color:#1b1b1b;line-height:1.4;padding:0 1em}
h1{font-size:1.6em;margin-bottom:.2em}h2{border-bottom:2px solid #1f4e79;color:#1f4e79;margin-top:2em}
h3{color:#1f4e79;font-size:1.05em;margin:1.2em 0 .3em}
table{border-collapse:collapse;margin:.3em 0 1em;font-size:.9em}
th,td{border:1px solid #c8d3e0;padding:.25em .6em;text-align:left}th{background:#ddebf7}
td.num{text-align:right;font-variant-numeric:tabular-nums}.scroll{overflow-x:auto}
.warn{background:#fff4e5;border-left:4px solid #e67e22;padding:.4em .8em;margin:.3em 0}
.ok{color:#2e7d32}.bad{color:#c62828;font-weight:bold}.muted{color:#666}
img{max-width:100%;height:auto;border:1px solid #eee;margin:.5em 0}
nav a{margin-right:1em}
"""


def _fmt(value, unit: str | None) -> tuple[str, bool]:
    """Cell text and whether it is a number (right-aligned)."""
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NaT:
        return "", False
    if isinstance(value, (bool, np.bool_)):
        return ("yes" if value else "no"), False
    if isinstance(value, pd.Timestamp):
        return (str(value.date()) if value == value.normalize() else str(value)), False
    if isinstance(value, (int, float, np.integer, np.floating)):
        v = float(value)
        if unit == "%":  # below 1 %, two significant digits: a 0.047 % risk beside its 0.1 % target, not 0.0 %
            return (f"{v:.1%}" if v == 0 or abs(v) >= 0.01 else f"{v * 100:.2g}%"), True
        if unit == "currency":
            return f"{v:,.0f}", True
        if float(v).is_integer():
            return f"{int(v):,}", True
        return f"{v:,.3g}" if abs(v) < 100 else f"{v:,.1f}", True
    return str(value), False


def _table(frame: pd.DataFrame, max_rows: int = 60) -> str:
    if frame is None or frame.empty:
        return '<p class="muted">none</p>'
    part = frame.iloc[:max_rows]
    per_row_unit = list(frame.columns) == ["item", "value", "unit"]
    head = "".join(f"<th>{html.escape(header(str(c)))}</th>" for c in frame.columns if not (per_row_unit and c == "unit"))
    body = []
    for _, row in part.iterrows():
        cells = []
        for c in frame.columns:
            if per_row_unit and c == "unit":
                continue
            unit = row["unit"] if per_row_unit and c == "value" else unit_of(str(c))
            text, num = _fmt(row[c], unit)
            if per_row_unit and c == "value" and row["unit"] and row["unit"] not in ("%", "currency"):
                one = row["unit"] == "servers" and text == "1"  # "1 server", not "1 servers"
                text = f"{text} {'server' if one else row['unit']}"
            cells.append(f'<td class="num">{html.escape(text)}</td>' if num else f"<td>{html.escape(text)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    more = (f'<p class="muted">the first {max_rows} of {len(frame):,} rows; the CSV table has all</p>'
            if len(frame) > max_rows else "")
    return f'<div class="scroll"><table><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table></div>{more}'


def _img(fig, alt: str) -> str:
    from planner.export.plots import png_bytes

    data = base64.b64encode(png_bytes(fig)).decode("ascii")
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{data}">'


def _section(title: str, body: str) -> str:
    anchor = title.lower().replace(" ", "-")
    return f'<section id="{anchor}"><h2>{html.escape(title)}</h2>{body}</section>'


def _summary_html(page: SheetBlocks) -> str:
    # the heading names the plan and its weeks (a backtest's report shows its last origin's plan)
    out = [f"<p><b>{html.escape(page.heading)}</b></p>", f'<p class="muted">{html.escape(page.subheading)}</p>']
    for block in page.blocks:
        out.append(f"<h3>{html.escape(block.title)}</h3>")
        if block.table.empty:
            out.append(f'<p class="muted">{html.escape(block.empty)}</p>')
        elif list(block.table.columns) == ["warning"]:
            out.extend(f'<div class="warn">{html.escape(str(w))}</div>' for w in block.table["warning"])
        else:
            out.append(_table(block.table))
    return "".join(out)


def _timeline_figure(orders: pd.DataFrame, weeks: int, starts: list):
    from planner.export.plots import _figure

    fig = _figure(9, 0.5 * max(len(orders), 2) + 1.6)
    ax = fig.subplots()
    labels = []
    for i, o in enumerate(orders.itertuples(index=False)):
        ax.barh(i, o.need_week - o.order_week, left=o.order_week, color="#f0b27a", label="ordered, in transit" if i == 0 else None)
        ax.barh(i, weeks - o.need_week, left=o.need_week, color="#1f77b4", label="in service" if i == 0 else None)
        labels.append(f"{o.purchased} × {o.server_type} ({o.pool})")
    ax.set_yticks(range(len(labels)), labels, fontsize=8)
    ax.invert_yaxis()
    ticks = list(range(weeks + 1))
    ax.set_xticks(ticks, [str(pd.Timestamp(s).date()) if i < len(starts) else "end" for i, s in
                          zip(ticks, list(starts) + [None])], rotation=45, fontsize=7, ha="right")
    ax.set_xlim(0, weeks)
    ax.set_xlabel("week of the horizon (week start)")
    ax.set_title("Purchase timeline: order week → need week (lead time) → in service to the horizon's end")
    ax.legend(fontsize=8, loc="lower right")
    return fig


def _weekly_figure(plan: pd.DataFrame):
    from planner.export.plots import _figure, draw_servers_by_type
    from planner.export.tables import weekly_frame

    weekly = weekly_frame(plan)
    fig = _figure(10, 6.5)
    ax1, ax2 = fig.subplots(2, 1)
    x = np.arange(len(weekly))
    # the PNG's drawing: required as stairs over whole weeks, with room above the peak (a mid step at
    # the axis' top edge hid the required line of the peak weeks)
    draw_servers_by_type(ax1, plan)
    ax1.set_xlabel("")
    ax1.set_title("Servers installed per week by type, and the servers the packing requires")
    ax2.bar(x, weekly["cost"].to_numpy(float), color="#1f77b4", label="cost per week")
    ax2.set_ylabel("cost per week [currency]")
    twin = ax2.twinx()
    twin.plot(x, weekly["cumulative_cost"].to_numpy(float), color="#e67e22", lw=1.5, label="cumulative")
    twin.set_ylabel("cumulative cost [currency]")
    ax2.set_title("Cost per week (running cost + purchases) and cumulative cost")
    labels = [str(w)[:10] for w in weekly["week"]]
    for ax in (ax1, ax2):
        ax.set_xticks(x, labels, fontsize=7, rotation=0)
    ax2.set_xlabel("week")
    return fig


def _backtest_html(backtest: Mapping, shown: set[str] = frozenset()) -> str:
    """The backtest section; ``shown``: warnings the page's Summary already lists (not said twice)."""
    summary, tables = backtest["summary"], backtest["tables"]
    from planner.export.tables import backtest_frames

    head = backtest_frames(tables, summary)["Backtest"]
    ok = summary.get("overflow_within_target")
    out = [f"<p><b>cost / hindsight cost {summary.get('cost_vs_hindsight')}</b>; every tier's overflow within "
           f"target: <span class=\"{'ok' if ok else 'bad'}\">{'yes' if ok else 'no'}</span>. The hindsight plan packs "
           "the demand that happened with the same stages, rules and catalog: the right amount. The peak-based plan "
           f"costs {summary.get('peak_vs_hindsight')} × its own hindsight (peak-based packing of the actual demand) "
           f"and {summary.get('peak_cost_vs_hindsight')} × the right amount.</p>"]
    from planner.export.review import backtest_warnings

    out += [f'<div class="warn">{html.escape(w)}</div>' for w in backtest_warnings(summary) if w not in shown]
    out.append(_table(head))
    out.append("<h3>Overflow per tier (share of the slot-hours of the workers the tier's groups sit on)</h3>")
    out.append(_table(tables["by_tier"]))
    weekly = tables["weekly"]
    from planner.export.plots import _figure

    for origin, part in weekly.groupby("origin", sort=True):
        fig = _figure(9, 3)
        ax = fig.subplots()
        # plan and hindsight often coincide: distinct markers and dashes keep each line visible
        for col, label, style in (("plan_servers", "plan", dict(marker="o", ms=8, ls="-")),
                                  ("peak_servers", "peak-based plan", dict(marker="s", ms=5, ls="-")),
                                  ("hindsight_servers", "hindsight", dict(marker="x", ms=7, ls="--"))):
            ax.plot(part["week"], part[col], label=label, **style)
        ax.set_xlabel("week")
        ax.set_ylabel("servers")
        from matplotlib.ticker import MaxNLocator

        ax.yaxis.set_major_locator(MaxNLocator(integer=True))  # whole servers, not 2.2, 2.4
        ax.set_xticks(part["week"].to_numpy())
        ax.set_title(f"Servers per week from origin {str(origin)[:10]}")
        ax.legend(fontsize=8)
        out.append(_img(fig, f"backtest servers per week from {str(origin)[:10]}"))
    return "".join(out)


def write_report(
    path: str | os.PathLike,
    *,
    title: str,
    plan: pd.DataFrame | None = None,
    summary: Mapping | None = None,
    orders: pd.DataFrame | None = None,
    why: pd.DataFrame | None = None,
    utilisation: pd.DataFrame | None = None,
    forecast: pd.DataFrame | None = None,
    history: pd.DataFrame | None = None,
    backtest: Mapping | None = None,
) -> Path:
    """Write ``report.html`` atomically. ``backtest`` is ``{"summary": ..., "tables": ...}`` of
    :func:`planner.backtest.write_backtest`; the other inputs are the run's tables (any may be absent)."""
    from planner.export.plots import forecast_vs_history_figure, utilisation_heatmap_figure
    from planner.export.review import nothing_to_buy_text, review_sheet
    from planner.export.tables import weekly_frame

    parts, shown = [], set()
    if plan is not None and len(plan):
        page = review_sheet(plan, weekly_frame(plan), summary, orders=orders)
        shown = {w for b in page.blocks if list(b.table.columns) == ["warning"] for w in b.table["warning"]}
        parts.append(_section("Summary", _summary_html(page)))
        weeks = int(plan["week"].nunique())
        starts = list(plan.drop_duplicates("week")["week_start"]) if "week_start" in plan else []
        o = orders if orders is not None else pd.DataFrame()
        body = (_img(_timeline_figure(o, weeks, starts), "purchase timeline") if len(o)
                else f'<p class="muted">{html.escape(nothing_to_buy_text(summary or {}))}</p>')
        if why is not None and len(why):
            body += "<h3>Why: the groups and weeks that need each order</h3>" + _table(why)
        parts.append(_section("Purchase timeline", body))
        parts.append(_section("Servers and cost per week", _img(_weekly_figure(plan), "servers and cost per week")))
    if utilisation is not None and len(utilisation):
        parts.append(_section("Utilisation heat map", _img(utilisation_heatmap_figure(utilisation),
                                                            "utilisation heat map")))
    if history is not None and forecast is not None and len(forecast):
        parts.append(_section("Forecast against history", _img(forecast_vs_history_figure(history, forecast),
                                                                "forecast against history")))
    if backtest is not None:
        parts.append(_section("Backtest against hindsight", _backtest_html(backtest, shown)))
    else:
        parts.append(_section("Backtest against hindsight", '<p class="muted">This run has no backtest. '
                              "<code>planner run --backtest</code> holds the quarter before the horizon against "
                              "the history's last weeks; <code>planner backtest SCENARIO [--actuals FILE] "
                              "[--origins K --every 13w]</code> plans from past origins. Both replay what happened "
                              "and compare the cost with the hindsight plan (the same stages applied to the "
                              "actual demand).</p>"))
    present = [t for t in SECTIONS if f'id="{t.lower().replace(" ", "-")}"' in "".join(parts)]
    nav = "".join(f'<a href="#{t.lower().replace(" ", "-")}">{html.escape(t)}</a>' for t in present)
    doc = (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
           f"<style>{_CSS}</style></head><body><h1>{html.escape(title)}</h1><nav>{nav}</nav>"
           + "".join(parts) + "</body></html>\n")
    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.write_text(doc, encoding="utf-8")
    return path
