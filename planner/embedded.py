"""The embedded data: the checkout's top-level ``data/`` folder, shipped in the wheel as
``planner/_data`` (in the checkout ``planner/_data`` is a symlink to ``../data``), so the default
scenario, its inventory and the synthetic fleet's calibration tables are found from any folder."""

from __future__ import annotations

import csv
from pathlib import Path

DATA_DIR = Path(__file__).resolve().parent / "_data"


def data_path(*parts: str) -> Path:
    """Path of an embedded data file, e.g. ``data_path("default", "scenario.yaml")``."""
    path = DATA_DIR.joinpath(*parts)
    if not path.exists():
        raise FileNotFoundError(f"embedded data file {path} is missing; reinstall planner (pip install .)")
    return path


def read_table(*parts: str) -> list[dict[str, str]]:
    """Rows of an embedded CSV table as dicts of strings (the csv module: no pandas at import)."""
    with data_path(*parts).open(newline="") as fh:
        return list(csv.DictReader(fh))
