"""The plan history: every run (plan, what-if, backtest) recorded in a local SQLite database.

Why SQLite rather than DuckDB: it ships with Python (no new dependency), and several processes may
write to one file safely: each record is one transaction that takes the write lock up front
(``BEGIN IMMEDIATE``) and waits up to ``timeout_s`` for another writer, while readers in WAL mode
never block. DuckDB lets only one process open a file for writing at a time, so two quarterly runs
finishing together would fail instead of queueing. The records are small (a Plan table is weeks ×
pools × types rows), so DuckDB's columnar speed buys nothing here.

Tables (one row per run in ``runs``; the others keyed by ``run_id``):

* ``runs``: ``run_id, kind, created_at, scenario, scenario_path, scenario_sha256, scenario_json,
  out_dir, batch, total_cost, servers_end, risk, summary_json, planner_version, host, pid``;
* ``inputs``: ``name, path, sha256, bytes, files`` (scenario definition, data, catalog,
  customers, actuals);
* ``plan`` and ``purchases``: the run's Plan and Purchases tables (listed columns typed, any other
  column kept in ``extra_json``);
* ``file_digests``: a cache of file checksums keyed by path, size and modification time, so a
  large trace is hashed once, not on every run.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import os
import socket
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from planner.errors import PlannerError

__all__ = ["HistoryError", "RunRecord", "RunStore", "DEFAULT_NAME", "ENV_VAR", "KINDS", "history_path",
           "input_checksums", "record_run"]

DEFAULT_NAME = "planner-history.sqlite"
ENV_VAR = "PLANNER_HISTORY"
KINDS = ("plan", "whatif", "backtest")
SCHEMA_VERSION = "1"
PLAN_COLUMNS = ("week", "pool", "server_type", "required", "installed", "purchased", "cost", "cpu_utilisation",
                "memory_utilisation", "headroom", "risk")
PURCHASE_COLUMNS = ("week", "pool", "server_type", "purchased", "arrives_week", "cost")

_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
INSERT OR IGNORE INTO meta VALUES ('schema_version', '{SCHEMA_VERSION}');
CREATE TABLE IF NOT EXISTS runs (
    run_id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL CHECK (kind IN ('plan', 'whatif', 'backtest')),
    created_at TEXT NOT NULL,
    scenario TEXT NOT NULL,
    scenario_path TEXT,
    scenario_sha256 TEXT NOT NULL,
    scenario_json TEXT NOT NULL,
    out_dir TEXT,
    batch TEXT,
    total_cost REAL,
    servers_end INTEGER,
    risk REAL,
    summary_json TEXT NOT NULL,
    planner_version TEXT,
    host TEXT,
    pid INTEGER
);
CREATE TABLE IF NOT EXISTS inputs (
    run_id INTEGER NOT NULL REFERENCES runs(run_id) ON DELETE CASCADE,
    name TEXT NOT NULL, path TEXT, sha256 TEXT NOT NULL, bytes INTEGER, files INTEGER,
    PRIMARY KEY (run_id, name)
);
CREATE TABLE IF NOT EXISTS plan (
    run_id INTEGER NOT NULL REFERENCES runs(run_id) ON DELETE CASCADE,
    week INTEGER, pool TEXT, server_type TEXT, required INTEGER, installed INTEGER, purchased INTEGER,
    cost REAL, cpu_utilisation REAL, memory_utilisation REAL, headroom REAL, risk REAL, extra_json TEXT
);
CREATE INDEX IF NOT EXISTS plan_run ON plan(run_id);
CREATE TABLE IF NOT EXISTS purchases (
    run_id INTEGER NOT NULL REFERENCES runs(run_id) ON DELETE CASCADE,
    week INTEGER, pool TEXT, server_type TEXT, purchased INTEGER, arrives_week INTEGER, cost REAL,
    extra_json TEXT
);
CREATE INDEX IF NOT EXISTS purchases_run ON purchases(run_id);
CREATE TABLE IF NOT EXISTS file_digests (
    path TEXT PRIMARY KEY, bytes INTEGER NOT NULL, mtime_ns INTEGER NOT NULL, sha256 TEXT NOT NULL
);
"""


