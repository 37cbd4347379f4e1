"""Anticipated services (no history yet): Forecast rows built from analog groups.

demand_new(t) = shape_analogs(t) × peak × ramp(t), where the shape is the analogs' forecast over
the horizon divided by their historic peak (so it carries their weekday, daily shape, season and
trend), ``peak`` is the new service's expected peak (``scale`` × the analogs' mean peak, or given
per resource) and the ramp goes linearly from 0 at the launch to 1 after ``ramp_weeks``.

With a category (a catalog column and value, e.g. trigger = http) the service's weekday and
month pattern is its category's rather than its analogs': the shape is multiplied by the
category's weekday × month factors and divided by the analogs' own (both from a Poisson GLM with
a growth term on daily totals, ``models.forecasting.launches.weekday_month_effects``). Where the
launch falls in the category's season then decides how much the service needs in the horizon.

The launch succeeds with probability p (given, or from a Logit fitted on a Launches history); if
it fizzles, it reaches only ``fizzle`` × that demand. ``case="expected"`` returns the mixture
(mean p·D + (1 − p)·fizzle·D, quantiles of the mixture); ``case="success"`` the demand if it takes
off. Which one a plan covers is a scenario setting.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import pandas as pd

from planner import columns as C
from planner.errors import InputDataError, ScenarioError

__all__ = ["AnticipatedService", "anticipate_services", "success_probabilities", "category_effects",
           "group_effects", "calendar_factor"]

LEVELS = (0.5, 0.9, 0.95, 0.99)


@dataclass(frozen=True)
class AnticipatedService:
    """A service expected to launch inside the horizon.

    Attributes:
        name: id of the new group (becomes ``unique_id`` of its Forecast rows).
        customer: owning customer.
        analogs: existing group ids whose shape the service is expected to follow.
        launch_ds: launch timestamp.
        scale: expected peak as a multiple of the analogs' mean historic peak (ignored per
            resource given in ``peak``).
        peak: expected peak per resource, e.g. ``{"cpu_cores": 12.0}`` (overrides ``scale``).
        ramp_weeks: weeks from launch to full demand (0 = immediate).
        success_probability: P(take-off); if None, predicted from ``features`` by the launch model.
        features: launch attributes for the model (``marketing_push``, ``customer_log_volume``,
            ``n_functions``, ``primary_trigger``).
        fizzle: demand of a failed launch as a fraction of a successful one.
        category: (catalog column, value), e.g. ``("trigger", "http")``: weekday and month pattern
            of that category instead of the analogs' (needs ``category_effects``).
    """

    name: str
    customer: str
    analogs: tuple[str, ...]
    launch_ds: pd.Timestamp
    scale: float = 1.0
    peak: dict = field(default_factory=dict)
    ramp_weeks: float = 4.0
    success_probability: float | None = None
    features: dict = field(default_factory=dict)
    fizzle: float = 0.2
    category: tuple[str, str] | None = None

    def __post_init__(self):
        object.__setattr__(self, "analogs", tuple(self.analogs) if not isinstance(self.analogs, str) else (self.analogs,))
        object.__setattr__(self, "launch_ds", pd.Timestamp(self.launch_ds))
        if not self.analogs:
            raise ScenarioError(f"anticipated service {self.name!r}: give at least one analog group")
        if self.scale < 0 or any(v < 0 for v in self.peak.values()):
            raise ScenarioError(f"anticipated service {self.name!r}: scale and peak must be >= 0")
        if self.ramp_weeks < 0:
            raise ScenarioError(f"anticipated service {self.name!r}: ramp_weeks must be >= 0")
        if self.success_probability is not None and not 0 <= self.success_probability <= 1:
            raise ScenarioError(f"anticipated service {self.name!r}: success_probability must be in [0, 1]")
        if not 0 <= self.fizzle <= 1:
            raise ScenarioError(f"anticipated service {self.name!r}: fizzle must be in [0, 1]")


def success_probabilities(services: Sequence[AnticipatedService], launches: pd.DataFrame | None) -> dict[str, float]:
    """P(success) per service: its own value, else the Logit fitted on ``launches`` (features the
    service does not give take the history's typical value; with fewer than 10 launches or a
    single outcome, the smoothed base rate, with a warning)."""
    from models.forecasting.launches import LaunchSuccessModel

    need = [s for s in services if s.success_probability is None]
    out = {s.name: float(s.success_probability) for s in services if s.success_probability is not None}
    if not need:
        return out
    if launches is None:
        raise ScenarioError(f"anticipated service {need[0].name!r} has no success_probability and no launches "
                            "history was given to learn one from")
    try:
        model = LaunchSuccessModel().fit(launches)
    except ValueError as exc:
        if "took_off" not in launches.columns or launches["took_off"].dropna().empty:
            raise ScenarioError(f"cannot learn launch success from the launches history: {exc}") from None
        # Too few launches for a regression: the smoothed base rate (k + 1) / (n + 2) for everyone.
        k, n = int(launches["took_off"].dropna().astype(bool).sum()), int(launches["took_off"].notna().sum())
        warnings.warn(f"launch success model not fitted ({exc}); using the base rate {(k + 1) / (n + 2):.2f}")
        out.update({s.name: (k + 1) / (n + 2) for s in need})
        return out
    feats = pd.DataFrame([dict(s.features) for s in need])
    p = model.predict_proba(feats)
    out.update({s.name: float(v) for s, v in zip(need, p)})
    return out


def category_effects(telemetry, catalog: pd.DataFrame, column: str, *, established_days: int = 28) -> pd.DataFrame:
    """Weekday and month factors of daily invocations per value of catalog ``column``.

    Only functions already active in the first ``established_days`` of the history count: a
    launch inside the history would otherwise pass for its category's busy season. Returns the
    table of :func:`models.forecasting.launches.weekday_month_effects` (column ``category``).

    Raises:
        ScenarioError: the catalog has no such column.
    """
    from models.forecasting.launches import weekday_month_effects

    if column not in catalog.columns:
        raise ScenarioError(f"anticipated category {column!r} is not a catalog column "
                            f"(have {', '.join(c for c in catalog.columns if c not in (C.UNIQUE_ID,))})")
    per_day = int(round(86400 / telemetry.interval_s))
    n_days = len(telemetry.index) // per_day
    if n_days < 14:
        raise ScenarioError(f"anticipated category {column!r}: {n_days} days of history, need two weeks to learn weekday effects")
    daily = telemetry.counts[: n_days * per_day].reshape(n_days, per_day, -1).sum(axis=1, dtype=np.float64)
    early = daily[: min(established_days, n_days)].sum(axis=0) > 0
    values = catalog.set_index(C.UNIQUE_ID)[column].reindex(telemetry.ids).astype(str).to_numpy()
    days = pd.DatetimeIndex(telemetry.index[: n_days * per_day: per_day]).normalize()
    frames = [pd.DataFrame({"category": v, C.DS: days, "y": daily[:, (values == v) & early].sum(axis=1)})
              for v in np.unique(values)]
    frame = pd.concat(frames, ignore_index=True)
    frame = frame[frame.groupby("category")["y"].transform("sum") > 0]
    return weekday_month_effects(frame, category="category", ds=C.DS, y="y", trend=True)


def group_effects(demand: pd.DataFrame, groups, value: str = C.CPU_CORES) -> pd.DataFrame:
    """Weekday and month factors of each group's daily demand (``value`` summed per day), with a
    growth term; the same table as :func:`category_effects` with the group as category."""
    from models.forecasting.launches import weekday_month_effects

    key = C.GROUP_ID if C.GROUP_ID in demand.columns else C.UNIQUE_ID
    part = demand[demand[key].isin(list(groups))]
    daily = part.groupby([key, part[C.DS].dt.normalize()])[value].sum().reset_index()
    daily = daily.rename(columns={key: "category"})
    # Days before a group's launch are zeros, not its quiet season.
    daily = daily[daily.groupby("category")[value].transform(lambda v: v.cumsum() > 0)]
    return weekday_month_effects(daily, category="category", ds=C.DS, y=value, trend=True)


def calendar_factor(effects: pd.DataFrame, category, ds) -> np.ndarray:
    """Weekday × month factor of ``category`` at each timestamp of ``ds`` (1 where unknown)."""
    ds = pd.DatetimeIndex(ds)
    e = effects[effects["category"].astype(str) == str(category)]
    wd = e[e["effect"] == "weekday"].set_index("level")["factor"]
    mo = e[e["effect"] == "month"].set_index("level")["factor"]
    f_wd = pd.Series(ds.day_of_week).map(wd).fillna(1.0).to_numpy(float)
    f_mo = pd.Series(ds.month).map(mo).fillna(1.0).to_numpy(float)
    return f_wd * f_mo


def _own_calendar(analog_effects, analog, ds, category) -> np.ndarray:
    """The analog's own weekday × month factor, divided out when the service brings a category."""
    if category is None or analog_effects is None:
        return np.ones(len(ds))
    return calendar_factor(analog_effects, analog, ds)


