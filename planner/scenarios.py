"""Scenario files: YAML validated with pydantic. A scenario may name a ``base`` scenario and
override only some of its fields (deep merge; lists replace lists). Every field is documented in
docs/scenarios.md; an error names the file and the field's path in it."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from planner.errors import ScenarioError

if TYPE_CHECKING:  # numpy is imported where it is used: loading a scenario does not need it
    import numpy as np


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SyntheticData(_Strict):
    """The embedded synthetic fleet (planner.synth)."""

    functions: int = Field(300, ge=1)
    days: int = Field(364, ge=14)
    seed: int = 2026
    start: dt.date = dt.date(2025, 12, 29)
    interval: str = "5min"


class DataSource(_Strict):
    """Where the history comes from."""

    format: Literal["synthetic", "huawei", "azure", "long"] = "synthetic"  # azure2019: an alias of azure
    path: Path | None = None  # trace file or folder (relative paths: to the scenario file)
    catalog: Path | None = None
    customers: Path | None = None  # CSV customer,tier (the synthetic fleet brings its own)
    synthetic: SyntheticData = SyntheticData()
    slot: str = "1h"
    until: dt.datetime | None = None  # use history before this instant only (backtests)

    @field_validator("format", mode="before")
    @classmethod
    def _format_alias(cls, v):
        from planner.ingest import FORMAT_ALIASES

        return FORMAT_ALIASES.get(v, v) if isinstance(v, str) else v

    @field_validator("slot")
    @classmethod
    def _slot_is_a_duration(cls, v):
        from planner.demand import parse_slot

        parse_slot(v)  # InputDataError is a ValueError: reported as data.slot
        return v

    @model_validator(mode="after")
    def _path_needed(self):
        if self.format != "synthetic" and self.path is None:
            raise ValueError(f"data.path is required for format {self.format!r}")
        if self.format == "long" and self.catalog is None:
            raise ValueError("data.catalog is required for the long format")
        return self


class Horizon(_Strict):
    start: dt.date | None = None  # default: the first slot after the history ends
    weeks: int = Field(13, ge=1, le=104)  # a quarter; each week is 7 x 24 hourly slots from start


class TierSpec(_Strict):
    """A QoS tier (planner.qos.Tier): a risk target ``overflow_risk`` packed by pooled risk
    (``method`` gaussian or cantelli), or a ``quantile`` stacked per group (``method: stacked``)."""

    overflow_risk: float | None = Field(None, gt=0, lt=0.5)
    method: Literal["gaussian", "cantelli", "stacked"] | None = None
    quantile: Literal["mean", "q50", "q90", "q95", "q99"] | None = None
    headroom: float = Field(0.10, ge=0, lt=1)
    spread: int = Field(1, ge=1)
    isolated: bool = False
    # Failure domain the tier's groups must survive losing (docs/objectives.md); zones: where they run.
    survive: Literal["none", "worker", "zone"] = "none"
    zones: list[str] | None = None
    # No customer's overflow risk rate above this multiple of its tier's mean (None: no bound).
    max_risk_ratio: float | None = Field(None, ge=1)

    @model_validator(mode="after")
    def _one_level(self):
        from planner.qos import Tier

        Tier("", self.quantile, self.headroom, self.spread, self.isolated, self.overflow_risk, self.method)
        return self


class Customers(_Strict):
    default_tier: str = "standard"
    tiers: dict[str, str] = {}  # customer -> tier name, overriding the customers file


class Server(_Strict):
    type: str
    cpu_cores: float = Field(gt=0)
    memory_gb: float = Field(gt=0)
    cost_per_month: float = Field(gt=0)
    capex: float = Field(0.0, ge=0)  # one-off price per server, paid in the order week (docs/procurement.md)
    max_count: int | None = Field(None, ge=0)
    lead_time_weeks: int = Field(0, ge=0)
    pool: str | list[str] = "default"  # a list offers the type in each of those pools
    initial: int = Field(0, ge=0)  # installed at the start of the horizon (in each of its pools)
    zones: list[str] = Field(["default"], min_length=1)  # zones the type may be installed in
    # Power at idle and at full CPU load, and embodied carbon per month (None: estimated, reported).
    idle_watts: float | None = Field(None, ge=0)
    max_watts: float | None = Field(None, ge=0)
    embodied_kg_per_month: float | None = Field(None, ge=0)

    @model_validator(mode="after")
    def _power(self):
        if self.idle_watts is not None and self.max_watts is not None and self.max_watts < self.idle_watts:
            raise ValueError(f"max_watts {self.max_watts:g} is below idle_watts {self.idle_watts:g}")
        if len(set(self.zones)) != len(self.zones):
            raise ValueError(f"zones lists a zone twice: {self.zones}")
        return self

    @property
    def pools(self) -> list[str]:
        return list(self.pool) if isinstance(self.pool, list) else [self.pool]


class Redundancy(_Strict):
    """How tiers with ``survive`` keep failover capacity (docs/objectives.md: chosen by measurement)."""

    form: Literal["reserve", "spread"] = "reserve"


class Energy(_Strict):
    """Energy and carbon (planner/energy.py, planner/carbon.py)."""

    pue: float = Field(1.2, ge=1.0)  # facility power / IT power
    # zone or pool -> "builtin:NAME" or a CSV/Parquet file (timestamp, gco2_per_kwh); {} = builtin:mixed
    carbon_intensity: dict[str, str] = {}
    carbon_price: float = Field(0.0, ge=0)  # currency per tonne CO2e, added to the packing's server cost


class InventoryItem(_Strict):
    """Servers of one type installed before the horizon (in the scenario, or a row of an inventory CSV)."""

    server_type: str
    count: int = Field(ge=0)
    pool: str | None = None  # default: the server type's pool
    zone: str | None = None  # default: the server type's first zone (failure domains, carbon)
    rack: str | None = None  # optional, reported with the workers placed on these servers


GrowthFactor = float | list[float] | dict[int, float]


def _check_factor(name: str, v):
    """``name`` is the key inside the field (a customer or group); the error's location names the field."""
    where = f"{name}: " if name else ""
    values = v if isinstance(v, list) else list(v.values()) if isinstance(v, dict) else [v]
    if not values or not all(isinstance(x, (int, float)) and x > 0 for x in values):
        raise ValueError(f"{where}multipliers must be > 0, got {v}")
    if isinstance(v, dict) and any(k < 0 for k in v):
        raise ValueError(f"{where}weeks must be >= 0, got {sorted(v)}")
    return v