class HistoryError(PlannerError):
    """The history database cannot be used (missing, corrupted, locked, unknown run)."""


@dataclass(frozen=True)
class RunRecord:
    """One recorded run, as read back from the database."""

    run_id: int
    kind: str
    created_at: str
    scenario: str
    scenario_path: str | None
    out_dir: str | None
    batch: str | None
    total_cost: float | None
    summary: dict
    scenario_definition: dict
    inputs: pd.DataFrame  # name, path, sha256, bytes, files
    plan: pd.DataFrame
    purchases: pd.DataFrame


def history_path(explicit=None, out=None) -> Path:
    """Where the history lives: ``explicit`` (``--history``), else ``$PLANNER_HISTORY``, else
    ``planner-history.sqlite`` beside the output folder ``out`` (or in the working folder)."""
    if explicit is not None:
        return Path(explicit)
    env = os.environ.get(ENV_VAR)
    if env:
        return Path(env)
    parent = Path(out).resolve().parent if out is not None else Path.cwd()
    return parent / DEFAULT_NAME


# -- checksums ----------------------------------------------------------------------------------
def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _digest(path: Path, cache: dict | None) -> tuple[str, int, int]:
    """(sha256, bytes, files) of a file, or of a folder's files (relative names and contents)."""
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    h, total = hashlib.sha256(), 0
    for p in files:
        st = p.stat()
        key = (str(p.resolve()), st.st_size, st.st_mtime_ns)
        digest = cache.get(key) if cache is not None else None
        if digest is None:
            digest = _sha256_file(p)
            if cache is not None:
                cache[key] = digest
        total += st.st_size
        if path.is_dir():
            h.update(f"{p.relative_to(path).as_posix()}\0{digest}\n".encode())
    return (h.hexdigest() if path.is_dir() else digest), total, len(files)


def _canonical(obj) -> str:
    return json.dumps(obj, sort_keys=True, default=str, separators=(",", ":"))


def input_checksums(scenario, extra: dict | None = None, cache: dict | None = None) -> pd.DataFrame:
    """Checksums of what a run read: the scenario's resolved definition, its data (file, folder, or
    for the synthetic fleet the generator's settings), catalog, customers, and ``extra`` files
    (``{"actuals": path}``). Columns ``name, path, sha256, bytes, files``."""
    from planner.scenarios import scenario_dict

    definition = _canonical(scenario_dict(scenario))
    rows = [{"name": "scenario", "path": str(scenario.source_path) if scenario.source_path else None,
             "sha256": hashlib.sha256(definition.encode()).hexdigest(), "bytes": len(definition), "files": 0}]
    data = scenario.data
    if data.format == "synthetic":
        spec = _canonical({"synthetic": data.synthetic.model_dump(mode="json")})
        rows.append({"name": "data", "path": "synthetic", "sha256": hashlib.sha256(spec.encode()).hexdigest(),
                     "bytes": 0, "files": 0})
    named = {"data": scenario.resolve(data.path) if data.format != "synthetic" else None,
             "catalog": scenario.resolve(data.catalog), "customers": scenario.resolve(data.customers),
             **(extra or {})}
    for name, path in named.items():
        if path is None:
            continue
        path = Path(path)
        if not path.exists():
            rows.append({"name": name, "path": str(path), "sha256": "missing", "bytes": 0, "files": 0})
            continue
        digest, size, n = _digest(path, cache)
        rows.append({"name": name, "path": str(path), "sha256": digest, "bytes": size, "files": n})
    return pd.DataFrame(rows, columns=["name", "path", "sha256", "bytes", "files"])


