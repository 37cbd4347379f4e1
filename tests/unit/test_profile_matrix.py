"""The profile's pivot of a long demand table: written cell by cell when each (series, slot) has
one row, the same table as the groupby/unstack pivot it replaces at fleet scale (memory)."""

import numpy as np
import pandas as pd
import pytest

from planner import columns as C
from planner import profile


def _frame(categorical: bool, seed=0, unit="ns"):
    rng = np.random.default_rng(seed)
    ds = pd.date_range("2026-01-05", periods=72, freq="h").as_unit(unit)
    rows = [(g, t) for g in ("b", "a", "c", "d") for t in ds]
    frame = pd.DataFrame(rows, columns=[C.GROUP_ID, C.DS])
    frame = frame.sample(frac=0.8, random_state=seed)  # missing cells, shuffled, first/last hours kept below
    frame = pd.concat([frame, pd.DataFrame({C.GROUP_ID: ["a", "a"], C.DS: [ds[0], ds[-1]]})]).drop_duplicates()
    frame[C.CPU_CORES] = rng.uniform(0, 3, len(frame)).astype("float32")
    frame[C.INVOCATIONS] = rng.integers(0, 50, len(frame)).astype(float)
    frame.loc[frame.index[:5], C.CPU_CORES] = np.nan
    if categorical:  # with a category no row uses (observed=False keeps it, as zeros)
        frame[C.GROUP_ID] = pd.Categorical(frame[C.GROUP_ID], categories=["d", "c", "b", "a", "z"])
    return frame


@pytest.mark.parametrize("block", [None, 7])  # read in blocks of rows: the same table
@pytest.mark.parametrize("unit", ["ns", "us"])  # pandas 3 reads Parquet and builds demand in us
@pytest.mark.parametrize("categorical", [False, True])
@pytest.mark.parametrize("value,how", [(C.CPU_CORES, "max"), (C.INVOCATIONS, "sum")])
def test_cell_by_cell_pivot_equals_the_groupby_pivot(monkeypatch, categorical, value, how, unit, block):
    frame = _frame(categorical, unit=unit)
    if block is not None:
        monkeypatch.setattr(profile, "DIRECT_BLOCK_ROWS", block)
    slot = pd.Timedelta("1h")
    bins = pd.DatetimeIndex(frame[C.DS]).floor(slot)
    assert profile._direct_matrix(frame[C.GROUP_ID], bins, frame[value], slot) is not None  # the path is taken
    ids, ts, x, notes = profile._long_matrix(frame, C.GROUP_ID, value, slot, how)
    with monkeypatch.context() as m:
        m.setattr(profile, "_direct_matrix", lambda *a: None)
        ids0, ts0, x0, notes0 = profile._long_matrix(frame, C.GROUP_ID, value, slot, how)
    pd.testing.assert_index_equal(pd.Index(ids), pd.Index(ids0))
    pd.testing.assert_index_equal(ts, ts0, exact=False)
    assert x.dtype == x0.dtype and np.array_equal(x, x0) and notes == notes0
    assert (x[list(ids).index("a")] != 0).any()


def test_several_rows_in_a_slot_take_the_groupby_pivot():
    frame = _frame(False)
    assert profile._direct_matrix(frame[C.GROUP_ID], pd.DatetimeIndex(frame[C.DS]).floor("2h"), frame[C.CPU_CORES],
                                  pd.Timedelta("2h")) is None
    # the two rows of a cell in different blocks are found too
    assert profile._direct_matrix(frame[C.GROUP_ID], frame[C.DS], frame[C.CPU_CORES], pd.Timedelta("2h"), block=5) is None
    ids, ts, x, _ = profile._long_matrix(frame, C.GROUP_ID, C.INVOCATIONS, pd.Timedelta("2h"), "sum")
    assert x.shape == (4, 36) and x.sum() == pytest.approx(frame[C.INVOCATIONS].sum())


def test_group_profiles_of_a_fleet_cover_its_largest_groups_only():
    from types import SimpleNamespace

    from planner.pipeline import group_profiles

    rng = np.random.default_rng(3)
    ds = pd.date_range("2026-01-05", periods=24 * 14, freq="h")
    size = {f"g{i}": float(i + 1) for i in range(6)}
    frame = pd.DataFrame([(g, t) for g in size for t in ds], columns=[C.GROUP_ID, C.DS])
    day = np.sin(2 * np.pi * frame[C.DS].dt.hour.to_numpy() / 24) + 1.5
    frame[C.CPU_CORES] = (frame[C.GROUP_ID].map(size) * day * rng.uniform(0.9, 1.1, len(frame))).astype("float32")
    frame[C.INVOCATIONS] = 100.0
    frame["other"] = "x"  # a column the profile does not read
    frame[C.GROUP_ID] = frame[C.GROUP_ID].astype("category")
    history = SimpleNamespace(demand=frame, catalog=None, slot="1h")
    top = group_profiles(history, max_groups=3).set_index(C.GROUP_ID)
    assert sorted(top.index.astype(str)) == ["g3", "g4", "g5"]
    everyone = group_profiles(history, max_groups=10).set_index(C.GROUP_ID)
    assert len(everyone) == 6
    for col in ("mean", "peak", "peak_to_mean", "diurnal_amplitude"):  # each group's own features
        np.testing.assert_allclose(top.loc[["g3", "g4", "g5"], col], everyone.loc[["g3", "g4", "g5"], col])