def growth_curve(factor: GrowthFactor, weeks) -> np.ndarray:
    """Multiplier of each week index (0 = the first week of the horizon).

    A number holds for every week; a list gives one factor per week (the last one holds after
    it); a mapping ``{week: factor}`` is interpolated linearly between its weeks and held flat
    before the first and after the last.
    """
    import numpy as np

    weeks = np.asarray(weeks, float)
    if isinstance(factor, (int, float)):
        return np.full(weeks.shape, float(factor))
    if isinstance(factor, list):
        arr = np.asarray(factor, float)
        return arr[np.clip(weeks.astype(int), 0, len(arr) - 1)]
    knots = sorted(factor.items())
    return np.interp(weeks, [k for k, _ in knots], [v for _, v in knots])


class InventoryFromHistory(_Strict):
    """The installed fleet as the fleet the history's last weeks needed: the plan's own packing,
    rules and catalog applied to their actual demand (planner.backtest.inventory_from_history)."""

    from_history_weeks: int = Field(ge=1, le=13)


class Growth(_Strict):
    """Multipliers of the forecast demand (1.0 = as forecast): a number, a list with one factor per
    week of the horizon, or a curve ``{week: factor}`` interpolated between its weeks."""

    all: GrowthFactor = Field(1.0, alias="global")
    customers: dict[str, GrowthFactor] = {}
    groups: dict[str, GrowthFactor] = {}
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @field_validator("all")
    @classmethod
    def _positive_all(cls, v):
        return _check_factor("", v)  # the location already says growth.global

    @field_validator("customers", "groups")
    @classmethod
    def _positive(cls, v):
        for k, x in v.items():
            _check_factor(k, x)
        return v


class Anticipated(_Strict):
    """A service with no history yet."""

    name: str
    customer: str
    analogs: list[str] = Field(min_length=1)  # existing groups whose shape it will have
    scale: float = Field(1.0, gt=0)  # size relative to the analogs' mean
    launch: dt.date
    ramp_weeks: float = Field(4.0, gt=0)
    success_probability: float | None = Field(None, ge=0, le=1)  # None: from the launches model
    marketing_push: bool = False
    # e.g. {trigger: http}: weekday and month pattern of that catalog category, not the analogs'
    category: dict[str, str] | None = None

    @field_validator("category")
    @classmethod
    def _one_category(cls, v):
        if v is not None and len(v) != 1:
            raise ValueError(f"give one catalog column and its value, e.g. {{trigger: http}}, got {v}")
        return v