# -- the store ----------------------------------------------------------------------------------
def _explain(path: Path, exc: sqlite3.Error, timeout_s: float) -> str:
    text = str(exc)
    if "locked" in text or "busy" in text:
        return (f"history database {path} is locked by another process (waited {timeout_s:g} s): {text}; "
                "retry later, or pass --history OTHER_PATH / --no-history")
    if isinstance(exc, sqlite3.DatabaseError) and not isinstance(exc, sqlite3.OperationalError) or "malformed" in text:
        return (f"history database {path} is damaged or not an SQLite file ({text}); move it aside "
                "(a new one is created on the next run) or pass --history OTHER_PATH")
    if "no such table" in text:  # an empty file, or an SQLite file some other program wrote
        return (f"history database {path} holds no plan history ({text}); give the file a run recorded "
                "(`planner run --history PATH`), or pass --db OTHER_PATH")
    return f"history database {path}: {text}"


def _ensure_wal(con: sqlite3.Connection, deadline: float) -> None:
    """Switch the file to WAL, retrying while another process holds it.

    SQLite answers a journal-mode switch that meets a concurrent opener with SQLITE_BUSY at once, without
    calling the busy handler, so the connection's timeout does not cover it."""
    delay = 0.005
    while True:
        try:
            if con.execute("PRAGMA journal_mode").fetchall()[0][0] == "wal":
                return
            con.execute("PRAGMA journal_mode = WAL").fetchall()
        except sqlite3.OperationalError as exc:
            if ("locked" not in str(exc) and "busy" not in str(exc)) or time.monotonic() >= deadline:
                raise
            time.sleep(delay)
            delay = min(delay * 2, 0.2)


