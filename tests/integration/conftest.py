"""Small synthetic scenarios that plan in seconds, for the pipeline tests, and one shared run of the
small one (session-scoped: several modules read the same `planner run` folder)."""

from pathlib import Path

import pytest
from typer.testing import CliRunner

SMALL = """
name: small
data:
  synthetic: {functions: 120, days: 56, seed: 1}
horizon: {weeks: 2}
solver: {backend: heuristic, time_limit_s: 5}
forecast: {history_weeks: 4, n_windows: 1, n_jobs: 1}
"""
# For tests of what a run does around its plan (history records, refusals, interruptions, what-if
# progress): a quarter of the fleet, one week, so a run takes a third of the small one's time.
TINY = """
name: tiny
data:
  synthetic: {functions: 30, days: 35, seed: 1}
horizon: {weeks: 1}
solver: {backend: heuristic, time_limit_s: 5}
forecast: {history_weeks: 4, n_windows: 1, n_jobs: 1}
"""


@pytest.fixture
def small_scenario(tmp_path) -> Path:
    path = tmp_path / "small.yaml"
    path.write_text(SMALL)
    return path


@pytest.fixture
def tiny_scenario(tmp_path) -> Path:
    path = tmp_path / "tiny.yaml"
    path.write_text(TINY)
    return path


@pytest.fixture(scope="session")
def shared_small_scenario(tmp_path_factory) -> Path:
    """The small scenario in a folder of its own, for the session-scoped and module-scoped runs."""
    path = tmp_path_factory.mktemp("small-run") / "small.yaml"
    path.write_text(SMALL)
    return path


@pytest.fixture(scope="session")
def small_run_folder(shared_small_scenario) -> tuple[Path, str]:
    """`planner run small.yaml --out out` with the default options (plots, history beside the folder),
    and its terminal output. Read-only: a test that writes into the folder works on a copy."""
    from planner.cli import app

    out = shared_small_scenario.parent / "out"
    result = CliRunner().invoke(app, ["run", str(shared_small_scenario), "--out", str(out)])
    assert result.exit_code == 0, result.output
    return out, result.output
