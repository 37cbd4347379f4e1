"""Write the plan workbook (``plan.xlsx``) with xlsxwriter: one sheet per table, native Excel charts.

Every sheet has a frozen, bold header row whose headers carry the units (``installed [servers]``),
number formats by unit, an autofilter and fitted column widths. The file is written to a temporary
path beside the target and renamed on success (:func:`planner.io.atomic_path`), so a failed run never
leaves a half-written workbook. ``docs/workbook.md`` explains how to read it.
"""

from __future__ import annotations

import datetime as _dt
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from planner.export.tables import (
    EMPTY_NOTE_PREFIX,
    ChartSpec,
    SheetBlocks,
    column_from_header,
    default_charts,
    header,
    unit_of,
)
from planner.io import atomic_path

__all__ = ["read_plan_workbook", "write_plan_workbook"]

# Number format of each unit (Excel format codes).
_FORMATS = {
    "servers": "#,##0",
    "currency": "#,##0.00",
    "%": "0.0%",
    "slot-hours": "#,##0.00",
    "cores": "#,##0.000",
    "GB": "#,##0.000",
    "resource unit": "#,##0.000",
    "hour of week": "0",
    "week": "0",
}
_FORMATS["weeks"] = "0"
_FORMATS["server-equivalents"] = "#,##0.00"
_DATE_FORMAT = "yyyy-mm-dd hh:mm"
# Probabilities and overflow shares sit far below 1 %: up to three decimals (0.046%, as report.html
# shows it, not 0.0% beside a 0.1% target). Risk rates of 1e-7 in scientific notation, not 0.000.
SMALL_PERCENT_FORMAT, RATE_FORMAT = "0.0##%", "0.00E+00"
_SMALL_PERCENT = {"target", "overflow_risk", "overflow_probability", "predicted_overflow_probability",
                  "expected_overflow_share", "predicted_overflow_share", "overflow_share"}
_RATES = {"risk_rate", "headroom_breach_rate", "risk_rate_mean", "risk_rate_max", "breach_rate_mean",
          "breach_rate_max"}
# Printing: landscape A4, one page wide, the header row on every page. A long table prints its first
# _PRINT_MAX_ROWS rows (the page header says so; the sheet and the CSV hold every row), and pages
# break where the sheet's key changes so that a week (or a worker's week) is not split needlessly.
_PRINT_MAX_ROWS = 500
_ROWS_PER_PAGE = 32
_BREAK_KEYS = {"Plan": ("week",), "Assignment": ("week",), "Utilisation": ("week", "worker_id"),
               "Forecast": ("unique_id", "resource"), "Backtest weeks": ("origin",),
               "Backtest tiers": ("origin",), "Why": ("order",)}
_CHART_ROWS, _CHART_COLS = 14, 8  # a 520 x 260 px chart covers about 14 rows and 8 columns
_INVALID_SHEET_CHARS = set("[]:*?/\\")
_MIN_WIDTH, _MAX_WIDTH = 8, 48


def _check_sheet_name(name: str) -> None:
    if not name or len(name) > 31 or set(name) & _INVALID_SHEET_CHARS:
        raise ValueError(f"sheet name {name!r}: Excel needs 1-31 characters without []:*?/\\")


def _kind(series: pd.Series) -> str:
    if pd.api.types.is_bool_dtype(series):
        return "bool"
    if pd.api.types.is_datetime64_any_dtype(series):
        return "datetime"
    if pd.api.types.is_integer_dtype(series):
        return "int"
    if pd.api.types.is_float_dtype(series):
        return "float"
    return "object"


def _write_cell(ws, row: int, col: int, value, date_fmt) -> None:
    """Write one value with its Excel type; NaN/None become blank cells (Excel has no NaN)."""
    if value is None or value is pd.NaT:
        return
    if isinstance(value, (bool, np.bool_)):
        ws.write_boolean(row, col, bool(value))
    elif isinstance(value, (int, float, np.integer, np.floating)):
        number = float(value)
        if math.isfinite(number):
            ws.write_number(row, col, number)
    elif isinstance(value, (pd.Timestamp, _dt.datetime, _dt.date)):
        if isinstance(value, pd.Timestamp):
            value = value.tz_localize(None).to_pydatetime() if value.tzinfo else value.to_pydatetime()
        ws.write_datetime(row, col, value, date_fmt)
    else:
        ws.write_string(row, col, str(value))


