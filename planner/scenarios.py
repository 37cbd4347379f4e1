"""Scenario files: YAML validated with pydantic. A scenario may name a ``base`` scenario and
override only some of its fields (deep merge; lists replace lists). Every field is documented in
docs/scenarios.md; an error names the file and the field's path in it."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from planner.errors import ScenarioError


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

    format: Literal["synthetic", "huawei", "azure", "long"] = "synthetic"
    path: Path | None = None  # trace file or folder (relative paths: to the scenario file)
    catalog: Path | None = None
    customers: Path | None = None  # CSV customer,tier (the synthetic fleet brings its own)
    synthetic: SyntheticData = SyntheticData()
    slot: str = "1h"
    until: dt.datetime | None = None  # use history before this instant only (backtests)

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
    quantile: Literal["mean", "q50", "q90", "q95", "q99"] = "q95"
    headroom: float = Field(0.10, ge=0, lt=1)
    spread: int = Field(1, ge=1)
    isolated: bool = False
    # Failure domain the tier's groups must survive losing (docs/objectives.md); zones: where they run.
    survive: Literal["none", "worker", "zone"] = "none"
    zones: list[str] | None = None
    # No customer's overflow risk rate above this multiple of its tier's mean (None: no bound).
    max_risk_ratio: float | None = Field(None, ge=1)


class Customers(_Strict):
    default_tier: str = "standard"
    tiers: dict[str, str] = {}  # customer -> tier name, overriding the customers file


class Server(_Strict):
    type: str
    cpu_cores: float = Field(gt=0)
    memory_gb: float = Field(gt=0)
    cost_per_month: float = Field(gt=0)
    max_count: int | None = Field(None, ge=0)
    lead_time_weeks: int = Field(0, ge=0)
    pool: str = "default"
    initial: int = Field(0, ge=0)  # installed at the start of the horizon
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


class Redundancy(_Strict):
    """How tiers with ``survive`` keep failover capacity (docs/objectives.md: chosen by measurement)."""

    form: Literal["reserve", "spread"] = "reserve"


class Energy(_Strict):
    """Energy and carbon (planner/energy.py, planner/carbon.py)."""

    pue: float = Field(1.2, ge=1.0)  # facility power / IT power
    # zone or pool -> "builtin:NAME" or a CSV/Parquet file (timestamp, gco2_per_kwh); {} = builtin:mixed
    carbon_intensity: dict[str, str] = {}
    carbon_price: float = Field(0.0, ge=0)  # currency per tonne CO2e, added to the packing's server cost


class Growth(_Strict):
    """Multipliers of the forecast demand (1.0 = as forecast)."""

    all: float = Field(1.0, gt=0, alias="global")
    customers: dict[str, float] = {}
    groups: dict[str, float] = {}
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @field_validator("customers", "groups")
    @classmethod
    def _positive(cls, v):
        bad = {k: x for k, x in v.items() if not x > 0}
        if bad:
            raise ValueError(f"multipliers must be > 0, got {bad}")
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
    time_limit_s: float = Field(60.0, gt=0)  # per week; a ceiling when iterations is set
    workers: int = Field(2, ge=1)
    mip_gap: float = Field(0.01, ge=0, lt=1)


class ForecastOptions(_Strict):
    models: list[str] | None = None  # None: the stage's default candidates
    history_weeks: int | None = Field(None, ge=2)  # fit on the last N weeks only; None: the whole history
    n_windows: int = Field(6, ge=1)  # rolling-origin windows for model choice and calibration
    n_jobs: int = Field(2, ge=1)
    scheduler: str | None = None  # a Dask scheduler address


DEFAULT_TIERS = {
    "premium": TierSpec(quantile="q99", headroom=0.20, spread=2),
    "standard": TierSpec(quantile="q95", headroom=0.10),
    "economy": TierSpec(quantile="q90", headroom=0.05),
    "dedicated": TierSpec(quantile="q99", headroom=0.20, isolated=True),
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
    horizon: Horizon = Horizon()
    tiers: dict[str, TierSpec] = DEFAULT_TIERS
    customers: Customers = Customers()
    servers: list[Server] = DEFAULT_SERVERS
    growth: Growth = Growth()
    anticipated: list[Anticipated] = []
    retired: list[Retired] = []
    procurement: Procurement = Procurement()
    energy: Energy = Energy()
    redundancy: Redundancy = Redundancy()
    solver: Solver = Solver()
    forecast: ForecastOptions = ForecastOptions()
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
                spec = spec.model_dump()
            out[name] = {**out.get(name, {}), **spec} if isinstance(spec, dict) else spec
        return out

    @model_validator(mode="after")
    def _consistent(self):
        if self.customers.default_tier not in self.tiers:
            raise ValueError(f"customers.default_tier {self.customers.default_tier!r} is not a defined tier "
                             f"({', '.join(self.tiers)})")
        for cust, tier in self.customers.tiers.items():
            if tier not in self.tiers:
                raise ValueError(f"customers.tiers.{cust}: tier {tier!r} is not defined ({', '.join(self.tiers)})")
        names = [s.type for s in self.servers]
        if len(set(names)) != len(names):
            raise ValueError(f"servers: duplicate type in {names}")
        if not self.servers:
            raise ValueError("servers: at least one server type is needed")
        dup = [a.name for a in self.anticipated]
        if len(set(dup)) != len(dup):
            raise ValueError(f"anticipated: duplicate service names in {dup}")
        for s in self.servers:
            if s.max_count is not None and s.initial > s.max_count:
                raise ValueError(f"servers.{s.type}: initial {s.initial} exceeds max_count {s.max_count}")
        _check_domains(self)
        return self

    def resolve(self, path: Path | None) -> Path | None:
        """A path of the scenario, relative to the scenario file's folder."""
        if path is None or path.is_absolute() or self.source_path is None:
            return path
        return (self.source_path.parent / path).resolve()


