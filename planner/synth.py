"""A synthetic serverless fleet calibrated to the published statistics of the Azure Functions 2019
trace (../shared/data/azure2019-facts.md; Shahrad et al., ATC 2020), plus what that trace lacks:
yearly seasonality, trend and launches of new services with their outcomes.

Every knob, the figure it follows and what is assumed is listed in docs/synthetic-fleet.md.
Counts are drawn day by day from ``numpy.random.default_rng([seed, day])``, so a day's counts do not
depend on how many days are generated or in which format they are written.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from planner import columns as C
from planner.catalog import cpu_from_memory
from planner.embedded import read_table
from planner.telemetry import Telemetry

# The published figures the generator follows are tables in data/calibration (docs/synthetic-fleet.md).
_SIZES = read_table("calibration", "azure2019_app_sizes.csv")
_TRIGGERS = read_table("calibration", "azure2019_triggers.csv")
_FITS = {r["parameter"]: float(r["value"]) for r in read_table("calibration", "azure2019_fits.csv")}
# Functions per app (paper, Fig. 2): 1, 2, 3, 4-5, 6-10, 11+.
APP_SIZE_BINS = [(int(r["min_functions"]), int(r["max_functions"])) for r in _SIZES]
APP_SIZE_SHARES = [float(r["share"]) for r in _SIZES]
# Trigger mix of the released sample, % of functions and % of invocations.
TRIGGERS = [r["trigger"] for r in _TRIGGERS]
TRIGGER_FUNCTION_SHARE = np.array([float(r["function_share_pct"]) for r in _TRIGGERS])
TRIGGER_INVOCATION_SHARE = np.array([float(r["invocation_share_pct"]) for r in _TRIGGERS])
# App invocation rate: 45% of apps at most once per hour, 81% at most once per minute. A normal law
# of log10(invocations per minute) through both points: Phi((log10(1/60) - mu)/s) = 0.45 and
# Phi((0 - mu)/s) = 0.81.
LOG10_RATE_MU = _FITS["log10_rate_mu"]
LOG10_RATE_SIGMA = _FITS["log10_rate_sigma"]
# Average execution time: log-normal fit of the paper, log-mean -0.38, sigma 2.36 (seconds).
DURATION_LOGMEAN, DURATION_SIGMA = _FITS["duration_logmean"], _FITS["duration_sigma"]
# Average allocated memory per app: Burr XII fit of the paper (MB).
MEMORY_BURR_C, MEMORY_BURR_K, MEMORY_BURR_SCALE = _FITS["memory_burr_c"], _FITS["memory_burr_k"], _FITS["memory_burr_scale"]
TILT_POWER = 1.0
BURSTY_SHARE = _FITS["bursty_share"]  # apps whose inter-arrival CV exceeds 1
# Launch outcome ground truth (assumed): logit p = -0.6 + 1.6 marketing + 0.7 (log10 customer volume - 2).
LAUNCH_COEF = {"const": -0.6, "marketing_push": 1.6, "customer_log_volume": 0.7}


@dataclass(frozen=True)
class SynthSpec:
    """Knobs of the generator (see docs/synthetic-fleet.md for the figure each follows)."""

    n_functions: int = 400
    days: int = 14
    seed: int = 0
    start: str = "2026-01-05"  # a Monday
    interval: str = "5min"
    launch_share: float = 0.08  # share of apps that launch inside the history
    trend_mean: float = 0.15  # mean yearly growth of an app
    trend_sd: float = 0.20
    yearly_amplitude_max: float = 0.30
    premium_share: float = 0.15  # customers' suggested tiers, for the default scenario
    economy_share: float = 0.30

    def __post_init__(self):
        if self.n_functions < 1:
            raise ValueError("n_functions must be >= 1")
        if self.days < 1:
            raise ValueError("days must be >= 1")
        if pd.Timedelta("1D") % pd.Timedelta(self.interval) != pd.Timedelta(0):
            raise ValueError(f"interval {self.interval!r} must divide a day")


@dataclass
class SyntheticFleet:
    """The fleet's static description; counts are drawn on demand, a day at a time."""

    spec: SynthSpec
    catalog: pd.DataFrame  # FunctionCatalog (+ timer_period_min)
    apps: pd.DataFrame  # per app: shape parameters, rate, launch
    launches: pd.DataFrame  # Launches table (docs/contracts.md)
    customers: pd.DataFrame  # customer, suggested tier
    _fn: dict = field(default_factory=dict, repr=False)  # per-function arrays used by day_counts

    @property
    def index(self) -> pd.DatetimeIndex:
        return pd.date_range(self.spec.start, periods=self.spec.days * self.per_day, freq=self.spec.interval)

    @property
    def per_day(self) -> int:
        return int(pd.Timedelta("1D") / pd.Timedelta(self.spec.interval))

    def day_counts(self, day: int, interval: str | None = None) -> np.ndarray:
        """Invocation counts of one day, float32 ``[intervals, functions]``.

        ``interval`` may be finer than the spec's (the Azure layout is per minute).
        """
        interval = interval or self.spec.interval
        per_day = int(pd.Timedelta("1D") / pd.Timedelta(interval))
        minutes = pd.Timedelta(interval).total_seconds() / 60.0
        rng = np.random.default_rng([self.spec.seed, day, per_day])
        t0 = pd.Timestamp(self.spec.start) + pd.Timedelta(days=day)
        hours = (np.arange(per_day) + 0.5) * 24.0 / per_day  # mid-interval hour of day
        f = self._fn
        app = f["app_code"]
        a = self.apps
        # Diurnal shape per app: two harmonics around a constant baseline, mean one.
        h = hours[:, None]
        shape = (1.0 + a["amp1"].to_numpy() * np.cos(2 * np.pi * (h - a["phase1"].to_numpy()) / 24)
                 + a["amp2"].to_numpy() * np.cos(4 * np.pi * (h - a["phase2"].to_numpy()) / 24))
        shape = np.clip(shape, 0.05, None)
        weekend = t0.day_of_week >= 5
        week = np.where(weekend, a["weekend_factor"].to_numpy(), 1.0)
        years = (t0 - pd.Timestamp(self.spec.start)).days / 365.25
        doy = t0.day_of_year
        season = 1.0 + a["yearly_amp"].to_numpy() * np.cos(2 * np.pi * (doy - a["yearly_peak_doy"].to_numpy()) / 365.25)
        trend = np.exp(a["log_growth"].to_numpy() * years)
        level = self._launch_level(t0 + pd.to_timedelta(hours, unit="h"))  # [t, apps]
        app_mult = shape * (week * season * trend)[None, :] * level
        lam = f["rate_per_min"][None, :] * minutes * app_mult[:, app]
        # Bursty apps: gamma-mixed Poisson (negative binomial) with a shared burst factor per interval.
        k = f["burst_k"]
        bursty = np.isfinite(k)
        if bursty.any():
            app_burst = rng.gamma(a["burst_k_app"].to_numpy()[None, :].repeat(per_day, 0),
                                  1.0 / a["burst_k_app"].to_numpy()[None, :].repeat(per_day, 0))
            lam[:, bursty] *= app_burst[:, app[bursty]]
        counts = rng.poisson(lam).astype(np.float32)
        timers = f["timer_period_min"] > 0
        if timers.any():
            counts[:, timers] = self._timer_counts(day, per_day, minutes, timers)
        return counts

    def _timer_counts(self, day, per_day, minutes, timers):
        """Timers fire every period from a fixed phase: counts are exact, CV about zero."""
        period = self._fn["timer_period_min"][timers]
        phase = self._fn["timer_phase_min"][timers]
        start = day * 1440.0 + np.arange(per_day)[:, None] * minutes
        fired = np.floor((start + minutes - phase) / period) - np.floor((start - phase) / period)
        live = self._launch_level(pd.Timestamp(self.spec.start) + pd.Timedelta(days=day)
                                  + pd.to_timedelta(np.arange(per_day) * minutes, unit="min"))
        return (fired * (live[:, self._fn["app_code"][timers]] > 0.5)).astype(np.float32)

    def _launch_level(self, times: pd.DatetimeIndex) -> np.ndarray:
        """Multiplier ``[t, apps]`` of launched apps: 0 before launch, a ramp, then the outcome."""
        a = self.apps
        out = np.ones((len(times), len(a)), dtype=np.float64)
        launched = np.flatnonzero(a["launch_ds"].notna().to_numpy())
        if launched.size == 0:
            return out
        # All launched apps at once ([t, launched] arrays; the same arithmetic per element as one
        # app at a time, so the counts do not change).
        sub = a.iloc[launched]
        delta = np.asarray(times.values)[:, None] - pd.DatetimeIndex(sub["launch_ds"]).values[None, :]
        age = pd.TimedeltaIndex(delta.ravel()).total_seconds().to_numpy().reshape(delta.shape) / 86400.0
        ramp = sub["ramp_days"].to_numpy(dtype=np.float64)[None, :]
        took_off = sub["took_off"].to_numpy(dtype=bool)[None, :]
        with np.errstate(over="ignore"):
            rise = 1.0 / (1.0 + np.exp(-8.0 * (age / ramp - 0.5)))
        # Early interest, then it fades to a trickle.
        fizzle = (sub["fizzle_peak"].to_numpy(dtype=np.float64)[None, :] * np.clip(age / (ramp / 3), 0, 1)
                  * np.exp(-np.clip(age - ramp / 3, 0, None) / ramp))
        out[:, launched] = np.where(age < 0, 0.0, np.where(took_off, rise, fizzle))
        return out

    def telemetry(self, interval: str | None = None) -> Telemetry:
        """All days as one Telemetry (in memory)."""
        interval = interval or self.spec.interval
        per_day = int(pd.Timedelta("1D") / pd.Timedelta(interval))
        # Each day written into the one matrix: no list of days beside their concatenation (two
        # copies of the counts, 1.4 GB at 20,000 functions and a year).
        counts = np.empty((self.spec.days * per_day, len(self.catalog)), dtype=np.float32)
        for d in range(self.spec.days):
            counts[d * per_day:(d + 1) * per_day] = self.day_counts(d, interval)
        index = pd.date_range(self.spec.start, periods=len(counts), freq=interval)
        ids = pd.Index(self.catalog[C.UNIQUE_ID], name=C.UNIQUE_ID)
        return Telemetry(pd.DatetimeIndex(index, freq=interval), ids, counts)