class RunStore:
    """Read and write the plan history in one SQLite file.

    Args:
        path: the database file (created with its folder on first write).
        timeout_s: how long a write waits for another process's write to finish.
    """

    def __init__(self, path, timeout_s: float = 10.0):
        self.path = Path(path)
        self.timeout_s = float(timeout_s)

    @contextlib.contextmanager
    def _connect(self, *, write: bool):
        if not write and not self.path.exists():
            raise HistoryError(f"no history database at {self.path}; runs record one beside their output folder "
                               f"(`planner run --history PATH` chooses it); pass --db PATH or set {ENV_VAR}")
        if write:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        con = None
        try:
            con = sqlite3.connect(self.path, timeout=self.timeout_s, isolation_level=None)
            con.execute("PRAGMA foreign_keys = ON")
            if write:
                # WAL: readers never block the writer; the mode is stored in the file once set.
                _ensure_wal(con, time.monotonic() + self.timeout_s)
                con.execute("BEGIN IMMEDIATE")
                for stmt in _SCHEMA.split(";"):
                    if stmt.strip():
                        con.execute(stmt)
            else:
                con.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
            yield con
            if write:
                con.execute("COMMIT")
        except sqlite3.Error as exc:
            if con is not None and con.in_transaction:
                with contextlib.suppress(sqlite3.Error):
                    con.execute("ROLLBACK")
            raise HistoryError(_explain(self.path, exc, self.timeout_s)) from None
        except BaseException:
            if con is not None and con.in_transaction:
                with contextlib.suppress(sqlite3.Error):
                    con.execute("ROLLBACK")
            raise
        finally:
            if con is not None:
                con.close()

    # -- writing ---------------------------------------------------------------------------------
    def record(self, kind: str, scenario, summary: dict, plan: pd.DataFrame, purchases: pd.DataFrame | None,
               inputs: pd.DataFrame, *, out_dir=None, batch: str | None = None) -> int:
        """Record one run in a single transaction; returns its ``run_id``."""
        from planner import __version__
        from planner.scenarios import scenario_dict

        if kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
        definition = scenario_dict(scenario)
        last = plan[plan["week"] == plan["week"].max()] if len(plan) else plan
        risk = summary.get("risk_slot_hours_by_tier") or {}
        row = {
            "kind": kind, "created_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="milliseconds"),
            "scenario": scenario.name, "scenario_path": str(scenario.source_path) if scenario.source_path else None,
            "scenario_sha256": hashlib.sha256(_canonical(definition).encode()).hexdigest(),
            "scenario_json": _canonical(definition), "out_dir": str(Path(out_dir).resolve()) if out_dir else None,
            "batch": batch, "total_cost": _num(summary.get("total_cost")),
            "servers_end": int(last["installed"].sum()) if len(last) else None,
            "risk": float(sum(risk.values())) if risk else (float(plan["risk"].sum()) if "risk" in plan else None),
            "summary_json": _canonical(summary), "planner_version": __version__, "host": socket.gethostname(),
            "pid": os.getpid(),
        }
        with self._connect(write=True) as con:
            cur = con.execute(f"INSERT INTO runs ({', '.join(row)}) VALUES ({', '.join('?' * len(row))})",
                              list(row.values()))
            run_id = int(cur.lastrowid)
            con.executemany("INSERT INTO inputs VALUES (?, ?, ?, ?, ?, ?)",
                            [(run_id, r["name"], r["path"], r["sha256"], _int(r["bytes"]), _int(r["files"]))
                             for r in inputs.to_dict("records")])
            _insert_table(con, "plan", PLAN_COLUMNS, run_id, plan)
            if purchases is not None:
                _insert_table(con, "purchases", PURCHASE_COLUMNS, run_id, purchases)
        return run_id

    def digest_cache(self) -> "_DigestCache":
        """A checksum cache backed by the ``file_digests`` table (empty when the file is unusable)."""
        return _DigestCache(self)

    # -- reading ---------------------------------------------------------------------------------
    def runs(self, kind: str | None = None, limit: int | None = None) -> pd.DataFrame:
        """The recorded runs, newest first: ``run_id, kind, created_at, scenario, total_cost,
        servers_end, risk, batch, out_dir``."""
        sql = ("SELECT run_id, kind, created_at, scenario, total_cost, servers_end, risk, batch, out_dir "
               "FROM runs" + (" WHERE kind = ?" if kind else "") + " ORDER BY run_id DESC"
               + (f" LIMIT {int(limit)}" if limit else ""))
        with self._connect(write=False) as con:
            return pd.read_sql_query(sql, con, params=[kind] if kind else [])

    def resolve(self, ref: str) -> int:
        """A run reference: its number, ``last`` (the newest) or ``last~N`` (N runs before it)."""
        ref = str(ref).strip()
        if ref.isdigit():
            return int(ref)
        if ref == "last" or ref.startswith("last~"):
            back = ref[5:]
            if ref != "last" and not back.isdigit():
                raise HistoryError(f"run reference {ref!r}: expected a run number, 'last' or 'last~N'")
            n = int(back) if ref != "last" else 0
            with self._connect(write=False) as con:
                rows = con.execute("SELECT run_id FROM runs ORDER BY run_id DESC LIMIT 1 OFFSET ?", (n,)).fetchall()
            if not rows:
                raise HistoryError(f"run reference {ref!r}: the history at {self.path} has fewer runs")
            return int(rows[0][0])
        raise HistoryError(f"run reference {ref!r}: expected a run number, 'last' or 'last~N'")

    def get(self, ref) -> RunRecord:
        """Read one run with its inputs, Plan and Purchases tables."""
        run_id = self.resolve(ref)
        with self._connect(write=False) as con:
            con.row_factory = sqlite3.Row
            row = con.execute("SELECT * FROM runs WHERE run_id = ?", (run_id,)).fetchone()
            if row is None:
                raise HistoryError(f"no run {run_id} in the history at {self.path} (see `planner history list`)")
            con.row_factory = None
            inputs = pd.read_sql_query("SELECT name, path, sha256, bytes, files FROM inputs WHERE run_id = ? "
                                       "ORDER BY name", con, params=[run_id])
            plan = _read_table(con, "plan", PLAN_COLUMNS, run_id)
            purchases = _read_table(con, "purchases", PURCHASE_COLUMNS, run_id)
        return RunRecord(run_id, row["kind"], row["created_at"], row["scenario"], row["scenario_path"],
                         row["out_dir"], row["batch"], row["total_cost"], json.loads(row["summary_json"]),
                         json.loads(row["scenario_json"]), inputs, plan, purchases)


