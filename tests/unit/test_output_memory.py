"""The output stage at fleet scale reads the forecast and the history in blocks and by masks
(memory); these check that what it writes is what the whole-table code wrote."""

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from planner import columns as C
from planner.demand import group_max


def _forecast(categorical: bool) -> pd.DataFrame:
    rng = np.random.default_rng(1)
    ds = pd.date_range("2026-03-02", periods=30, freq="h")
    ids = ["g3", "g1", "g2", "g0", "gx"]  # gx is in no pool
    rows = [(g, t, r) for g in ids for r in C.RESOURCES for t in ds]
    fc = pd.DataFrame(rows, columns=[C.UNIQUE_ID, C.DS, C.RESOURCE]).sample(frac=1.0, random_state=2)
    fc[C.MEAN] = rng.uniform(0, 5, len(fc)).astype("float32")
    for q in C.QUANTILES:
        fc[q] = (fc[C.MEAN] * 1.2).astype("float32")
    if categorical:
        fc[C.UNIQUE_ID] = pd.Categorical(fc[C.UNIQUE_ID], categories=sorted(ids) + ["unused"])
        fc[C.RESOURCE] = pd.Categorical(fc[C.RESOURCE])
    return fc.reset_index(drop=True)


@pytest.mark.parametrize("categorical", [False, True])
@pytest.mark.parametrize("block", [None, 7])
def test_forecast_per_pool_holds_each_pools_rows_in_order(tmp_path, categorical, block):
    from planner.export.run_files import _forecast_per_pool

    fc = _forecast(categorical)
    placement = pd.DataFrame({C.GROUP_ID: ["g0", "g1", "g2", "g3"], "pool": ["eu west", "ap", "eu west", "ap"]})
    _forecast_per_pool(SimpleNamespace(forecast=fc, placement=placement), tmp_path / "forecast", block=block)
    files = sorted(p.name for p in (tmp_path / "forecast").iterdir())
    assert files == ["ap.parquet", "eu_west.parquet", "unplaced.parquet"]
    pool_of = {"g0": "eu west", "g1": "ap", "g2": "eu west", "g3": "ap"}
    for name, path in (("ap", "ap"), ("eu west", "eu_west"), ("unplaced", "unplaced")):
        got = pd.read_parquet(tmp_path / "forecast" / f"{path}.parquet")
        want = fc[fc[C.UNIQUE_ID].astype(str).map(pool_of).fillna("unplaced") == name].assign(pool=name)
        pd.testing.assert_frame_equal(got, want.reset_index(drop=True))
    whole = pd.read_parquet(tmp_path / "forecast")
    assert len(whole) == len(fc)


@pytest.mark.parametrize("categorical", [False, True])
def test_group_max_in_blocks_is_the_groupby_max(categorical):
    rng = np.random.default_rng(4)
    keys = rng.choice(["b", "a", "d", "c"], 103)
    frame = pd.DataFrame({C.GROUP_ID: keys, C.CPU_CORES: rng.uniform(0, 9, 103).astype("float32")})
    frame.loc[frame[C.GROUP_ID] == "d", C.CPU_CORES] = np.nan  # a group of NaN only
    frame.loc[frame.index[:20], C.CPU_CORES] = np.nan  # and NaN in the first block of the others
    if categorical:
        frame[C.GROUP_ID] = pd.Categorical(frame[C.GROUP_ID], categories=["d", "c", "z", "b", "a"])
    want = frame.groupby(C.GROUP_ID, sort=True, observed=True)[C.CPU_CORES].max()
    got = group_max(frame, C.GROUP_ID, C.CPU_CORES, block=10)
    pd.testing.assert_series_equal(got, want)
    assert np.isnan(got["d"]) and got.notna().sum() == 3


def test_forecast_against_history_plots_the_largest_groups_rows():
    from planner.export.plots import forecast_vs_history_figure

    fc = _forecast(True)
    ds = pd.date_range("2026-02-01", periods=50, freq="h")
    rng = np.random.default_rng(6)
    size = {"g0": 1.0, "g1": 9.0, "g2": 5.0, "g3": 3.0, "old": 20.0}  # "old" has no forecast
    history = pd.DataFrame([(g, t) for g in size for t in ds], columns=[C.GROUP_ID, C.DS])
    history[C.CPU_CORES] = (history[C.GROUP_ID].map(size) * rng.uniform(0.5, 1, len(history))).astype("float32")
    history[C.GROUP_ID] = pd.Categorical(history[C.GROUP_ID])
    fig = forecast_vs_history_figure(history, fc, n_groups=2)
    axes = fig.axes
    assert [ax.get_title(loc="left") for ax in axes] == ["g1", "g2"]
    for ax, g in zip(axes, ["g1", "g2"]):
        f = fc[(fc[C.UNIQUE_ID] == g) & (fc[C.RESOURCE] == C.CPU_CORES)].sort_values(C.DS)
        np.testing.assert_array_equal(ax.lines[1].get_ydata(), f[C.MEAN].to_numpy())
        h = history[history[C.GROUP_ID] == g].sort_values(C.DS)
        np.testing.assert_array_equal(ax.lines[0].get_ydata(), h[C.CPU_CORES].to_numpy())
