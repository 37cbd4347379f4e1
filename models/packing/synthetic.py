"""Synthetic packing instances for tests and benchmarks (no files: shapes are generated or passed in)."""

from __future__ import annotations

import numpy as np

from models.packing.instance import PackingInstance, ServerType

__all__ = ["default_types", "diurnal_instance", "instance_from_shapes"]

RESOURCES = ("cpu_cores", "memory_gb")


def default_types() -> tuple[ServerType, ...]:
    """Three server types like :func:`planner.servers.default_servers` (cores, GB, monthly cost)."""
    return (
        ServerType("c-32", (32.0, 128.0), 1100.0),
        ServerType("m-64", (64.0, 256.0), 2000.0),
        ServerType("r-64", (64.0, 512.0), 2700.0),
    )


def diurnal_instance(n_groups: int, n_slots: int = 168, seed: int = 0, peakiness: float = 4.0,
                     mean_cores: float = 4.0, types: tuple[ServerType, ...] | None = None) -> PackingInstance:
    """Groups with daily (and weekly) shapes of random phases: a narrow daily peak over a base.

    ``cores(t) = size * (base + (1 - base) * bump(t - phase)^peakiness)`` with a raised cosine
    ``bump``, weekend dip of 30 %, multiplicative noise; memory follows cores with a warm floor.
    """
    rng = np.random.default_rng(seed)
    t = np.arange(n_slots)
    phase = rng.uniform(0, 24, n_groups)
    base = rng.uniform(0.05, 0.35, n_groups)
    size = mean_cores * rng.lognormal(0.0, 0.6, n_groups)
    bump = (0.5 + 0.5 * np.cos(2 * np.pi * (t[None, :] - phase[:, None]) / 24)) ** peakiness
    weekend = np.where((t // 24) % 7 >= 5, 0.7, 1.0)[None, :]
    shape = (base[:, None] + (1 - base[:, None]) * bump) * weekend
    shape *= rng.lognormal(0.0, 0.08, shape.shape)
    cores = size[:, None] * shape
    gb_per_core = rng.uniform(2.0, 6.0, n_groups)
    memory = gb_per_core[:, None] * (0.4 * size[:, None] * shape.max(axis=1, keepdims=True) + 0.6 * cores)
    demand = np.stack([cores, memory], axis=2)
    return PackingInstance(tuple(f"g{i:05d}" for i in range(n_groups)), tuple(f"t{i:03d}" for i in range(n_slots)),
                           RESOURCES, demand, types or default_types())


def instance_from_shapes(shapes: np.ndarray, n_groups: int, seed: int = 0, mean_cores: float = 4.0,
                         gb_per_core: tuple[float, float] = (2.0, 6.0),
                         types: tuple[ServerType, ...] | None = None) -> PackingInstance:
    """Groups made from real shapes ``[n_shapes, n_slots]`` (each scaled to peak 1): each group takes a
    random shape, shifted by a random number of hours and scaled to a log-normal size."""
    rng = np.random.default_rng(seed)
    n_shapes, n_slots = shapes.shape
    pick = rng.integers(0, n_shapes, n_groups)
    shift = rng.integers(0, n_slots, n_groups)
    size = mean_cores * rng.lognormal(0.0, 0.6, n_groups)
    rows = np.array([np.roll(shapes[p], s) for p, s in zip(pick, shift)])
    rows = rows * rng.lognormal(0.0, 0.05, rows.shape)
    cores = size[:, None] * rows / rows.mean(axis=1, keepdims=True) * 0.5
    gpc = rng.uniform(*gb_per_core, n_groups)
    memory = gpc[:, None] * (0.4 * cores.max(axis=1, keepdims=True) + 0.6 * cores)
    demand = np.stack([cores, memory], axis=2)
    return PackingInstance(tuple(f"g{i:05d}" for i in range(n_groups)), tuple(f"t{i:03d}" for i in range(n_slots)),
                           RESOURCES, demand, types or default_types())
