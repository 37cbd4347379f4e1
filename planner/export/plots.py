"""PNG plots of a plan, drawn with matplotlib's Agg canvas (no display, no global pyplot state).

Each function takes DataFrames (the same tables as :mod:`planner.export.tables`), writes one PNG
atomically and returns its path:

* :func:`plot_forecast_vs_history`: history and forecast (mean and a quantile band) of the largest
  groups. History is ResourceDemand (``group_id``, ``ds``, ``cpu_cores``, ``memory_gb``), the
  forecast is the Forecast table (``unique_id``, ``ds``, ``resource``, ``mean``, ``q50``…``q99``).
* :func:`plot_servers_by_type`: installed servers per week by type (stacked bars) with the required
  total, from the Plan table.
* :func:`plot_utilisation_heatmap`: workers × hours of the representative week, from the
  Utilisation table (``worker_id``, ``slot``, ``cpu_utilisation``/``memory_utilisation``; ``week``
  optional).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from planner.io import atomic_path

__all__ = ["plot_forecast_vs_history", "plot_servers_by_type", "plot_utilisation_heatmap", "write_plots"]

_DPI = 110
_LABELS = {"cpu_utilisation": "CPU utilisation", "memory_utilisation": "Memory utilisation"}


def _figure(width: float, height: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _save(fig, path: str | os.PathLike) -> Path:
    path = Path(path)
    with atomic_path(path) as tmp:
        # no Software/date metadata, so the same plan gives the same bytes
        fig.savefig(tmp, format="png", dpi=_DPI, metadata={"Software": None})
    return path


def png_bytes(fig) -> bytes:
    """The figure as PNG bytes (for report.html, which inlines its images)."""
    import io

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=_DPI, metadata={"Software": None})
    return buf.getvalue()


def _missing(frame: pd.DataFrame, columns, what: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"{what}: missing column(s) {missing}; it has {list(frame.columns)}")


# The forecast-against-history figure's defaults: the resource shown and how many of the largest
# groups (planner.pipeline.profiled_demand keeps those groups' history rows).
FIGURE_RESOURCE, FIGURE_GROUPS = "cpu_cores", 4


def plot_forecast_vs_history(
    history: pd.DataFrame,
    forecast: pd.DataFrame,
    path: str | os.PathLike,
    *,
    resource: str = FIGURE_RESOURCE,
    n_groups: int = FIGURE_GROUPS,
    band: tuple[str, str] = ("q50", "q99"),
) -> Path:
    """History against forecast for the ``n_groups`` groups with the largest historical peak (PNG);
    see :func:`forecast_vs_history_figure`."""
    return _save(forecast_vs_history_figure(history, forecast, resource=resource, n_groups=n_groups, band=band), path)


def forecast_vs_history_figure(
    history: pd.DataFrame,
    forecast: pd.DataFrame,
    *,
    resource: str = FIGURE_RESOURCE,
    n_groups: int = FIGURE_GROUPS,
    band: tuple[str, str] = ("q50", "q99"),
):
    """History against forecast for the ``n_groups`` groups with the largest historical peak.

    Args:
        history: ResourceDemand: ``group_id`` (or ``unique_id``), ``ds``, and the ``resource`` column.
        forecast: Forecast table: ``unique_id``, ``ds``, ``resource``, ``mean`` and the ``band`` columns.
        resource: ``"cpu_cores"`` or ``"memory_gb"``.
        n_groups: how many groups (one panel each).
        band: the two quantile columns shaded between (skipped when absent).
    Returns the matplotlib Figure.
    """
    id_col = _id_column(history)
    groups = figure_groups(history, forecast, resource=resource, n_groups=n_groups)
    of_resource = (forecast["resource"] == resource).to_numpy()
    fig = _figure(10, 2.4 * max(1, len(groups)))
    axes = fig.subplots(max(1, len(groups)), 1, squeeze=False)[:, 0]
    if not groups:
        axes[0].text(0.5, 0.5, "no group to show", ha="center", va="center", transform=axes[0].transAxes)
    for ax, group in zip(axes, groups):
        h = history[history[id_col] == group].sort_values("ds")
        f = forecast[of_resource & (forecast["unique_id"] == group).to_numpy()].sort_values("ds")
        ax.plot(h["ds"], h[resource], color="0.35", lw=0.8, label="history")
        ax.plot(f["ds"], f["mean"], color="tab:blue", lw=1.0, label="forecast mean")
        if all(b in f.columns for b in band):
            ax.fill_between(f["ds"], f[band[0]], f[band[1]], color="tab:blue", alpha=0.2, label=f"{band[0]}–{band[1]}")
        ax.set_title(str(group), fontsize=9, loc="left")
        ax.set_ylabel(resource.replace("_", " "))
        ax.legend(loc="upper left", fontsize=7, ncols=3)
    axes[-1].set_xlabel("hour (history, then the horizon's forecast)")
    fig.suptitle(f"Forecast against history ({resource}), largest {len(groups)} groups")
    return fig


def _id_column(history: pd.DataFrame) -> str:
    return "group_id" if "group_id" in history.columns else "unique_id"


def figure_groups(history: pd.DataFrame, forecast: pd.DataFrame, *, resource: str = FIGURE_RESOURCE,
                  n_groups: int = FIGURE_GROUPS, peaks: pd.Series | None = None) -> list:
    """The groups :func:`forecast_vs_history_figure` shows: the ``n_groups`` largest historical peaks
    of ``resource`` among the groups ``forecast`` holds (all groups when it holds none). ``peaks``:
    ``history``'s peak of ``resource`` per group, when the caller has it (a fleet's is seconds)."""
    id_col = _id_column(history)
    _missing(history, (id_col, "ds", resource), "history")
    _missing(forecast, ("unique_id", "ds", "resource", "mean"), "forecast")
    from planner.demand import group_max

    # Masks, not copies: a fleet's forecast has tens of millions of rows and its history more;
    # only the chosen groups' rows are taken.
    of_resource = (forecast["resource"] == resource).to_numpy()
    peaks = group_max(history, id_col, resource) if peaks is None else peaks
    if of_resource.any():
        peaks = peaks[peaks.index.isin(set(forecast["unique_id"][of_resource].unique()))]
    return list(peaks.sort_values(ascending=False, kind="stable").index[:n_groups])


def figure_rows(history: pd.DataFrame, forecast: pd.DataFrame, **kw) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The rows of ``history`` and ``forecast`` that :func:`forecast_vs_history_figure` reads (its
    groups' rows, the forecast's of its resource); the figure drawn from them is the same. What a
    process that draws it is sent (a fleet's forecast and history are gigabytes)."""
    groups = set(figure_groups(history, forecast, **kw))
    resource = kw.get("resource", FIGURE_RESOURCE)
    h = history[history[_id_column(history)].isin(groups).to_numpy()]
    f = forecast[((forecast["resource"] == resource) & forecast["unique_id"].isin(groups)).to_numpy()]
    return h, f