class _DigestCache:
    """dict-like (path, size, mtime_ns) -> sha256 backed by the store; best effort (a broken database
    only means files are hashed again)."""

    def __init__(self, store: RunStore):
        self.store, self.new = store, {}
        self.known = {}
        if store.path.exists():
            with contextlib.suppress(HistoryError):
                with store._connect(write=False) as con:
                    for path, size, mtime, sha in con.execute("SELECT path, bytes, mtime_ns, sha256 FROM file_digests"):
                        self.known[(path, size, mtime)] = sha

    def get(self, key):
        return self.known.get(key)

    def __setitem__(self, key, value):
        self.new[key] = value

    def save(self) -> None:
        if not self.new:
            return
        with contextlib.suppress(HistoryError):
            with self.store._connect(write=True) as con:
                con.executemany("INSERT OR REPLACE INTO file_digests VALUES (?, ?, ?, ?)",
                                [(p, s, m, sha) for (p, s, m), sha in self.new.items()])


def _num(x):
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return v if np.isfinite(v) else None


def _int(x):
    return None if x is None or (isinstance(x, float) and not np.isfinite(x)) else int(x)


def _plain(v):
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, (np.floating,)):
        return None if not np.isfinite(v) else float(v)
    if isinstance(v, (pd.Timestamp, dt.date)):
        return str(v)
    if v is pd.NA or v is pd.NaT:
        return None
    return v


def _insert_table(con, table: str, columns, run_id: int, frame: pd.DataFrame) -> None:
    listed = [c for c in columns if c in frame.columns]
    extra = [c for c in frame.columns if c not in columns]
    rows = []
    for rec in frame.to_dict("records"):
        values = [_plain(rec[c]) for c in listed]
        more = _canonical({c: _plain(rec[c]) for c in extra}) if extra else None
        rows.append((run_id, *values, more))
    cols = ", ".join(["run_id", *listed, "extra_json"])
    con.executemany(f"INSERT INTO {table} ({cols}) VALUES ({', '.join('?' * (len(listed) + 2))})", rows)


def _read_table(con, table: str, columns, run_id: int) -> pd.DataFrame:
    frame = pd.read_sql_query(f"SELECT {', '.join(columns)}, extra_json FROM {table} WHERE run_id = ? "
                              "ORDER BY rowid", con, params=[run_id])
    extra = frame.pop("extra_json")
    if extra.notna().any():
        more = pd.DataFrame([json.loads(x) if isinstance(x, str) else {} for x in extra], index=frame.index)
        frame = pd.concat([frame, more], axis=1)
    return frame


def record_run(kind: str, scenario, summary: dict, plan: pd.DataFrame, purchases, *, out=None,
               db=None, extra_inputs: dict | None = None, batch: str | None = None,
               timeout_s: float = 10.0) -> tuple[int, Path]:
    """Checksum the run's inputs and record it; returns ``(run_id, database path)``.

    Raises:
        HistoryError: the database is locked, damaged or cannot be created (the message says how to
            go on); the caller decides whether the run itself failed (it has not: its folder is written).
    """
    path = history_path(db, out)
    store = RunStore(path, timeout_s=timeout_s)
    cache = store.digest_cache()
    inputs = input_checksums(scenario, extra_inputs, cache)
    run_id = store.record(kind, scenario, summary, plan, purchases, inputs, out_dir=out, batch=batch)
    cache.save()
    return run_id, path