def _peaks(demand: pd.DataFrame, forecast: pd.DataFrame, resources) -> pd.DataFrame:
    """Historic peak of each group and resource (from demand; the forecast's q99 if no demand)."""
    if demand is not None and all(r in demand.columns for r in resources):
        key = C.GROUP_ID if C.GROUP_ID in demand.columns else C.UNIQUE_ID
        return demand.groupby(key)[list(resources)].max()
    return forecast.pivot_table(index=C.UNIQUE_ID, columns=C.RESOURCE, values="q99", aggfunc="max")


def anticipate_services(
    forecast: pd.DataFrame,
    demand: pd.DataFrame | None,
    services: Sequence[AnticipatedService],
    launches: pd.DataFrame | None = None,
    *,
    case: str = "expected",
    effects: dict[str, pd.DataFrame] | None = None,
    analog_effects: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Forecast rows (Forecast columns) for each anticipated service, over the forecast's slots.

    Args:
        forecast: Forecast table of existing groups (must contain every analog).
        demand: ResourceDemand history (for the analogs' historic peaks); may be None.
        services: the anticipated services.
        launches: Launches history, needed when a service gives features instead of a probability.
        case: ``"expected"`` (success/fizzle mixture) or ``"success"`` (demand if it takes off).
        effects: per catalog column, the table of :func:`category_effects` (services with a
            category need theirs).
        analog_effects: the analogs' own factors (:func:`group_effects`), divided out of their
            shape when a service has a category (None: left in).

    Raises:
        ScenarioError: unknown analog, bad case, or no way to get a success probability.
    """
    if case not in ("expected", "success"):
        raise ScenarioError(f"case must be 'expected' or 'success', got {case!r}")
    missing_cols = [c for c in (C.UNIQUE_ID, C.DS, C.RESOURCE, C.MEAN, *C.QUANTILES) if c not in forecast.columns]
    if missing_cols:
        raise InputDataError(f"not a Forecast table: missing {missing_cols}", column=missing_cols[0])
    if not services:
        return forecast.iloc[0:0][[C.UNIQUE_ID, C.DS, C.RESOURCE, C.MEAN, *C.QUANTILES]].copy()
    from models.forecasting.launches import launch_ramp, mixture_quantiles

    known = set(forecast[C.UNIQUE_ID].astype(str))
    taken = [s.name for s in services if s.name in known]
    if taken:
        raise ScenarioError(f"anticipated service name {taken[0]!r} is already an existing group")
    resources = sorted(forecast[C.RESOURCE].unique())
    peaks = _peaks(demand, forecast, resources)
    probs = success_probabilities(services, launches)
    cols = [C.MEAN, *C.QUANTILES]
    out = []
    for s in services:
        absent = [a for a in s.analogs if a not in known]
        if absent:
            raise ScenarioError(f"anticipated service {s.name!r}: analog group(s) {absent} not in the forecast "
                                f"(known e.g. {sorted(known)[:5]})")
        for r in resources:
            parts = []
            for a in s.analogs:
                fa = forecast[(forecast[C.UNIQUE_ID].astype(str) == a) & (forecast[C.RESOURCE] == r)].sort_values(C.DS)
                pk = float(peaks.loc[a, r]) if a in peaks.index else float(fa["q99"].max())
                parts.append((fa, pk))
            ds = parts[0][0][C.DS].to_numpy()
            mean_peak = float(np.mean([pk for _, pk in parts]))
            shape = np.mean([fa[cols].to_numpy(float) / (pk if pk > 0 else 1.0)
                             / _own_calendar(analog_effects, a, ds, s.category)[:, None]
                             for (fa, pk), a in zip(parts, s.analogs)], axis=0)
            if s.category is not None:
                column, value = s.category
                if effects is None or column not in effects:
                    raise ScenarioError(f"anticipated service {s.name!r}: no weekday/month effects learnt for {column!r}")
                known_values = set(effects[column]["category"].astype(str))
                if str(value) not in known_values:
                    raise ScenarioError(f"anticipated service {s.name!r}: category {column}={value!r} has no history "
                                        f"(known: {', '.join(sorted(known_values))})")
                shape = shape * calendar_factor(effects[column], value, ds)[:, None]
            peak = float(s.peak.get(r, s.scale * mean_peak))
            success = shape * peak * launch_ramp(ds, s.launch_ds, s.ramp_weeks)[:, None]
            if case == "success":
                values = success
            else:
                p = probs[s.name]
                mean = (p + (1 - p) * s.fizzle) * success[:, 0]
                values = np.column_stack([mean, mixture_quantiles(success[:, 1:], LEVELS, p, s.fizzle)])
            frame = pd.DataFrame(values, columns=cols)
            frame.insert(0, C.RESOURCE, r)
            frame.insert(0, C.DS, ds)
            frame.insert(0, C.UNIQUE_ID, s.name)
            out.append(frame)
    return pd.concat(out, ignore_index=True)