def _width(series: pd.Series, title: str, kind: str) -> float:
    sample = series.iloc[:500]
    if kind == "datetime":
        longest = 16
    elif kind == "float":
        longest = 12
    else:
        longest = int(sample.astype(str).str.len().max()) if len(sample) else 0
    return float(min(_MAX_WIDTH, max(_MIN_WIDTH, len(title) + 2, longest + 2)))


def _column_format(series: pd.Series, column: str, kind: str, formats: dict):
    """A column's number format: by its unit, else by its kind (None: as written)."""
    unit = unit_of(column)
    if kind == "datetime":
        # week starts and days show as dates; hourly slots keep the time
        midnight = series.dropna().dt.normalize().eq(series.dropna()).all()
        return formats["day"] if midnight else formats["date"]
    return _named_format(column, unit, formats) or (formats["float"] if kind == "float" else None)


def _named_format(column: str, unit: str | None, formats: dict):
    """The format of a unit, finer for the probabilities and rates named above."""
    name = column_from_header(str(column)).rsplit(".", 1)[-1]
    if unit == "%" and name in _SMALL_PERCENT:
        return formats["small%"]
    if name in _RATES:
        return formats["rate"]
    return formats.get(unit) if unit in _FORMATS else None


def _write_sheet(workbook, name: str, frame: pd.DataFrame, formats: dict) -> None:
    """Header row (bold, frozen, autofilter), then the data column by column with its number format."""
    _check_sheet_name(name)
    ws = workbook.add_worksheet(name)
    titles = [header(str(c)) for c in frame.columns]
    ws.write_row(0, 0, titles, formats["header"])
    ws.freeze_panes(1, 0)
    date_fmt = formats["date"]
    for j, column in enumerate(frame.columns):
        series = frame[column]
        kind = _kind(series)
        fmt = _column_format(series, str(column), kind, formats)
        ws.set_column(j, j, _width(series, titles[j], kind), fmt)
        if column == "value" and "unit" in frame.columns:
            # a metric/value/unit sheet (Summary): each value takes the format of its row's unit
            metrics = frame["metric"] if "metric" in frame.columns else frame["unit"]
            for i, (value, row_unit, metric) in enumerate(zip(series.to_numpy(dtype=object), frame["unit"], metrics),
                                                          start=1):
                cell_fmt = _named_format(str(metric), row_unit, formats)
                if isinstance(value, (int, float, np.integer, np.floating)) and cell_fmt is not None:
                    if math.isfinite(float(value)):
                        ws.write_number(i, j, float(value), cell_fmt)
                    continue
                _write_cell(ws, i, j, value, fmt if kind == "datetime" else date_fmt)
            continue
        if kind in ("int", "float"):
            # fast path for numeric columns: no per-cell type dispatch, blanks for NaN/inf
            numbers = series.to_numpy(dtype=float, na_value=np.nan)
            write_number = ws.write_number
            for i in np.flatnonzero(np.isfinite(numbers)).tolist():
                write_number(i + 1, j, numbers[i])
            continue
        for i, value in enumerate(series.to_numpy(dtype=object), start=1):
            _write_cell(ws, i, j, value, fmt if kind == "datetime" else date_fmt)
    if frame.empty and len(frame.columns):  # never a header alone: say why there is no row
        note = frame.attrs.get("empty_note") or f"{EMPTY_NOTE_PREFIX}the {name} table is empty for this plan"
        ws.write_string(1, 0, str(note), formats["italic"])
    if len(frame.columns):
        ws.autofilter(0, 0, max(len(frame), 1), len(frame.columns) - 1)
    _print_table(ws, name, frame)