class Retired(_Strict):
    group: str
    from_: dt.date = Field(alias="from")
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Procurement(_Strict):
    granularity: int = Field(1, ge=1)  # servers are bought in multiples of this
    # "week0": today's fleet plus orders already in transit cover each type's weeks inside its lead
    # time (plus servers[].initial); "given": only servers[].initial is installed at week 0.
    initial_fleet: Literal["week0", "given"] = "week0"
    substitution: Literal["none", "capacity"] = "none"
    no_decommission: bool = True
    budget: float | None = Field(None, gt=0)  # cap on the horizon's purchase + running cost


class Solver(_Strict):
    backend: Literal["cpsat", "milp", "heuristic"] = "cpsat"
    # Neighbourhoods of the improvement search per week. Set, the search counts steps instead of
    # watching the clock (one thread), so the same inputs give the same plan on any machine;
    # None searches until time_limit_s with `workers` threads (not reproducible under load).
    iterations: int | None = Field(20, ge=1)
    time_limit_s: float = Field(300.0, gt=0)  # per week; a ceiling when iterations is set (reported when reached)
    workers: int = Field(2, ge=1)
    mip_gap: float = Field(0.01, ge=0, lt=1)
    # Pools of more groups are packed in chunks of at most this many (planner.plan.CHUNK_ITEMS when
    # unset: 400); a greedy's cost grows as the square of a pool-week's groups (docs/scale.md).
    chunk_items: int | None = Field(None, ge=2)


DEFAULT_DEADLINE_CLASSES = {"strict": 0.0, "lax": 4.0}  # hours; 0 = never moved
# Azure 2019 trigger groups: requests wait for HTTP and orchestration replies; queue, event, timer and
# storage work can wait (planner/deferral.py).
DEFAULT_TRIGGER_CLASSES = {"http": "strict", "orchestration": "strict", "others": "strict", "unknown": "strict",
                           "queue": "lax", "event": "lax", "timer": "lax", "storage": "lax"}


class DeferralSpec(_Strict):
    """Lax-deadline work moved into the valleys of the day (planner/deferral.py, docs/faas.md)."""

    enabled: bool = False
    # valleys: lax work moved into the valleys of the fleet's strict load before packing (chosen by
    # measurement, docs/faas.md); flatten: each lax group flattened alone before packing; worker:
    # per worker after packing, then re-packed.
    method: Literal["flatten", "valleys", "worker"] = "valleys"
    classes: dict[str, float] = DEFAULT_DEADLINE_CLASSES  # class -> deadline in hours
    triggers: dict[str, str] = DEFAULT_TRIGGER_CLASSES  # trigger -> class
    default_class: str = "strict"  # triggers not listed
    customers: dict[str, str] = {}  # customer -> class, overriding the triggers

    @field_validator("classes", "triggers", mode="before")
    @classmethod
    def _merge_defaults(cls, v, info):
        # Named classes and triggers refine the defaults; the others stay defined.
        if not isinstance(v, dict):
            return v
        base = DEFAULT_DEADLINE_CLASSES if info.field_name == "classes" else DEFAULT_TRIGGER_CLASSES
        return {**base, **v}

    @field_validator("classes")
    @classmethod
    def _hours(cls, v):
        bad = {k: h for k, h in v.items() if not 0 <= h <= 168}
        if bad:
            raise ValueError(f"deadlines are hours in [0, 168] (a week, the planning period), got {bad}")
        return v

    @model_validator(mode="after")
    def _known_classes(self):
        named = {f"triggers.{k}": c for k, c in self.triggers.items()}
        named.update({f"customers.{k}": c for k, c in self.customers.items()})
        named["default_class"] = self.default_class
        for where, c in named.items():
            if c not in self.classes:
                raise ValueError(f"{where}: deadline class {c!r} is not defined ({', '.join(self.classes)})")
        return self