def make_fleet(spec: SynthSpec) -> SyntheticFleet:
    """Draw the fleet's apps, functions, customers and launches from ``spec``."""
    rng = np.random.default_rng([spec.seed, 7919])
    sizes = _app_sizes(rng, spec.n_functions)
    n_apps = len(sizes)
    owners = _owners(rng, n_apps)
    log10_rate = rng.normal(LOG10_RATE_MU, LOG10_RATE_SIGMA, n_apps)
    start = pd.Timestamp(spec.start)

    phase_kind = rng.choice(3, size=n_apps, p=[0.6, 0.25, 0.15])  # business day, evening, night
    phase1 = np.choose(phase_kind, [rng.normal(14, 2, n_apps), rng.normal(20, 1.5, n_apps), rng.normal(3, 1.5, n_apps)]) % 24
    apps = pd.DataFrame({
        C.APP: [f"app{i:05d}" for i in range(n_apps)],
        C.CUSTOMER: [f"cust{o:04d}" for o in owners],
        "n_functions": sizes,
        "rate_per_min": 10.0 ** log10_rate,
        "amp1": rng.uniform(0.15, 0.7, n_apps),
        "phase1": phase1,
        "amp2": rng.uniform(0.0, 0.2, n_apps),
        "phase2": rng.uniform(0, 12, n_apps),
        "weekend_factor": np.where(phase_kind == 0, rng.uniform(0.45, 0.9, n_apps), rng.uniform(0.85, 1.2, n_apps)),
        "yearly_amp": rng.uniform(0.0, spec.yearly_amplitude_max, n_apps),
        "yearly_peak_doy": rng.choice([15, 180, 335], size=n_apps, p=[0.3, 0.3, 0.4]) + rng.normal(0, 20, n_apps),
        "log_growth": np.log1p(np.clip(rng.normal(spec.trend_mean, spec.trend_sd, n_apps), -0.5, 2.0)),
        "bursty": rng.random(n_apps) < BURSTY_SHARE,
        "memory_mb": _app_memory(rng, n_apps),
    })
    # Gamma shape 2-8 per interval: counts overdispersed (inter-arrival CV above 1) without
    # turning hourly peaks into outliers.
    apps["burst_k_app"] = np.where(apps["bursty"], rng.uniform(2.0, 8.0, n_apps), np.inf)
    launches = _launches(rng, spec, apps)
    apps = apps.merge(launches[[C.APP, "launch_ds", "ramp_days", "took_off", "fizzle_peak", "analog_app", "peak_scale"]],
                      on=C.APP, how="left")
    # A launched app borrows its analog's shape, scaled (what the anticipated-service model learns).
    for i in np.flatnonzero(apps["launch_ds"].notna().to_numpy()):
        src = apps.index[apps[C.APP] == apps.at[i, "analog_app"]][0]
        for col in ("amp1", "phase1", "amp2", "phase2", "weekend_factor", "yearly_amp", "yearly_peak_doy"):
            apps.at[i, col] = apps.at[src, col]
        apps.at[i, "rate_per_min"] = apps.at[src, "rate_per_min"] * apps.at[i, "peak_scale"]
    apps["took_off"] = apps["took_off"].astype("boolean")

    catalog = _functions(rng, apps)
    fn = {
        "app_code": catalog["app_code"].to_numpy(),
        "rate_per_min": catalog["rate_per_min"].to_numpy(),
        "burst_k": np.where(apps["bursty"].to_numpy()[catalog["app_code"]], 1.0, np.inf),
        "timer_period_min": catalog["timer_period_min"].to_numpy(),
        "timer_phase_min": catalog["timer_phase_min"].to_numpy(),
    }
    customers = _customers(rng, spec, apps)
    launches_out = _launch_table(launches, apps, customers, catalog)
    catalog = catalog.drop(columns=["app_code", "rate_per_min", "timer_phase_min"])
    del start
    return SyntheticFleet(spec, catalog, apps, launches_out, customers, fn)