def plot_servers_by_type(plan: pd.DataFrame, path: str | os.PathLike) -> Path:
    """Stacked bars of installed servers per week and type, with the required total (PNG)."""
    return _save(servers_by_type_figure(plan), path)


def servers_by_type_figure(plan: pd.DataFrame):
    """Stacked bars of installed servers per week and type, with the required total as a step line.

    Args:
        plan: the Plan table (``week``, ``server_type``, ``installed``, ``required``).
    """
    fig = _figure(9, 4)
    ax = fig.subplots()
    draw_servers_by_type(ax, plan)
    ax.set_title("Servers installed per week by type")
    return fig


def draw_servers_by_type(ax, plan: pd.DataFrame) -> None:
    """Stacked bars of installed servers per week and type and the required total as stairs on
    ``ax`` (this figure's and report.html's: the same drawing)."""
    _missing(plan, ("week", "server_type", "installed", "required"), "plan")
    pivot = plan.pivot_table(index="week", columns="server_type", values="installed", aggfunc="sum", fill_value=0)
    required = plan.groupby("week", sort=True)["required"].sum().reindex(pivot.index)
    x = np.arange(len(pivot.index))
    bottom = np.zeros(len(x))
    for stype in pivot.columns:
        values = pivot[stype].to_numpy(dtype=float)
        ax.bar(x, values, bottom=bottom, label=str(stype))
        bottom += values
    need = required.to_numpy(dtype=float)
    # Over each bar's whole width (a mid step left half of the first and last weeks out), and with
    # room above: at the axis' top edge the line of the peak weeks was hidden by the frame.
    ax.stairs(need, np.arange(len(x) + 1) - 0.5, color="black", lw=1.2, label="required", baseline=None)
    top = max(float(bottom.max(initial=0.0)), float(np.nanmax(need, initial=0.0)))
    ax.set_ylim(0, top * 1.2 + 0.5)  # the legend sits in the room above the bars
    ax.set_xticks(x, [str(w)[:10] for w in pivot.index], rotation=45 if len(x) > 8 else 0, fontsize=8)
    ax.set_xlabel("week")
    ax.set_ylabel("servers")
    ax.legend(fontsize=8, ncols=min(4, len(pivot.columns) + 1), loc="upper left")


