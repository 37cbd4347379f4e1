"""Does complementarity lower the packing cost? Complementarity-aware greedies vs plain FFD.

Run from the project root:  python benchmarks/profile_complementarity.py [--quick]

Instances in the style of the packing tests (groups x 168 hourly slots x (cpu_cores, memory_gb), two
server types, 8 cores/32 GB for 100 and 16 cores/64 GB for 180):
- ``diurnal-N``: cosine daily shapes with random phases, weekday/weekend levels, random sizes;
- ``daynight-N``: half the groups peak around 13 h, half around 02 h (strong complementarity);
- ``huawei-N``: the 8 real hourly cpu_cores shapes of ../shared/data/huawei-dc4 (Toner & Lee,
  ICLR 2025 workshop), each group one of them at a random scale with 10 % noise (skipped without data).

Heuristics: ``peak_ffd`` (plain FFD of each group's peak, the baseline), ``shape_ffd`` (per-slot
vector FFD), ``shape_ffd+pairs`` (the same with :func:`models.profiles.pairing.complementary_order`),
``shape_fill`` (the packing helper's residual-matching fill) with and without the
:func:`models.profiles.pairing.packing_affinity` matrix, and ``peak_rise_fit``
(:func:`models.profiles.pairing.peak_increase_fit`), and the packing helper's ``best_heuristic``
(cheapest of its shape-aware greedies) without and with the affinity. Printed: cost / peak_ffd, cost / shape_ffd and
cost / lower bound.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from models.packing.bounds import lower_bound  # noqa: E402
from models.packing.heuristics import best_heuristic, peak_ffd, shape_ffd, shape_fill  # noqa: E402
from models.packing.instance import PackingInstance, ServerType  # noqa: E402
from models.packing.solution import packing_cost  # noqa: E402
from models.profiles.pairing import complementary_order, packing_affinity, peak_increase_fit  # noqa: E402

HUAWEI = ROOT.parent / "shared" / "data" / "huawei-dc4" / "datacentre_4.csv"
RES = ("cpu_cores", "memory_gb")
TYPES = (ServerType("small", (8.0, 32.0), 100.0), ServerType("large", (16.0, 64.0), 180.0))
T = 168


def _instance(name: str, cpu: np.ndarray, rng: np.random.Generator) -> tuple[str, PackingInstance]:
    """cpu [groups x 168]; memory follows with a warm baseline (memory is held between calls)."""
    mem = 2.0 * cpu.max(axis=1, keepdims=True) * (0.4 + 0.6 * cpu / cpu.max(axis=1, keepdims=True))
    mem *= rng.uniform(0.5, 1.5, (len(cpu), 1))
    demand = np.stack([cpu, mem], axis=2)
    ids = tuple(f"g{i:03d}" for i in range(len(cpu)))
    return name, PackingInstance(ids, tuple(f"t{t:03d}" for t in range(T)), RES, demand, TYPES)


def diurnal(n: int, seed: int):
    rng = np.random.default_rng(seed)
    t = np.arange(T)
    phase = rng.uniform(0, 24, n)
    amp = rng.uniform(0.3, 0.9, n)
    weekend = np.where((t // 24) >= 5, rng.uniform(0.5, 1.0, (n, 1)), 1.0)
    shape = (1 + amp[:, None] * np.cos(2 * np.pi * (t[None, :] - phase[:, None]) / 24)) * weekend
    size = rng.lognormal(1.0, 0.6, n).clip(0.3, 10.0)
    return _instance(f"diurnal-{n}", size[:, None] * shape / shape.max(axis=1, keepdims=True), rng)


def daynight(n: int, seed: int):
    rng = np.random.default_rng(seed)
    t = np.arange(T)
    phase = np.where(np.arange(n) % 2 == 0, 13.0, 2.0) + rng.normal(0, 1.5, n)
    shape = 0.15 + np.exp(-0.5 * (((t[None, :] - phase[:, None] + 12) % 24 - 12) / 3.0) ** 2)
    size = rng.lognormal(1.0, 0.6, n).clip(0.3, 10.0)
    return _instance(f"daynight-{n}", size[:, None] * shape / shape.max(axis=1, keepdims=True), rng)


def huawei(n: int, seed: int):
    if not HUAWEI.exists():
        return None
    from planner.demand import resource_demand
    from planner.ingest import read_huawei

    tel, cat = read_huawei(HUAWEI)
    dem = resource_demand(tel, cat, slot="1h", level="function")
    wide = dem.pivot(index="ds", columns="unique_id", values="cpu_cores").fillna(0.0)
    how = wide.index.day_of_week * 24 + wide.index.hour
    week = wide.groupby(how).max().to_numpy().T  # [8 x 168] weekly peak shape per function
    week = week / week.max(axis=1, keepdims=True)
    rng = np.random.default_rng(seed)
    pick = rng.integers(len(week), size=n)
    noise = rng.uniform(0.9, 1.1, (n, T))
    size = rng.lognormal(1.0, 0.6, n).clip(0.3, 10.0)
    return _instance(f"huawei-{n}", size[:, None] * week[pick] * noise, rng)


def run(instance: PackingInstance) -> dict[str, tuple[float, float]]:
    """Cost and seconds of each heuristic."""
    kinds = instance.kinds()
    aff = packing_affinity(instance.demand, kinds.capacity)
    order = complementary_order(instance.demand, kinds.capacity, aff)
    runs = {
        "peak_ffd": lambda: packing_cost(instance, peak_ffd(instance)),
        "shape_ffd": lambda: packing_cost(instance, shape_ffd(instance)),
        "shape_ffd+pairs": lambda: packing_cost(instance, shape_ffd(instance, order=order)),
        "shape_fill": lambda: packing_cost(instance, shape_fill(instance, "dot")),
        "shape_fill+aff": lambda: packing_cost(instance, shape_fill(instance, "dot", affinity=aff)),
        "shape_fill+aff×4": lambda: packing_cost(
            instance, shape_fill(instance, "dot", affinity=aff, affinity_weight=4.0)
        ),
        "peak_rise_fit": lambda: _peak_rise_cost(instance, kinds),
        "best_heuristic": lambda: packing_cost(instance, best_heuristic(instance)),
        "best_heuristic+aff": lambda: packing_cost(instance, best_heuristic(instance, affinity=aff)),
    }
    out = {}
    for name, fn in runs.items():
        t0 = time.perf_counter()
        cost = fn()
        out[name] = (cost, time.perf_counter() - t0)
    out["lower_bound"] = (lower_bound(instance)["best"], 0.0)
    return out


def _peak_rise_cost(instance: PackingInstance, kinds) -> float:
    item_worker, worker_type = peak_increase_fit(instance.demand, kinds.capacity, kinds.cost)
    # Check the fleet independently: every worker, slot and resource within capacity.
    for w, k in enumerate(worker_type):
        load = instance.demand[item_worker == w].sum(axis=0)
        assert np.all(load <= kinds.capacity[k][None, :] + 1e-9), f"worker {w} overloaded"
    return float(kinds.cost[worker_type].sum())


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small instances only")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--markdown", action="store_true", help="also print the docs/profiles.md table")
    args = parser.parse_args(argv)
    sizes = (40,) if args.quick else (40, 120, 300)
    rows = []
    for n in sizes:
        for seed in range(args.seeds):
            for make in (diurnal, daynight, huawei):
                built = make(n, seed)
                if built is None:
                    continue
                name, inst = built
                rows.append((name, seed, run(inst)))
    names = list(rows[0][2])
    print(f"{'instance':<14}{'seed':>5}  " + "".join(f"{n:>19}" for n in names))
    for name, seed, res in rows:
        print(f"{name:<14}{seed:>5}  " + "".join(f"{res[n][0]:>19.0f}" for n in names))
    print("\nmean cost ratios over seeds (lower is better); s = seconds per run")
    print(f"{'instance':<14}{'heuristic':<20}{'/peak_ffd':>10}{'/shape_ffd':>11}{'/bound':>8}{'s':>8}")
    for name in dict.fromkeys(r[0] for r in rows):
        mine = [r[2] for r in rows if r[0] == name]
        for h in names[:-1]:
            ratio = lambda ref: np.mean([m[h][0] / m[ref][0] for m in mine])  # noqa: E731
            secs = np.mean([m[h][1] for m in mine])
            print(f"{name:<14}{h:<20}{ratio('peak_ffd'):>10.3f}{ratio('shape_ffd'):>11.3f}"
                  f"{ratio('lower_bound'):>8.3f}{secs:>8.2f}")
    if args.markdown:
        _markdown(rows, names)


def _markdown(rows, names) -> None:
    """The summary table of docs/profiles.md: shape_ffd / peak_ffd, the others / shape_ffd, best / bound."""
    others = [h for h in names if h not in ("peak_ffd", "shape_ffd", "lower_bound")]
    print("\n| instance | shape_ffd / peak_ffd | " + " | ".join(others) + " | best_heuristic+aff / bound |")
    print("|---" * (len(others) + 3) + "|")
    for name in dict.fromkeys(r[0] for r in rows):
        mine = [r[2] for r in rows if r[0] == name]
        ratio = lambda h, ref: np.mean([m[h][0] / m[ref][0] for m in mine])  # noqa: E731
        cells = [f"{ratio('shape_ffd', 'peak_ffd'):.3f}"] + [f"{ratio(h, 'shape_ffd'):.3f}" for h in others]
        cells.append(f"{ratio('best_heuristic+aff', 'lower_bound'):.3f}")
        print(f"| {name} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