class ForecastOptions(_Strict):
    models: list[str] | None = None  # None: the stage's default candidates
    history_weeks: int | None = Field(None, ge=2)  # fit on the last N weeks only; None: the whole history
    n_windows: int | None = Field(None, ge=1)  # backtest windows as long as the horizon; None: as many as fit, up to 12
    holidays: str | None = None  # a file of dates (relative to the scenario) or a country code (US, DE-BY)
    n_jobs: int = Field(2, ge=1)
    scheduler: str | None = None  # a Dask scheduler address
    # "per_series": the models above, one fit per series; "batch": every series at once by matrix
    # algebra (planner/forecast_batch.py); "auto": batch above `batch_above` series (docs/scale.md).
    method: Literal["auto", "per_series", "batch"] = "auto"
    batch_above: int = Field(2000, ge=1)


class PoolRule(_Strict):
    """Groups this rule selects may run only in ``pools`` (several: the placement pass chooses one).
    A group is selected when it is named in ``groups``, its customer in ``customers``, its tier in
    ``tiers``, or its id / customer matches the regular expression ``match`` / ``customer_match``."""

    pools: list[str] = Field(min_length=1)
    groups: list[str] = []
    customers: list[str] = []
    tiers: list[str] = []
    match: str | None = None
    customer_match: str | None = None

    @model_validator(mode="after")
    def _selects_something(self):
        import re

        if not (self.groups or self.customers or self.tiers or self.match or self.customer_match):
            raise ValueError("a pools rule needs groups, customers, tiers, match or customer_match")
        for pattern in (self.match, self.customer_match):
            if pattern is not None:
                try:
                    re.compile(pattern)
                except re.error as exc:
                    raise ValueError(f"invalid regular expression {pattern!r}: {exc}") from None
        return self


class PoolOptions(_Strict):
    """Which pools each group may run in (docs/scale.md). Rules come first (the first that selects a
    group decides), then ``source``, then ``default``."""

    # "trace": the pool each function runs in according to the trace (Huawei: poolNN in the column
    # name); "catalog": the catalog's `pool` column (several pools as "a|b"); "none": neither.
    source: Literal["none", "trace", "catalog"] = "none"
    rules: list[PoolRule] = []
    default: list[str] | None = None  # pools of groups nothing else ties; None: every pool


DEFAULT_TIERS = {
    "premium": TierSpec(overflow_risk=0.001, headroom=0.20, spread=2),
    "standard": TierSpec(overflow_risk=0.01, headroom=0.10),
    "economy": TierSpec(overflow_risk=0.05, headroom=0.05),
    "dedicated": TierSpec(overflow_risk=0.001, headroom=0.20, isolated=True),
}
# Power and embodied carbon: docs/objectives.md (planner.energy.estimated_power, rounded).
DEFAULT_SERVERS = [
    Server(type="c-32", cpu_cores=32, memory_gb=128, cost_per_month=1100.0, lead_time_weeks=4, initial=0,
           idle_watts=123, max_watts=313, embodied_kg_per_month=25.1),
    Server(type="m-64", cpu_cores=64, memory_gb=256, cost_per_month=2000.0, lead_time_weeks=6, initial=0,
           idle_watts=206, max_watts=566, embodied_kg_per_month=39.8),
    Server(type="r-64", cpu_cores=64, memory_gb=512, cost_per_month=2700.0, lead_time_weeks=8, initial=0,
           idle_watts=245, max_watts=655, embodied_kg_per_month=53.1),
]


