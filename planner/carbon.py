"""Hourly grid carbon intensity (gCO2e per kWh): the embedded profiles and a validated file reader.

A carbon file is a CSV or Parquet table with a timestamp column (``timestamp`` or ``ds``) and an
intensity column (``gco2_per_kwh``; ``avg_CI``, the name of the EIA-930-derived tables, is accepted
too), one row per hour with no gap. It either covers every hour of the horizon, or spans at least a
whole year, which is then used as a *typical year*: each hour of the horizon takes the file's value at
the same month, day and hour (29 February takes 28 February's). Timestamps are read on the
telemetry's clock; a timestamp with a time zone is converted to UTC and its zone dropped.

The embedded profiles (``builtin:mixed``, ``builtin:solar``, ``builtin:hydro``) are not measurements.
:func:`builtin_profile` derives them from a stated generation mix (annual shares of published
national and state figures), a demand curve, a solar curve, seeded wind and the IPCC AR5 life-cycle
emission factors; docs/objectives.md gives every number and data/carbon/*.csv holds the result
(regenerate with ``python -m planner.carbon data/carbon``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from planner.errors import InputDataError

__all__ = ["BUILTIN", "MixProfile", "builtin_profile", "read_intensity", "intensity_at", "load_intensity",
           "PROFILE_YEAR"]

#: IPCC AR5 WG III (2014) Annex III, life-cycle median emission factors, gCO2e per kWh.
EMISSION_FACTORS = {"coal": 820.0, "gas": 490.0, "oil": 650.0, "nuclear": 12.0, "hydro": 24.0, "wind": 11.0,
                    "solar": 48.0, "other": 230.0}

#: The embedded profiles are written for this (non-leap) year and used as a typical year.
PROFILE_YEAR = 2025


@dataclass(frozen=True)
class MixProfile:
    """Annual generation shares (they sum to 1) and the shape parameters of one embedded profile.

    Fossil generation (coal and gas at ``coal_share_of_fossil``) fills the hourly demand left after
    nuclear (flat), hydro (seasonal), wind (seeded, autocorrelated) and solar (the sun's curve);
    ``hydro_follows_load`` of hydro follows demand instead (a dispatchable reservoir)."""

    name: str
    source: str
    nuclear: float
    hydro: float
    wind: float
    solar: float
    other: float
    coal_share_of_fossil: float
    hydro_follows_load: float = 0.0
    seed: int = 0

    @property
    def fossil(self) -> float:
        return 1.0 - (self.nuclear + self.hydro + self.wind + self.solar + self.other)


BUILTIN: dict[str, MixProfile] = {
    # US 2022 utility-scale generation (EIA Electric Power Monthly, Feb 2023): gas 39.8 %, coal 19.5 %,
    # nuclear 18.2 %, wind 10.2 %, hydro 6.2 %, solar 3.4 %, other 2.7 %.
    "mixed": MixProfile("mixed", "US 2022 national mix (EIA)", nuclear=0.182, hydro=0.062, wind=0.102,
                        solar=0.034, other=0.027, coal_share_of_fossil=0.195 / (0.195 + 0.398), seed=11),
    # California 2022 in-state generation (California Energy Commission, Total System Electric
    # Generation 2022): gas 47.5 %, solar 17.0 %, hydro 7.5 %, nuclear 8.8 %, wind 6.7 %, other
    # (geothermal, biomass) 12.5 %, coal ~0.
    "solar": MixProfile("solar", "California 2022 in-state mix (CEC)", nuclear=0.088, hydro=0.075, wind=0.067,
                        solar=0.170, other=0.125, coal_share_of_fossil=0.0, hydro_follows_load=0.5, seed=12),
    # Washington State 2022 (EIA State Electricity Profile): hydro 65 %, gas 13 %, nuclear 8 %,
    # wind 7 %, coal 4 %, other 3 %.
    "hydro": MixProfile("hydro", "Washington State 2022 mix (EIA)", nuclear=0.08, hydro=0.65, wind=0.07,
                        solar=0.0, other=0.03, coal_share_of_fossil=0.04 / 0.17, hydro_follows_load=0.6, seed=13),
}


def _hours(year: int) -> pd.DatetimeIndex:
    return pd.date_range(f"{year}-01-01", f"{year + 1}-01-01", freq="h", inclusive="left")


def builtin_profile(name: str, year: int = PROFILE_YEAR) -> pd.Series:
    """The hourly intensity (gCO2e/kWh) of an embedded profile for every hour of ``year``.

    Demand (the share of the year's mean load) has a daily curve (low at 4:00, high at 18:00), a
    weekday/weekend step and a winter and summer peak; solar follows the sun's elevation at 40°N;
    wind is an AR(1) process (hourly persistence 0.97, seeded) with more wind in winter and spring;
    hydro peaks in late spring. Each source is scaled to its annual share; fossil fills the rest,
    never below 5 % of demand (must-run units), and any surplus lowers fossil to that floor.
    """
    if name not in BUILTIN:
        raise ValueError(f"unknown builtin carbon profile {name!r}; choose one of {sorted(BUILTIN)}")
    mix = BUILTIN[name]
    idx = _hours(year)
    hour = idx.hour.to_numpy() + 0.5
    doy = idx.day_of_year.to_numpy()
    weekend = idx.day_of_week.to_numpy() >= 5
    season = np.cos(2 * np.pi * (doy - 15) / 365.0)  # +1 mid-January, -1 mid-July
    demand = (1.0 + 0.12 * np.sin(2 * np.pi * (hour - 10.0) / 24.0) + 0.05 * np.sin(4 * np.pi * (hour - 4.0) / 24.0)
              - 0.06 * weekend + 0.06 * season ** 2)
    # Solar elevation at 40°N: declination from the day of the year, hour angle from local noon.
    decl = np.radians(23.44) * np.sin(2 * np.pi * (doy - 81) / 365.0)
    lat = np.radians(40.0)
    hour_angle = np.radians(15.0 * (hour - 12.0))
    sin_elev = np.sin(lat) * np.sin(decl) + np.cos(lat) * np.cos(decl) * np.cos(hour_angle)
    sun = np.clip(sin_elev, 0.0, None) ** 1.2
    rng = np.random.default_rng(mix.seed)
    shocks = rng.normal(0.0, 1.0, len(idx))
    ar = np.empty(len(idx))
    ar[0] = shocks[0]
    for t in range(1, len(idx)):
        ar[t] = 0.97 * ar[t - 1] + math.sqrt(1 - 0.97 ** 2) * shocks[t]
    wind = np.exp(0.6 * ar) * (1.0 + 0.25 * np.cos(2 * np.pi * (doy - 60) / 365.0))
    hydro_season = 1.0 + 0.35 * np.cos(2 * np.pi * (doy - 150) / 365.0)
    total = demand.sum()

    def scaled(shape, share):
        return shape * (share * total / shape.sum()) if share > 0 else np.zeros_like(shape)

    nuclear = scaled(np.ones(len(idx)), mix.nuclear)
    hydro = (scaled(hydro_season * demand, mix.hydro * mix.hydro_follows_load)
             + scaled(hydro_season, mix.hydro * (1 - mix.hydro_follows_load)))
    gen = {"nuclear": nuclear, "hydro": hydro, "wind": scaled(wind, mix.wind), "solar": scaled(sun, mix.solar),
           "other": scaled(np.ones(len(idx)), mix.other)}
    clean = sum(gen.values())
    fossil = np.maximum(demand - clean, 0.05 * demand)
    gen["coal"] = fossil * mix.coal_share_of_fossil
    gen["gas"] = fossil * (1 - mix.coal_share_of_fossil)
    energy = sum(gen.values())
    ci = sum(g * EMISSION_FACTORS[f] for f, g in gen.items()) / energy
    return pd.Series(np.round(ci, 3), index=idx, name="gco2_per_kwh")


def read_intensity(path) -> pd.Series:
    """Read and validate a carbon file: an hourly Series of gCO2e/kWh indexed by naive timestamps.

    Errors name the file, the row (1-based, header = 1) and the column: a missing or unreadable
    column, a negative or non-numeric value, a duplicate hour, or a missing hour (the first gap)."""
    from planner.io import read_table

    path = Path(path)
    if not path.exists():
        raise InputDataError("carbon intensity file not found", path=path)
    try:
        frame = read_table(path)
    except ValueError as exc:
        raise InputDataError(str(exc).split(": ", 1)[-1], path=path) from None
    except Exception as exc:  # an unreadable file of the right suffix (bad CSV or Parquet)
        raise InputDataError(f"unreadable table ({type(exc).__name__}); expected columns timestamp,gco2_per_kwh",
                             path=path) from None
    tcol = next((c for c in ("timestamp", "ds") if c in frame.columns), None)
    vcol = next((c for c in ("gco2_per_kwh", "avg_CI") if c in frame.columns), None)
    if tcol is None or vcol is None:
        raise InputDataError(f"expected columns timestamp (or ds) and gco2_per_kwh (or avg_CI); it has "
                             f"{list(frame.columns)}", path=path)
    if frame.empty:
        raise InputDataError("the carbon file has no rows", path=path)
    ts = pd.to_datetime(frame[tcol], errors="coerce", utc=True)
    if ts.isna().any():
        row = int(np.flatnonzero(ts.isna().to_numpy())[0]) + 2
        raise InputDataError(f"unreadable timestamp {frame[tcol].iloc[row - 2]!r}", path=path, row=row, column=tcol)
    ts = ts.dt.tz_localize(None)
    values = pd.to_numeric(frame[vcol], errors="coerce")
    bad = values.isna() | ~np.isfinite(values.to_numpy(float)) | (values < 0)
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0]) + 2
        raw = frame[vcol].iloc[row - 2]
        shown = "empty" if pd.isna(raw) else repr(str(raw))
        raise InputDataError(f"intensity {shown}; expected a number >= 0 (gCO2e per kWh)", path=path, row=row,
                             column=vcol)
    if (ts != ts.dt.floor("h")).any():
        row = int(np.flatnonzero((ts != ts.dt.floor("h")).to_numpy())[0]) + 2
        raise InputDataError(f"timestamp {ts.iloc[row - 2]} is not on the hour; expected one row per hour",
                             path=path, row=row, column=tcol)
    order = np.argsort(ts.to_numpy(), kind="stable")
    ts_sorted = ts.iloc[order].reset_index(drop=True)
    dup = ts_sorted.duplicated()
    if dup.any():
        first = ts_sorted[dup].iloc[0]
        row = int(np.flatnonzero((ts == first).to_numpy())[1]) + 2
        raise InputDataError(f"hour {first} appears twice", path=path, row=row, column=tcol)
    gaps = ts_sorted.diff().iloc[1:] != pd.Timedelta(hours=1)
    if gaps.any():
        i = int(np.flatnonzero(gaps.to_numpy())[0]) + 1
        before, after = ts_sorted.iloc[i - 1], ts_sorted.iloc[i]
        n = int((after - before) / pd.Timedelta(hours=1)) - 1
        row = int(order[i - 1]) + 2
        raise InputDataError(f"missing hours: {n} hour(s) from {before + pd.Timedelta(hours=1)} to "
                             f"{after - pd.Timedelta(hours=1)} (after this row); give one row per hour with no gap",
                             path=path, row=row, column=tcol)
    return pd.Series(values.to_numpy(float)[order], index=pd.DatetimeIndex(ts_sorted), name="gco2_per_kwh")


def intensity_at(series: pd.Series, hours: pd.DatetimeIndex, source: str = "carbon profile") -> np.ndarray:
    """The intensity at each of ``hours``: the series' own hours when it covers them all, else the
    same month, day and hour of the series used as a typical year (it must span a whole year)."""
    hours = pd.DatetimeIndex(hours).floor("h")
    if len(hours) == 0:
        return np.zeros(0)
    direct = series.reindex(hours)
    if not direct.isna().any():
        return direct.to_numpy(float)
    span = len(series)
    if span < 8760:
        missing = hours[direct.isna().to_numpy()]
        raise InputDataError(
            f"covers {series.index[0]} to {series.index[-1]} ({span} hours), not the horizon's hours from "
            f"{missing[0]} to {missing[-1]}; give those hours or a whole year (8,760 hours) to use as a typical year",
            path=source)
    year = series.iloc[:8760 + (24 if _leap_span(series) else 0)]
    key = pd.MultiIndex.from_arrays([year.index.month, year.index.day, year.index.hour])
    typical = pd.Series(year.to_numpy(float), index=key)
    typical = typical[~typical.index.duplicated()]
    day = np.where((hours.month == 2) & (hours.day == 29) & ~_has_feb29(typical), 28, hours.day)
    values = typical.reindex(pd.MultiIndex.from_arrays([hours.month, day, hours.hour])).to_numpy(float)
    if np.isnan(values).any():  # a year that starts mid-month covers every (month, day, hour) anyway
        raise InputDataError("the typical year lacks some hours of the horizon", path=source)
    return values


def _leap_span(series: pd.Series) -> bool:
    start = series.index[0]
    end = start + pd.DateOffset(years=1)
    return int((end - start) / pd.Timedelta(hours=1)) == 8784 and len(series) >= 8784


def _has_feb29(typical: pd.Series) -> bool:
    return (2, 29, 0) in typical.index


def load_intensity(spec: str, base: Path | None = None) -> pd.Series:
    """A scenario's carbon source: ``builtin:NAME`` or a file path (relative to ``base``)."""
    if spec.startswith("builtin:"):
        name = spec.split(":", 1)[1]
        if name not in BUILTIN:
            raise InputDataError(f"unknown builtin carbon profile {name!r}; choose one of "
                                 f"{', '.join('builtin:' + n for n in sorted(BUILTIN))}", path=spec)
        from planner.embedded import data_path

        return read_intensity(data_path("carbon", f"{name}.csv"))  # the shipped file (= builtin_profile(name))
    path = Path(spec)
    if base is not None and not path.is_absolute():
        path = base / path
    return read_intensity(path)


def write_builtin_profiles(folder) -> list[Path]:
    """Write every embedded profile as ``folder/NAME.csv`` (``timestamp,gco2_per_kwh``)."""
    from planner.io import write_table

    folder = Path(folder)
    out = []
    for name in sorted(BUILTIN):
        s = builtin_profile(name)
        frame = pd.DataFrame({"timestamp": s.index.strftime("%Y-%m-%d %H:%M"), "gco2_per_kwh": s.to_numpy()})
        out.append(write_table(frame, folder / f"{name}.csv"))
    return out


if __name__ == "__main__":
    import sys

    for p in write_builtin_profiles(sys.argv[1] if len(sys.argv) > 1 else "data/carbon"):
        print(p)
