"""The prediction log's write-ahead store: SQLite in WAL mode.

The predictor records every answered request (one row per prediction)
before its response leaves, and every failed request (one row, no score)
from the HTTP edge: into its process's journal (``runtime.predlog.journal``,
one ``write()`` a request), which is ingested here in large transactions
by a background thread and by every reader before it reads (``rows``,
``records``, ``stats``).  ``append`` commits rows directly (tools, tests).
``seq`` is an AUTOINCREMENT key: SQLite has one writer, so commit order is
seq order and any read snapshot holds a prefix of the sequence (with gaps only where a transaction rolled back);
compaction relies on both, and on seq never being reused after rows are
deleted.

Checkpoints (copying the WAL back into the database file, with its fsyncs)
run in a background thread (``runtime.predlog.checkpoint``), not inside a
request's commit.

Durability: a journal write and a committed transaction both survive kill
-9 of the process with ``synchronous=NORMAL`` (the default: no fsync per
request); ``synchronous=FULL`` adds an fsync per journal write and per commit
and survives power loss too (bench/predlog measures both).
"""

from __future__ import annotations

import inspect
import json
import logging
import secrets
import sqlite3
import threading
from collections.abc import Iterator, Mapping, Sequence
from functools import cache
from pathlib import Path
from typing import Any, Literal

import orjson

from runtime.contracts.monitoring import LOG_COLUMNS, PredictionRecord
from runtime.predlog.checkpoint import WRITER_AUTOCHECKPOINT_PAGES, BackgroundCheckpoint
from runtime.predlog.journal import (JOURNAL_DDL, Ingested, JournalError, JournalWriter, ingest_journals,
                                     journal_dir)
from runtime.sqlite_wal import connect_wal

__all__ = ["FEATURE_TYPES", "LogError", "PredictionLog", "journal_line", "journal_lines", "record_of"]

log = logging.getLogger("runtime.predlog")

FEATURE_TYPES = ("float64", "string")  # a feature's Parquet type in the ``features`` struct