class Scenario(_Strict):
    """A planning scenario: data, horizon, QoS, servers, growth, launches, rules and solver."""

    name: str = "default"
    description: str = ""
    seed: int = 0
    data: DataSource = DataSource()
    # Warm instances between invocations (planner/keepalive.py): none, fixed:MINUTES or hybrid.
    keep_alive: str = "none"
    keep_alive_idle_cpu: float = Field(0.0, ge=0, le=1)  # share of an instance's CPU an idle warm one reserves
    deferral: DeferralSpec = DeferralSpec()
    horizon: Horizon = Horizon()
    tiers: dict[str, TierSpec] = DEFAULT_TIERS
    customers: Customers = Customers()
    servers: list[Server] = DEFAULT_SERVERS
    # The installed fleet: a list, a CSV path in the file, or {from_history_weeks: N}.
    inventory: list[InventoryItem] | InventoryFromHistory = []
    growth: Growth = Growth()
    anticipated: list[Anticipated] = []
    retired: list[Retired] = []
    procurement: Procurement = Procurement()
    energy: Energy = Energy()
    redundancy: Redundancy = Redundancy()
    solver: Solver = Solver()
    forecast: ForecastOptions = ForecastOptions()
    pools: PoolOptions = PoolOptions()
    source_path: Path | None = Field(None, exclude=True)

    @field_validator("keep_alive")
    @classmethod
    def _keep_alive(cls, v):
        from models.keepalive import parse_policy

        return str(parse_policy(v))

    @field_validator("tiers", mode="before")
    @classmethod
    def _merge_tiers(cls, v):
        # Named tiers refine the defaults field by field; the other default tiers stay defined.
        if not isinstance(v, dict):
            return v
        out = {k: t.model_dump() for k, t in DEFAULT_TIERS.items()}
        for name, spec in v.items():
            if isinstance(spec, TierSpec):
                spec = spec.model_dump(exclude_unset=True)
            if isinstance(spec, dict) and name in out:
                base = dict(out[name])
                # A stated quantile replaces the default risk target and vice versa: the two name
                # one level (stating both is checked for agreement).
                if "quantile" in spec and "overflow_risk" not in spec:
                    base.pop("overflow_risk", None)
                    base.pop("method", None)
                if "overflow_risk" in spec and "quantile" not in spec:
                    base.pop("quantile", None)
                out[name] = {**base, **spec}
            else:
                out[name] = spec
        return out

    @model_validator(mode="after")
    def _consistent(self):
        if self.customers.default_tier not in self.tiers:
            raise ValueError(f"customers.default_tier {self.customers.default_tier!r} is not a defined tier "
                             f"({', '.join(self.tiers)})")
        for cust, tier in self.customers.tiers.items():
            if tier not in self.tiers:
                raise ValueError(f"customers.tiers.{cust}: tier {tier!r} is not defined ({', '.join(self.tiers)})")
        names = [(p, s.type) for s in self.servers for p in s.pools]
        if len(set(names)) != len(names):
            raise ValueError(f"servers: duplicate type in a pool in {[f'{t}@{p}' for p, t in names]}")
        offered = {p for p, _ in names}
        named = [("pools.default", p) for p in self.pools.default or []]
        named += [(f"pools.rules[{i}].pools", p) for i, r in enumerate(self.pools.rules) for p in r.pools]
        for where, p in named:
            if p not in offered:
                raise ValueError(f"{where}: pool {p!r} is offered by no server type (pools: {', '.join(sorted(offered))})")
        for i, r in enumerate(self.pools.rules):
            unknown = [t for t in r.tiers if t not in self.tiers]
            if unknown:
                raise ValueError(f"pools.rules[{i}].tiers: {unknown} not defined ({', '.join(self.tiers)})")
        if self.pools.source == "trace" and self.data.format != "huawei":
            raise ValueError(f"pools.source: trace needs a trace that records pools (huawei); "
                             f"{self.data.format!r} does not (use a catalog pool column or rules)")
        if not self.servers:
            raise ValueError("servers: at least one server type is needed")
        dup = [a.name for a in self.anticipated]
        if len(set(dup)) != len(dup):
            raise ValueError(f"anticipated: duplicate service names in {dup}")
        for s in self.servers:
            if s.max_count is not None and s.initial > s.max_count:
                raise ValueError(f"servers.{s.type}: initial {s.initial} exceeds max_count {s.max_count}")
        _check_domains(self)
        if isinstance(self.inventory, list):
            _check_inventory(self.inventory, self.servers)
        return self

    def resolve(self, path: Path | None) -> Path | None:
        """A path of the scenario, relative to the scenario file's folder."""
        if path is None or path.is_absolute() or self.source_path is None:
            return path
        return (self.source_path.parent / path).resolve()


def _check_domains(sc: "Scenario") -> None:
    """Zones named by tiers and carbon keys must exist; a zone rule needs two zones to fail over to."""
    zones = sorted({z for s in sc.servers for z in s.zones})
    pools = sorted({p for s in sc.servers for p in s.pools})
    for name, t in sc.tiers.items():
        unknown = [z for z in (t.zones or []) if z not in zones]
        if unknown:
            raise ValueError(f"tiers.{name}.zones: zone(s) {unknown} are not a zone of any server "
                             f"(servers[].zones name: {', '.join(zones)})")
        if t.zones is not None and not t.zones:
            raise ValueError(f"tiers.{name}.zones: give at least one zone, or leave it out for every zone")
    unknown = sorted(set(sc.energy.carbon_intensity) - set(zones) - set(pools))
    if unknown:
        raise ValueError(f"energy.carbon_intensity: key(s) {unknown} name no zone ({', '.join(zones)}) "
                         f"or pool ({', '.join(pools)}) of the servers")


