"""Pooled risk against stacked quantiles (issue 14): cost, groups per worker, realised overflow.

Three fleets, each packed twice by the same engine and instance builder
(``planner.packing.to_packing_instance``): with the pooled chance constraint at each tier's
epsilon (the default tiers: premium 0.001, standard 0.01, economy 0.05), and *stacked* at the same
epsilon (every group at its own Gaussian quantile ``mean + z sigma``, a worker holding the sum).

(a) ``huawei``: 500 groups made from the real Huawei DC4 functions (../shared/data): each group is
    one function's hourly peak requests, shifted by whole days, scaled (log-normal) and with its own
    multiplicative noise, so groups of one function are correlated but not copies. The forecast is
    the history's profile (mean by hour of the week over the first 23 days) with a spread per hour
    of the day from the history's residuals; their correlation comes from the same residuals.
    Replays: demand drawn from the forecast distribution, and the real last 7 days.
(b) ``default``: the embedded default fleet (``planner run``'s scenario), peak week.
(c) ``synthetic``: a larger Azure-like synthetic fleet (1,000 functions, ``planner synth``'s
    generator), peak week.

For (b) and (c) the forecast is the planner's own (statsmodels models, calibrated quantiles) and
the replay draws from it. Printed per fleet and plan: cost, workers, groups per worker, the cost
ratio pooled / stacked, the predicted overflow probability (largest per worker and slot) and the
realised overflow share per tier (worker-slots over their usable capacity, capacity x (1 -
headroom), in the replay). ``--curve`` adds the cost-risk curve (epsilon 1e-4 .. 1e-1, all groups
in one tier) of one fleet (``--curve-fleet``, default huawei) and saves it as a PNG.

Each fleet is also compared *at equal realised overflow*: the stacked tiers' epsilons are loosened
(x3, x10, x30) and the cheapest stacked plan whose realised overflow share (drawn replay) is at most
the pooled plan's in every tier is the fair comparison. Where the stacked plan breaks a target under
the pooled model (a worker above its epsilon), its epsilons are tightened (/3, /10, /30, /100) until
it keeps every promise: the comparison *at equal promise*.

``--moves N`` makes every solve a counted search (N repair moves, ``--lns-steps`` neighbourhoods,
deterministic CP-SAT steps): the plans, and so the ratios, do not depend on the machine's load.

    python benchmarks/pooled_risk.py --fleets huawei,default,synthetic --moves 10000 --curve docs/img/cost_risk.png
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from models.packing.result import SolveOptions  # noqa: E402
from models.packing.risk import risk_multiplier  # noqa: E402
from models.packing.solve import solve_packing  # noqa: E402
from models.packing.verify import find_violations, overflow_report  # noqa: E402
from planner import columns as C  # noqa: E402
from planner.packing import residual_scenarios, to_packing_instance  # noqa: E402
from planner.qos import DEFAULT_TIERS, Tier  # noqa: E402

HUAWEI = ROOT.parent / "shared" / "data" / "huawei-dc4" / "datacentre_4.csv"
QUANT_Z = {"q50": 0.0, "q90": 1.2816, "q95": 1.6449, "q99": 2.3263}


def stacked_tiers(tiers: dict[str, Tier], looser: float = 1.0) -> dict[str, Tier]:
    """The same tiers with each group at its own Gaussian quantile at epsilon (the stacked method);
    ``looser`` multiplies each epsilon (capped at 0.45) to search for equal realised overflow."""
    return {n: Tier(n, None, t.headroom, t.spread, t.isolated, min(t.overflow_risk * looser, 0.45), "stacked")
            for n, t in tiers.items()}


#: Multipliers of the stacked tiers' epsilon tried for the comparison at equal realised overflow.
LOOSER = (3.0, 10.0, 30.0)


def one_tier(eps: float, method: str = "gaussian") -> dict[str, Tier]:
    """Every default tier at one epsilon (headroom, spread, isolation kept): for the cost-risk curve."""
    return {n: Tier(n, None, t.headroom, t.spread, t.isolated, eps, method) for n, t in DEFAULT_TIERS.items()}


# ------------------------------------------------------------------------------------------------
# fleet (a): groups from the real Huawei functions
# ------------------------------------------------------------------------------------------------

def huawei_fleet(n: int = 500, seed: int = 1, noise: float = 0.25):
    """Hourly cores and memory of ``n`` groups over the trace's 30 days ``[G, H, 2]``, their ids and
    tiers. Each group: a Huawei function's hourly peak (5-minute maximum), shifted by 0-6 days,
    scaled to a log-normal mean of 2 cores, times its own log-normal noise (sd ``noise``)."""
    frame = pd.read_csv(HUAWEI, parse_dates=["date"]).set_index("date")
    hourly = frame.resample("1h").max().fillna(0.0)
    first = hourly.index[(hourly.index.day_of_week == 0) & (hourly.index.hour == 0)][0]
    hourly = hourly.loc[first:]
    series = hourly.to_numpy(float).T  # [F, H]
    series = series[series.max(axis=1) > 0]
    series = series / series.mean(axis=1, keepdims=True)
    rng = np.random.default_rng(seed)
    pick = rng.integers(0, len(series), n)
    shift = 24 * rng.integers(0, 7, n)
    size = 2.0 * rng.lognormal(0.0, 0.6, n)
    cores = np.array([np.roll(series[p], s) for p, s in zip(pick, shift)]) * size[:, None]
    cores *= rng.lognormal(-noise**2 / 2, noise, cores.shape)
    gpc = rng.uniform(2.0, 6.0, n)
    memory = gpc[:, None] * (0.4 * np.percentile(cores, 99, axis=1, keepdims=True) + 0.6 * cores)
    demand = np.stack([cores, memory], axis=2)
    ids = [f"h{i:04d}" for i in range(n)]
    tier = np.where(np.arange(n) % 5 == 0, "premium", np.where(np.arange(n) % 5 < 3, "standard", "economy"))
    return hourly.index, demand, ids, tier


def profile_forecast(index: pd.DatetimeIndex, demand: np.ndarray, ids: list[str], history_h: int):
    """The history's profile as a Forecast table for the week after it, and the history's residuals.

    mean: mean by hour of the week over the history; sigma: the residuals' standard deviation by
    hour of the day (7 x more samples); quantiles q = mean + z sigma."""
    hist = demand[:, :history_h]
    how = (np.arange(history_h) % 168)
    mean = np.stack([hist[:, how == h].mean(axis=1) for h in range(168)], axis=1)  # [G, 168, R]
    resid = hist - mean[:, how]
    hod = np.arange(history_h) % 24
    sd_day = np.stack([resid[:, hod == h].std(axis=1) for h in range(24)], axis=1)  # [G, 24, R]
    sigma = sd_day[:, np.arange(168) % 24]
    start = index[history_h]
    ds = pd.date_range(start, periods=168, freq="1h")
    rows = []
    for r, res in enumerate(C.RESOURCES):
        block = pd.DataFrame({C.UNIQUE_ID: np.repeat(ids, 168), C.DS: np.tile(ds, len(ids)), C.RESOURCE: res,
                              C.MEAN: mean[:, :, r].reshape(-1)})
        for q, z in QUANT_Z.items():
            block[q] = np.maximum(mean[:, :, r] + z * sigma[:, :, r], 0.0).reshape(-1)
        rows.append(block)
    forecast = pd.concat(rows, ignore_index=True)
    hist_frame = pd.DataFrame({C.GROUP_ID: np.repeat(ids, history_h), C.DS: np.tile(index[:history_h], len(ids)),
                               C.CPU_CORES: hist[:, :, 0].reshape(-1)})
    return forecast, residual_scenarios(hist_frame, C.CPU_CORES, weeks=None)


# ------------------------------------------------------------------------------------------------
# replays
# ------------------------------------------------------------------------------------------------

def usable_capacity(instance, frame: pd.DataFrame, workers: list[str]) -> np.ndarray:
    """``[W, R]`` capacity x (1 - strictest headroom) of each worker."""
    types = {s.name: np.asarray(s.capacity, float) for s in instance.server_types}
    h = dict(zip(instance.group_ids, instance.headroom))
    out = []
    for w in workers:
        part = frame[frame["worker_id"] == w]
        out.append(types[part["server_type"].iloc[0]] * (1.0 - max(h[g] for g in part["group_id"])))
    return np.array(out)


def replay(instance, result, groups: pd.DataFrame, actual: np.ndarray | None = None, draws: int = 400,
           seed: int = 0, mean=None, sigma=None, loadings=None) -> dict:
    """Realised overflow share per tier: the share of (worker, slot[, draw]) over usable capacity,
    over the workers holding the tier's groups. ``actual`` ``[G, T, R]`` (groups in instance order)
    replays one realisation; else ``draws`` Gaussian draws from mean, sigma and the factor loadings
    (default: the instance's own)."""
    frame = result.assignment_frame()
    workers = sorted(frame["worker_id"].unique())
    w_index = {w: i for i, w in enumerate(workers)}
    g_index = {g: i for i, g in enumerate(instance.group_ids)}
    cap = usable_capacity(instance, frame, workers)  # [W, R]
    mean = instance.demand if mean is None else mean
    sigma = (instance.sigma if instance.sigma is not None else np.zeros_like(mean)) if sigma is None else sigma
    n_t, n_r = mean.shape[1:]
    if actual is None:
        rng = np.random.default_rng(seed)
        b = (instance.loadings if loadings is None else loadings)
        b = np.zeros((len(g_index), 0)) if b is None else b
        idio = np.sqrt(np.clip(1.0 - (b**2).sum(axis=1), 0.0, 1.0))
        u = rng.standard_normal((draws, b.shape[1])) @ b.T + rng.standard_normal((draws, len(g_index))) * idio
        sample = lambda gi, f: f * (mean[gi][None] + sigma[gi][None] * u[:, gi][:, None, None])  # noqa: E731
        n_s = draws
    else:
        sample = lambda gi, f: f * actual[gi][None]  # noqa: E731
        n_s = 1
    load = np.zeros((len(workers), n_s, n_t, n_r))
    for g, f, w in zip(frame["group_id"], frame["fraction"], frame["worker_id"]):
        load[w_index[w]] += sample(g_index[g], float(f))
    over = (load > cap[:, None, None, :] * (1 + 1e-9)).any(axis=3)  # [W, S, T]
    tier_of = groups.set_index(C.GROUP_ID)["tier"]
    share = {}
    for tier, part in frame.assign(tier=frame["group_id"].map(tier_of)).groupby("tier"):
        ws = [w_index[w] for w in sorted(part["worker_id"].unique())]
        share[tier] = float(over[ws].mean())
    return share


# ------------------------------------------------------------------------------------------------
# the comparison
# ------------------------------------------------------------------------------------------------

def solve_options(args, limit: float | None = None) -> SolveOptions:
    """The solve of every plan: wall-clock ``--time-limit``, or with ``--moves`` a counted search
    (``--moves`` repair moves of the fleet-shrinking search, ``--lns-steps`` neighbourhoods,
    CP-SAT steps on deterministic time, one thread) whose plan does not depend on the load; the
    time limit is then only a safety stop."""
    limit = args.time_limit if limit is None else limit
    if args.moves is None:
        return SolveOptions(time_limit_s=limit, seed=args.seed)
    return SolveOptions(time_limit_s=args.safety_limit, seed=args.seed, workers=1, deterministic=True,
                        shrink_max_moves=args.moves, lns_max_iterations=args.lns_steps)


def compare(name: str, forecast: pd.DataFrame, groups: pd.DataFrame, servers, residuals, opts: SolveOptions,
            actual_of=None) -> list[dict]:
    rows = []
    pooled_cost = None
    for method, tiers in (("pooled", DEFAULT_TIERS), ("stacked", stacked_tiers(DEFAULT_TIERS))):
        inst = to_packing_instance(forecast, groups, tiers, servers, residuals=residuals)
        pooled_inst = inst if method == "pooled" else to_packing_instance(forecast, groups, DEFAULT_TIERS, servers,
                                                                            residuals=residuals)
        t0 = time.perf_counter()
        r = solve_packing(inst, "cpsat", opts)
        elapsed = time.perf_counter() - t0
        bad = find_violations(inst, r)
        # Judge both plans under the same model: the pooled instance's mean, sigma and correlation.
        report = overflow_report(pooled_inst, r)
        drawn = replay(pooled_inst, r, groups)
        real = replay(pooled_inst, r, groups, actual=actual_of(pooled_inst)) if actual_of else {}
        frame = r.assignment_frame()
        per_worker = frame.groupby("worker_id")["group_id"].nunique()
        pooled_cost = r.objective if method == "pooled" else pooled_cost
        eps = {t: DEFAULT_TIERS[t].overflow_risk for t in sorted(set(groups["tier"]))}
        rows.append({
            "fleet": name, "method": method, "groups": inst.n_groups, "cost": r.objective, "status": str(r.status),
            "workers": len(r.workers), "groups_per_worker": float(per_worker.mean()),
            "groups_per_worker_median": float(per_worker.median()),
            "ratio_pooled_stacked": None if method == "pooled" else pooled_cost / r.objective,
            "p_predicted_max": float(report["p_gaussian"].max()),
            "p_over_target_workers": int((report["p_gaussian"] > report["epsilon"] * (1 + 1e-6)).sum()),
            "target": eps, "realised_drawn": drawn, "realised_actual": real,
            "violations": len(bad), "time_s": elapsed,
        })
        print(f"{name:9s} {method:7s} {inst.n_groups:5d} groups  cost {r.objective:9,.0f}  {len(r.workers):4d} workers  "
              f"{per_worker.mean():5.1f} groups/worker  p_max {report['p_gaussian'].max():.2g}  "
              f"drawn {_fmt(drawn, eps)}  real {_fmt(real, eps)}  "
              f"{'ok' if not bad else str(len(bad)) + ' violations'}  {elapsed:.0f} s", flush=True)
    print(f"{name:9s} pooled / stacked cost {rows[0]['cost'] / rows[1]['cost']:.3f} (same epsilon)", flush=True)
    rows += equal_realised(name, forecast, groups, servers, residuals, opts, rows)
    return rows


def equal_realised(name, forecast, groups, servers, residuals, opts, rows) -> list[dict]:
    """Stacked plans at looser epsilons (:data:`LOOSER`): the cheapest whose realised overflow share
    (drawn replay, judged under the pooled model) is at most the pooled plan's in every tier is the
    stacked plan at equal realised overflow; pooled / that cost is the fair ratio."""
    pooled, stacked = rows[0], rows[1]
    pooled_inst = to_packing_instance(forecast, groups, DEFAULT_TIERS, servers, residuals=residuals)
    out, candidates = [], [(1.0, stacked["cost"], stacked["realised_drawn"])]
    for k in LOOSER:
        inst = to_packing_instance(forecast, groups, stacked_tiers(DEFAULT_TIERS, k), servers, residuals=residuals)
        r = solve_packing(inst, "cpsat", opts)
        drawn = replay(pooled_inst, r, groups)
        candidates.append((k, r.objective, drawn))
        out.append({"fleet": name, "method": f"stacked x{k:g}", "groups": inst.n_groups, "cost": r.objective,
                    "workers": len(r.workers), "realised_drawn": drawn})
        print(f"{name:9s} stacked at {k:g} x epsilon: cost {r.objective:9,.0f}  {len(r.workers):4d} workers  "
              f"drawn {_fmt(drawn, {t: min(DEFAULT_TIERS[t].overflow_risk * k, 0.45) for t in drawn})}", flush=True)
    out += equal_promise(name, forecast, groups, servers, residuals, opts, rows, pooled_inst)
    ok = [(k, c) for k, c, d in candidates
          if all(d.get(t, 0.0) <= pooled["realised_drawn"].get(t, 0.0) + 1e-12 for t in d)]
    if ok:
        k, cost = min(ok, key=lambda kc: kc[1])
        print(f"{name:9s} at equal realised overflow: pooled {pooled['cost']:,.0f} vs stacked {cost:,.0f} "
              f"(stacked at {k:g} x epsilon): ratio {pooled['cost'] / cost:.3f}", flush=True)
        out.append({"fleet": name, "method": "equal_realised", "stacked_multiplier": k, "stacked_cost": cost,
                    "ratio_pooled_stacked": pooled["cost"] / cost})
    return out


#: Multipliers of the stacked tiers' epsilon tried for the comparison at equal promise.
TIGHTER = (1 / 3, 1 / 10, 1 / 30, 1 / 100)


def equal_promise(name, forecast, groups, servers, residuals, opts, rows, pooled_inst) -> list[dict]:
    """When the stacked plan breaks a target under the pooled model (a worker whose predicted
    overflow probability is above its strictest epsilon), tighten the stacked tiers' epsilons
    (:data:`TIGHTER`) until it keeps every promise; pooled / the first such stacked cost compares
    two plans that both keep it."""
    stacked = rows[1]
    if stacked["p_over_target_workers"] == 0:
        return []
    out = []
    for k in TIGHTER:
        inst = to_packing_instance(forecast, groups, stacked_tiers(DEFAULT_TIERS, k), servers, residuals=residuals)
        r = solve_packing(inst, "cpsat", opts)
        report = overflow_report(pooled_inst, r)
        over = int((report["p_gaussian"] > report["epsilon"] * (1 + 1e-6)).sum())
        out.append({"fleet": name, "method": f"stacked x{k:.3g}", "groups": inst.n_groups, "cost": r.objective,
                    "workers": len(r.workers), "p_over_target_workers": over,
                    "p_predicted_max": float(report["p_gaussian"].max())})
        print(f"{name:9s} stacked at {k:.3g} x epsilon: cost {r.objective:9,.0f}  {len(r.workers):4d} workers  "
              f"workers above target {over}", flush=True)
        if over == 0:
            ratio = rows[0]["cost"] / r.objective
            print(f"{name:9s} at equal promise (every worker within its target): pooled {rows[0]['cost']:,.0f} vs "
                  f"stacked {r.objective:,.0f} (stacked at {k:.3g} x epsilon): ratio {ratio:.3f}", flush=True)
            out.append({"fleet": name, "method": "equal_promise", "stacked_multiplier": k,
                        "stacked_cost": r.objective, "ratio_pooled_stacked": ratio})
            break
    return out


def _fmt(share: dict, eps: dict) -> str:
    if not share:
        return "-"
    return " ".join(f"{t[:4]} {share[t]:.2%}{'<=' if share[t] <= eps[t] else '>'}{eps[t]:.1%}" for t in sorted(share))


def fleet_huawei(args):
    if not HUAWEI.exists():
        print(f"skipped huawei: {HUAWEI} not found (../shared/data is absent)")
        return []
    index, demand, ids, tier = huawei_fleet(args.groups, args.seed)
    history_h = 23 * 24
    forecast, residuals = profile_forecast(index, demand, ids, history_h)
    groups = pd.DataFrame({C.GROUP_ID: ids, C.CUSTOMER: ids, "tier": tier})
    last = demand[:, -168:]  # the real last week (days 24-30 would overlap: the last 168 hours)

    def actual_of(inst):
        order = [ids.index(g) for g in inst.group_ids]
        return last[order]

    out = compare("huawei", forecast, groups, None, residuals, solve_options(args), actual_of)
    if args.curve and args.curve_fleet == "huawei":
        out += cost_risk_curve("huawei", forecast, groups, None, residuals, args)
    return out


def _pipeline_week(scenario):
    """Forecast, groups, servers, residuals and the peak week's rows of a scenario (the planner's own
    stages, up to the packing)."""
    from planner.history import load_history
    from planner.packing import RESIDUAL_WEEKS
    from planner.pipeline import adjust_forecast, forecast_stage, horizon_start
    from planner.plan import _week_rows, servers_frame, tiers_of, week_bound, week_starts

    history = load_history(scenario)
    start = horizon_start(scenario, history)
    forecast, _ = forecast_stage(scenario, history, start)
    forecast, groups = adjust_forecast(scenario, history, forecast)
    servers = servers_frame(scenario)
    residuals = residual_scenarios(history.demand, C.CPU_CORES, weeks=RESIDUAL_WEEKS)
    starts = week_starts(start, scenario.horizon.weeks)
    bounds = [week_bound(forecast, groups, tiers_of(scenario), servers, s) for s in starts]
    peak = starts[int(max(range(len(starts)), key=lambda w: bounds[w]))]
    rows = _week_rows(forecast, peak)
    return rows, groups[groups[C.GROUP_ID].isin(set(rows[C.UNIQUE_ID]))], servers, residuals


def fleet_default(args):
    from planner.scenarios import default_scenario

    rows, groups, servers, residuals = _pipeline_week(default_scenario())
    return compare("default", rows, groups, servers, residuals, solve_options(args))


def synthetic_scenario():
    from planner.scenarios import Scenario

    return Scenario(name="synthetic-1000", data={"format": "synthetic",
                                                  "synthetic": {"functions": 1000, "days": 112, "seed": 7}},
                    horizon={"weeks": 4})


def fleet_synthetic(args):
    rows, groups, servers, residuals = _pipeline_week(synthetic_scenario())
    out = compare("synthetic", rows, groups, servers, residuals, solve_options(args))
    if args.curve and args.curve_fleet == "synthetic":
        out += cost_risk_curve("synthetic", rows, groups, servers, residuals, args)
    return out


def cost_risk_curve(name, rows, groups, servers, residuals, args) -> list[dict]:
    """Cost of a fleet's (peak) week with every group at one epsilon, pooled and stacked."""
    points = []
    for eps in (1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 1e-1):
        costs = {}
        for method in ("gaussian", "stacked"):
            inst = to_packing_instance(rows, groups, one_tier(eps, method), servers, residuals=residuals)
            costs[method] = solve_packing(inst, "cpsat", solve_options(args, args.curve_time)).objective
        points.append({"fleet": name, "epsilon": eps, "pooled": costs["gaussian"], "stacked": costs["stacked"],
                       "z": risk_multiplier(eps)})
        print(f"curve eps {eps:g}: pooled {costs['gaussian']:,.0f}  stacked {costs['stacked']:,.0f}  "
              f"ratio {costs['gaussian'] / costs['stacked']:.3f}", flush=True)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    eps = [p["epsilon"] for p in points]
    fig, ax = plt.subplots(figsize=(6, 3.6))
    ax.plot(eps, [p["stacked"] for p in points], "o-", label="stacked quantiles")
    ax.plot(eps, [p["pooled"] for p in points], "s-", label="pooled risk (Gaussian, correlated)")
    ax.set_xscale("log")
    ax.set_xlabel("overflow risk epsilon per worker and slot")
    ax.set_ylabel("fleet cost per month")
    ax.set_title({"huawei": "500 groups from the Huawei DC4 functions, one week",
                  "synthetic": "Synthetic 1,000-function fleet, peak week"}.get(name, name))
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    Path(args.curve).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.curve, dpi=120)
    print(f"wrote {args.curve}")
    return points


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fleets", default="huawei,default,synthetic")
    ap.add_argument("--groups", type=int, default=500, help="groups of the huawei fleet")
    ap.add_argument("--time-limit", type=float, default=60.0)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--curve", default=None, help="PNG path of the cost-risk curve")
    ap.add_argument("--curve-fleet", default="huawei", choices=("huawei", "synthetic"))
    ap.add_argument("--curve-time", type=float, default=30.0)
    ap.add_argument("--moves", type=int, default=None,
                    help="counted search: repair moves of the fleet-shrinking search (load-independent plans)")
    ap.add_argument("--lns-steps", type=int, default=20, help="neighbourhoods of the counted search")
    ap.add_argument("--safety-limit", type=float, default=1800.0, help="wall-clock stop of a counted search")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args(argv)
    rows = []
    for fleet in args.fleets.split(","):
        rows += {"huawei": fleet_huawei, "default": fleet_default, "synthetic": fleet_synthetic}[fleet](args)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2, default=float) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