def _check_domains(sc: "Scenario") -> None:
    """Zones named by tiers and carbon keys must exist; a zone rule needs two zones to fail over to."""
    zones = sorted({z for s in sc.servers for z in s.zones})
    pools = sorted({s.pool for s in sc.servers})
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
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ScenarioError(f"{path}:{where} invalid YAML: {getattr(exc, 'problem', exc)}") from None
    if not isinstance(raw, dict):
        raise ScenarioError(f"{path}: a scenario is a mapping of fields, got {type(raw).__name__}")
    base = raw.pop("base", None)
    # Relative data paths belong to the file that names them.
    data = raw.get("data")
    if isinstance(data, dict):
        for key in ("path", "catalog", "customers"):
            if isinstance(data.get(key), str) and not Path(data[key]).is_absolute():
                data[key] = str((path.parent / data[key]).resolve())
    if base is None:
        return raw
    return _deep_merge(_load_raw((path.parent / str(base)), chain + (path,)), raw)


def load_scenario(path) -> Scenario:
    """Read, merge (``base``) and validate a scenario file."""
    path = Path(path)
    raw = _load_raw(path)
    try:
        return Scenario.model_validate({**raw, "source_path": path.resolve()})
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            loc = ".".join(str(p) for p in err["loc"]) or "(top level)"
            msg = err["msg"]
            if err["type"] == "extra_forbidden":
                msg = "unknown field (misspelt?)"
            lines.append(f"  {loc}: {msg}")
        raise ScenarioError(f"{path}: invalid scenario\n" + "\n".join(lines)) from None


def default_scenario() -> Scenario:
    """The embedded default: the synthetic fleet, a quarter from the end of its history."""
    return Scenario(name="default", description="Synthetic fleet calibrated to the Azure 2019 trace")


def scenario_dict(s: Scenario) -> dict[str, Any]:
    """A JSON-ready dump (for summary.json)."""
    return s.model_dump(mode="json", by_alias=True)