def _app_sizes(rng, n_functions: int) -> list[int]:
    sizes, total = [], 0
    while total < n_functions:
        lo, hi = APP_SIZE_BINS[rng.choice(len(APP_SIZE_BINS), p=APP_SIZE_SHARES)]
        s = int(rng.integers(lo, hi + 1)) if hi < 40 else int(min(hi, lo + rng.geometric(0.15) - 1))
        s = min(s, n_functions - total)
        sizes.append(s)
        total += s
    return sizes


def _owners(rng, n_apps: int) -> np.ndarray:
    """Apps per owner are not published: assumed Zipf-like (most owners one app, a few many)."""
    owners, o = [], 0
    while len(owners) < n_apps:
        k = int(min(rng.zipf(2.2), 25))
        owners.extend([o] * k)
        o += 1
    return np.array(owners[:n_apps])


def _app_memory(rng, n: int) -> np.ndarray:
    from scipy import stats

    mem = stats.burr12.rvs(MEMORY_BURR_C, MEMORY_BURR_K, scale=MEMORY_BURR_SCALE, size=n, random_state=rng)
    return np.clip(np.round(mem / 8) * 8, 64, 8192)


def _functions(rng, apps: pd.DataFrame) -> pd.DataFrame:
    app_code = np.repeat(np.arange(len(apps)), apps["n_functions"].to_numpy())
    n = len(app_code)
    # Busy apps lean to queue and event triggers, quiet ones to timers (the invocation mix is far
    # from the function mix): p(trigger) ~ function share x tilt^(TILT_POWER (q - 1/2)), q = rate quantile.
    ratio = TRIGGER_INVOCATION_SHARE / TRIGGER_FUNCTION_SHARE
    q = (apps["rate_per_min"].rank(pct=True).to_numpy() - 0.5)[app_code]
    p = TRIGGER_FUNCTION_SHARE[None, :] * ratio[None, :] ** (TILT_POWER * q[:, None])
    p /= p.sum(axis=1, keepdims=True)
    trig = (p.cumsum(axis=1) > rng.random(n)[:, None]).argmax(axis=1)
    # Within an app, invocations split by a Dirichlet draw tilted by the trigger's invocation weight.
    tilt = ratio[trig]
    raw = rng.gamma(0.5, 1.0, n) * tilt
    share = raw / np.bincount(app_code, weights=raw)[app_code]
    rate = apps["rate_per_min"].to_numpy()[app_code] * share
    is_timer = np.array(TRIGGERS)[trig] == "timer"
    # 95% of timers fire at most once per minute: periods of 1 min to 1 day.
    # A timer's period follows its share of the app's rate (so app rates keep their calibration),
    # snapped to common schedules; 95% of timers fire at most once per minute.
    periods = np.array([1, 5, 10, 15, 30, 60, 120, 360, 720, 1440], dtype=float)
    wanted = 1.0 / np.maximum(rate, 1e-9)
    snapped = periods[np.abs(np.log(periods)[None, :] - np.log(wanted)[:, None]).argmin(axis=1)]
    period = np.where(is_timer, snapped, 0.0)
    duration = np.clip(np.exp(rng.normal(DURATION_LOGMEAN, DURATION_SIGMA, n)), 0.005, 600.0)
    memory = apps["memory_mb"].to_numpy()[app_code]
    return pd.DataFrame({
        C.UNIQUE_ID: [f"fn{i:06d}" for i in range(n)],
        C.APP: apps[C.APP].to_numpy()[app_code],
        C.CUSTOMER: apps[C.CUSTOMER].to_numpy()[app_code],
        C.CPU_MILLICORES: cpu_from_memory(memory),
        C.MEMORY_MB: memory,
        C.DURATION_S: np.round(duration, 4),
        C.TRIGGER: np.array(TRIGGERS)[trig],
        C.GROUP_ID: apps[C.APP].to_numpy()[app_code],
        "timer_period_min": period,
        "app_code": app_code,
        "rate_per_min": np.where(is_timer, 1.0 / np.maximum(period, 1), rate),
        "timer_phase_min": np.floor(rng.uniform(0, 1, n) * np.maximum(period, 1)),
    })


