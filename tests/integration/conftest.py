"""A small synthetic scenario that plans in seconds, for the pipeline tests."""

from pathlib import Path

import pytest

SMALL = """
name: small
data:
  synthetic: {functions: 120, days: 56, seed: 1}
horizon: {weeks: 2}
solver: {backend: heuristic, time_limit_s: 5}
forecast: {history_weeks: 4, n_windows: 1, n_jobs: 1}
"""


@pytest.fixture
def small_scenario(tmp_path) -> Path:
    path = tmp_path / "small.yaml"
    path.write_text(SMALL)
    return path
