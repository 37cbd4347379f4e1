"""FaaS realism, measured: the memory / cold-start trade-off of keep-alive policies, and what moving
lax-deadline work into the valleys of the day saves.

    python benchmarks/faas_realism.py [--fleets synthetic,azure,huawei] [--azure-functions 1500]
                                      [--plot /tmp/faas-keepalive.png] [--part keepalive|deferral|both]

Keep-alive (part 1): for each fleet and policy (none / fixed 5, 10, 20 min / hybrid) the cold-start
share of invocations (fleet-wide and at the 75th-percentile app, the paper's metric), the memory
held (warm GB-hours, normalised to fixed:10 as in the paper, and the share of it idle), the peak
memory the fleet needs (slot peak of the sum, and the sum of group peaks a peak-based packer
reserves), and the hindsight packing of the history's last week (the planner's own pack_week on the
actual demand: cost per month, servers, memory utilisation).

Fleets: the embedded synthetic fleet (300 functions, a year of 5-minute data), a synthetic
Azure-layout trace (per minute, written as Azure 2019 day files and read back by the Azure reader)
and huawei-dc4 (../shared/data; skipped when absent; Huawei Cloud trace, Toner & Lee, ICLR 2025 workshop).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
HUAWEI = ROOT.parent / "shared" / "data" / "huawei-dc4" / "datacentre_4.csv"
POLICIES = ("none", "fixed:5", "fixed:10", "fixed:20", "hybrid")


def scenarios(args, tmp: Path) -> dict:
    """Scenario per fleet (the data part); the Azure-layout trace is written once into ``tmp``."""
    from planner.scenarios import Scenario

    out = {}
    fleets = args.fleets.split(",")
    if "synthetic" in fleets:
        out["synthetic"] = Scenario(name="synthetic")
    if "azure" in fleets:
        from planner.synth import SynthSpec, make_fleet
        from planner.synth_write import write_azure

        folder = tmp / "azure"
        t0 = time.perf_counter()
        fleet = make_fleet(SynthSpec(n_functions=args.azure_functions, days=args.azure_days, seed=11,
                                     start="2019-07-15"))
        write_azure(fleet, folder)
        fleet.customers.to_csv(tmp / "azure-customers.csv", index=False)
        print(f"azure-layout trace: {args.azure_functions} functions, {args.azure_days} days per minute, "
              f"written in {time.perf_counter() - t0:.0f} s")
        customers = pd.read_csv(tmp / "azure-customers.csv")
        from planner.synth import hashed

        customers["customer"] = [hashed(c, "owner") for c in customers["customer"]]
        customers.to_csv(tmp / "azure-customers.csv", index=False)
        out["azure"] = Scenario(name="azure", data={"format": "azure", "path": folder,
                                                    "customers": tmp / "azure-customers.csv"})
    if "huawei" in fleets:
        if HUAWEI.exists():
            out["huawei-dc4"] = Scenario(name="huawei-dc4", data={"format": "huawei", "path": HUAWEI})
        else:
            print(f"huawei-dc4 skipped: {HUAWEI} not found (../shared/data is absent)")
    return out


def hindsight_forecast(demand: pd.DataFrame, start: pd.Timestamp) -> pd.DataFrame:
    """A Forecast table whose every quantile is the actual demand of the week from ``start``."""
    from planner import columns as C

    week = demand[(demand[C.DS] >= start) & (demand[C.DS] < start + pd.Timedelta(days=7))]
    long = week.melt(id_vars=[C.GROUP_ID, C.DS], value_vars=list(C.RESOURCES), var_name=C.RESOURCE, value_name="v")
    long = long.rename(columns={C.GROUP_ID: C.UNIQUE_ID})
    for q in (C.MEAN, *C.QUANTILES):
        long[q] = long["v"]
    return long.drop(columns="v")


def pack_last_week(history, scenario):
    """The planner's weekly packing of the history's last full week, demand known (hindsight)."""
    from planner.plan import pack_week, servers_frame, tiers_of

    start = (history.end - pd.Timedelta(days=7)).floor("D")
    fc = hindsight_forecast(history.demand, start)
    return pack_week(fc, history.groups, tiers_of(scenario), servers_frame(scenario), start, 0, scenario.solver)


def keepalive_part(fleets: dict, args) -> pd.DataFrame:
    from planner import columns as C
    from planner.history import load_history

    rows, apps = [], {}
    for name, base in fleets.items():
        for policy in POLICIES:
            sc = base.model_copy(update={"keep_alive": policy})
            t0 = time.perf_counter()
            h = load_history(sc)
            t_hist = time.perf_counter() - t0
            ka = h.warm.summary()
            apps[(name, policy)] = h.warm.apps
            wp = pack_last_week(h, sc)
            d = h.demand
            hours = d[C.DS].nunique()
            per_slot = d.groupby(C.DS)[C.MEMORY_GB].sum()
            util = _memory_utilisation(wp)
            rows.append({
                "fleet": name, "policy": policy, "cold_pct": 100 * ka["cold_start_rate"],
                "cold_pct_p75_app": 100 * ka["cold_start_rate_p75_app"],
                "fallback_apps": sum(ka["fallbacks"].values()), "apps": ka["apps"],
                "warm_gb_mean": ka["warm_gb_hours"] / hours, "idle_share": 1 - ka["busy_gb_hours"] / ka["warm_gb_hours"],
                "peak_gb": float(per_slot.max()), "sum_group_peaks_gb": float(d.groupby(C.GROUP_ID)[C.MEMORY_GB].max().sum()),
                "cost_month": wp.result.objective, "servers": len(wp.result.workers), "mem_util": util,
                "history_s": t_hist,
            })
            print(f"  {name:<10} {policy:<9} history {t_hist:5.1f} s  cost {wp.result.objective:9,.0f}", flush=True)
    table = pd.DataFrame(rows)
    table.attrs["by_pattern"] = _hybrid_by_pattern(apps, list(fleets))
    ref = table[table["policy"] == "fixed:10"].set_index("fleet")["warm_gb_mean"]
    table.insert(table.columns.get_loc("warm_gb_mean") + 1, "mem_vs_fixed10", table["warm_gb_mean"] / table["fleet"].map(ref))
    return table


def _hybrid_by_pattern(apps: dict, fleets: list) -> pd.DataFrame:
    """Where the hybrid policy's memory goes: per rule that set the window, the apps, their warm
    GB-hours under hybrid and under fixed:10, and their cold starts under both."""
    from planner import columns as C

    parts = []
    for name in fleets:
        h, f = apps[(name, "hybrid")], apps[(name, "fixed:10")]
        key = [C.GROUP_ID, C.APP]
        both = h.merge(f[key + ["warm_gb_hours", "cold_starts"]], on=key, suffixes=("", "_fixed10"))
        per = both.groupby("pattern").agg(apps=(C.APP, "size"), warm_gb_hours=("warm_gb_hours", "sum"),
                                          warm_gb_hours_fixed10=("warm_gb_hours_fixed10", "sum"),
                                          cold_starts=("cold_starts", "sum"), cold_starts_fixed10=("cold_starts_fixed10", "sum"))
        per["memory_vs_fixed10"] = per["warm_gb_hours"] / per["warm_gb_hours_fixed10"]
        parts.append(per.reset_index().assign(fleet=name))
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()


def _memory_utilisation(wp) -> float:
    """Mean memory load over the week's slots / memory capacity of the packed fleet."""
    from models.packing.verify import worker_loads

    workers, loads = worker_loads(wp.instance, wp.result.assignment_frame())
    types = {s.name: s.capacity for s in wp.instance.server_types}
    r = list(wp.instance.resources).index("memory_gb")
    cap = sum(types[t][r] for _, t in wp.result.workers)
    return float(loads[:, :, r].sum(axis=0).mean() / cap)