_FIELDS = LOG_COLUMNS[1:]  # everything but seq, which the store assigns
_DDL = (
    f"""CREATE TABLE IF NOT EXISTS predictions (
        seq INTEGER PRIMARY KEY AUTOINCREMENT, prediction_id TEXT NOT NULL, request_id TEXT NOT NULL,
        served_at_us INTEGER NOT NULL, at_us INTEGER NOT NULL, entity TEXT NOT NULL, model TEXT NOT NULL,
        version TEXT NOT NULL, release TEXT NOT NULL, role TEXT NOT NULL, environment TEXT NOT NULL,
        spec_hash TEXT NOT NULL, score REAL, threshold REAL, decision INTEGER, confidence REAL, action TEXT,
        rule TEXT, feature_vector_sha256 TEXT, feature_age_s REAL, latency_s REAL NOT NULL,
        status INTEGER NOT NULL, error TEXT, fallback TEXT, features TEXT NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS predictions_served ON predictions (served_at_us)",
    # log_id names this log's Parquet parts (replicas each keep their own log);
    # feature_types fixes each model's ``features`` struct for every part.
    "CREATE TABLE IF NOT EXISTS log_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    *JOURNAL_DDL,
)
_VALUES = f"({', '.join('?' * (len(_FIELDS) + 1))})"
_INSERT_ONE = f"INSERT INTO predictions ({', '.join(_FIELDS)}, features) VALUES {_VALUES}"
_SELECT = f"SELECT {', '.join(LOG_COLUMNS)}, features FROM predictions"


class LogError(Exception):
    """The prediction log cannot be opened or written; the message says which file and why."""


_NUMPY = orjson.OPT_SERIALIZE_NUMPY  # a feature value may arrive as a numpy scalar


@cache
def _insert(n: int) -> str:
    """One statement for ``n`` rows: one implicit transaction, one round trip."""
    return (f"INSERT INTO predictions ({', '.join(_FIELDS)}, features) VALUES "
            f"{', '.join([_VALUES] * n)} RETURNING seq")


def _row_values(prediction_id: str, request_id: str, served_at_us: int, at_us: int, entity: str, model: str,
                version: str, release: str, role: str, environment: str, spec_hash: str, score: float | None,
                threshold: float | None, decision: bool | None, confidence: float | None, action: str | None,
                rule: str | None, feature_vector_sha256: str | None, feature_age_s: float | None, latency_s: float,
                status: int, error: str | None, fallback: str | None, features: Mapping[str, Any]
                ) -> tuple[Any, ...]:
    """One row's INSERT parameters (the columns in ``_FIELDS`` order, then
    the features as JSON text)."""
    # orjson writes NaN and +-inf as null (JSON has neither; the model reads both as missing), at a
    # tenth of json.dumps' cost: this runs on every answered request (bench/predlog).
    text = orjson.dumps(features if type(features) is dict else dict(features), option=_NUMPY).decode()
    return (prediction_id, request_id, served_at_us, at_us, entity, model, version, release, role, environment,
            spec_hash, score, threshold, None if decision is None else int(decision), confidence, action, rule,
            feature_vector_sha256, feature_age_s, latency_s, status, error, fallback, text)


# The parameters are the columns, in order: a renamed or reordered column fails here, not in a log.
assert tuple(inspect.signature(_row_values).parameters) == (*_FIELDS, "features")


def _row(r: PredictionRecord) -> tuple[Any, ...]:
    return _row_values(r.prediction_id, r.request_id, r.served_at_us, r.at_us, r.entity, r.model, r.version,
                       r.release, r.role, r.environment, r.spec_hash, r.score, r.threshold, r.decision, r.confidence,
                       r.action, r.rule, r.feature_vector_sha256, r.feature_age_s, r.latency_s, r.status, r.error,
                       r.fallback, r.features)


def journal_line(*values: Any) -> bytes:
    """One row as a journal line, from its values in ``LOG_COLUMNS`` order
    without ``seq`` (the features last): what the predictor writes per
    answer, without building a ``PredictionRecord`` first (bench/serve)."""
    return orjson.dumps(_row_values(*values)) + b"\n"


def journal_lines(records: Sequence[PredictionRecord]) -> bytes:
    """``records`` as journal lines: each the INSERT's parameters as one JSON
    array, the features already as their JSON text (ingest then binds a
    decoded line as it is)."""
    return b"".join([orjson.dumps(_row(r)) + b"\n" for r in records])


# Per column (in _FIELDS order, then features): the types a journal line may hold there.
_STR, _INT, _NUM = (str,), (int,), (int, float)
_LINE_TYPES = (_STR, _STR, _INT, _INT, _STR, _STR, _STR, _STR, _STR, _STR, _STR, _NUM, _NUM, _INT, _NUM, _STR,
               _STR, _STR, _NUM, _NUM, _INT, _STR, _STR)
_NOT_NULL = frozenset(i for i, name in enumerate(_FIELDS) if name in (
    "prediction_id", "request_id", "served_at_us", "at_us", "entity", "model", "version", "release", "role",
    "environment", "spec_hash", "latency_s", "status"))
assert len(_LINE_TYPES) == len(_FIELDS)


_WIDTH = len(_FIELDS) + 1


def _journal_row_quick(line: Any) -> list[Any]:
    """A decoded journal line as the INSERT's parameters, its shape checked
    (SQLite checks the NOT NULL columns; ``_journal_row`` every value)."""
    if type(line) is not list or len(line) != _WIDTH or type(line[-1]) is not str:
        raise ValueError(f"expected an array of {_WIDTH} values ending in the features' JSON text")
    return line


def _journal_row(line: Any) -> list[Any]:
    """A decoded journal line as the INSERT's parameters; ValueError if it is
    not one (a corrupt line must be rejected here, not fail the transaction)."""
    row = _journal_row_quick(line)
    for i, (value, types) in enumerate(zip(row, _LINE_TYPES)):
        if value is None:
            if i in _NOT_NULL:
                raise ValueError(f"{_FIELDS[i]} is null")
        elif type(value) not in types:
            raise ValueError(f"{_FIELDS[i]} is {type(value).__name__}")
    try:
        features = orjson.loads(row[-1])
    except orjson.JSONDecodeError as exc:
        raise ValueError(f"features: {exc}") from None
    if type(features) is not dict:
        raise ValueError("features is not an object")
    return row


def record_of(row: Sequence[Any]) -> PredictionRecord:
    """A stored row (``_SELECT``'s columns) as the shared record."""
    values = dict(zip(LOG_COLUMNS, row))
    decision = values["decision"]
    values["decision"] = None if decision is None else bool(decision)
    return PredictionRecord(**values, features=json.loads(row[len(LOG_COLUMNS)]))


class PredictionLog:
    """One write-ahead log file.  Safe to share between threads (one
    connection, serialised by a lock) and between processes (SQLite's lock)."""

    def __init__(self, path: str | Path, synchronous: Literal["normal", "full"] = "normal") -> None:
        # Absolute at open: the background thread and the journals are resolved later, and a process
        # that changes directory meanwhile must not send them to another log's files (seen in tests).
        self.path = Path(path).absolute()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = connect_wal(self.path, synchronous=synchronous, timeout=60.0)
            conn.execute(f"PRAGMA wal_autocheckpoint={WRITER_AUTOCHECKPOINT_PAGES}")  # BackgroundCheckpoint does it
            for stmt in _DDL:
                conn.execute(stmt)
            conn.execute("INSERT OR IGNORE INTO log_meta VALUES ('log_id', ?)", (secrets.token_hex(4),))
            self.log_id: str = conn.execute("SELECT value FROM log_meta WHERE key = 'log_id'").fetchone()[0]
        except (OSError, sqlite3.Error) as exc:
            raise LogError(f"prediction log {self.path}: cannot open: {exc}") from None
        self._conn = conn
        self._lock = threading.Lock()
        self._checkpoint: BackgroundCheckpoint | None = None  # started by the first append: readers need none
        self.synchronous = synchronous
        self.journals = journal_dir(self.path)
        self._writer: JournalWriter | None = None
        self._closed = False

    # ------------------------------------------------------------- writing

    def writer(self) -> JournalWriter:
        """This process's journal (created on first use), with the background
        thread that ingests it and checkpoints the WAL."""
        with self._lock:
            if self._closed:
                raise LogError(f"prediction log {self.path}: closed")
            if self._writer is None:
                try:
                    self._writer = JournalWriter(self.journals, sync=self.synchronous == "full")
                except JournalError as exc:
                    raise LogError(str(exc)) from None
                if self._checkpoint is None:
                    self._checkpoint = BackgroundCheckpoint(self.path, every_s=0.5, ingest=self._ingest_with).start()
            return self._writer

    def record(self, records: Sequence[PredictionRecord]) -> None:
        """Write ``records`` to this process's journal; durable (against kill
        -9) when it returns, in the table after the next ingest."""
        if not records:
            raise LogError(f"prediction log {self.path}: nothing to record")
        self.record_lines(journal_lines(records))

    def record_lines(self, lines: bytes) -> None:
        """``record`` of rows already made journal lines (``journal_line``)."""
        if not lines:
            raise LogError(f"prediction log {self.path}: nothing to record")
        writer = self._writer or self.writer()
        try:
            writer.append(lines)
        except JournalError as exc:
            raise LogError(str(exc)) from None

    def ingest(self) -> Ingested:
        """Move every journal's complete lines into the table (exactly once)."""
        with self._lock:
            return self._ingest_with(self._conn)

    def _ingest_with(self, conn: sqlite3.Connection) -> Ingested:
        try:
            return ingest_journals(conn, self.journals, _INSERT_ONE, _journal_row_quick, _journal_row)
        except (JournalError, OSError) as exc:
            raise LogError(f"prediction log {self.path}: cannot ingest its journals: {exc}") from None
        except sqlite3.Error as exc:
            raise LogError(f"prediction log {self.path}: cannot ingest its journals: {exc}; the rows stay in "
                           f"{self.journals} and are ingested once the database is writable") from None

    def append(self, records: Sequence[PredictionRecord]) -> tuple[int, int]:
        """Commit ``records`` in one transaction (their ``seq`` is ignored);
        returns the first and last seq assigned.  Durable when it returns."""
        if not records:
            raise LogError(f"prediction log {self.path}: nothing to append")
        args = [v for r in records for v in _row(r)]
        with self._lock:
            if self._checkpoint is None:
                self._checkpoint = BackgroundCheckpoint(self.path).start()
            try:
                seqs = [s for (s,) in self._conn.execute(_insert(len(records)), args).fetchall()]
            except sqlite3.Error as exc:
                raise LogError(f"prediction log {self.path}: cannot append: {exc}") from None
        return min(seqs), max(seqs)

    def set_feature_types(self, model: str, types: Mapping[str, str]) -> None:
        """Declare the model's feature columns (name -> float64|string), in model order."""
        bad = {k: v for k, v in types.items() if v not in FEATURE_TYPES}
        if bad:
            raise LogError(f"prediction log {self.path}: feature types {bad}: use one of {FEATURE_TYPES}")
        with self._lock:
            self._conn.execute("INSERT OR REPLACE INTO log_meta VALUES (?, ?)",
                               (f"features:{model}", json.dumps(list(types.items()))))

    def feature_types(self, model: str) -> dict[str, str] | None:
        with self._lock:
            row = self._conn.execute("SELECT value FROM log_meta WHERE key = ?", (f"features:{model}",)).fetchone()
        return None if row is None else dict(json.loads(row[0]))

    # ------------------------------------------------------------- reading

    def records(self, *, seq_from: int | None = None, seq_to: int | None = None, since_us: int | None = None,
                until_us: int | None = None, limit: int | None = None) -> Iterator[PredictionRecord]:
        """Records in seq order; ranges are inclusive ``[seq_from, seq_to]``
        and half-open ``[since_us, until_us)`` on ``served_at_us``."""
        for row in self.rows(seq_from=seq_from, seq_to=seq_to, since_us=since_us, until_us=until_us, limit=limit):
            yield record_of(row)

    def rows(self, *, seq_from: int | None = None, seq_to: int | None = None, since_us: int | None = None,
             until_us: int | None = None, limit: int | None = None) -> list[tuple[Any, ...]]:
        """Raw rows (LOG_COLUMNS then the features JSON), one consistent snapshot."""
        where, args = [], []
        for clause, value in (("seq >= ?", seq_from), ("seq <= ?", seq_to), ("served_at_us >= ?", since_us),
                              ("served_at_us < ?", until_us)):
            if value is not None:
                where.append(clause)
                args.append(value)
        sql = _SELECT + (f" WHERE {' AND '.join(where)}" if where else "") + " ORDER BY seq"
        self.ingest()  # every answered request, also those still in a journal
        if limit is not None:
            sql += " LIMIT ?"
            args.append(limit)
        with self._lock:
            try:
                return self._conn.execute(sql, args).fetchall()
            except sqlite3.Error as exc:
                raise LogError(f"prediction log {self.path}: cannot read: {exc}") from None

    def stats(self) -> dict[str, Any]:
        self.ingest()
        with self._lock:
            n, lo, hi, first, last, failed = self._conn.execute(
                "SELECT COUNT(*), MIN(seq), MAX(seq), MIN(served_at_us), MAX(served_at_us), "
                "COALESCE(SUM(status >= 400), 0) FROM predictions").fetchone()
            assigned = self._conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'predictions'").fetchone()
            rejected = self._conn.execute("SELECT COUNT(*) FROM journal_rejected").fetchone()[0]
        return {"path": str(self.path), "log_id": self.log_id, "rows": n, "failed_rows": failed, "first_seq": lo,
                "last_seq": hi, "last_assigned_seq": assigned[0] if assigned else 0, "first_served_at_us": first,
                "last_served_at_us": last,
                "journal_lines_rejected": rejected}

    def delete_through(self, last_seq: int) -> int:
        """Remove every row with seq <= ``last_seq`` (compaction's second half), in one transaction."""
        with self._lock:
            try:
                return self._conn.execute("DELETE FROM predictions WHERE seq <= ?", (last_seq,)).rowcount
            except sqlite3.Error as exc:
                raise LogError(f"prediction log {self.path}: cannot delete compacted rows: {exc}") from None

    def close(self) -> None:
        """Stop the background thread, close the journal and ingest it (a
        journal left behind is ingested by the next reader or writer)."""
        with self._lock:
            self._closed = True
            if self._checkpoint is not None:
                self._checkpoint.stop()
                self._checkpoint = None
            if self._writer is not None:
                self._writer.close()
                self._writer = None
                try:
                    self._ingest_with(self._conn)
                except LogError as exc:
                    log.warning("%s", exc)
            self._conn.close()