def _check_inventory(inventory: list[InventoryItem], servers: list[Server]) -> None:
    pools_of: dict[str, list[str]] = {}
    for sv in servers:
        pools_of.setdefault(sv.type, []).extend(sv.pools)
    initial = {(p, sv.type) for sv in servers if sv.initial for p in sv.pools}
    seen = set()
    for i, item in enumerate(inventory):
        where = f"inventory[{i}]"
        if item.server_type not in pools_of:
            raise ValueError(f"{where}: server type {item.server_type!r} is not in the server catalog "
                             f"({', '.join(pools_of)})")
        pools = pools_of[item.server_type]
        if item.pool is not None and item.pool not in pools:
            raise ValueError(f"{where}: server type {item.server_type!r} is in pool {' / '.join(map(repr, pools))}, "
                             f"not {item.pool!r}")
        if item.pool is None and len(pools) > 1:
            raise ValueError(f"{where}: server type {item.server_type!r} is offered in pools {', '.join(pools)}; "
                             "say which with inventory[].pool")
        pool = item.pool if item.pool is not None else pools[0]
        key = (pool, item.server_type, item.zone, item.rack)
        if key in seen:
            place = "".join(f" in {k} {v!r}" for k, v in (("zone", item.zone), ("rack", item.rack)) if v is not None)
            raise ValueError(f"{where}: server type {item.server_type!r}{place} is listed twice")
        if (pool, item.server_type) in initial:
            raise ValueError(f"{where}: server type {item.server_type!r} also has servers[].initial; "
                             "give the installed fleet once")
        zones = next(sv.zones for sv in servers if sv.type == item.server_type and pool in sv.pools)
        if item.zone is not None and item.zone not in zones:
            raise ValueError(f"{where}: zone {item.zone!r} is not a zone of server type {item.server_type!r} "
                             f"(servers[].zones: {', '.join(zones)})")
        seen.add(key)
    for pool, t in sorted({(k[0], k[1]) for k in seen}):
        limit = next(sv.max_count for sv in servers if sv.type == t and pool in sv.pools)
        total = sum(item.count for item in inventory if item.server_type == t
                    and (item.pool if item.pool is not None else pools_of[t][0]) == pool)
        if limit is not None and total > limit:
            raise ValueError(f"inventory: {total} {t} servers exceed its max_count {limit}")


def _check_inventory_types(raw: dict, file: str) -> None:
    """An inventory file naming a server type the scenario does not define: name the file and row."""
    servers = raw.get("servers")
    types = [s.get("type") for s in servers if isinstance(s, dict)] if isinstance(servers, list) else \
        [s.type for s in DEFAULT_SERVERS]
    for i, item in enumerate(raw.get("inventory") or []):
        if item["server_type"] not in types:
            raise ScenarioError(f"{file}: row {i + 2}, column 'server_type': server type {item['server_type']!r} is not "
                                f"in the scenario's server catalog ({', '.join(map(str, types))})")


def read_inventory(path: Path) -> list[dict]:
    """Rows of an inventory CSV (``server_type,count[,pool]``); a bad row names the file, row and column."""
    import pandas as pd

    from planner.errors import InputDataError
    from planner.ingest.checks import require_columns, require_file

    require_file(path)
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise InputDataError(f"not a CSV table ({exc.__class__.__name__}); expected columns server_type,count[,pool]",
                             path=path) from None
    require_columns(frame, ["server_type", "count"], path=path)
    extra = sorted(set(frame.columns) - {"server_type", "count", "pool", "zone", "rack"})
    if extra:
        raise InputDataError(f"unknown column(s) {extra}; expected server_type, count and optionally pool, zone, rack",
                             path=path)
    rows = []
    for i, rec in enumerate(frame.to_dict("records")):
        count = rec["count"].strip()
        if not count.isdigit():
            raise InputDataError(f"count {rec['count']!r}; expected a whole number of servers >= 0",
                                 path=path, row=i + 2, column="count")
        if not rec["server_type"].strip():
            raise InputDataError("empty server_type", path=path, row=i + 2, column="server_type")
        row = {"server_type": rec["server_type"].strip(), "count": int(count)}
        for col in ("pool", "zone", "rack"):
            if rec.get(col, "").strip():
                row[col] = rec[col].strip()
        rows.append(row)
    return rows