def verdict(table: pd.DataFrame) -> list[str]:
    """Does hybrid need less memory than fixed:10 at fewer cold starts (the paper's claim)?"""
    lines = []
    for fleet, t in table.groupby("fleet", sort=False):
        h, f = t.set_index("policy").loc["hybrid"], t.set_index("policy").loc["fixed:10"]
        less_mem = h["warm_gb_mean"] < f["warm_gb_mean"]
        fewer = h["cold_pct_p75_app"] < f["cold_pct_p75_app"] and h["cold_pct"] <= f["cold_pct"]
        lines.append(f"{fleet}: hybrid / fixed:10 memory held {h['warm_gb_mean'] / f['warm_gb_mean']:.2f}, "
                     f"peak memory {h['peak_gb'] / f['peak_gb']:.2f}, cost {h['cost_month'] / f['cost_month']:.3f}; "
                     f"cold starts {h['cold_pct']:.3f}% vs {f['cold_pct']:.3f}% "
                     f"(p75 app {h['cold_pct_p75_app']:.1f}% vs {f['cold_pct_p75_app']:.1f}%) -> "
                     + ("hybrid beats fixed:10 on both" if less_mem and fewer else
                        "fewer cold starts but more memory" if fewer else
                        "less memory but more cold starts" if less_mem else "fixed:10 wins on both"))
    return lines


METHODS = ("flatten", "valleys", "worker")


