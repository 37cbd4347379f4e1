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

from planner.export.tables import ChartSpec, column_from_header, default_charts, header, unit_of
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
_DATE_FORMAT = "yyyy-mm-dd hh:mm"
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
        unit = unit_of(str(column))
        if kind == "datetime":
            # week starts and days show as dates; hourly slots keep the time
            midnight = series.dropna().dt.normalize().eq(series.dropna()).all()
            fmt = formats["day"] if midnight else formats["date"]
        elif unit in _FORMATS:
            fmt = formats[unit]
        elif kind == "float":
            fmt = formats["float"]
        else:
            fmt = None
        ws.set_column(j, j, _width(series, titles[j], kind), fmt)
        if column == "value" and "unit" in frame.columns:
            # a metric/value/unit sheet (Summary): each value takes the format of its row's unit
            for i, (value, row_unit) in enumerate(zip(series.to_numpy(dtype=object), frame["unit"]), start=1):
                cell_fmt = formats[row_unit] if row_unit in _FORMATS else None
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
    if len(frame.columns):
        ws.autofilter(0, 0, max(len(frame), 1), len(frame.columns) - 1)


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
    categories = [spec.sheet, 1, cat_col, n, cat_col]
    for column in spec.values:
        col, _ = _series_ref(frames, spec, column)
        chart.add_series(
            {"name": [spec.sheet, 0, col], "categories": categories, "values": [spec.sheet, 1, col, n, col]}
        )
    if spec.line_values:
        line = workbook.add_chart({"type": "line"})
        for column in spec.line_values:
            col, _ = _series_ref(frames, spec, column)
            line.add_series(
                {
                    "name": [spec.sheet, 0, col],
                    "categories": categories,
                    "values": [spec.sheet, 1, col, n, col],
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
    chart.set_size({"width": 640, "height": 300})
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
                "date": workbook.add_format({"num_format": _DATE_FORMAT}),
                "day": workbook.add_format({"num_format": "yyyy-mm-dd"}),
                "float": workbook.add_format({"num_format": "#,##0.000"}),
            }
            for unit, code in _FORMATS.items():
                formats[unit] = workbook.add_format({"num_format": code})
            sheets = {}
            for name, frame in frames.items():
                _write_sheet(workbook, name, frame, formats)
                sheets[name] = workbook.get_worksheet_by_name(name)
            for spec in charts:
                _add_chart(workbook, sheets, frames, spec)
        finally:
            workbook.close()
    return path


def read_plan_workbook(path: str | os.PathLike) -> dict[str, pd.DataFrame]:
    """Read a workbook written by :func:`write_plan_workbook` back with the CSV column names.

    Needs ``openpyxl`` (pandas' xlsx reader). Used by tests and for round-trip checks.
    """
    sheets = pd.read_excel(path, sheet_name=None, engine="openpyxl")
    return {name: frame.rename(columns=column_from_header) for name, frame in sheets.items()}
