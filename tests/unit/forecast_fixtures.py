"""Tiny, seeded ResourceDemand and series generators for the forecast tests."""

from __future__ import annotations

import numpy as np
import pandas as pd


def seasonal_series(n: int, *, level=10.0, daily=3.0, weekly=1.5, sigma=1.0, seed=0) -> np.ndarray:
    """Hourly series: level + daily and weekday cycles + Gaussian noise of known sigma."""
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    shape = level + daily * np.sin(2 * np.pi * (t - 6) / 24) + weekly * ((t % 168) < 120)
    return shape + rng.normal(0.0, sigma, n)


def synthetic_demand(n_groups=3, weeks=6, seed=0, start="2026-01-05") -> pd.DataFrame:
    """A ResourceDemand table (group level, hourly) with daily and weekly cycles."""
    ds = pd.date_range(start, periods=weeks * 168, freq="h")
    frames = []
    for g in range(n_groups):
        cpu = np.maximum(0.0, seasonal_series(len(ds), level=4.0 + 2 * g, daily=2.0, weekly=1.0,
                                              sigma=0.3 * (1 + g), seed=seed + g))
        frames.append(pd.DataFrame({
            "group_id": f"g{g}", "ds": ds, "cpu_cores": cpu, "memory_gb": 2.0 * cpu + 1.0,
            "cpu_cores_mean": 0.7 * cpu, "memory_gb_mean": 1.4 * cpu, "invocations": 100 * cpu, "concurrency": cpu,
        }))
    return pd.concat(frames, ignore_index=True)
