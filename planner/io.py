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
    path = check_output(path, folder=False)
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


MANIFEST = ".planner-files"


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike):
    """Yield a temporary folder; on success its files and subfolders replace those of the same name
    in ``path``, and what the previous output there wrote (its manifest, ``.planner-files``) but this
    one did not is removed, so a ``--force`` run leaves no stale table behind. Files the planner did
    not write are kept."""
    path = check_output(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    try:
        yield tmp
        path.mkdir(parents=True, exist_ok=True)
        manifest = path / MANIFEST
        before = set(manifest.read_text().splitlines()) if manifest.is_file() else set()
        before = {n for n in before if n and n not in (".", "..", MANIFEST) and "/" not in n and os.sep not in n}
        written = sorted(item.name for item in tmp.iterdir())
        for name in written:
            target = path / name
            if target.is_dir() and not target.is_symlink():
                shutil.rmtree(target)  # os.replace cannot move a folder onto a non-empty one
            os.replace(tmp / name, target)
        for name in sorted(before - set(written)):
            stale = path / name
            if stale.is_dir() and not stale.is_symlink():
                shutil.rmtree(stale)
            elif stale.exists() or stale.is_symlink():
                stale.unlink()
        with atomic_path(manifest) as m:
            m.write_text("".join(f"{name}\n" for name in written))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _write_frame(frame: pd.DataFrame, tmp: Path, path: Path) -> None:
    if path.suffix == ".parquet":
        frame.to_parquet(tmp, index=False)
    elif path.suffix == ".csv":
        frame.to_csv(tmp, index=False)
    else:
        raise ValueError(f"{path}: unknown table format {path.suffix!r}; use .parquet or .csv")


def write_table(frame: pd.DataFrame, path: str | os.PathLike) -> Path:
    """Write ``frame`` as Parquet or CSV (chosen by the suffix), atomically."""
    return write_tables({path: frame})[0]


def write_tables(tables: dict) -> list[Path]:
    """Write ``{path: frame}`` as one set: every table to its temporary path first, and the renames only
    once all of them are written, so a failure leaves the old set (or none) whole, never a mix."""
    with contextlib.ExitStack() as stack:
        for path, frame in tables.items():
            path = Path(path)
            _write_frame(frame, stack.enter_context(atomic_path(path)), path)
    return [Path(p) for p in tables]


def write_json(obj, path: str | os.PathLike) -> Path:
    """Write ``obj`` as indented JSON, atomically."""
    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")
    return path


def read_csv(path: str | os.PathLike, **kwargs) -> pd.DataFrame:
    """``pandas.read_csv`` whose failures name the file and say what was expected (a folder, a
    binary file, an empty file, a malformed line are :class:`~planner.errors.InputDataError`)."""
    from planner.errors import InputDataError

    path = Path(path)
    if path.is_dir():
        raise InputDataError("is a folder; expected a CSV file", path=path)
    if not path.exists():
        raise InputDataError("file not found", path=path)
    with open(path, "rb") as fh:
        if b"\x00" in fh.read(8192):
            raise InputDataError("not a text CSV file (it holds NUL bytes: a binary file?)", path=path)
    try:
        return pd.read_csv(path, **kwargs)
    except UnicodeDecodeError as exc:
        raise InputDataError(f"not a text CSV file (byte {exc.object[exc.start:exc.start + 1]!r} at offset "
                             f"{exc.start} is not UTF-8; a binary file?)", path=path) from None
    except pd.errors.EmptyDataError:
        raise InputDataError("file is empty; expected a header row and data", path=path) from None
    except pd.errors.ParserError as exc:
        raise InputDataError(f"not a valid CSV file: {str(exc).strip().splitlines()[-1]}", path=path) from None


def read_table(path: str | os.PathLike) -> pd.DataFrame:
    """Read a Parquet or CSV table written by :func:`write_table`."""
    from planner.errors import InputDataError

    path = Path(path)
    if path.is_dir():
        raise InputDataError("is a folder; expected a table file (.csv or .parquet)", path=path)
    if path.suffix == ".parquet":
        if path.is_dir() or not path.exists():
            raise InputDataError("is a folder; expected a Parquet file" if path.is_dir() else "file not found", path=path)
        try:
            return pd.read_parquet(path)
        except (OSError, ValueError) as exc:  # pyarrow's ArrowInvalid is a ValueError
            raise InputDataError(f"not a readable Parquet file ({str(exc).strip().splitlines()[0]})", path=path) from None
    if path.suffix == ".csv":
        return read_csv(path)
    raise InputDataError(f"unknown table format {path.suffix!r}; use .parquet or .csv", path=path)


def check_output(path: str | os.PathLike, *, folder: bool = True, option: str = "--out") -> Path:
    """Fail early, before any work, when ``path`` cannot receive the output: a folder output that is
    a file, a file output that is a folder, a parent that is a file, a folder that is not writable."""
    from planner.errors import InputDataError

    path = Path(path)
    if folder and path.exists() and not path.is_dir():
        raise InputDataError(f"is a file; {option} must be a folder (or a path to create one)", path=path)
    if not folder and path.is_dir():
        raise InputDataError(f"is a folder; {option} must be a file path", path=path)
    parent = path if folder and path.exists() else path.parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise InputDataError(f"is a file, so {path} cannot be created inside it ({option})", path=parent)
    if not os.access(parent, os.W_OK | os.X_OK):
        raise InputDataError(f"folder is not writable; choose another {option}", path=parent)
    return path


def refuse_existing(out: str | os.PathLike, force: bool) -> None:
    """Refuse to write into a folder that already holds files unless ``force`` (a plan is never
    overwritten by accident)."""
    from planner.errors import ScenarioError

    out = check_output(out)
    if out.exists() and any(out.iterdir()) and not force:
        raise ScenarioError(f"{out} already holds files (a previous output?); pass --force to replace them, "
                            "or choose another --out")


def refuse_existing_files(paths, force: bool, option: str = "--out") -> None:
    """Refuse to replace files that already exist (an output and its side files) unless ``force``:
    the message names every one, so nothing is overwritten by accident."""
    from planner.errors import ScenarioError

    there = [str(p) for p in paths if Path(p).exists()]
    if there and not force:
        what = there[0] + (f" (and {', '.join(there[1:])})" if there[1:] else "")
        raise ScenarioError(f"{what} already exist{'s' if len(there) == 1 else ''}; pass --force to replace "
                            f"{'it' if len(there) == 1 else 'them'}, or choose another {option}")
