"""The Telemetry table, held in memory as a numeric matrix.

Contract (docs/contracts.md): long format ``unique_id, ds, y``. Tens of thousands of functions at
minute resolution do not fit as strings in a long frame, so readers build a :class:`Telemetry`
(float32 counts, one column per function, one row per interval of a regular grid) and
:meth:`Telemetry.to_frame` gives the long table when it is wanted.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from planner import columns as C


@dataclass(frozen=True)
class Telemetry:
    """Invocation counts on a regular grid.

    Attributes:
        index: interval starts, regular, ``freq`` set.
        ids: function ids (``unique_id``), one per column of ``counts``.
        counts: float32 array ``[len(index), len(ids)]`` of invocations per interval (>= 0).
        repairs: human-readable notes of gaps that were filled on reading.
    """

    index: pd.DatetimeIndex
    ids: pd.Index
    counts: np.ndarray
    repairs: tuple[str, ...] = ()

    def __post_init__(self):
        if self.counts.shape != (len(self.index), len(self.ids)):
            raise ValueError(
                f"counts has shape {self.counts.shape}, expected {(len(self.index), len(self.ids))}"
            )
        if self.index.freq is None:
            raise ValueError("Telemetry.index must carry a regular frequency")

    @property
    def interval_s(self) -> float:
        """Length of one interval in seconds."""
        return pd.Timedelta(self.index.freq).total_seconds()

    @property
    def n_functions(self) -> int:
        return len(self.ids)

    def to_frame(self) -> pd.DataFrame:
        """The long table ``unique_id, ds, y`` (function-major order)."""
        n_t, n_f = self.counts.shape
        return pd.DataFrame(
            {
                C.UNIQUE_ID: pd.Categorical.from_codes(
                    np.repeat(np.arange(n_f, dtype=np.int32), n_t), categories=self.ids.astype(str)
                ),
                C.DS: np.tile(self.index.values, n_f),
                C.Y: self.counts.T.reshape(-1).astype(np.float64),
            }
        )

    def select(self, ids) -> "Telemetry":
        """A Telemetry holding only the given functions, in the given order."""
        pos = self.ids.get_indexer(ids)
        if (pos < 0).any():
            missing = [i for i, p in zip(ids, pos) if p < 0][:5]
            raise KeyError(f"unknown functions: {missing}")
        return Telemetry(self.index, self.ids[pos], self.counts[:, pos], self.repairs)


def infer_freq(ds: pd.DatetimeIndex, *, path=None, column: str = C.DS) -> pd.Timedelta:
    """The base spacing of sorted, unique timestamps: the smallest step, which every step must be a
    multiple of (a larger multiple is a gap)."""
    from planner.errors import InputDataError

    if len(ds) < 2:
        raise InputDataError("need at least two timestamps to infer the interval", path=path, column=column)
    steps = np.diff(ds.asi8)
    base = int(steps.min())
    if base <= 0:
        raise InputDataError("timestamps are not increasing", path=path, column=column)
    bad = np.flatnonzero(steps % base != 0)
    if bad.size:
        i = int(bad[0])
        raise InputDataError(
            f"irregular spacing: {ds[i]} to {ds[i + 1]} is not a multiple of the "
            f"{pd.Timedelta(base)} interval",
            path=path,
            column=column,
        )
    return pd.Timedelta(base)


def regularise(
    ds: pd.DatetimeIndex,
    counts: np.ndarray,
    *,
    max_gap: int,
    path=None,
    ids=None,
) -> tuple[pd.DatetimeIndex, np.ndarray, list[str]]:
    """Put ``counts`` (rows aligned with sorted ``ds``) on a regular grid.

    Gaps of up to ``max_gap`` missing intervals are filled by linear interpolation between the
    neighbouring observations (a documented repair, reported back as notes); a longer gap is an
    error, since inventing hours of demand would be a guess, not a repair.
    """
    from planner.errors import InputDataError

    freq = infer_freq(ds, path=path)
    grid = pd.date_range(ds[0], ds[-1], freq=freq)
    if len(grid) == len(ds):
        return pd.DatetimeIndex(grid, freq=freq), counts, []
    pos = ((ds.asi8 - ds.asi8[0]) // freq.value).astype(np.int64)
    steps = np.diff(pos)
    notes = []
    for i in np.flatnonzero(steps > 1):
        missing = int(steps[i] - 1)
        if missing > max_gap:
            raise InputDataError(
                f"gap of {missing} missing intervals after {ds[i]} (next {ds[i + 1]}); at most "
                f"{max_gap} are repaired (raise max_gap or supply the data)",
                path=path,
                column=C.DS,
            )
        notes.append(f"{missing} missing interval(s) after {ds[i]} filled by linear interpolation")
    full = np.full((len(grid), counts.shape[1]), np.nan, dtype=np.float32)
    full[pos] = counts
    filled = pd.DataFrame(full).interpolate(method="linear", axis=0, limit_area="inside").to_numpy(np.float32)
    return pd.DatetimeIndex(grid, freq=freq), filled, notes
