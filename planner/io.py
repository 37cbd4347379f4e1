"""Atomic file output: every file is written to a temporary path beside it, then renamed, so a
failed run never leaves a half-written table behind."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from pathlib import Path

import pandas as pd


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike):
    """Yield a temporary path in the target's folder; rename it onto ``path`` only on success."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp)
    try:
        yield tmp
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; outputs are ordinary files
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike):
    """Yield a temporary folder; on success it replaces ``path`` (files already there are kept
    unless the new folder has a file of the same name)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    try:
        yield tmp
        path.mkdir(parents=True, exist_ok=True)
        for item in tmp.iterdir():
            os.replace(item, path / item.name)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def write_table(frame: pd.DataFrame, path: str | os.PathLike) -> Path:
    """Write ``frame`` as Parquet or CSV (chosen by the suffix), atomically."""
    path = Path(path)
    with atomic_path(path) as tmp:
        if path.suffix == ".parquet":
            frame.to_parquet(tmp, index=False)
        elif path.suffix == ".csv":
            frame.to_csv(tmp, index=False)
        else:
            raise ValueError(f"{path}: unknown table format {path.suffix!r}; use .parquet or .csv")
    return path


def write_json(obj, path: str | os.PathLike) -> Path:
    """Write ``obj`` as indented JSON, atomically."""
    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")
    return path


def read_table(path: str | os.PathLike) -> pd.DataFrame:
    """Read a Parquet or CSV table written by :func:`write_table`."""
    path = Path(path)
    if path.suffix == ".parquet":
        return pd.read_parquet(path)
    if path.suffix == ".csv":
        return pd.read_csv(path)
    raise ValueError(f"{path}: unknown table format {path.suffix!r}; use .parquet or .csv")


def refuse_existing(out: str | os.PathLike, force: bool) -> None:
    """Refuse to write into a folder that already holds files unless ``force`` (a plan is never
    overwritten by accident)."""
    from planner.errors import ScenarioError

    out = Path(out)
    if out.exists() and any(out.iterdir()) and not force:
        raise ScenarioError(f"{out} already holds files (a plan?); pass --force to replace them")
