"""Tiny packing instances with known optima, shared by the packing tests."""

from __future__ import annotations

import numpy as np

from models.packing.instance import PackingInstance, ServerType
from models.packing.result import PackingResult, SolveStatus
from models.packing.solution import packing_cost, to_placements
from models.packing.verify import find_violations

RES = ("cpu_cores", "memory_gb")


def slots(n: int) -> tuple[str, ...]:
    return tuple(f"t{t:03d}" for t in range(n))


def one_type(cores=10.0, mem=40.0, cost=100.0, max_count=None) -> tuple[ServerType, ...]:
    return (ServerType("s", (cores, mem), cost, max_count),)


def anticorrelated_pair() -> PackingInstance:
    """Two groups peaking at 8 cores in opposite halves of the day; 2 cores off-peak.

    By peak each needs its own 10-core server (8 + 8 > 10); by shape they share one (max 10).
    """
    a = np.array([8.0] * 4 + [2.0] * 4)
    b = a[::-1].copy()
    demand = np.zeros((2, 8, 2))
    demand[0, :, 0], demand[1, :, 0] = a, b
    demand[:, :, 1] = 4.0
    return PackingInstance(("a", "b"), slots(8), RES, demand, one_type())


def random_instance(n_groups=8, n_slots=24, seed=0, types=None) -> PackingInstance:
    """Diurnal shapes with random phases and sizes, two server types."""
    rng = np.random.default_rng(seed)
    t = np.arange(n_slots)
    phase = rng.uniform(0, n_slots, n_groups)
    size = rng.uniform(1.0, 5.0, n_groups)
    shape = 0.55 + 0.45 * np.cos(2 * np.pi * (t[None, :] - phase[:, None]) / n_slots)
    demand = np.zeros((n_groups, n_slots, 2))
    demand[:, :, 0] = size[:, None] * shape
    demand[:, :, 1] = 2.0 * size[:, None] * (0.7 + 0.3 * shape)
    types = types or (ServerType("small", (8.0, 32.0), 100.0), ServerType("large", (16.0, 64.0), 180.0))
    return PackingInstance(tuple(f"g{i:02d}" for i in range(n_groups)), slots(n_slots), RES, demand, types)


def ruled_instance() -> PackingInstance:
    """Shards, a spread customer, an isolated customer, two headroom levels and a max_count."""
    rng = np.random.default_rng(4)
    n, t = 14, 24
    hours = np.arange(t)
    phase = rng.uniform(0, t, n)
    size = rng.uniform(1.0, 4.0, n)
    cores = size[:, None] * (0.3 + 0.7 * (0.5 + 0.5 * np.cos(2 * np.pi * (hours[None] - phase[:, None]) / t)) ** 4)
    cores[0] *= 6.0  # larger than a server: shards on distinct workers
    demand = np.stack([cores, 3.0 * cores], axis=2)
    customer = ("big", "p", "p", "p", "iso", "iso") + tuple(f"c{i}" for i in range(6, n))
    spread = np.array([1, 3, 3, 3] + [1] * (n - 4))
    headroom = np.array([0.0, 0.2, 0.2, 0.2] + [0.0] * (n - 4))
    isolation = (None, None, None, None, "iso", "iso") + (None,) * (n - 6)
    types = (ServerType("small", (8.0, 32.0), 100.0, 30), ServerType("large", (16.0, 64.0), 170.0, 6))
    return PackingInstance(tuple(f"g{i:02d}" for i in range(n)), slots(t), RES, demand, types,
                           headroom=headroom, customer=customer, spread=spread, isolation=isolation)


def verified(instance, packing) -> list:
    """The verifier's violations of an internal ``Packing``."""
    placements, workers = to_placements(instance, packing)
    result = PackingResult(SolveStatus.FEASIBLE, "test", packing_cost(instance, packing), 0.0, 0.0,
                           placements, workers)
    return find_violations(instance, result)