def deferral_part(fleets: dict, args) -> pd.DataFrame:
    """Cost of the last week packed as the work arrives and with lax work moved by each method.

    huawei-dc4 names no triggers (every function would be strict): there every function is put in
    the lax class, the upper end of what deferral can do on that trace."""
    from planner.deferral import deferral_setup
    from planner.history import load_history
    from planner.plan import pack_week, servers_frame, tiers_of

    rows = []
    for name, base in fleets.items():
        spec = {"enabled": True, "classes": {"lax": args.deadline_h}}
        if name == "huawei-dc4":
            spec["default_class"] = "lax"
            spec["triggers"] = {"unknown": "lax"}
        h = load_history(base)
        start = (h.end - pd.Timedelta(days=7)).floor("D")
        fc = hindsight_forecast(h.demand, start)
        t0 = time.perf_counter()
        plain = pack_week(fc, h.groups, tiers_of(base), servers_frame(base), start, 0, base.solver)
        t_plain = time.perf_counter() - t0
        rows.append({"fleet": name, "method": "none", "cost_month": plain.result.objective,
                     "vs_none": 1.0, "servers": len(plain.result.workers), "lax_groups": 0, "moved_share_of_lax": 0.0,
                     "moved_share_of_all": 0.0, "peak_cpu_vs_none": 1.0, "seconds": t_plain})
        print(f"  {name:<10} none      cost {plain.result.objective:9,.0f}  {t_plain:5.1f} s", flush=True)
        peak0 = plain.instance.demand.sum(axis=0)[:, 0].max()
        for method in METHODS:
            sc = base.model_copy(update={"deferral": base.deferral.model_validate({**spec, "method": method})})
            setup = deferral_setup(sc, h)
            t0 = time.perf_counter()
            wp = pack_week(fc, h.groups, tiers_of(sc), servers_frame(sc), start, 0, sc.solver, deferral=setup)
            dt = time.perf_counter() - t0
            from planner.deferral import week_figures

            f = week_figures(wp)
            rows.append({"fleet": name, "method": method, "cost_month": wp.result.objective,
                         "vs_none": wp.result.objective / plain.result.objective, "servers": len(wp.result.workers),
                         "lax_groups": f.get("lax_groups", 0), "moved_share_of_lax": f.get("moved_share_of_lax", 0.0),
                         "moved_share_of_all": f.get("moved_share_of_all", 0.0),
                         "peak_cpu_vs_none": wp.instance.demand.sum(axis=0)[:, 0].max() / peak0, "seconds": dt})
            print(f"  {name:<10} {method:<9} cost {wp.result.objective:9,.0f}  {dt:5.1f} s", flush=True)
    return pd.DataFrame(rows)


def plot(table: pd.DataFrame, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    for fleet, t in table.groupby("fleet", sort=False):
        for ax, y in zip(axes, ("cold_pct_p75_app", "cold_pct")):
            fixed, hyb = t[t["policy"] != "hybrid"], t[t["policy"] == "hybrid"]
            line, = ax.plot(fixed["mem_vs_fixed10"], fixed[y], marker="o", label=f"{fleet}: none, fixed 5/10/20")
            ax.plot(hyb["mem_vs_fixed10"], hyb[y], marker="*", markersize=12, linestyle="none", color=line.get_color(),
                    label=f"{fleet}: hybrid")
            for rec in t.itertuples():
                ax.annotate(rec.policy, (rec.mem_vs_fixed10, getattr(rec, y)), fontsize=7,
                            xytext=(3, 3), textcoords="offset points")
    axes[0].set_ylabel("cold starts of the 75th-percentile app (%)")
    axes[1].set_ylabel("cold starts, share of all invocations (%)")
    axes[1].set_yscale("symlog", linthresh=0.01)
    for ax in axes:
        ax.set_xlabel("memory held (warm GB-hours) / fixed:10")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7)
    fig.suptitle("Keep-alive policies: memory against cold starts")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    print(f"plot written to {path}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--fleets", default="synthetic,azure,huawei")
    ap.add_argument("--azure-functions", type=int, default=1500)
    ap.add_argument("--azure-days", type=int, default=14)
    ap.add_argument("--plot", type=Path, default=Path(tempfile.gettempdir()) / "faas-keepalive.png")
    ap.add_argument("--part", choices=("keepalive", "deferral", "both"), default="both")
    ap.add_argument("--deadline-h", type=float, default=4.0, help="deadline of the lax class (hours)")
    args = ap.parse_args()
    print(f"load average {os.getloadavg()[0]:.2f} (2 cores)")
    pd.set_option("display.width", 200)
    with tempfile.TemporaryDirectory() as tmp:
        fleets = scenarios(args, Path(tmp))
        if args.part in ("keepalive", "both"):
            table = keepalive_part(fleets, args)
            cols = ["fleet", "policy", "cold_pct", "cold_pct_p75_app", "fallback_apps", "warm_gb_mean", "mem_vs_fixed10",
                    "idle_share", "peak_gb", "sum_group_peaks_gb", "cost_month", "servers", "mem_util"]
            print("\nkeep-alive trade-off (history; packing = the last week in hindsight)")
            print(table[cols].to_string(index=False, float_format=lambda x: f"{x:,.3f}"))
            print()
            for line in verdict(table):
                print(line)
            print("\nhybrid by the rule that set each app's window (memory and cold starts against fixed:10)")
            print(table.attrs["by_pattern"].to_string(index=False, float_format=lambda x: f"{x:,.3f}"))
            plot(table, args.plot)
        if args.part in ("deferral", "both"):
            table = deferral_part(fleets, args)
            print(f"\ndeferral (deadline of the lax class {args.deadline_h:g} h; packing = the last week in hindsight)")
            print(table.to_string(index=False, float_format=lambda x: f"{x:,.3f}"))
    print(f"load average {os.getloadavg()[0]:.2f} (2 cores)")


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