def plot_utilisation_heatmap(
    utilisation: pd.DataFrame,
    path: str | os.PathLike,
    *,
    resource: str = "cpu_utilisation",
    week=None,
    max_workers: int = 80,
) -> Path:
    """Heatmap of utilisation per worker and hour (PNG); see :func:`utilisation_heatmap_figure`."""
    return _save(utilisation_heatmap_figure(utilisation, resource=resource, week=week, max_workers=max_workers), path)


def utilisation_heatmap_figure(
    utilisation: pd.DataFrame,
    *,
    resource: str = "cpu_utilisation",
    week=None,
    max_workers: int = 80,
):
    """Heatmap of utilisation, one row per worker and one column per hour of the representative week.

    Args:
        utilisation: the Utilisation table (``worker_id``, ``slot``, ``resource``; ``week`` optional).
        resource: ``"cpu_utilisation"`` or ``"memory_utilisation"`` (fractions, 0–1).
        week: the week to show; ``None`` = the last week in the table.
        max_workers: show at most this many workers (the busiest).
    """
    _missing(utilisation, ("worker_id", "slot", resource), "utilisation")
    table = utilisation
    title_week = ""
    if "week" in table.columns and len(table):
        chosen = sorted(table["week"].unique())[-1] if week is None else week
        table = table[table["week"] == chosen]
        title_week = f", week {str(chosen)[:10]}"
    grid = table.pivot_table(index="worker_id", columns="slot", values=resource, aggfunc="max", sort=True)
    if len(grid) > max_workers:
        busiest = grid.mean(axis=1).sort_values(ascending=False, kind="stable").index[:max_workers]
        grid = grid.loc[sorted(busiest)]
    fig = _figure(11, max(2.5, 0.12 * len(grid) + 1.5))
    ax = fig.subplots()
    values = grid.to_numpy(dtype=float)
    # the scale ends at 100% unless some worker is planned above it, which must stay visible
    top = max(1.0, float(np.nanmax(values))) if values.size and np.isfinite(values).any() else 1.0
    image = ax.imshow(values, aspect="auto", interpolation="nearest", cmap="viridis", vmin=0, vmax=top)
    ax.set_xlabel("hour of the representative week")
    ax.set_ylabel("worker")
    if len(grid) <= 40:
        ax.set_yticks(np.arange(len(grid)), [str(w) for w in grid.index], fontsize=6)
    else:
        ax.set_yticks([])
    cols = list(grid.columns)
    ticks = [i for i, s in enumerate(cols) if isinstance(s, (int, np.integer)) and s % 24 == 0]
    if ticks:
        ax.set_xticks(ticks, [f"d{cols[i] // 24}" for i in ticks])
    label = _LABELS.get(resource, resource.replace("_", " "))
    # percent ticks like the tables; a short label (a long one ran past a two-worker figure's edges)
    from matplotlib.ticker import PercentFormatter

    bar = fig.colorbar(image, ax=ax, format=PercentFormatter(1.0))
    bar.set_label("% of capacity", fontsize=8)
    ax.set_title(f"{label} per worker and hour{title_week}")
    return fig


def write_plots(
    out_dir: str | os.PathLike,
    *,
    plan: pd.DataFrame,
    history: pd.DataFrame | None = None,
    forecast: pd.DataFrame | None = None,
    utilisation: pd.DataFrame | None = None,
) -> list[Path]:
    """Write the standard PNGs into ``out_dir``: ``servers_by_type.png``, ``forecast_vs_history.png``
    (when history and forecast are given) and ``utilisation_heatmap.png`` (when utilisation is given)."""
    out = Path(out_dir)
    paths = [plot_servers_by_type(plan, out / "servers_by_type.png")]
    if history is not None and forecast is not None:
        paths.append(plot_forecast_vs_history(history, forecast, out / "forecast_vs_history.png"))
    if utilisation is not None and len(utilisation):
        paths.append(plot_utilisation_heatmap(utilisation, out / "utilisation_heatmap.png"))
    return paths