def _launches(rng, spec: SynthSpec, apps: pd.DataFrame) -> pd.DataFrame:
    n_apps = len(apps)
    n = int(round(spec.launch_share * n_apps)) if n_apps >= 10 else 0
    cols = [C.APP, "launch_ds", "ramp_days", "marketing_push", "took_off", "fizzle_peak", "analog_app", "peak_scale"]
    if n == 0:
        return pd.DataFrame(columns=cols)
    # Launch only apps busy enough to be seen (>= 1 per minute), and never the first app.
    candidates = np.flatnonzero(apps["rate_per_min"].to_numpy() >= 0.1)
    candidates = candidates[candidates > 0]
    n = min(n, len(candidates) // 2)
    chosen = np.sort(rng.choice(candidates, size=n, replace=False))
    others = np.setdiff1d(candidates, chosen)
    span_days = spec.days
    launch_day = rng.uniform(0.1, 0.8, n) * span_days
    marketing = rng.random(n) < 0.4
    return pd.DataFrame({
        C.APP: apps[C.APP].to_numpy()[chosen],
        "launch_ds": pd.Timestamp(spec.start) + pd.to_timedelta(np.round(launch_day * 24), unit="h"),
        "ramp_days": np.round(rng.uniform(7, 42, n), 1),
        "marketing_push": marketing,
        "took_off": np.zeros(n, dtype=bool),  # set once customer volumes are known
        "fizzle_peak": rng.uniform(0.1, 0.3, n),
        "analog_app": apps[C.APP].to_numpy()[rng.choice(others, size=n)] if len(others) else apps[C.APP].to_numpy()[0],
        "peak_scale": np.round(np.exp(rng.normal(0.0, 0.6, n)), 3),
        "_u": rng.random(n),
    })


def _customers(rng, spec: SynthSpec, apps: pd.DataFrame) -> pd.DataFrame:
    names = np.unique(apps[C.CUSTOMER])
    u = rng.random(len(names))
    tier = np.where(u < spec.premium_share, "premium", np.where(u < spec.premium_share + spec.economy_share, "economy", "standard"))
    return pd.DataFrame({C.CUSTOMER: names, "tier": tier})


def _launch_table(launches, apps, customers, catalog) -> pd.DataFrame:
    """Launches history with the features the success model uses, and the outcome drawn from them."""
    if launches.empty:
        return pd.DataFrame(columns=[C.GROUP_ID, C.CUSTOMER, "launch_ds", "n_functions", "primary_trigger",
                                     "marketing_push", "customer_log_volume", "ramp_days", "took_off",
                                     "peak_scale", "analog_group_id"])
    daily = apps.assign(daily=apps["rate_per_min"] * 1440)
    established = daily[daily["launch_ds"].isna()].groupby(C.CUSTOMER)["daily"].sum()
    rows = []
    for _, l in launches.iterrows():
        a = apps.loc[apps[C.APP] == l[C.APP]].iloc[0]
        vol = float(np.log10(1.0 + established.get(a[C.CUSTOMER], 0.0)))
        z = LAUNCH_COEF["const"] + LAUNCH_COEF["marketing_push"] * l["marketing_push"] + LAUNCH_COEF["customer_log_volume"] * (vol - 2)
        took_off = bool(l["_u"] < 1 / (1 + np.exp(-z)))
        trig = catalog.loc[catalog[C.APP] == l[C.APP], C.TRIGGER].mode().iloc[0]
        rows.append({
            C.GROUP_ID: l[C.APP], C.CUSTOMER: a[C.CUSTOMER], "launch_ds": l["launch_ds"],
            "n_functions": int(a["n_functions"]), "primary_trigger": trig,
            "marketing_push": bool(l["marketing_push"]), "customer_log_volume": round(vol, 3),
            "ramp_days": l["ramp_days"], "took_off": took_off,
            "peak_scale": l["peak_scale"] if took_off else round(l["peak_scale"] * l["fizzle_peak"], 3),
            "analog_group_id": l["analog_app"],
        })
        apps.loc[apps[C.APP] == l[C.APP], "took_off"] = took_off
    return pd.DataFrame(rows)


def hashed(value: str, salt: str) -> str:
    """A stable 64-hex id in the style of the Azure trace's anonymised hashes."""
    return hashlib.sha256(f"{salt}:{value}".encode()).hexdigest()
