"""Shared fixtures: paths to the real traces in ../shared/data (skipped cleanly when absent)."""

from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
HUAWEI_DC4 = SHARED_DATA / "huawei-dc4" / "datacentre_4.csv"
WIKIPEDIA = SHARED_DATA / "wikipedia" / "peyton_manning_daily_log.csv"
GRID_CARBON = SHARED_DATA / "grid-carbon"


@pytest.fixture
def huawei_path() -> Path:
    if not HUAWEI_DC4.exists():
        pytest.skip(f"real trace not found at {HUAWEI_DC4} (../shared/data is absent)")
    return HUAWEI_DC4


@pytest.fixture
def wikipedia_path() -> Path:
    if not WIKIPEDIA.exists():
        pytest.skip(f"real series not found at {WIKIPEDIA} (../shared/data is absent)")
    return WIKIPEDIA


@pytest.fixture
def grid_carbon_dir() -> Path:
    if not GRID_CARBON.exists():
        pytest.skip(f"real grid carbon data not found at {GRID_CARBON} (../shared/data is absent)")
    return GRID_CARBON
