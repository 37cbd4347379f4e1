"""Function shape profiles: features, embedding, clusters and complementary pairs of each series.

:func:`profile_functions` takes Telemetry (the readers' matrix or the long ``unique_id, ds, y``
frame) or a ResourceDemand frame, puts it on the planning slot, and returns a
:class:`ProfileResult` whose ``profiles`` table has one row per function (or group) with the shape
features of :mod:`models.profiles.features`, the embedding coordinates, the cluster and the catalog
features (duration, memory, CPU, trigger, deadline class), and whose ``pairs`` table lists the most
complementary pairs (the capacity they save by sharing a worker) with their multiplexing gain. :func:`plot_centroids` and
:func:`plot_correlation` draw the two PNGs; :func:`write_profile_outputs` writes everything.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from models.profiles.clusters import ShapeClusters
from models.profiles.complementarity import correlation_matrix, most_saving_pairs
from models.profiles.embedding import ShapeEmbedding, standardise_rows, weekly_profiles
from models.profiles.features import frequency_class, series_features
from planner import columns as C
from planner.errors import InputDataError
from planner.telemetry import Telemetry

__all__ = [
    "DEADLINE_CLASSES",
    "ProfileResult",
    "deadline_class",
    "plot_centroids",
    "plot_correlation",
    "profile_functions",
    "write_profile_outputs",
]

LEVELS = ("function", "group")
DEADLINE = "deadline"  # optional catalog column (DESIGN.md): seconds, or a class name
# Most urgent first; a group takes the most urgent class among its functions.
DEADLINE_CLASSES = ("interactive", "async", "batch", "unknown")
# Triggers of the Azure 2019 trace, by how soon their caller waits for the result.
TRIGGER_DEADLINES = {
    "http": "interactive",
    "queue": "async",
    "event": "async",
    "storage": "async",
    "orchestration": "async",
    "timer": "batch",
}
N_COMPONENTS_SHOWN = 3
# A series is near-empty, and left out of the pair search, when its peak is under this share of the
# largest series' peak or it is non-zero in under this share of the slots: pairs of them (two
# alternating timers correlate at -1) save next to no capacity.
NEAR_EMPTY_PEAK = 0.001
NEAR_EMPTY_ACTIVE = 0.01


@dataclass(frozen=True)
class ProfileResult:
    """What :func:`profile_functions` found.

    Attributes:
        profiles: one row per series: key (``unique_id`` or ``group_id``), catalog features,
            shape features, ``pc1..pc3``, ``cluster`` (-1 for idle or unprofiled series), ``note``.
        pairs: ``a, b, saving, saving_share, correlation, multiplexing_gain`` of the pairs that save
            the most capacity by sharing a worker (near-empty series left out).
        weekly: normalised weekly profiles (index = series, columns = hour of week 0-167).
        centroids: mean weekly profile of each cluster (index = cluster).
        values: the profiled matrix ``[series x slots]`` (index = series, columns = slot starts).
        explained_variance: share of variance of each embedding component.
        silhouettes: silhouette score of each k tried.
        notes: run-level notes (repairs, unknown functions, short series).
        level, value, slot: what was profiled.
    """

    profiles: pd.DataFrame
    pairs: pd.DataFrame
    weekly: pd.DataFrame
    centroids: pd.DataFrame
    values: pd.DataFrame
    explained_variance: tuple[float, ...]
    silhouettes: dict = field(default_factory=dict)
    notes: tuple[str, ...] = ()
    level: str = "function"
    value: str = C.INVOCATIONS
    slot: str = "1h"

    def summary(self) -> dict:
        """Counts and headline figures for printing or ``summary.json``."""
        prof = self.profiles
        top = self.pairs.iloc[0] if len(self.pairs) else None
        return {
            "series": int(len(prof)),
            "idle": int((prof["peak"] == 0).sum()) if len(prof) else 0,
            "clusters": int(prof.loc[prof["cluster"] >= 0, "cluster"].nunique()) if len(prof) else 0,
            "embedding_variance": [round(float(v), 4) for v in self.explained_variance],
            "most_complementary": None
            if top is None
            else {
                "a": str(top["a"]),
                "b": str(top["b"]),
                "saving": round(float(top["saving"]), 4),
                "correlation": round(float(top["correlation"]), 4),
                "multiplexing_gain": round(float(top["multiplexing_gain"]), 4),
            },
            "level": self.level,
            "value": self.value,
            "slot": self.slot,
        }


def deadline_class(catalog: pd.DataFrame) -> pd.Series:
    """Deadline class of each catalog row.

    From the optional ``deadline`` column when present (seconds: ≤ 10 s ``interactive``, ≤ 1 h
    ``async``, else ``batch``; or a class name), else from the trigger (http → interactive;
    queue, event, storage, orchestration → async; timer → batch), else ``unknown``.
    """
    by_trigger = catalog.get(C.TRIGGER, pd.Series("unknown", index=catalog.index))
    out = by_trigger.astype(str).str.lower().map(TRIGGER_DEADLINES).fillna("unknown")
    if DEADLINE in catalog:
        raw = catalog[DEADLINE]
        secs = pd.to_numeric(raw, errors="coerce")
        named = raw.astype(str).str.lower().where(raw.astype(str).str.lower().isin(DEADLINE_CLASSES))
        given = pd.Series(
            np.select([secs <= 10, secs <= 3600, secs > 3600], ["interactive", "async", "batch"], default=""),
            index=catalog.index,
        ).replace("", np.nan)
        out = given.fillna(named).fillna(out)
    return out


# ---------------------------------------------------------------- input → matrix


def _slot_floor(index: pd.DatetimeIndex, slot: pd.Timedelta) -> pd.DatetimeIndex:
    return pd.DatetimeIndex(index).floor(slot)


def _telemetry_matrix(tel: Telemetry, slot: pd.Timedelta):
    """Invocations per slot ``[functions x slots]`` from a Telemetry matrix (sum over intervals)."""
    ratio = slot.total_seconds() / tel.interval_s
    if ratio < 1 - 1e-9 or abs(ratio - round(ratio)) > 1e-9:
        from planner.demand import _fmt

        raise InputDataError(
            f"slot {_fmt(slot)} must be a whole multiple of the telemetry interval "
            f"({_fmt(pd.Timedelta(seconds=tel.interval_s))}); finer or uneven slots cannot be summed"
        )
    bins = _slot_floor(tel.index, slot)
    starts = np.flatnonzero(np.r_[True, bins[1:] != bins[:-1]])
    # Sum in float64 without copying the (possibly large, float32) matrix first.
    summed = np.add.reduceat(tel.counts, starts, axis=0, dtype=np.float64)
    sizes = np.diff(np.r_[starts, len(bins)])
    notes = []
    full = sizes == sizes.max()
    if not full.all() and full.sum() >= 2:
        # A slot the trace only partly covers would understate its demand: leave it out.
        notes.append(f"{int((~full).sum())} partly covered slot(s) at the edges left out")
        summed, starts = summed[full], starts[full]
    return tel.ids.astype(str), pd.DatetimeIndex(bins[starts]), summed.T, notes


def _long_matrix(frame: pd.DataFrame, key: str, value: str, slot: pd.Timedelta, how: str):
    """Pivot a long frame to ``[series x slots]`` on the slot grid (absent rows are zero)."""
    direct = _direct_matrix(frame[key], frame[C.DS], frame[value], slot)
    if direct is not None:
        return direct
    ds = pd.to_datetime(frame[C.DS])
    bins = _slot_floor(pd.DatetimeIndex(ds), slot)
    binned = frame.assign(**{C.DS: bins})
    wide = binned.groupby([key, C.DS], sort=True, observed=False)[value].agg(how).unstack(C.DS, fill_value=0.0)
    grid = pd.date_range(wide.columns.min(), wide.columns.max(), freq=slot)
    wide = wide.reindex(columns=grid, fill_value=0.0).fillna(0.0)
    return wide.index.astype(str), pd.DatetimeIndex(grid), wide.to_numpy(dtype=float), []


DIRECT_BLOCK_ROWS = 2_000_000  # rows of the long frame _direct_matrix reads at a time


def _direct_matrix(keys: pd.Series, ds, values: pd.Series, slot: pd.Timedelta, block: int | None = None):
    """:func:`_long_matrix`'s table written cell by cell when every (series, slot) has one row (the
    data's slot is the profiling slot): with one value a cell's sum and maximum are that value, so
    the result is the same, without the groupby and unstack that held several copies of a fleet's
    year of demand (~4 GB at 5,000 functions). ``None`` when some cell has several rows. ``ds``
    (slot starts or any time in the slot: floored here) is read ``block`` rows at a time, so that
    its temporaries are a block's, not the fleet's."""
    if len(keys) == 0:
        return None
    if isinstance(keys.dtype, pd.CategoricalDtype):  # groupby(observed=False): every category, in order
        codes, labels = keys.cat.codes.to_numpy(), keys.cat.categories
        if (codes < 0).any():
            return None
    else:
        codes, labels = pd.factorize(keys, sort=True)
        if (codes < 0).any():
            return None
    ds = pd.Series(ds) if not isinstance(ds, pd.Series) else ds
    values = pd.Series(values) if not isinstance(values, pd.Series) else values
    block = DIRECT_BLOCK_ROWS if block is None else int(block)

    def slot_ns(part) -> np.ndarray:
        # In nanoseconds, as slot.value is: pandas 3 reads and builds datetimes in microseconds, and
        # mixed units made every slot look off the grid (the groupby pivot then ran at fleet scale).
        return _slot_floor(pd.DatetimeIndex(pd.to_datetime(part)), slot).as_unit("ns").asi8

    step = slot.value
    t0, t_max = (int(slot_ns(pd.Series([ds.min(), ds.max()]))[i]) for i in (0, 1))
    n_t = (t_max - t0) // step + 1
    seen = np.zeros(len(labels) * n_t, dtype=bool)  # a cell with two rows marks fewer cells than rows
    x = np.zeros(len(labels) * n_t)
    for i in range(0, len(keys), block):
        t = slot_ns(ds.iloc[i:i + block])
        if ((t - t0) % step != 0).any():
            return None
        flat = codes[i:i + block].astype(np.int64) * n_t + (t - t0) // step
        seen[flat] = True
        x[flat] = np.nan_to_num(values.iloc[i:i + block].to_numpy(dtype=float), nan=0.0)  # groupby skips NaN
    if int(seen.sum()) != len(keys):
        return None
    del seen
    grid = pd.date_range(pd.Timestamp(t0, unit="ns"), periods=n_t, freq=slot)
    return pd.Index(labels, name=keys.name).astype(str), pd.DatetimeIndex(grid), x.reshape(len(labels), n_t), []


def _to_matrix(data, catalog, slot: pd.Timedelta, level: str, value: str):
    """(ids, slot starts, matrix, invocation matrix, key, notes) for any accepted input."""
    if isinstance(data, Telemetry):
        if value != C.INVOCATIONS:
            if catalog is None:
                raise InputDataError(f"profiling {value!r} from telemetry needs a catalog")
            from planner.demand import resource_demand

            # Peaks of a group are taken on the summed intervals, so ask demand for the level.
            demand = resource_demand(data, catalog, slot=_slot_str(slot), level=level)
            ids, ts, x, inv, key, notes = _to_matrix(demand, catalog, slot, level, value)
            return ids, ts, x, inv, key, [*data.repairs, *notes]
        ids, ts, x, notes = _telemetry_matrix(data, slot)
        notes = [*data.repairs, *notes]
        return _group(ids, ts, x, x, C.UNIQUE_ID, catalog, level, notes)
    if not isinstance(data, pd.DataFrame):
        raise TypeError(f"expected Telemetry or a DataFrame; got {type(data).__name__}")
    if C.Y in data.columns:  # long Telemetry
        if value != C.INVOCATIONS:
            raise InputDataError(f"long telemetry has invocations only; cannot profile {value!r}", column=value)
        ids, ts, x, notes = _long_matrix(data, C.UNIQUE_ID, C.Y, slot, "sum")
        return _group(ids, ts, x, x, C.UNIQUE_ID, catalog, level, notes)
    key = C.GROUP_ID if C.GROUP_ID in data.columns else C.UNIQUE_ID
    for col in (key, C.DS, value):
        if col not in data.columns:
            raise InputDataError(f"demand table lacks column {col!r}", column=col)
    # Invocations and means add up over a coarser slot; peaks take the maximum.
    how = "sum" if value in (C.INVOCATIONS, C.CPU_CORES_MEAN, C.MEMORY_GB_MEAN) else "max"
    ids, ts, x, notes = _long_matrix(data, key, value, slot, how)
    inv = x
    if value != C.INVOCATIONS and C.INVOCATIONS in data.columns:
        _, _, inv, _ = _long_matrix(data, key, C.INVOCATIONS, slot, "sum")
    elif value != C.INVOCATIONS:
        inv = None
    if key == C.GROUP_ID:
        return ids, ts, x, inv, key, notes
    if level == "group" and how == "max":
        notes.append(f"group {value} summed from function-level peaks (an upper bound of the group's peak); "
                     "pass group-level demand for exact peaks")
    return _group(ids, ts, x, inv, key, catalog, level, notes)


def _group(ids, ts, x, inv, key, catalog, level, notes):
    """Sum function rows into their groups when ``level == "group"``."""
    if level == "function":
        return ids, ts, x, inv, key, notes
    if catalog is None:
        raise InputDataError("level 'group' needs a catalog (it maps functions to group_id)")
    groups = catalog.assign(**{C.UNIQUE_ID: catalog[C.UNIQUE_ID].astype(str)}).set_index(C.UNIQUE_ID)[C.GROUP_ID]
    groups = groups.astype(str).reindex(ids)
    unknown = groups.isna()
    if unknown.any():
        notes = [*notes, f"{int(unknown.sum())} function(s) not in the catalog profiled as their own group"]
        groups = groups.fillna(pd.Series(ids, index=groups.index))
    codes, labels = pd.factorize(groups.to_numpy(), sort=True)
    onehot = np.zeros((len(labels), len(ids)))
    onehot[codes, np.arange(len(ids))] = 1.0
    return (pd.Index(labels).astype(str), ts, onehot @ x, None if inv is None else onehot @ inv,
            C.GROUP_ID, notes)


def _slot_str(slot: pd.Timedelta) -> str:
    return f"{int(slot.total_seconds())}s"


# ---------------------------------------------------------------- catalog features


def _catalog_features(catalog: pd.DataFrame | None, ids: pd.Index, key: str):
    """Catalog columns per series, NaN for unknown ones; the ids the catalog has no series for."""
    cols = ["app", "customer", C.GROUP_ID, C.TRIGGER, C.DURATION_S, C.MEMORY_MB, C.CPU_MILLICORES, "deadline_class"]
    if catalog is None:
        return pd.DataFrame(index=ids), pd.Index([])
    cat = catalog.copy()
    cat[C.UNIQUE_ID] = cat[C.UNIQUE_ID].astype(str)
    cat["deadline_class"] = deadline_class(cat)
    if key == C.UNIQUE_ID:
        table = cat.set_index(C.UNIQUE_ID)[[c for c in cols if c in cat.columns]]
        return table.reindex(ids), table.index.difference(ids)
    # Group level: mean duration, the largest instance, the most urgent deadline.
    cat[C.GROUP_ID] = cat[C.GROUP_ID].astype(str)
    rank = {name: i for i, name in enumerate(DEADLINE_CLASSES)}
    grouped = cat.groupby(C.GROUP_ID)
    table = pd.DataFrame(
        {
            "customer": grouped[C.CUSTOMER].first(),
            "n_functions": grouped[C.UNIQUE_ID].size(),
            C.DURATION_S: grouped[C.DURATION_S].mean(),
            C.MEMORY_MB: grouped[C.MEMORY_MB].max(),
            C.CPU_MILLICORES: grouped[C.CPU_MILLICORES].max(),
            "deadline_class": grouped["deadline_class"].agg(lambda s: min(s, key=rank.get)),
        }
    )
    return table.reindex(ids), table.index.difference(ids)


# ---------------------------------------------------------------- the profile


def profile_functions(
    data,
    catalog: pd.DataFrame | None = None,
    *,
    slot: str = "1h",
    level: str = "function",
    value: str = C.INVOCATIONS,
    n_pairs: int = 20,
    k: int | None = None,
    k_max: int = 8,
    seed: int = 0,
    max_pair_series: int = 3000,
) -> ProfileResult:
    """Profile the shape of every function (or group) of ``data``.

    Args:
        data: :class:`~planner.telemetry.Telemetry`, a long Telemetry frame (``unique_id, ds, y``)
            or a ResourceDemand frame (keyed by ``group_id`` or ``unique_id``).
        catalog: FunctionCatalog; gives duration, memory, CPU, trigger and deadline class, and the
            groups for ``level="group"``. Functions it lacks are profiled and noted; catalog
            functions without telemetry get a row with a note.
        slot: profiling slot (pandas offset, e.g. ``"1h"``); telemetry is summed into it.
        level: ``"function"`` or ``"group"`` (function series summed by ``group_id``).
        value: the column profiled: ``invocations`` (default) or a demand column such as
            ``cpu_cores`` (peak within slot).
        n_pairs: number of most complementary pairs reported (by capacity saved).
        k: number of clusters (``None``: chosen by silhouette up to ``k_max``).
        seed: seed of the clustering.
        max_pair_series: the pair search (O(series² × slots)) looks at this many series with
            the largest peaks at most.

    Returns:
        A :class:`ProfileResult`.
    """
    if level not in LEVELS:
        raise InputDataError(f"level must be one of {', '.join(LEVELS)}; got {level!r}")
    try:
        slot_td = pd.Timedelta(slot)
    except ValueError:
        raise InputDataError(f"slot {slot!r} is not a duration such as '1h' or '30min'") from None
    ids, ts, x, inv, key, notes = _to_matrix(data, catalog, slot_td, level, value)
    if x.shape[0] == 0 or x.shape[1] == 0:
        raise InputDataError("no series to profile (the input has no rows)")
    x = np.nan_to_num(x)  # a copy: ``inv`` may be ``x`` and keeps its values
    np.maximum(x, 0.0, out=x)
    ids = pd.Index(ids, name=key)

    feats = series_features(x, ts.values, ids)
    if inv is not None and inv is not x:
        rate = np.asarray(inv).mean(axis=1) * 3600.0 / slot_td.total_seconds()
        feats["invocations_per_hour"] = rate
        feats["frequency_class"] = frequency_class(rate)
    elif inv is None:
        feats["invocations_per_hour"] = np.nan
        feats["frequency_class"] = "unknown"

    weekly, full_week = weekly_profiles(x, ts.values)
    active = (feats["profile"] != "none").to_numpy()
    coords = np.full((len(ids), N_COMPONENTS_SHOWN), np.nan)
    labels = np.full(len(ids), -1)
    variance, silhouettes = (), {}
    centroids = pd.DataFrame(columns=range(168), dtype=float)
    if active.any():
        # Embed standardised shapes: clusters then group series that rise and fall together.
        shapes = standardise_rows(weekly[active])
        emb = ShapeEmbedding().fit(shapes)
        z = emb.transform(shapes)
        shown = min(N_COMPONENTS_SHOWN, z.shape[1])
        coords[active, :shown] = z[:, :shown]
        clusters = ShapeClusters(k=k, k_max=k_max, seed=seed).fit(z)
        labels[active] = clusters.labels_
        variance = tuple(float(v) for v in emb.explained_variance_ratio_)
        silhouettes = {int(c): float(s) for c, s in clusters.silhouettes_.items()}
        centroids = pd.DataFrame(
            [weekly[active][clusters.labels_ == c].mean(axis=0) for c in range(clusters.k_)],
            index=pd.Index(range(clusters.k_), name="cluster"),
        )
    if not full_week:
        notes.append("fewer than 7 days: weekly profiles are the daily profile repeated")

    cat_feats, without_series = _catalog_features(catalog, ids, key)
    prof = pd.concat([cat_feats, feats], axis=1)
    for j in range(N_COMPONENTS_SHOWN):
        prof[f"pc{j + 1}"] = coords[:, j]
    prof["cluster"] = labels
    if catalog is not None and key == C.UNIQUE_ID:
        unknown = ~ids.isin(catalog[C.UNIQUE_ID].astype(str))
        if unknown.any():
            prof.loc[unknown, "note"] = [_join(n, "not in the catalog") for n in prof.loc[unknown, "note"]]
            notes.append(f"{int(unknown.sum())} function(s) have telemetry but no catalog entry")
    if len(without_series):
        extra = _catalog_features(catalog, without_series, key)[0]
        extra["profile"], extra["cluster"], extra["note"] = "none", -1, "in the catalog but no telemetry"
        prof = pd.concat([prof, extra])
        notes.append(f"{len(without_series)} catalog entr(y/ies) have no telemetry")
    short = (prof["profile"] == "daily").sum()
    if short:
        notes.append(f"{int(short)} series shorter than a week: daily profiles only")
    idle = prof["note"].fillna("").str.contains("idle").sum()
    if idle:
        notes.append(f"{int(idle)} idle (all-zero) series")
    prof["note"] = prof["note"].fillna("")
    prof.index.name = key
    prof = prof.reset_index()

    peaks = x.max(axis=1)
    active_share = (x > 0).mean(axis=1)
    near_empty = (peaks > 0) & ((peaks < NEAR_EMPTY_PEAK * peaks.max(initial=0.0)) | (active_share < NEAR_EMPTY_ACTIVE))
    searched = np.flatnonzero((peaks > 0) & ~near_empty)
    if near_empty.any():
        notes.append(f"{int(near_empty.sum())} near-empty series (peak under {NEAR_EMPTY_PEAK:.1%} of the largest, or "
                     f"non-zero in under {NEAR_EMPTY_ACTIVE:.0%} of the slots) left out of the pair search")
    if len(searched) > max_pair_series:
        # Keep the pair search to the largest series: they drive capacity (a pair saves at most its smaller peak).
        searched = np.sort(searched[np.argsort(-peaks[searched], kind="stable")[:max_pair_series]])
        notes.append(f"pairs searched among the {max_pair_series} series with the largest peaks")
    pairs = most_saving_pairs(x[searched], ids[searched], n_pairs=n_pairs)
    return ProfileResult(
        profiles=prof,
        pairs=pairs,
        weekly=pd.DataFrame(weekly, index=ids),
        centroids=centroids,
        values=pd.DataFrame(x, index=ids, columns=ts),
        explained_variance=variance,
        silhouettes=silhouettes,
        notes=tuple(notes),
        level=level,
        value=value,
        slot=str(slot),
    )


def _join(a: str, b: str) -> str:
    return f"{a}; {b}" if a else b


# ---------------------------------------------------------------- plots and files


def _figure(width: float, height: float):
    """A Figure on the Agg canvas (no pyplot state, no display needed)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(fig)
    return fig


