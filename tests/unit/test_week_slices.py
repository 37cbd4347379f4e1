"""Week slices of a fleet's forecast: each pool-week's rows, in the forecast's order, held as row
positions (no copy of the forecast per pool or week)."""

import numpy as np
import pandas as pd
import pytest

from planner import columns as C
from planner.pipeline import WeekSlices, pool_week_slices


def _forecast(n_groups=7, weeks=3, seed=0):
    rng = np.random.default_rng(seed)
    start = pd.Timestamp("2026-01-05")
    ds = pd.date_range(start - pd.Timedelta(days=2), periods=(weeks * 7 + 4) * 24, freq="h")
    rows = [(f"g{g}", t, r) for t in ds for g in range(n_groups) for r in C.RESOURCES]
    frame = pd.DataFrame(rows, columns=[C.UNIQUE_ID, C.DS, C.RESOURCE])
    frame = frame.sample(frac=1.0, random_state=seed).reset_index(drop=True)  # no order to rely on
    frame[C.UNIQUE_ID] = frame[C.UNIQUE_ID].astype("category")
    for q in (C.MEAN, *C.QUANTILES):
        frame[q] = rng.uniform(0, 4, len(frame)).astype("float32")
    return frame, [start + pd.Timedelta(days=7 * w) for w in range(weeks)]


def test_each_pool_week_holds_exactly_its_rows_in_forecast_order():
    forecast, starts = _forecast()
    pool_of = {f"g{g}": ("a" if g % 3 == 0 else "b") for g in range(6)}  # g6 is placed nowhere
    slices = pool_week_slices(forecast, pool_of, ["a", "b", "c"], starts)
    assert set(slices) == {"a", "b", "c"} and all(isinstance(s, WeekSlices) for s in slices.values())
    pool = forecast[C.UNIQUE_ID].astype(str).map(pool_of)
    for p, weeks in slices.items():
        assert len(weeks) == len(starts)
        for w, start in enumerate(starts):
            want = forecast[(pool == p) & (forecast[C.DS] >= start) & (forecast[C.DS] < start + pd.Timedelta(days=7))]
            got = weeks[w]
            pd.testing.assert_frame_equal(got, want)  # same rows, order, index and dtypes
        assert [len(x) for x in weeks] == [len(weeks[w]) for w in range(len(starts))]
    assert slices["c"].rows() == 0 and all(len(x) == 0 for x in slices["c"])
    # Rows outside the horizon and of unplaced groups are in no slice.
    assert sum(s.rows() for s in slices.values()) == ((pool.notna()) & (forecast[C.DS] >= starts[0])
                                                      & (forecast[C.DS] < starts[-1] + pd.Timedelta(days=7))).sum()


def test_slices_hold_positions_not_a_copy_of_the_forecast():
    forecast, starts = _forecast(n_groups=20)
    slices = pool_week_slices(forecast, None, [""], starts)[""]
    assert slices.forecast is forecast
    assert slices.positions.dtype == np.int32 and slices.positions.nbytes == 4 * slices.rows()
    assert slices.positions.nbytes * 8 < forecast.memory_usage(deep=True).sum()
    assert len(slices[-1]) == len(slices[len(starts) - 1]) and len(slices[0:2]) == 2
    with pytest.raises(IndexError):
        slices[len(starts)]

