"""The plan's tables as workbook sheets: pure functions from the pipeline's frames to one frame per sheet.

Nothing here touches files; :mod:`planner.export.spreadsheet` writes what :func:`plan_to_frames`
returns. Column names stay the machine names of the CSV tables (``installed``, ``cpu_utilisation``);
the workbook shows them with their unit (``installed [servers]``), see :func:`header` and
:func:`column_from_header`. ``docs/workbook.md`` explains every sheet and column.

Input frames (every one a long pandas DataFrame; extra columns are kept, after the listed ones):

* **plan** (required): ``week`` (int index or week-start date), ``pool``, ``server_type``,
  ``required``, ``installed``, ``purchased`` (servers; ordered that week), ``cost`` (currency for that week: running
  cost of the installed servers plus capex of the orders placed that week), ``cpu_utilisation``,
  ``memory_utilisation`` (expected load, the forecast mean, averaged over the week's hours, over the
  installed capacity, 0–1), ``headroom`` (1 − the busiest hour's planned load over the installed
  capacity, 0–1), ``risk`` (expected overflow slot-hours in the week).
* **purchases**: ``week`` (order week), ``pool``, ``server_type``, ``purchased`` (servers),
  ``arrives_week``, ``cost`` (currency over the horizon) — ``ProcurementResult.purchases``.
* **assignment**: ``group_id``, ``shard``, ``worker_id``, ``server_type``, ``share`` (fraction of
  the group's demand on that shard, 0–1); optional ``week``, ``pool``.
* **utilisation**: ``worker_id``, ``server_type``, ``slot`` (hour of the representative week,
  0–167), ``cpu_utilisation``, ``memory_utilisation`` (fraction, 0–1); optional ``week``, ``pool``.
* **qos**: ``customer``, ``tier``, ``quantile`` (``q50``…``q99``), ``headroom`` (fraction, 0–1),
  ``risk`` (expected overflow slot-hours over the horizon); optional ``groups``, ``spread``.
* **forecast**: ``unique_id`` (group), ``ds``, ``resource`` (``cpu_cores``/``memory_gb``),
  ``mean``, ``q50``, ``q90``, ``q95``, ``q99`` (in the resource's unit).
* **profiles** (optional sheet): any table, written as given (e.g. the shape profiles).
* **pools** (optional sheet, runs with several pools): cross-pool totals, one row per pool and an
  ``all pools`` row: ``pool``, ``groups``, ``groups_placed`` (by the placement pass),
  ``servers_end``, ``servers_purchased``, ``total_cost``, ``purchase_cost``, ``cpu_utilisation``,
  ``memory_utilisation``, ``risk``, ``shape_vs_peak_packing_cost`` (planner.pools.pool_totals).
* **comparison** (optional sheet, what-if): one row per scenario: ``scenario``, ``total_cost``
  (currency), ``servers`` (installed at the end of the horizon), ``servers_<type>`` columns,
  ``cpu_utilisation``, ``memory_utilisation`` (fraction), ``risk`` (slot-hours); the ``delta_*``
  columns against the base scenario are added here.
* **summary**: a mapping of metric name → value (nested mappings are flattened with dots), e.g.
  the run's ``summary.json``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

__all__ = [
    "Block",
    "ChartSpec",
    "SheetBlocks",
    "backtest_charts",
    "backtest_frames",
    "EMPTY_NOTE_PREFIX",
    "EXCEL_MAX_ROWS",
    "SHEET_COLUMNS",
    "column_from_header",
    "comparison_frame",
    "default_charts",
    "header",
    "plan_to_frames",
    "unit_of",
    "weekly_frame",
]

#: Size in pixels of the charts beside the Summary page's tables (three stacked, one printed page).
SUMMARY_CHART = (520, 260)

#: Excel's row limit, header row included.
EXCEL_MAX_ROWS = 1_048_576

#: The listed columns of each sheet, in order (documented in the module docstring).
SHEET_COLUMNS: dict[str, tuple[str, ...]] = {
    "Plan": (
        "week", "pool", "server_type", "required", "installed", "purchased", "cost",
        "cpu_utilisation", "memory_utilisation", "headroom", "risk",
    ),
    "Purchases": ("week", "pool", "server_type", "purchased", "arrives_week", "cost"),
    "Assignment": ("week", "group_id", "shard", "worker_id", "server_type", "pool", "share"),
    "Utilisation": ("week", "pool", "worker_id", "server_type", "slot", "cpu_utilisation", "memory_utilisation"),
    "QoS": ("customer", "tier", "quantile", "headroom", "risk"),
    "Forecast": ("unique_id", "ds", "resource", "mean", "q50", "q90", "q95", "q99"),
}
# Columns a sheet cannot do without; the others (e.g. week on Assignment) are optional.
_REQUIRED = {
    "Plan": SHEET_COLUMNS["Plan"],
    "Purchases": SHEET_COLUMNS["Purchases"],
    "Assignment": ("group_id", "shard", "worker_id", "server_type", "share"),
    "Utilisation": ("worker_id", "server_type", "slot", "cpu_utilisation", "memory_utilisation"),
    "QoS": ("customer", "tier", "quantile", "headroom", "risk"),
    "Forecast": ("unique_id", "ds", "resource", "mean"),
}
_SORT = {
    "Plan": ("week", "pool", "server_type"),
    "Purchases": ("week", "pool", "server_type"),
    "Assignment": ("week", "worker_id", "group_id", "shard"),
    "Utilisation": ("week", "pool", "worker_id", "slot"),
    "QoS": ("customer", "tier"),
    "Forecast": ("unique_id", "resource", "ds"),
}

# Unit of each column; the spreadsheet derives the number format from it.
_UNITS = {
    "required": "servers", "installed": "servers", "purchased": "servers", "arrived": "servers",
    "servers": "servers", "shortfall": "servers",
    "cost": "currency", "total_cost": "currency", "purchase_cost": "currency",
    # summary.json's: without these, "installed_" read the fleet's cost as servers
    "installed_fleet_cost": "currency", "cost_change_vs_installed": "currency",
    "unserved_risk": "slot-hours", "risk_slot_hours": "slot-hours",
    "cold_start_rate": "%",  # a share of invocations: 1.000 read as a count
    "cumulative_cost": "currency",
    "cpu_utilisation": "%", "memory_utilisation": "%", "headroom": "%", "share": "%",
    "risk": "slot-hours",
    "energy_kwh": "kWh", "carbon_kg": "kgCO2e", "carbon_operational_kg": "kgCO2e", "carbon_embodied_kg": "kgCO2e",
    "carbon_cost": "currency", "redundancy_cost_per_month_peak": "currency", "redundancy_cost_over_horizon": "currency",
    "slot": "hour of week", "arrives_week": "week",
    # backtests
    "hindsight_cost": "currency", "peak_cost": "currency", "peak_hindsight_cost": "currency",
    "plan_cost_per_month": "currency", "hindsight_cost_per_month": "currency",
    "plan_servers": "servers", "peak_servers": "servers", "hindsight_servers": "servers",
    "slot_hours": "slot-hours", "overflow_hours": "slot-hours", "overflow_share": "%", "target": "%",
    "worst": "%",
    # the review page and the Why sheet
    "order_week": "week", "need_week": "week", "lead_time_weeks": "weeks", "growth": "server-equivalents",
    "share_of_growth": "%", "expected_overflow_share": "%", "planned_peak_week0": "server-equivalents",
    "overflow_risk": "%", "overflow_probability": "%", "predicted_overflow_probability": "%",
    "predicted_overflow_share": "%",
    "planned_peak_need_week": "server-equivalents",
    "cpu_cores": "cores", "memory_gb": "GB",
    "mean": "resource unit", "q50": "resource unit", "q90": "resource unit",
    "q95": "resource unit", "q99": "resource unit",
}
_PREFIX_UNITS = (("installed_", "servers"), ("servers_", "servers"), ("required_", "servers"))


def unit_of(column: str) -> str | None:
    """Unit of a column (``"servers"``, ``"currency"``, ``"%"``, ...) or ``None`` when unitless."""
    name = column
    if name.startswith("delta_"):
        if name.endswith("_pct"):
            return "%"
        name = name[len("delta_"):]
    if name in _UNITS:
        return _UNITS[name]
    for prefix, unit in _PREFIX_UNITS:
        if name.startswith(prefix):
            return unit
    return None


def header(column: str) -> str:
    """Workbook header of a column: the CSV name with its unit, ``installed [servers]``."""
    unit = unit_of(column)
    return f"{column} [{unit}]" if unit else column


_HEADER_UNIT = re.compile(r"\s\[[^\]]*\]$")


def column_from_header(text: str) -> str:
    """Inverse of :func:`header`: ``"installed [servers]"`` → ``"installed"``."""
    return _HEADER_UNIT.sub("", str(text))


@dataclass(frozen=True)
class ChartSpec:
    """A native Excel chart drawn from the columns of one sheet.

    Args:
        title: chart title.
        sheet: sheet that holds the data (one row per category).
        categories: column of the x-axis labels.
        values: columns drawn as the primary series.
        kind: ``"column"``, ``"bar"`` or ``"line"``.
        stacked: stack the primary series (column and bar charts).
        line_values: columns drawn as lines on a secondary y-axis (a column/line combination).
        x_title, y_title, y2_title: axis titles (with units).
        y_percent: format the primary y-axis as a percentage.
        anchor_sheet: sheet on which the chart is placed; ``None`` = the data sheet.
        anchor_cell: top-left cell of the chart, e.g. ``"E2"``.
        rows: ``(first, last)`` data rows drawn (1-based, header excluded); ``None`` = all rows.
        size: ``(width, height)`` in pixels.
        styles: per primary series, xlsxwriter series options (``marker``, ``line``), e.g. to keep
            lines that coincide apart.
    """

    title: str
    sheet: str
    categories: str
    values: tuple[str, ...]
    kind: str = "column"
    stacked: bool = False
    line_values: tuple[str, ...] = ()
    x_title: str = ""
    y_title: str = ""
    y2_title: str = ""
    y_percent: bool = False
    anchor_sheet: str | None = None
    anchor_cell: str = "E2"
    rows: tuple[int, int] | None = None
    size: tuple[int, int] = (640, 300)
    styles: tuple[dict, ...] = ()

    def __post_init__(self):
        if self.kind not in ("column", "bar", "line"):
            raise ValueError(f"ChartSpec {self.title!r}: kind={self.kind!r}; use 'column', 'bar' or 'line'")
        if not self.values:
            raise ValueError(f"ChartSpec {self.title!r}: values must name at least one column")


@dataclass(frozen=True)
class Block:
    """A titled table on a page of blocks (the Summary sheet); ``empty`` is shown when it has no row."""

    title: str
    table: pd.DataFrame
    empty: str = "none"
    note: str = ""


@dataclass(frozen=True)
class SheetBlocks:
    """A sheet laid out as a heading and titled tables one below the other (not one table)."""

    heading: str
    subheading: str
    blocks: tuple[Block, ...]

    @property
    def width(self) -> int:
        """Columns used by the widest block."""
        return max([len(b.table.columns) for b in self.blocks] + [1])


def _check_columns(frame: pd.DataFrame, sheet: str) -> pd.DataFrame:
    if not isinstance(frame, pd.DataFrame):
        raise ValueError(f"{sheet}: expected a pandas DataFrame, got {type(frame).__name__}")
    missing = [c for c in _REQUIRED[sheet] if c not in frame.columns]
    if missing:
        raise ValueError(f"{sheet} table: missing column(s) {missing}; it has {list(frame.columns)}")
    return frame


def _check(frame: pd.DataFrame, sheet: str) -> pd.DataFrame:
    _check_columns(frame, sheet)
    # rows of several scenarios stacked (a what-if): the scenario first, in the order given (base first)
    lead = ["scenario"] if "scenario" in frame.columns else []
    listed = lead + [c for c in SHEET_COLUMNS[sheet] if c in frame.columns]
    extra = [c for c in frame.columns if c not in listed]
    out = frame[listed + extra]
    keys = [c for c in _SORT[sheet] if c in out.columns]
    if lead:
        rank = pd.Index(pd.unique(out["scenario"])).get_indexer(out["scenario"])
        out = out.assign(_scenario_rank=rank)
        return out.sort_values(["_scenario_rank", *keys], kind="stable", ignore_index=True).drop(columns="_scenario_rank")
    return out.sort_values(keys, kind="stable", ignore_index=True) if keys else out.reset_index(drop=True)


#: The first data cell of a sheet without rows starts with this, then says why (planner.export.spreadsheet
#: writes it; read_plan_workbook reads such a sheet back as an empty table).
EMPTY_NOTE_PREFIX = "no rows: "


def _why_empty(sheet: str, given: bool, summary: Mapping | None) -> str:
    """The line an empty sheet shows instead of rows."""
    if sheet == "Purchases" and given:
        from planner.export.review import nothing_to_buy_text

        return EMPTY_NOTE_PREFIX + "nothing is bought; " + nothing_to_buy_text(summary or {}).removeprefix("nothing: ")
    if not given:
        return EMPTY_NOTE_PREFIX + f"this workbook was written without the {sheet} table"
    return EMPTY_NOTE_PREFIX + f"the run's {sheet} table is empty"


def _empty(sheet: str) -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype="object") for c in _REQUIRED[sheet]})


def weekly_frame(plan: pd.DataFrame) -> pd.DataFrame:
    """One row per week: installed servers per type, totals, cost, cumulative cost, utilisation.

    Columns: ``week``, ``week_start`` (when the plan has it), ``installed_<type>`` (servers, one per
    server type, sorted), ``installed``,
    ``required``, ``purchased`` (servers), ``cost``, ``cumulative_cost`` (currency),
    ``cpu_utilisation``, ``memory_utilisation`` (installed-weighted mean over types, 0–1), ``risk``
    (sum, slot-hours). This sheet feeds the charts.
    """
    plan = _check(plan, "Plan")
    weeks = pd.Index(sorted(plan["week"].unique()), name="week")
    by_type = plan.pivot_table(
        index="week", columns="server_type", values="installed", aggfunc="sum", fill_value=0, sort=True
    ).reindex(weeks, fill_value=0)
    by_type.columns = [f"installed_{t}" for t in by_type.columns]
    grouped = plan.groupby("week", sort=True)
    sums = grouped[["installed", "required", "purchased", "cost", "risk"]].sum().reindex(weeks)
    out = by_type.join(sums[["installed", "required", "purchased", "cost"]])
    out["cumulative_cost"] = out["cost"].cumsum()
    weight = plan["installed"].astype(float)
    for col in ("cpu_utilisation", "memory_utilisation"):
        num = (plan[col].astype(float) * weight).groupby(plan["week"]).sum()
        den = weight.groupby(plan["week"]).sum()
        out[col] = (num / den.where(den > 0)).reindex(weeks)
    out["risk"] = sums["risk"]
    for col in ("energy_kwh", "carbon_kg"):  # issue 17: energy and carbon per week, when planned
        if col in plan.columns:
            out[col] = grouped[col].sum().reindex(weeks)
    out = out.reset_index()
    if "week_start" in plan.columns:  # the date beside the index, as the Summary's orders give both
        out.insert(1, "week_start", pd.to_datetime(grouped["week_start"].first().reindex(weeks).to_numpy()))
    return out


def weekly_mean(weekly: pd.DataFrame, col: str) -> float:
    """The horizon's mean of a Weekly column, weeks weighted by their installed servers: the figure of
    summary.json's ``cpu_utilisation_mean``, the terminal and the what-if comparison (a plain mean
    of the weeks differs when the fleet grows)."""
    if not len(weekly) or col not in weekly:
        return math.nan
    w = weekly["installed"].astype(float) if "installed" in weekly else pd.Series(1.0, index=weekly.index)
    ok = weekly[col].notna() & (w > 0)
    return float(np.average(weekly.loc[ok, col], weights=w[ok])) if ok.any() else math.nan


def comparison_frame(comparison: pd.DataFrame, base: str | None = None) -> pd.DataFrame:
    """Add ``delta_<col>`` (value − base value) for every numeric column, and ``delta_total_cost_pct``.

    Args:
        comparison: one row per scenario with a ``scenario`` column (see the module docstring).
        base: the base scenario's name; ``None`` = the first row.
    """
    if "scenario" not in comparison.columns:
        raise ValueError(f"comparison table: missing column 'scenario'; it has {list(comparison.columns)}")
    out = comparison.drop(columns=[c for c in comparison.columns if c.startswith("delta_")]).reset_index(drop=True)
    if out.empty:
        return out
    names = out["scenario"].astype(str)
    if base is None:
        base = names.iloc[0]
    if base not in set(names):
        raise ValueError(f"comparison table: base scenario {base!r} is not among {sorted(set(names))}")
    base_row = out[names == base].iloc[0]
    numeric = [c for c in out.columns if c != "scenario" and pd.api.types.is_numeric_dtype(out[c])]
    for col in numeric:
        delta = out[col] - base_row[col]
        # a solver's rounding (-1.9e-11 of utilisation) is no change: it read "-0.0%"
        scale = max(float(out[col].abs().max()), 1.0)
        out[f"delta_{col}"] = delta.where(delta.abs() > 1e-9 * scale, 0.0)
    if "total_cost" in numeric:
        ref = float(base_row["total_cost"])
        out["delta_total_cost_pct"] = (out["total_cost"] - ref) / ref if ref else np.nan
    out.insert(1, "base", names == base)
    return out


def _flatten(mapping: Mapping, prefix: str = "") -> list[tuple[str, object]]:
    rows = []
    for key in mapping:
        value = mapping[key]
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            rows.extend(_flatten(value, name + "."))
        elif isinstance(value, (list, tuple)) and any(isinstance(v, Mapping) for v in value):
            # records (orders, drivers) as words, not Python's "{'order': 1, ...}"
            rows.append((name, "; ".join(", ".join(f"{k} {x}" for k, x in v.items()) if isinstance(v, Mapping)
                                         else str(v) for v in value)))
        elif isinstance(value, (list, tuple)):
            rows.append((name, ", ".join(str(v) for v in value)))
        else:
            rows.append((name, value))
    return rows


def _total_risk(plan: pd.DataFrame, summary: Mapping | None) -> float:
    """The run's one risk total (planner.risk) when the summary carries it, else the Plan's sum."""
    risk = (summary or {}).get("risk")
    if isinstance(risk, Mapping) and "total_slot_hours" in risk:
        return float(risk["total_slot_hours"])
    return float(plan["risk"].sum())


def _detail_unit(name: str) -> str:
    """Unit of a summary.json entry on the Details sheet: its last name's, except forecast coverage
    (``forecast_calibration.coverage.w1-2.q99`` is a share of hours, not the q99's resource unit)."""
    parts = name.split(".")
    if parts[0] == "forecast_calibration" and len(parts) > 2 and parts[1].startswith("coverage"):
        return "%"
    return unit_of(parts[-1]) or ""


def _summary_frame(plan: pd.DataFrame, weekly: pd.DataFrame, summary: Mapping | None, notes: list[str]):
    last = weekly.iloc[-1] if len(weekly) else None
    shortfall = (plan["required"] - plan["installed"]).clip(lower=0)
    rows: list[tuple[str, object, str]] = [
        ("weeks", int(plan["week"].nunique()), "weeks"),
        ("total_cost", float(plan["cost"].sum()), "currency"),
        ("purchased", float(plan["purchased"].sum()), "servers"),
        ("installed_at_end", float(last["installed"]) if last is not None else 0.0, "servers"),
        ("peak_required", float(weekly["required"].max()) if len(weekly) else 0.0, "servers"),
        ("weeks_with_shortfall", int(plan.loc[shortfall > 0, "week"].nunique()), "weeks"),
        ("max_shortfall", float(shortfall.max()) if len(plan) else 0.0, "servers"),
        ("mean_cpu_utilisation", weekly_mean(weekly, "cpu_utilisation"), "%"),
        ("mean_memory_utilisation", weekly_mean(weekly, "memory_utilisation"), "%"),
        ("total_risk", _total_risk(plan, summary), "slot-hours"),
    ]
    for i, warning in enumerate((summary or {}).get("plan_warnings") or []):
        rows.insert(i, ("WARNING", warning, ""))
    if last is not None:
        for col in weekly.columns:
            if col.startswith("installed_"):
                rows.append((f"{col}_at_end", float(last[col]), "servers"))
    listed = {name for name, _, _ in rows}
    for name, value in _flatten({k: v for k, v in (summary or {}).items() if k != "plan_warnings"}):
        if name in listed:  # e.g. weeks, total_cost: the plan's own figure above, not twice
            continue
        if not isinstance(value, (int, float, np.integer, np.floating, bool, np.bool_)) or isinstance(value, bool):
            value = "" if value is None else str(value)
        rows.append((name, value, _detail_unit(name)))
    for i, note in enumerate(notes):
        rows.append((f"note_{i + 1}", note, ""))
    return pd.DataFrame(rows, columns=["metric", "value", "unit"])


def _cap_rows(frame: pd.DataFrame, sheet: str, max_rows: int, notes: list[str]) -> pd.DataFrame:
    if len(frame) <= max_rows:
        return frame
    notes.append(f"sheet {sheet} shows the first {max_rows:,} of {len(frame):,} rows; the CSV/Parquet table has all")
    return frame.iloc[:max_rows]


def _largest_forecast(forecast: pd.DataFrame, max_rows: int, notes: list[str]) -> pd.DataFrame:
    """Keep the groups with the largest mean forecast so the sheet fits ``max_rows`` (whole groups)."""
    if len(forecast) <= max_rows:
        return forecast
    size = forecast.groupby("unique_id", sort=True)["mean"].max()
    order = size.sort_values(ascending=False, kind="stable").index
    counts = forecast.groupby("unique_id", sort=True).size().reindex(order)
    keep = order[(counts.cumsum() <= max_rows).to_numpy()]
    if len(keep) == 0:
        keep = order[:1]
    notes.append(
        f"sheet Forecast shows the {len(keep):,} largest of {len(order):,} groups; the CSV/Parquet table has all"
    )
    out = forecast[forecast["unique_id"].isin(set(keep))]
    return out.iloc[:max_rows].reset_index(drop=True)


def plan_to_frames(
    plan: pd.DataFrame,
    *,
    purchases: pd.DataFrame | None = None,
    assignment: pd.DataFrame | None = None,
    utilisation: pd.DataFrame | None = None,
    qos: pd.DataFrame | None = None,
    forecast: pd.DataFrame | None = None,
    profiles: pd.DataFrame | None = None,
    pools: pd.DataFrame | None = None,
    comparison: pd.DataFrame | None = None,
    base_scenario: str | None = None,
    summary: Mapping | None = None,
    orders: pd.DataFrame | None = None,
    why: pd.DataFrame | None = None,
    max_rows: int = 100_000,
    leave_out: Mapping[str, str] | None = None,
    empty_notes: Mapping[str, str] | None = None,
    extra_notes: Sequence[str] = (),
) -> dict[str, pd.DataFrame | SheetBlocks]:
    """Shape the plan's tables into workbook sheets (pure: no file is read or written).

    Args:
        plan: the Plan table (required); the other frames are described in the module docstring.
            A missing table (``None``) gives an empty sheet with the listed headers, so every
            workbook has the same sheets; ``profiles`` and ``comparison`` sheets appear only when given.
        base_scenario: the base of the comparison's deltas (``None`` = its first row).
        summary: the run's summary.json: the Summary page reads its review block (orders, costs,
            risk against targets, drivers, warnings); the Details sheet lists every metric after
            the ones computed from the plan.
        orders: :func:`planner.review.purchase_orders` (order and need weeks with dates); ``None``
            derives them from ``purchases``.
        why: :func:`planner.review.why_purchases`, the Why sheet (shown only when given).
        max_rows: largest number of data rows per sheet (Excel holds 1,048,576); the Forecast
            sheet keeps whole groups, largest first; a note on the Details sheet says what was cut.
        leave_out: table sheets (Purchases, Assignment, Utilisation, QoS, Forecast) not to write,
            each with the reason, which a Details note gives (a what-if keeps no assignment).
        empty_notes: the line a table sheet without rows shows, per sheet (default: why it is
            empty, e.g. nothing is bought); an empty sheet always shows one (``attrs["empty_note"]``).
        extra_notes: the caller's notes for the Details sheet, after the workbook's own.

    Returns:
        Sheet name → DataFrame (the Summary page: :class:`SheetBlocks`), in workbook order:
        Summary, [Why,] Weekly, Plan, Purchases, Assignment, Utilisation, QoS, Forecast[, Profiles]
        [, Pools][, Comparison], Details (minus ``leave_out``). Column names are the CSV names; a
        table given with a ``scenario`` column (several scenarios stacked) keeps it first and the
        scenarios in the order given.

    Raises:
        ValueError: a table misses a column it needs (the message names the table and column).
    """
    if not 1 <= max_rows < EXCEL_MAX_ROWS:
        raise ValueError(f"max_rows={max_rows}: must be between 1 and {EXCEL_MAX_ROWS - 1}")
    notes: list[str] = []
    plan_sheet = _check(plan, "Plan")
    weekly = weekly_frame(plan_sheet)
    sheets: dict[str, pd.DataFrame] = {}
    inputs = {
        "Purchases": purchases,
        "Assignment": assignment,
        "Utilisation": utilisation,
        "QoS": qos,
        "Forecast": forecast,
    }
    body: dict[str, pd.DataFrame] = {"Weekly": weekly, "Plan": _cap_rows(plan_sheet, "Plan", max_rows, notes)}
    leave_out = dict(leave_out or {})
    unknown = set(leave_out) - set(inputs)
    if unknown:
        raise ValueError(f"leave_out: {sorted(unknown)} are not table sheets; choose among {list(inputs)}")
    for sheet, frame in inputs.items():
        if sheet in leave_out:
            notes.append(f"sheet {sheet} is left out of this workbook: {leave_out[sheet]}")
            continue
        if sheet == "Forecast" and frame is not None and len(frame) > max_rows:
            # Cut whole groups before sorting: a fleet's forecast has tens of millions of rows.
            frame = _largest_forecast(_check_columns(frame, sheet), max_rows, notes)
        table = _empty(sheet) if frame is None else _check(frame, sheet)
        table = _cap_rows(table, sheet, max_rows, notes)
        if table.empty:  # never a header alone: the sheet says why (planner.export.spreadsheet)
            table = table.copy()
            table.attrs["empty_note"] = (empty_notes or {}).get(sheet) or _why_empty(sheet, frame is not None, summary)
        body[sheet] = table
    if profiles is not None:
        body["Profiles"] = _cap_rows(profiles.reset_index(drop=True), "Profiles", max_rows, notes)
    if pools is not None and len(pools) > 2:  # one pool and its total say nothing the Plan does not
        body["Pools"] = pools.reset_index(drop=True)
    if comparison is not None:
        body["Comparison"] = comparison_frame(comparison, base_scenario)
    from planner.export.review import review_sheet

    sheets["Summary"] = review_sheet(plan_sheet, weekly, summary, orders=orders, purchases=purchases)
    if why is not None:
        sheets["Why"] = why.reset_index(drop=True)
        if sheets["Why"].empty:
            from planner.export.review import nothing_to_buy_text

            sheets["Why"].attrs["empty_note"] = (EMPTY_NOTE_PREFIX + "no order to explain: "
                                                 + nothing_to_buy_text(summary or {}))
    sheets.update(body)
    sheets["Details"] = _summary_frame(plan_sheet, weekly, summary, notes + list(extra_notes))
    return sheets


def default_charts(frames: Mapping[str, pd.DataFrame]) -> list[ChartSpec]:
    """The standard charts, placed on the Summary sheet and drawn from the Weekly sheet.

    Servers per week by type (stacked columns), cost per week (columns) with the cumulative cost
    (line, secondary axis), utilisation per week (lines); and, when there is a Comparison sheet,
    total cost per scenario on it.
    """
    charts: list[ChartSpec] = []
    weekly = frames.get("Weekly")
    summary = frames.get("Summary")
    col = _column_letter(summary.width + 1 if isinstance(summary, SheetBlocks) else 4)
    if weekly is not None and len(weekly):
        types = tuple(c for c in weekly.columns if c.startswith("installed_"))
        charts.append(
            ChartSpec(
                title="Servers installed per week by type", sheet="Weekly", categories="week",
                values=types, kind="column", stacked=True, x_title="week", y_title="servers",
                anchor_sheet="Summary", anchor_cell=f"{col}2", size=SUMMARY_CHART,
            )
        )
        charts.append(
            ChartSpec(
                title="Cost per week", sheet="Weekly", categories="week", values=("cost",),
                kind="column", line_values=("cumulative_cost",), x_title="week",
                y_title="cost per week [currency]", y2_title="cumulative cost [currency]",
                anchor_sheet="Summary", anchor_cell=f"{col}16", size=SUMMARY_CHART,
            )
        )
        charts.append(
            ChartSpec(
                title="Expected utilisation per week (mean over the week's hours)", sheet="Weekly",
                categories="week", values=("cpu_utilisation", "memory_utilisation"), kind="line", x_title="week",
                y_title="utilisation [%]", y_percent=True, anchor_sheet="Summary", anchor_cell=f"{col}30",
                size=SUMMARY_CHART,
            )
        )
    comparison = frames.get("Comparison")
    if comparison is not None and len(comparison) and "total_cost" in comparison.columns:
        charts.append(
            ChartSpec(
                title="Total cost per scenario", sheet="Comparison", categories="scenario",
                values=("total_cost",), kind="column", x_title="scenario", y_title="total cost [currency]",
                anchor_sheet="Comparison", anchor_cell=f"A{len(comparison) + 4}",
            )
        )
    return charts


def _column_letter(index: int) -> str:
    """Excel column letters of a 0-based column index (0 -> A, 26 -> AA)."""
    out = ""
    index += 1
    while index:
        index, rem = divmod(index - 1, 26)
        out = chr(65 + rem) + out
    return out


def backtest_frames(tables: Mapping[str, pd.DataFrame], summary: Mapping) -> dict[str, pd.DataFrame]:
    """Sheets of a backtest workbook: Backtest (one row per origin: plan, peak-based and hindsight
    costs, their ratios, whether every tier stayed within its overflow target), Backtest weeks
    (servers per week of each plan), Backtest tiers (``by_tier.csv``), Backtest customers and Backtest
    warnings (each origin's forecast fallbacks and the planning's warnings, as the terminal said them)."""
    from planner.export.review import backtest_warnings, fallback_text

    per = list(summary.get("origins") or [summary])
    head = pd.DataFrame([{k: p.get(k) for k in ("origin", "cost", "hindsight_cost", "cost_vs_hindsight", "peak_cost",
                                                 "peak_hindsight_cost", "peak_vs_hindsight", "peak_cost_vs_hindsight",
                                                 "overflow_within_target", "peak_overflow_within_target")}
                         # the terminal's fallback words per origin (an origin's fallbacks were shown nowhere else)
                         | {"forecast_fallbacks": fallback_text(p["forecast_fallbacks"])
                            if p.get("forecast_fallbacks") else ""} for p in per])
    if len(head):  # a date like the other sheets' origin, not the text "2026-09-28 00:00:00"
        head["origin"] = pd.to_datetime(head["origin"])
    weekly = tables["weekly"]
    weekly = weekly[["origin", *[c for c in weekly.columns if c != "origin"]]]
    warn = pd.DataFrame({"warning": pd.Series(backtest_warnings(summary), dtype=object)})
    if warn.empty:
        warn.attrs["empty_note"] = EMPTY_NOTE_PREFIX + "no warning: no forecast fell back and the planning said nothing"
    return {"Backtest": head, "Backtest weeks": weekly.reset_index(drop=True),
            "Backtest tiers": tables["by_tier"].reset_index(drop=True),
            "Backtest customers": tables["by_customer"].reset_index(drop=True), "Backtest warnings": warn}


def backtest_charts(frames: Mapping[str, pd.DataFrame]) -> list[ChartSpec]:
    """One chart per origin on the Backtest sheet: servers per week of the plan, the peak-based plan
    and the hindsight plan (the right amount), drawn from that origin's rows of Backtest weeks."""
    weekly = frames["Backtest weeks"]
    charts, top = [], len(frames["Backtest"]) + 4
    origins = weekly["origin"].astype(str).to_numpy()
    for i, origin in enumerate(dict.fromkeys(origins)):
        idx = np.flatnonzero(origins == origin)
        charts.append(ChartSpec(
            title=f"Servers per week from origin {origin[:10]}", sheet="Backtest weeks", categories="week",
            values=("plan_servers", "peak_servers", "hindsight_servers"), kind="line", x_title="week",
            y_title="servers", anchor_sheet="Backtest", anchor_cell=f"A{top + 17 * i}",
            rows=(int(idx[0]) + 1, int(idx[-1]) + 1),
            # the plan often equals hindsight: a large marker under a dashed line keeps both visible
            styles=({"marker": {"type": "circle", "size": 8}},
                    {"marker": {"type": "square", "size": 5}},
                    {"marker": {"type": "x", "size": 7}, "line": {"dash_type": "dash"}})))
    return charts