def _page_breaks(frame: pd.DataFrame, keys: tuple[str, ...], last: int) -> list[int]:
    """Rows (0-based, header = 0) before which a page starts: whole key groups per page when they
    fit, a group larger than a page starts on a new one."""
    keys = [k for k in keys if k in frame.columns]
    if not keys or last <= _ROWS_PER_PAGE:
        return []
    part = frame.iloc[:last]
    changed = np.flatnonzero((part[keys] != part[keys].shift()).any(axis=1).to_numpy())  # group starts
    bounds = list(changed) + [last]
    breaks, on_page = [], 0
    for start, end in zip(bounds[:-1], bounds[1:]):
        size = end - start
        if on_page and on_page + size > _ROWS_PER_PAGE:
            breaks.append(start + 1)
            on_page = 0
        on_page = (on_page + size) % _ROWS_PER_PAGE if size > _ROWS_PER_PAGE else on_page + size
    return breaks[:1000]  # Excel keeps at most 1,023 manual breaks


def _print_common(ws, title: str) -> None:
    ws.set_landscape()
    ws.set_paper(9)  # A4
    ws.set_margins(left=0.4, right=0.4, top=0.7, bottom=0.6)
    ws.set_header("&L" + title.replace("&", "&&"))
    ws.set_footer("&CPage &P of &N")


def _print_table(ws, name: str, frame: pd.DataFrame) -> None:
    """Print setup of a table sheet (see _PRINT_MAX_ROWS)."""
    n = len(frame)
    last = min(n, _PRINT_MAX_ROWS)
    title = name if n <= last else f"{name}: the first {last:,} of {n:,} rows are printed; the sheet and the CSV table hold all"
    _print_common(ws, title)
    ws.repeat_rows(0)
    ws.fit_to_pages(1, 0)
    ws.print_area(0, 0, max(last, 1), max(len(frame.columns) - 1, 0))
    breaks = _page_breaks(frame, _BREAK_KEYS.get(name, ()), last)
    if breaks:
        ws.set_h_pagebreaks(breaks)


def _write_blocks(workbook, name: str, page: SheetBlocks, formats: dict) -> None:
    """A page of titled tables (the Summary): heading, then each block's title, header and rows.
    It prints on one landscape page with the charts placed to its right."""
    _check_sheet_name(name)
    ws = workbook.add_worksheet(name)
    ws.write_string(0, 0, page.heading, formats["title"])
    ws.write_string(1, 0, page.subheading)
    widths = [float(_MIN_WIDTH)] * page.width
    row = 3
    for block in page.blocks:
        ws.write_string(row, 0, block.title, formats["block"])
        row += 1
        table = block.table
        if table.empty:
            ws.write_string(row, 0, block.empty, formats["italic"])
            row += 2
            continue
        titles = [header(str(c)) for c in table.columns]
        ws.write_row(row, 0, titles, formats["wrap_header"])  # wrapped: columns as wide as their data
        per_row_unit = list(table.columns) == ["item", "value", "unit"]
        for j, column in enumerate(table.columns):
            series = table[column]
            kind = _kind(series)
            fmt = _column_format(series, str(column), kind, formats)
            if column != "warning":  # long sentences overflow into the empty cells beside them
                words = max((len(w) for w in titles[j].split()), default=0)
                widths[j] = max(widths[j], min(_width(series, "", kind), _MAX_WIDTH), words + 1)
            for i, value in enumerate(series.to_numpy(dtype=object), start=row + 1):
                cell_fmt = fmt
                if per_row_unit and column == "value":
                    row_unit = table["unit"].iloc[i - row - 1]
                    cell_fmt = formats[row_unit] if row_unit in _FORMATS else None
                if cell_fmt is not None and isinstance(value, (int, float, np.integer, np.floating)) \
                        and not isinstance(value, (bool, np.bool_)):
                    if math.isfinite(float(value)):
                        ws.write_number(i, j, float(value), cell_fmt)
                    continue
                _write_cell(ws, i, j, value, cell_fmt if kind == "datetime" else formats["date"])
        lines = max(math.ceil(len(t) / max(widths[j] - 1, 1)) for j, t in enumerate(titles))
        ws.set_row(row, 15 * lines)
        row += len(table) + 2
    for j, w in enumerate(widths):
        ws.set_column(j, j, w)
    _print_common(ws, name)
    ws.fit_to_pages(1, 1)
    ws.print_area(0, 0, max(row, 3 * _CHART_ROWS + 2), page.width + _CHART_COLS + 1)


