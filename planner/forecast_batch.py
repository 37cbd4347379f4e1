"""The fleet-scale forecast path: every group's demand series forecast together by matrix algebra
(models/forecasting/batch.py) instead of one statsmodels fit per series.

The pipeline chooses it only at scale (``forecast.method: auto`` with more than
``forecast.batch_above`` series; docs/scale.md has the measured speed and accuracy against the
per-series path). It returns the same ForecastRun (Forecast table and per-series report) with
compact columns: categorical ``unique_id`` and ``resource``, float32 values.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from planner import columns as C
from planner.errors import InputDataError

__all__ = ["demand_matrix_of", "batch_demand_forecast", "BATCH_ABOVE"]

BATCH_ABOVE = 2000  # series; below this the per-series models are affordable


def demand_matrix_of(demand: pd.DataFrame, resources, freq: str, id_col: str = C.GROUP_ID):
    """``(slots, group ids, [slot, group × resource] float32)`` from a long ResourceDemand table;
    missing (group, slot) cells are 0 (a group absent from a slot had no demand)."""
    missing = [c for c in (id_col, C.DS, *resources) if c not in demand.columns]
    if missing:
        raise InputDataError(f"not a ResourceDemand table: missing {missing}", column=missing[0])
    grid = _grid_layout(demand, id_col, freq)
    if grid is not None:  # group-major on a full grid (planner.demand's layout): reshape, no scatter
        slots, ids, n_t = grid
        y = np.empty((n_t, len(ids) * len(resources)), dtype=np.float32)
        for r, res in enumerate(resources):
            values = demand[res].to_numpy(dtype=np.float32)
            if not np.isfinite(values).all():
                raise InputDataError(f"demand column {res!r} holds NaN or infinite values", column=res)
            y[:, r::len(resources)] = values.reshape(len(ids), n_t).T
        return slots, ids, y
    codes, ids = pd.factorize(demand[id_col], sort=True)
    ds = pd.to_datetime(demand[C.DS])
    first = ds.min()
    step = pd.Timedelta(freq)
    offset = ((ds - first) / step).to_numpy()
    if not np.allclose(offset, np.round(offset)):
        raise InputDataError(f"demand timestamps are not on a {freq} grid", column=C.DS)
    t = np.round(offset).astype(np.int64)
    n_t, n_g = int(t.max()) + 1, len(ids)
    y = np.zeros((n_t, n_g * len(resources)), dtype=np.float32)
    for r, res in enumerate(resources):
        values = demand[res].to_numpy(dtype=np.float32)
        if not np.isfinite(values).all():
            raise InputDataError(f"demand column {res!r} holds NaN or infinite values", column=res)
        y[t, codes * len(resources) + r] = values
    slots = pd.date_range(first, periods=n_t, freq=step)
    return slots, [str(i) for i in ids], y


def _grid_layout(demand: pd.DataFrame, id_col: str, freq: str):
    """``(slots, ids, n_slots)`` when ``demand`` lists each group's full slot grid in turn, groups
    in sorted order (what planner.demand writes); else None."""
    key = demand[id_col]
    if not isinstance(key.dtype, pd.CategoricalDtype) or len(demand) == 0:
        return None
    codes = key.cat.codes.to_numpy()
    n_g = len(key.cat.categories)
    if len(demand) % n_g or (np.diff(codes) < 0).any() or codes[0] != 0:
        return None
    n_t = len(demand) // n_g
    ds = demand[C.DS].to_numpy()
    slots = pd.date_range(ds[0], periods=n_t, freq=pd.Timedelta(freq))
    ids = [str(c) for c in key.cat.categories]
    if ids != sorted(ids) or not (codes.reshape(n_g, n_t) == np.arange(n_g)[:, None]).all() \
            or not (ds.reshape(n_g, n_t) == slots.values[None, :]).all():
        return None
    return slots, ids, n_t


def _forecast_block(task):
    from models.forecasting.batch import forecast_matrix

    y, opts = task
    return forecast_matrix(y, opts)


def batch_demand_forecast(demand: pd.DataFrame, horizon: int, *, freq: str = "1h", resources=C.RESOURCES,
                          id_col: str = C.GROUP_ID, levels=(0.5, 0.9, 0.95, 0.99), executor=None,
                          block: int = 4000):
    """Forecast every (group, resource) series ``horizon`` steps past the end of ``demand``.

    Blocks of ``block`` series are independent tasks (run by ``executor``: in this process, or on
    Dask); every series' result depends on that series only, so the output is the same either way.

    Returns:
        planner.forecast.ForecastRun: ``forecast`` (``unique_id, ds, resource, mean, q50, q90, q95,
        q99``) and ``report`` (REPORT_COLUMNS; ``model`` is ``batch:<candidate>``).
    """
    from models.forecasting.batch import BatchOptions
    from planner.forecast import REPORT_COLUMNS, ForecastRun
    from planner.parallel import LocalExecutor

    step = pd.Timedelta(freq)
    slots, ids, y = demand_matrix_of(demand, resources, freq, id_col)
    per_week = int(pd.Timedelta(days=7) / step)
    opts = BatchOptions(horizon=int(horizon), season=per_week,
                        periods=(pd.Timedelta(days=1) / step, float(per_week), pd.Timedelta(days=365.25) / step),
                        recent=8 * per_week, min_fit=2 * per_week,
                        bucket_edges=tuple(int(w * per_week) for w in (0, 2, 6, 13, 26)), levels=tuple(levels))
    ex = executor or LocalExecutor()
    edges = list(range(0, y.shape[1], block)) + [y.shape[1]]
    parts = ex.map(_forecast_block, [(y[:, a:b], opts) for a, b in zip(edges[:-1], edges[1:])])
    n_s, h = y.shape[1], int(horizon)
    mean = np.concatenate([p.mean for p in parts], axis=1)  # [h, S]
    quant = np.concatenate([p.quantiles for p in parts], axis=2)  # [L, h, S]
    model = np.concatenate([p.model for p in parts])
    mase = np.concatenate([p.mase for p in parts])
    scores = np.concatenate([p.scores for p in parts], axis=1)
    notes = {a + j: v for a, p in zip(edges, parts) for j, v in p.notes.items()}
    shifts = {a + j: v for a, p in zip(edges, parts) for j, v in p.shifts.items()}
    cands = parts[0].candidates
    n_origins = parts[0].n_origins
    del parts, y  # the blocks' own copies and the history matrix (~1 GB at 20,000 functions) go first

    # Series-major rows (as the per-series path sorts them: group, resource, ds).
    n_r = len(resources)
    group_codes = np.repeat(np.arange(len(ids), dtype=np.int32), n_r * h)
    res_codes = np.tile(np.repeat(np.arange(n_r, dtype=np.int8), h), len(ids))
    future = pd.date_range(slots[-1] + step, periods=h, freq=step)
    cols = {
        C.UNIQUE_ID: pd.Categorical.from_codes(group_codes, categories=pd.Index(ids)),
        C.DS: np.tile(future.values, n_s),
        C.RESOURCE: pd.Categorical.from_codes(res_codes, categories=pd.Index(list(resources))),
        C.MEAN: mean.T.reshape(-1),
    }
    for j, q in enumerate(C.QUANTILES):
        cols[q] = quant[j].T.reshape(-1)
    forecast = pd.DataFrame(cols)
    del cols, mean, quant
    report = pd.DataFrame({
        C.UNIQUE_ID: np.repeat(ids, n_r), C.RESOURCE: np.tile(list(resources), len(ids)),
        "model": [f"batch:{cands[m]}" for m in model], "detail": "", "mase": mase, "smape": np.nan,
        "n_windows": n_origins, "h_backtest": h, "quantile_scale": "additive",
        # Held-out calibration per series is not measured on this path (benchmarks/forecast_batch.py
        # measures it for the path as a whole).
        "coverage_q90": np.nan, "coverage_q95": np.nan, "coverage_q99": np.nan, "pinball_q95": np.nan,
        "pinball_q99": np.nan, "q99_peak_ratio": np.nan, "n_obs": len(slots), "n_filled": 0,
        "fallback": [i in notes for i in range(n_s)],
        "fallback_reason": ["no backtest origin" if i in notes else "" for i in range(n_s)],
        "notes": ["; ".join(x for x in (notes.get(i, ""), shifts.get(i, "")) if x) for i in range(n_s)],
        "candidates": [json.dumps({c: (None if np.isnan(v) else round(float(v), 4)) for c, v in zip(cands, scores[:, i])},
                                  sort_keys=True) for i in range(n_s)],
    })
    return ForecastRun(forecast, report.reindex(columns=list(REPORT_COLUMNS)))


def use_batch(scenario, n_series: int) -> bool:
    """Whether the run forecasts with the batch path (``forecast.method``, and at ``auto`` the
    number of series against ``forecast.batch_above``)."""
    method = scenario.forecast.method
    return method == "batch" or (method == "auto" and n_series > scenario.forecast.batch_above)


def batch_forecast_stage(scenario, history, start: pd.Timestamp, progress=None, executor=None):
    """The pipeline's forecast stage on the batch path: the same window and horizon as
    ``planner.pipeline.forecast_stage``; returns (forecast from ``start``, report)."""
    if scenario.forecast.models:
        import warnings

        warnings.warn(f"forecast.models {scenario.forecast.models} is ignored on the batch path (forecast.method: "
                      f"{scenario.forecast.method}); its candidates are {list(_candidates())}")
    end = start + pd.Timedelta(days=7 * scenario.horizon.weeks)
    steps = int((end - history.end) / pd.Timedelta(history.slot))
    demand = history.demand
    if scenario.forecast.history_weeks is not None:
        demand = demand[demand[C.DS] >= history.end - pd.Timedelta(weeks=scenario.forecast.history_weeks)]
    if progress:
        progress(f"forecast (batch) {demand[C.GROUP_ID].nunique() * len(C.RESOURCES):,} series", 0.1)
    run = batch_demand_forecast(demand, steps, freq=history.slot, executor=executor)
    fc = run.forecast[run.forecast[C.DS] >= start].reset_index(drop=True)
    return fc, run.report


def _candidates():
    from models.forecasting.batch import CANDIDATES

    return CANDIDATES