def plot_centroids(result: ProfileResult, path) -> Path:
    """PNG of each cluster's mean normalised weekly shape (Monday 00:00 first), atomically."""
    from planner.io import atomic_path

    fig = _figure(10, 4)
    ax = fig.add_subplot(1, 1, 1)
    sizes = result.profiles.loc[result.profiles["cluster"] >= 0, "cluster"].value_counts()
    for c, row in result.centroids.iterrows():
        ax.plot(np.arange(168), row.to_numpy(), label=f"cluster {c} ({int(sizes.get(c, 0))} series)")
    for d in range(1, 7):
        ax.axvline(d * 24, color="0.85", linewidth=0.8, zorder=0)
    ax.set_xticks(np.arange(12, 168, 24), ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"])
    ax.set_xlim(0, 167)
    ax.set_ylabel(f"{result.value} / series mean")
    ax.set_title(f"Cluster centroids: normalised weekly shape ({result.level} level, {result.slot} slots)")
    if len(result.centroids):
        ax.legend(loc="upper right", fontsize=8)
    else:
        ax.text(0.5, 0.5, "no active series", ha="center", va="center", transform=ax.transAxes)
    fig.tight_layout()
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    return path


def plot_correlation(result: ProfileResult, path, *, max_series: int = 40) -> Path:
    """PNG heatmap of the correlation of the hourly series (the ``max_series`` largest by mean,
    ordered by cluster), atomically."""
    from planner.io import atomic_path

    prof = result.profiles.set_index(result.profiles.columns[0])
    shown = prof.loc[prof.index.isin(result.values.index)]
    shown = shown.loc[shown["profile"] != "none"].sort_values("mean", ascending=False).head(max_series)
    shown = shown.sort_values(["cluster", "mean"], ascending=[True, False])
    names = list(shown.index)
    corr = correlation_matrix(result.values.loc[names].to_numpy()) if names else np.zeros((0, 0))
    size = 3 + 0.22 * len(names)
    fig = _figure(size + 1.5, size)
    ax = fig.add_subplot(1, 1, 1)
    ax.set_title(f"Correlation of {result.slot} {result.value}")
    if names:
        im = ax.imshow(corr, cmap="RdBu_r", vmin=-1, vmax=1)
        short = [str(n) if len(str(n)) <= 28 else str(n)[:27] + "…" for n in names]
        ax.set_xticks(range(len(names)), short, rotation=90, fontsize=7)
        ax.set_yticks(range(len(names)), short, fontsize=7)
        fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    else:
        ax.text(0.5, 0.5, "no active series", ha="center", va="center", transform=ax.transAxes)
        ax.set_axis_off()
    fig.tight_layout()
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    return path


def write_profile_outputs(result: ProfileResult, out_dir) -> dict[str, Path]:
    """Write ``profiles.csv``, ``pairs.csv``, ``centroids.png``, ``correlation.png`` and
    ``profile_summary.json`` into ``out_dir``, all or nothing (planner.io.atomic_dir)."""
    from planner.io import atomic_dir, write_json, write_table

    out_dir = Path(out_dir)
    names = {
        "profiles": "profiles.csv",
        "pairs": "pairs.csv",
        "centroids": "centroids.png",
        "correlation": "correlation.png",
        "summary": "profile_summary.json",
    }
    with atomic_dir(out_dir) as tmp:
        write_table(result.profiles, tmp / names["profiles"])
        write_table(result.pairs, tmp / names["pairs"])
        plot_centroids(result, tmp / names["centroids"])
        plot_correlation(result, tmp / names["correlation"])
        write_json({**result.summary(), "notes": list(result.notes), "silhouettes": result.silhouettes},
                   tmp / names["summary"])
    return {k: out_dir / v for k, v in names.items()}