def _series_ref(frames: Mapping[str, pd.DataFrame], spec: ChartSpec, column: str) -> tuple[int, int]:
    frame = frames.get(spec.sheet)
    if frame is None:
        raise ValueError(f"chart {spec.title!r}: sheet {spec.sheet!r} is not in the workbook")
    columns = [str(c) for c in frame.columns]
    if column not in columns:
        raise ValueError(f"chart {spec.title!r}: sheet {spec.sheet!r} has no column {column!r}")
    return columns.index(column), len(frame)


def _add_chart(workbook, sheets: dict, frames: Mapping[str, pd.DataFrame], spec: ChartSpec) -> None:
    """One native chart; series reference the data sheet's cells, so the chart follows edits."""
    cat_col, n = _series_ref(frames, spec, spec.categories)
    if n == 0:
        return  # nothing to draw; an empty series makes Excel ask to repair the file
    options = {"type": spec.kind}
    if spec.stacked and spec.kind in ("column", "bar"):
        options["subtype"] = "stacked"
    chart = workbook.add_chart(options)
    first, last = spec.rows if spec.rows is not None else (1, n)
    if not 1 <= first <= last <= n:
        raise ValueError(f"chart {spec.title!r}: rows {spec.rows} are outside the {n} data rows of {spec.sheet!r}")
    categories = [spec.sheet, first, cat_col, last, cat_col]
    for k, column in enumerate(spec.values):
        col, _ = _series_ref(frames, spec, column)
        style = spec.styles[k] if k < len(spec.styles) else {}
        chart.add_series(
            {"name": [spec.sheet, 0, col], "categories": categories, "values": [spec.sheet, first, col, last, col],
             **style}
        )
    if spec.line_values:
        line = workbook.add_chart({"type": "line"})
        for column in spec.line_values:
            col, _ = _series_ref(frames, spec, column)
            line.add_series(
                {
                    "name": [spec.sheet, 0, col],
                    "categories": categories,
                    "values": [spec.sheet, first, col, last, col],
                    "y2_axis": True,
                }
            )
        chart.combine(line)
        line.set_y2_axis({"name": spec.y2_title})
    chart.set_title({"name": spec.title})
    chart.set_x_axis({"name": spec.x_title})
    y_axis = {"name": spec.y_title}
    if spec.y_percent:
        y_axis["num_format"] = "0%"
    chart.set_y_axis(y_axis)
    chart.set_legend({"position": "bottom"})
    chart.set_size({"width": spec.size[0], "height": spec.size[1]})
    anchor = spec.anchor_sheet or spec.sheet
    if anchor not in sheets:
        raise ValueError(f"chart {spec.title!r}: anchor sheet {anchor!r} is not in the workbook")
    sheets[anchor].insert_chart(spec.anchor_cell, chart)


