"""Energy and carbon of a plan: per worker and hourly slot from its expected utilisation, plus the
idle draw of installed servers the packing leaves empty and the embodied carbon of every installed
server.

Power of a server at CPU utilisation u (the expected load over capacity, 0..1), the linear model of
Fan, Weber and Barroso (ISCA 2007):

    P(u) = idle_watts + (max_watts - idle_watts) * u

    energy_kwh = sum over served workers and slots of P(u) * PUE * slot_hours / 1000
                 + spare installed servers * idle_watts * PUE * week_hours / 1000
    carbon_kg  = sum of energy_kwh(slot) * intensity(zone, slot) / 1000          (operational)
                 + installed * embodied_kg_per_month * week_days / (365.25 / 12) (embodied)

A worker the procurement leaves without a server (a shortfall; planner.risk.unserved_workers) draws
nothing. ``intensity`` is gCO2e per kWh of the worker's zone (or its pool), hour by hour
(planner/carbon.py). Server types without power figures get an estimate from their cores and
memory (:func:`estimated_power`); the run lists them (summary.json ``energy.estimated_power``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from planner import columns as C

__all__ = ["PowerSpec", "estimated_power", "power_specs", "ZoneIntensity", "zone_intensity", "worker_energy",
           "plan_energy", "energy_summary", "DAYS_PER_MONTH"]

DAYS_PER_MONTH = 365.25 / 12


@dataclass(frozen=True)
class PowerSpec:
    """Power and embodied carbon of one server type."""

    idle_watts: float
    max_watts: float
    embodied_kg_per_month: float
    estimated: bool = False

    def watts(self, utilisation: np.ndarray) -> np.ndarray:
        """Power at CPU utilisation ``utilisation`` (clipped to 0..1)."""
        u = np.clip(utilisation, 0.0, 1.0)
        return self.idle_watts + (self.max_watts - self.idle_watts) * u


def estimated_power(cpu_cores: float, memory_gb: float) -> PowerSpec:
    """A stated estimate for a server type without its own figures (docs/objectives.md): a base
    plus watts per core and per GB; embodied carbon of a 4-year life spread over its months."""
    idle = 40.0 + 2.0 * cpu_cores + 0.15 * memory_gb
    full = 60.0 + 6.5 * cpu_cores + 0.35 * memory_gb
    embodied = (500.0 + 12.0 * cpu_cores + 2.5 * memory_gb) / 48.0
    return PowerSpec(round(idle, 1), round(full, 1), round(embodied, 2), estimated=True)


def power_specs(servers: pd.DataFrame) -> dict[str, PowerSpec]:
    """Power of every type of a ServerCatalog (columns ``idle_watts``, ``max_watts``,
    ``embodied_kg_per_month`` where given; an estimate for each missing figure)."""
    out = {}
    for row in servers.to_dict("records"):
        est = estimated_power(float(row[C.CPU_CORES]), float(row[C.MEMORY_GB]))
        given = {k: row.get(k) for k in ("idle_watts", "max_watts", "embodied_kg_per_month")}
        missing = [k for k, v in given.items() if v is None or pd.isna(v)]
        vals = {k: (getattr(est, k) if k in missing else float(v)) for k, v in given.items()}
        if vals["max_watts"] < vals["idle_watts"]:  # an estimate below a given idle figure
            vals["max_watts"] = vals["idle_watts"]
        out[str(row["type"])] = PowerSpec(vals["idle_watts"], vals["max_watts"], vals["embodied_kg_per_month"],
                                          estimated=bool(missing))
    return out


@dataclass(frozen=True)
class ZoneIntensity:
    """Hourly carbon intensity (gCO2e/kWh) of each zone over the horizon, and where it came from."""

    start: pd.Timestamp
    values: dict[str, np.ndarray]  # zone -> [hours of the horizon]
    sources: dict[str, str]  # zone -> "builtin:mixed" or a file path
    slot_hours: float = 1.0

    def at(self, zone: str, week_start: pd.Timestamp, n_slots: int, slot_hours: float) -> np.ndarray:
        """``[n_slots]`` mean intensity of each slot of a week (slots of ``slot_hours`` hours)."""
        series = self.values[zone]
        first = int(round((week_start - self.start) / pd.Timedelta(hours=1)))
        per = max(int(round(slot_hours)), 1)
        hours = series[first: first + n_slots * per]
        if len(hours) < n_slots * per:
            raise ValueError(f"zone {zone!r}: the carbon profile ends before the week of {week_start}")
        return hours.reshape(n_slots, per).mean(axis=1)

    def mean(self, zone: str) -> float:
        return float(np.mean(self.values[zone]))


def zone_intensity(scenario, start: pd.Timestamp, zones_of_pool: dict[str, list[str]]) -> ZoneIntensity:
    """Resolve the scenario's ``energy.carbon_intensity`` for every zone over the horizon.

    The key of a zone is the zone's name, else its pool's; with no mapping at all every zone uses
    ``builtin:mixed``. Raises :class:`planner.errors.ScenarioError` for a zone no key covers."""
    from planner.carbon import intensity_at, load_intensity
    from planner.errors import ScenarioError

    mapping = dict(scenario.energy.carbon_intensity)
    base = scenario.source_path.parent if scenario.source_path is not None else None
    hours = pd.date_range(start, periods=24 * 7 * scenario.horizon.weeks, freq="h")
    cache: dict[str, np.ndarray] = {}
    values, sources = {}, {}
    for pool, zones in zones_of_pool.items():
        for zone in zones:
            spec = mapping.get(zone, mapping.get(pool))
            if spec is None:
                if mapping:
                    raise ScenarioError(f"{scenario.source_path or 'scenario'}: energy.carbon_intensity has no entry "
                                        f"for zone {zone!r} or its pool {pool!r} (keys: {', '.join(mapping)})")
                spec = "builtin:mixed"
            if spec not in cache:
                cache[spec] = intensity_at(load_intensity(spec, base), hours, source=spec)
            values[zone], sources[zone] = cache[spec], spec
    return ZoneIntensity(pd.Timestamp(start), values, sources)


def worker_energy(loads, spec_of: dict[str, PowerSpec], pue: float, slot_hours: float,
                  served: np.ndarray | None = None) -> np.ndarray:
    """``[W, T]`` kWh of each worker and slot from its expected CPU utilisation (``loads`` is a
    :class:`planner.plan.WorkerLoads`, CPU the first resource); unserved workers draw nothing."""
    util = loads.mean[:, :, 0] / loads.capacity[:, :, 0]  # [W, T]
    watts = np.stack([spec_of[str(t)].watts(u) for t, u in zip(loads.server_type, util)]) if len(util) else util
    kwh = watts * pue * slot_hours / 1000.0
    if served is not None:
        kwh = kwh * served[:, None]
    return kwh


def plan_energy(weeks, loads: dict, installed: pd.DataFrame, servers: pd.DataFrame, scenario,
                intensity: ZoneIntensity, zone_of_worker: dict | None = None, shortfall=None) -> pd.DataFrame:
    """Energy and carbon per week, pool and server type.

    Columns: ``week, pool, server_type, energy_kwh, carbon_kg, carbon_operational_kg,
    carbon_embodied_kg``. ``installed`` is the procurement's ``week, pool, server_type, installed``;
    ``zone_of_worker`` maps ``(week, worker_id)`` to a zone (default: the type's first zone).
    """
    from planner.risk import unserved_workers

    specs = power_specs(servers)
    pue = float(scenario.energy.pue)
    pool_of = dict(zip(servers["type"], servers["pool"]))
    first_zone = {s.type: s.zones[0] for s in scenario.servers}
    zone_of_worker = zone_of_worker or {}
    rows = []
    for wp in weeks:
        wl = loads[wp.week]
        n_t = wl.mean.shape[1]
        slot_h = 168.0 / n_t
        unserved = unserved_workers(wl, pool_of, shortfall, wp.week, wp.instance.resources)
        served = np.array([w not in unserved for w in wl.workers], dtype=float)
        kwh = worker_energy(wl, specs, pue, slot_h, served)  # [W, T]
        op = np.zeros(len(wl.workers))
        for i, w in enumerate(wl.workers):
            zone = zone_of_worker.get((wp.week, w), first_zone[str(wl.server_type[i])])
            op[i] = float(kwh[i] @ intensity.at(zone, wp.start, n_t, slot_h)) / 1000.0
        inst = installed[installed["week"] == wp.week]
        for rec in inst.itertuples(index=False):
            st = str(rec.server_type)
            spec = specs[st]
            mask = wl.server_type == st
            used = int(served[mask].sum())
            spare = max(int(rec.installed) - used, 0)
            # Idle installed servers: the failover spares in their zones first, the rest in the type's first.
            fo = getattr(wp, "failover", None)
            zones = [z for _, t, z in (fo.spares if fo is not None else ()) if t == st][:spare]
            zones += [first_zone[st]] * (spare - len(zones))
            one_kwh = spec.idle_watts * pue * 168.0 / 1000.0
            spare_kwh = spare * one_kwh
            spare_kg = sum(one_kwh * intensity.at(z, wp.start, n_t, slot_h).mean() / 1000.0 for z in zones)
            energy = float(kwh[mask].sum()) + spare_kwh
            embodied = int(rec.installed) * spec.embodied_kg_per_month * 7.0 / DAYS_PER_MONTH
            operational = float(op[mask].sum()) + spare_kg
            rows.append({"week": wp.week, "pool": pool_of.get(st, rec.pool), "server_type": st,
                         "energy_kwh": energy, "carbon_kg": operational + embodied,
                         "carbon_operational_kg": operational, "carbon_embodied_kg": embodied})
    return pd.DataFrame(rows, columns=["week", "pool", "server_type", "energy_kwh", "carbon_kg",
                                       "carbon_operational_kg", "carbon_embodied_kg"])


def energy_summary(energy: pd.DataFrame, scenario, intensity: ZoneIntensity, servers: pd.DataFrame) -> dict:
    """The ``energy`` block of summary.json (totals over the horizon, the PUE, each zone's source and
    mean intensity, the carbon price and its cost, and the types whose power was estimated)."""
    specs = power_specs(servers)
    kg = float(energy["carbon_kg"].sum())
    price = float(scenario.energy.carbon_price)
    return {
        "energy_kwh": round(float(energy["energy_kwh"].sum()), 1),
        "carbon_kg": round(kg, 1),
        "carbon_operational_kg": round(float(energy["carbon_operational_kg"].sum()), 1),
        "carbon_embodied_kg": round(float(energy["carbon_embodied_kg"].sum()), 1),
        "pue": float(scenario.energy.pue),
        "carbon_price_per_tonne": price,
        "carbon_cost": round(kg / 1000.0 * price, 2),
        "intensity": {z: {"source": intensity.sources[z], "mean_gco2_per_kwh": round(intensity.mean(z), 1)}
                      for z in sorted(intensity.values)},
        "estimated_power": [t for t, s in specs.items() if s.estimated],
    }


def carbon_slot_cost(scenario, intensity: ZoneIntensity, servers: pd.DataFrame):
    """With ``energy.carbon_price``: a function giving, for a week's packing instance, the cost of
    one CPU core of work run in each of its slots, for the deferral LP (planner.deferral:
    carbon-aware shifting moves lax work towards clean hours). In money: price × the slot's grid
    intensity (the mean of the zones: zones are chosen after the packing) × the dearest type's
    watts per core above idle × PUE; in the LP's units: over that type's weekly cost (one unit of
    the joint objective is one such server for the week). ``None`` without a carbon price."""
    price = float(scenario.energy.carbon_price)
    if price <= 0:
        return None
    specs = power_specs(servers)
    dear = servers.loc[servers["cost_per_month"].astype(float).idxmax()]
    spec = specs[str(dear["type"])]
    kwh_per_core_hour = (spec.max_watts - spec.idle_watts) / float(dear[C.CPU_CORES]) * scenario.energy.pue / 1000.0
    weekly_cost = float(dear["cost_per_month"]) * 12.0 / 52.0
    zones = sorted(intensity.values)

    def cost(instance) -> np.ndarray:
        start = pd.Timestamp(instance.slots[0])
        n_t = len(instance.slots)
        slot_h = 168.0 / n_t if n_t else 1.0
        ci = np.mean([intensity.at(z, start, n_t, slot_h) for z in zones], axis=0)  # g/kWh per slot
        return price * ci / 1e6 * kwh_per_core_hour * slot_h / weekly_cost

    return cost
