"""The history a scenario plans from: telemetry, catalog, demand, customers' tiers and launches."""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

from planner import columns as C
from planner.demand import groups_table
from planner.errors import InputDataError, ScenarioError
from planner.scenarios import Scenario
from planner.synth import SynthSpec, make_fleet
from planner.telemetry import Telemetry


@dataclass(frozen=True)
class History:
    """Inputs of one planning run, before any forecasting."""

    telemetry: Telemetry
    catalog: pd.DataFrame
    demand: pd.DataFrame  # ResourceDemand, group level, at the scenario's slot
    groups: pd.DataFrame  # group_id, customer, tier, n_functions
    launches: pd.DataFrame | None
    source: str
    slot: str = "1h"
    warm: object = None  # planner.keepalive.WarmDemand: cold starts under the scenario's keep-alive policy

    @property
    def end(self) -> pd.Timestamp:
        """The first instant after the history."""
        return pd.Timestamp(self.demand[C.DS].max()) + pd.Timedelta(self.slot)


def load_history(scenario: Scenario, keep_matrices: bool = True) -> History:
    """Read (or generate) the scenario's data, cut it at ``data.until``, derive demand and tiers.
    ``keep_matrices=False``: the warm demand without its ``[group, slot]`` matrices, for a caller
    that reads only its per-app cold starts (planner.keepalive.WarmDemand.without_matrices)."""
    data = scenario.data
    launches = None
    customers = None
    if data.format == "synthetic":
        s = data.synthetic
        fleet = make_fleet(SynthSpec(n_functions=s.functions, days=s.days, seed=s.seed, start=str(s.start), interval=s.interval))
        telemetry, catalog = fleet.telemetry(), fleet.catalog
        launches, customers = fleet.launches, fleet.customers
        source = f"synthetic fleet ({s.functions} functions, {s.days} days, seed {s.seed})"
    else:
        from planner.ingest import read_telemetry

        path = scenario.resolve(data.path)
        if not path.exists():
            raise ScenarioError(f"{scenario.source_path}: data.path {path} does not exist")
        catalog_path = scenario.resolve(data.catalog)
        telemetry, catalog = read_telemetry(path, data.format, catalog=catalog_path)
        source = f"{data.format}: {path}"
    if data.customers is not None:
        customers = _read_customers(scenario.resolve(data.customers))
    if data.until is not None:
        telemetry = _cut(telemetry, pd.Timestamp(data.until))
    from planner.pools import split_groups_by_pool

    catalog = split_groups_by_pool(catalog, scenario)  # a group in several trace pools: one per pool
    demand, warm = _demand(scenario, telemetry, catalog, keep_matrices)
    groups = groups_table(catalog)
    groups["tier"] = _tiers(groups, customers, scenario)
    return History(telemetry, catalog, demand, groups, launches, source, data.slot, warm)


def _demand(scenario: Scenario, telemetry: Telemetry, catalog: pd.DataFrame, matrices: bool = True):
    """Group demand with memory under the scenario's keep-alive policy, and the warm demand."""
    from planner.keepalive import demand_with_keep_alive

    try:
        frames, warm = demand_with_keep_alive(telemetry, catalog, scenario.keep_alive, slot=scenario.data.slot,
                                              idle_cpu_share=scenario.keep_alive_idle_cpu, levels=("group",),
                                              matrices=matrices)
    except ValueError as exc:
        if isinstance(exc, InputDataError):
            raise
        raise ScenarioError(f"{scenario.source_path or 'scenario'}: keep_alive {scenario.keep_alive}: {exc}") from None
    return frames["group"], warm


def _cut(tel: Telemetry, until: pd.Timestamp) -> Telemetry:
    keep = tel.index < until
    if not keep.any():
        raise ScenarioError(f"data.until {until} is before the history starts ({tel.index[0]})")
    if keep.all() and until > tel.index[-1] + pd.Timedelta(seconds=tel.interval_s):
        import warnings

        warnings.warn(f"data.until {until} is after the data's last slot ({tel.index[-1]}): nothing was cut, "
                      "the history ends with the data")
    n = int(keep.sum())
    index = pd.DatetimeIndex(tel.index[:n], freq=tel.index.freq)
    return Telemetry(index, tel.ids, tel.counts[:n], tel.repairs)


def _read_customers(path) -> pd.DataFrame:
    from planner.ingest.checks import require_columns, require_file

    require_file(path)
    from planner.io import read_csv

    frame = read_csv(path, dtype=str)
    require_columns(frame, [C.CUSTOMER, "tier"], path=path)
    dup = frame[C.CUSTOMER].duplicated()
    if dup.any():
        i = int(np.flatnonzero(dup.to_numpy())[0])
        raise InputDataError(f"customer {frame[C.CUSTOMER].iloc[i]!r} listed twice", path=path, row=i + 2, column=C.CUSTOMER)
    return frame


def _tiers(groups: pd.DataFrame, customers: pd.DataFrame | None, scenario: Scenario) -> pd.Series:
    """Tier of each group: scenario override > customers file > default tier."""
    tier = pd.Series(scenario.customers.default_tier, index=groups.index)
    if customers is not None:
        given = customers.set_index(C.CUSTOMER)["tier"]
        unknown = sorted(set(given) - set(scenario.tiers))
        if unknown:
            raise ScenarioError(f"customers file names tier(s) {unknown} that the scenario does not define "
                                f"({', '.join(scenario.tiers)})")
        tier = groups[C.CUSTOMER].map(given).fillna(tier)
    for cust, t in scenario.customers.tiers.items():
        if cust not in set(groups[C.CUSTOMER]):
            warnings.warn(f"customers.tiers names {cust!r}, which has no groups in the data", stacklevel=3)
        tier[groups[C.CUSTOMER] == cust] = t
    return tier.astype(str)