def installed_fleet(scenario: "Scenario"):
    """The fleet installed before the horizon: ``pool, server_type, installed`` for every server
    type (``servers[].initial`` plus the inventory)."""
    import pandas as pd

    if not isinstance(scenario.inventory, list):
        raise ScenarioError(f"{scenario.source_path or 'scenario'}: inventory from_history_weeks is known only once "
                            "the history is read (planner.pipeline.run_plan sizes it)")
    # One row per (pool, type): a type offered in several pools is installed in each separately.
    counts = {(p, s.type): s.initial for s in scenario.servers for p in s.pools}
    for item in scenario.inventory:
        pool = item.pool if item.pool is not None else next(s.pools[0] for s in scenario.servers
                                                            if s.type == item.server_type)
        counts[(pool, item.server_type)] += item.count
    return pd.DataFrame({"pool": [p for p, _ in counts], "server_type": [t for _, t in counts],
                         "installed": list(counts.values())})


def _deep_merge(base: dict, override: dict) -> dict:
    out = dict(base)
    for k, v in override.items():
        out[k] = _deep_merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def _load_raw(path: Path, chain: tuple[Path, ...] = ()) -> dict:
    import yaml

    path = path.resolve()
    if path in chain:
        raise ScenarioError(f"{path}: base scenarios form a cycle: {' -> '.join(map(str, chain + (path,)))}")
    if not path.exists():
        raise ScenarioError(f"{path}: scenario file not found" + (f" (named as base by {chain[-1]})" if chain else ""))
    if path.is_dir():
        raise ScenarioError(f"{path}: is a folder; expected a scenario YAML file")
    if b"\x00" in path.read_bytes()[:8192]:
        raise ScenarioError(f"{path}: not a text YAML file (it holds NUL bytes: a binary file?)")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        raise ScenarioError(f"{path}: not a text YAML file (byte offset {exc.start} is not UTF-8; a binary file?)") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ScenarioError(f"{path}:{where} invalid YAML: {getattr(exc, 'problem', exc)}") from None
    if raw is None or raw == {}:  # an empty file would silently plan the built-in default
        raise ScenarioError(f"{path}: the scenario file is empty; give at least its data and horizon (see "
                            "examples/quarterly.yaml), or run `planner run` with no scenario for the embedded default")
    if not isinstance(raw, dict):
        raise ScenarioError(f"{path}: a scenario is a mapping of fields, got {type(raw).__name__}")
    base = raw.pop("base", None)
    # Relative data paths belong to the file that names them.
    data = raw.get("data")
    if isinstance(data, dict):
        for key in ("path", "catalog", "customers"):
            if isinstance(data.get(key), str) and not Path(data[key]).is_absolute():
                data[key] = str((path.parent / data[key]).resolve())
    fc = raw.get("forecast")
    if isinstance(fc, dict) and isinstance(fc.get("holidays"), str):
        local = Path(fc["holidays"]) if Path(fc["holidays"]).is_absolute() else path.parent / fc["holidays"]
        if local.exists():  # a file of dates beside the scenario that names it (else a country code)
            fc["holidays"] = str(local.resolve())
    inventory = raw.get("inventory")
    if isinstance(inventory, str):  # a CSV file beside the scenario that names it
        file = Path(inventory) if Path(inventory).is_absolute() else (path.parent / inventory).resolve()
        try:
            raw["inventory"] = read_inventory(file)
        except ValueError as exc:  # InputDataError names the file and row
            raise ScenarioError(f"{path}: inventory: {exc}") from None
        raw["_inventory_file"] = str(file)
    if base is None:
        return raw
    return _deep_merge(_load_raw((path.parent / str(base)), chain + (path,)), raw)


# pydantic's error types of a union member the input's shape is not (a list given where a mapping
# is one of the choices): noise beside the errors of the member that matches.
_SHAPE_ERRORS = {"list_type", "dict_type", "model_type", "model_attributes_type", "string_type"}