def write_plan_workbook(
    path: str | os.PathLike,
    frames: Mapping[str, pd.DataFrame],
    charts_spec: Sequence[ChartSpec] | None = None,
) -> Path:
    """Write ``frames`` (sheet name → DataFrame, in order) to an .xlsx workbook, atomically.

    Args:
        path: target file, usually ``<out>/plan.xlsx``; its folder is created.
        frames: usually :func:`planner.export.tables.plan_to_frames`'s result; the column names are
            the CSV names and the headers get their units.
        charts_spec: native charts to draw; ``None`` = :func:`planner.export.tables.default_charts`,
            an empty list = no chart.

    Returns:
        The path written.

    Raises:
        ValueError: an invalid sheet name, or a chart naming a sheet or column that is not there.
    """
    import xlsxwriter  # kept out of module scope so `planner --help` stays fast

    path = Path(path)
    charts = default_charts(frames) if charts_spec is None else list(charts_spec)
    for spec in charts:  # fail before writing anything
        for column in (spec.categories, *spec.values, *spec.line_values):
            _series_ref(frames, spec, column)
    with atomic_path(path) as tmp:
        workbook = xlsxwriter.Workbook(
            str(tmp),
            {
                # names such as "=fn" or URLs stay text; NaN is handled in _write_cell
                "strings_to_formulas": False,
                "strings_to_urls": False,
                "strings_to_numbers": False,
            },
        )
        try:
            formats = {
                "header": workbook.add_format({"bold": True, "bottom": 1, "text_wrap": False, "bg_color": "#DDEBF7"}),
                "title": workbook.add_format({"bold": True, "font_size": 14}),
                "block": workbook.add_format({"bold": True, "font_size": 11, "font_color": "#1F4E79"}),
                "italic": workbook.add_format({"italic": True}),
                "wrap_header": workbook.add_format({"bold": True, "bottom": 1, "text_wrap": True, "valign": "top",
                                                    "bg_color": "#DDEBF7"}),
                "date": workbook.add_format({"num_format": _DATE_FORMAT}),
                "day": workbook.add_format({"num_format": "yyyy-mm-dd"}),
                "float": workbook.add_format({"num_format": "#,##0.000"}),
            }
            for unit, code in _FORMATS.items():
                formats[unit] = workbook.add_format({"num_format": code})
            formats["small%"] = workbook.add_format({"num_format": SMALL_PERCENT_FORMAT})
            formats["rate"] = workbook.add_format({"num_format": RATE_FORMAT})
            sheets = {}
            for name, frame in frames.items():
                if isinstance(frame, SheetBlocks):
                    _write_blocks(workbook, name, frame, formats)
                else:
                    _write_sheet(workbook, name, frame, formats)
                sheets[name] = workbook.get_worksheet_by_name(name)
            for spec in charts:
                _add_chart(workbook, sheets, frames, spec)
        finally:
            workbook.close()
    return path


def read_plan_workbook(path: str | os.PathLike) -> dict[str, pd.DataFrame]:
    """Read a workbook written by :func:`write_plan_workbook` back with the CSV column names.

    Needs ``openpyxl`` (pandas' xlsx reader). Used by tests and for round-trip checks. The Summary
    page is a page of blocks, not a table: read it with :func:`read_summary_blocks`.
    """
    sheets = pd.read_excel(path, sheet_name=None, engine="openpyxl")
    out = {}
    for name, frame in sheets.items():
        if len(frame) == 1 and isinstance(frame.iloc[0, 0], str) and frame.iloc[0, 0].startswith(EMPTY_NOTE_PREFIX) \
                and frame.iloc[0, 1:].isna().all():  # the line of a sheet without rows, not a row
            frame = frame.iloc[:0]
        out[name] = frame.rename(columns=column_from_header)
    return out


def read_summary_blocks(path: str | os.PathLike, sheet: str = "Summary") -> dict[str, pd.DataFrame]:
    """The blocks of a page written from :class:`~planner.export.tables.SheetBlocks`: block title →
    its table with the CSV column names (a block showing its ``empty`` text has no row)."""
    import openpyxl

    ws = openpyxl.load_workbook(path, read_only=True, data_only=True)[sheet]
    grid = [list(r) for r in ws.iter_rows(values_only=True)]
    blocks, i = {}, 3
    while i < len(grid):
        title = grid[i][0] if grid[i] else None
        if title is None:
            i += 1
            continue
        head = grid[i + 1] if i + 1 < len(grid) else []
        if len([v for v in head if v is not None]) <= 1 and (i + 2 >= len(grid) or not any(grid[i + 2] or [])):
            blocks[str(title)] = pd.DataFrame()  # the block's "empty" line
            i += 3
            continue
        cols = [column_from_header(v) for v in head if v is not None]
        rows, j = [], i + 2
        while j < len(grid) and grid[j] and any(v is not None for v in grid[j][:len(cols)]):
            rows.append(list(grid[j][:len(cols)]))
            j += 1
        blocks[str(title)] = pd.DataFrame(rows, columns=cols)
        i = j + 1
    return blocks