def _models_in(annotation) -> list[type[BaseModel]]:
    """The scenario models inside a field's annotation (list[X], dict[str, X], X | None, unions)."""
    from typing import get_args

    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for a in get_args(annotation) for m in _models_in(a)]


def _walk(loc: tuple) -> tuple[type[BaseModel] | None, list, bool]:
    """The model that holds the error's last field, the path without pydantic's union tags
    (``inventory.list[InventoryItem].0.cont`` is ``inventory.0.cont`` in the file), and whether
    the error is about a whole union member (its last part is a tag)."""
    cur, shown, tag, holder_of_last = Scenario, [], False, None
    for part in loc:
        models = _models_in(cur)
        holder_of_last, tag = (models[0] if models else None), False
        if isinstance(part, str):
            tagged = [m for m in models if part == m.__name__ or part.endswith(f"[{m.__name__}]")]
            if tagged or part in ("str", "int", "float", "bool", "date"):  # a union member's tag
                cur, tag = (tagged[0] if tagged else None), True
                continue
            holder = next((m for m in models if part in m.model_fields), None)
            if holder is not None:
                cur = holder.model_fields[part].annotation
        shown.append(part)  # a field, a list index or a mapping key (the item's model stays)
    return holder_of_last, shown, tag


def _error_lines(errors: list[dict]) -> list[str]:
    """One line per error: the field's path in the file and what is wrong, a misspelt field with
    the nearest known name."""
    import difflib

    walked = [_walk(tuple(e["loc"])) for e in errors]
    # A union's members each report: a member the input's shape is not (a list given, a mapping
    # expected) is noise when another member has errors of its own.
    real = [tuple(shown) for e, (_, shown, _) in zip(errors, walked) if e["type"] not in _SHAPE_ERRORS]
    lines = []
    for err, (model, shown, tag) in zip(errors, walked):
        if tag and err["type"] in _SHAPE_ERRORS and any(r[:len(shown)] == tuple(shown) for r in real):
            continue
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            names = [f.alias or n for n, f in model.model_fields.items()] if model is not None else []
            near = difflib.get_close_matches(str(shown[-1]), names, n=1, cutoff=0.6)
            msg = f"unknown field (did you mean {near[0]!r}?)" if near else "unknown field (misspelt?)"
        elif err["type"] == "value_error":  # our own message, without pydantic's "Value error, "
            msg = str(err["ctx"]["error"])
        loc = ".".join(str(p) for p in shown)
        line = f"  {loc}: {msg}" if loc else f"  {msg}"  # a whole-scenario check names its fields itself
        if line not in lines:
            lines.append(line)
    return lines


def load_scenario(path) -> Scenario:
    """Read, merge (``base``) and validate a scenario file."""
    path = Path(path)
    raw = _load_raw(path)
    inventory_file = raw.pop("_inventory_file", None)
    if inventory_file is not None:
        _check_inventory_types(raw, inventory_file)
    try:
        scenario = Scenario.model_validate({**raw, "source_path": path.resolve()})
    except ValidationError as exc:
        raise ScenarioError(f"{path}: invalid scenario\n" + "\n".join(_error_lines(exc.errors()))) from None
    if scenario.forecast.holidays:
        _check_holidays(path, scenario.forecast.holidays)
    return scenario


def _check_holidays(path: Path, spec: str) -> None:
    """A holiday file must hold dates, a country code must be known (checked before the history
    is read, so a typo costs no minutes)."""
    from planner.errors import InputDataError, PlannerError
    from planner.forecast import read_holidays

    try:
        read_holidays(spec, range(2020, 2021))
    except InputDataError as exc:
        raise ScenarioError(f"{path}: forecast.holidays: {exc}") from None
    except PlannerError as exc:  # the holidays package is missing: not a scenario error, but say where
        raise type(exc)(f"{path}: forecast.holidays: {exc}") from None


def default_scenario() -> Scenario:
    """The embedded default (data/default/scenario.yaml): a growing synthetic fleet, its installed
    servers, a launch and a retirement inside the quarter that starts where the history ends."""
    from planner.embedded import data_path

    return load_scenario(data_path("default", "scenario.yaml"))


def scenario_dict(s: Scenario) -> dict[str, Any]:
    """A JSON-ready dump (for summary.json)."""
    return s.model_dump(mode="json", by_alias=True)
