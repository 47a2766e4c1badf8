"""The prediction log's durability point on the request path: a per-process
append-only journal, ingested into the SQLite store in large batches.

A request's rows are one ``write()`` of JSON lines to the serving process's
own journal file before its answer leaves.  That write is in the kernel's
page cache when it returns, so it survives kill -9 of the process, as a
committed WAL transaction does with ``synchronous=NORMAL``;
``synchronous=full`` adds an ``fdatasync`` per write and survives power loss
too.  A SQLite commit per request (or per event-loop turn: ~1.5 rows at 4
connections) cost the server 70-80 µs of CPU a request; the write costs a
few (bench/serve).

Ingest moves complete lines into the ``predictions`` table: the serving
process's background thread does every 0.5 s, and so does every reader of
the log before it reads, so a reader sees every answered request.  The
journal's offset is stored in ``log_meta`` in the same transaction as its
rows, under SQLite's write lock: rows are ingested exactly once, whoever
ingests and whenever anyone crashes.

A journal's writer holds an exclusive ``flock`` on it for as long as it may
write.  A journal whose lock can be taken has no writer left (rotated away,
closed, or its process died): it is ingested to its end, marked done in the
same transaction and removed.  A trailing partial line there (a write torn
by power loss or a full disk) and any line that is not a row are kept in the
``journal_rejected`` table with their journal and offset, never dropped
silently.

Layout: ``<log>.journals/<writer>-<generation>.jsonl``.  A writer creates a
journal under a hidden temporary name, locks it, then renames it, so no
ingester can ever take an unlocked new journal for a finished one.
"""

from __future__ import annotations

import fcntl
import logging
import os
import secrets
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

__all__ = ["INGEST_CHUNK_BYTES", "JOURNAL_DDL", "Ingested", "JournalError", "JournalWriter", "ingest_journals",
           "journal_dir"]

log = logging.getLogger("runtime.predlog")

# Bytes read per transaction: a backlog is ingested in bounded steps.  A chunk is decoded in one
# orjson call, which holds the GIL: 8 MB held it 15 ms (a stall of the serving event loop) at 7.6 us
# a row; 1 MB holds it 1.3 ms at 6.2 us a row (bench/predlog, same run).  A line must fit in a chunk.
INGEST_CHUNK_BYTES = 1 << 20
ROTATE_BYTES = 64 << 20  # a writer starts a new journal past this size; the ingested one is removed
_DONE = "done"  # log_meta value of a journal ingested to its end (kept a day: see _prune)
_KEEP_DONE_S = 86_400
_ABANDONED_AFTER_S = 60.0
_SUFFIX = ".jsonl"

JOURNAL_DDL = ("""CREATE TABLE IF NOT EXISTS journal_rejected (
    journal TEXT NOT NULL, offset INTEGER NOT NULL, reason TEXT NOT NULL, line BLOB NOT NULL,
    PRIMARY KEY (journal, offset))""",)


class JournalError(Exception):
    """A journal cannot be written or ingested; the message names the file and why."""


def journal_dir(log_path: Path) -> Path:
    return log_path.with_name(log_path.name + ".journals")


# ----------------------------------------------------------------- writing


class JournalWriter:
    """One process's journal.  ``append`` is thread-safe; the lock is held
    only for the write (and, rarely, a rotation)."""

    def __init__(self, directory: Path, *, sync: bool = False, rotate_bytes: int = ROTATE_BYTES) -> None:
        self.directory = directory
        self.sync = sync
        self.rotate_bytes = rotate_bytes
        self._writer = secrets.token_hex(6)
        self._generation = 0
        self._lock = threading.Lock()
        self._fd: int | None = None
        self._size = 0
        self._closed = False
        try:
            directory.mkdir(parents=True, exist_ok=True)
            self._open()
        except OSError as exc:
            raise JournalError(f"prediction log journal in {directory}: cannot create: {exc}") from None

    @property
    def path(self) -> Path | None:
        """The journal being written (None once closed)."""
        return None if self._fd is None else self.directory / self._name()

    def _name(self) -> str:
        return f"{self._writer}-{self._generation:06d}{_SUFFIX}"

    def _open(self) -> None:
        self._generation += 1
        name = self._name()
        hidden = self.directory / f".{name}.tmp"
        fd = os.open(hidden, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            os.rename(hidden, self.directory / name)
        except OSError:
            os.close(fd)
            raise
        self._fd, self._size = fd, 0

    def append(self, lines: bytes) -> None:
        """Write ``lines`` (complete JSON lines, each ending in a newline) in
        one ``write()``; durable against kill -9 when it returns."""
        with self._lock:
            fd = self._fd
            if fd is None:
                if self._closed:
                    raise JournalError(f"prediction log journal in {self.directory}: closed")
                self._reopen()  # the last write failed: a new journal, past the torn one
                fd = self._fd
                assert fd is not None
            try:
                view = memoryview(lines)
                while view:
                    view = view[os.write(fd, view):]
                if self.sync:
                    os.fdatasync(fd)
            except OSError as exc:
                # Whatever part was written is a torn tail: the next write must not extend it into a
                # line that mixes two requests, so this journal ends here (ingest rejects the tail).
                self._fd = None
                os.close(fd)
                raise JournalError(f"prediction log journal {self.directory / self._name()}: "
                                   f"cannot write: {exc}") from None
            self._size += len(lines)
            if self._size >= self.rotate_bytes:
                try:
                    self._open()
                except OSError as exc:  # this journal keeps taking writes; rotation is retried next time
                    self._generation -= 1
                    log.warning("prediction log journal in %s: cannot rotate: %s", self.directory, exc)
                    return
                os.close(fd)  # releases its lock: an ingester finishes and removes it

    def _reopen(self) -> None:
        try:
            self._open()
        except OSError as exc:
            raise JournalError(f"prediction log journal in {self.directory}: cannot open a new journal: {exc}") \
                from None

    def close(self) -> None:
        with self._lock:
            self._closed = True
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None


# ----------------------------------------------------------------- ingest


@dataclass(frozen=True)
class Ingested:
    rows: int = 0
    rejected: int = 0
    finished: tuple[str, ...] = ()  # journals ingested to their end and removed

    def __add__(self, other: Ingested) -> Ingested:
        return Ingested(self.rows + other.rows, self.rejected + other.rejected, self.finished + other.finished)


RowOf = Callable[[Any], Sequence[Any]]  # a decoded line -> the INSERT's parameters (ValueError if it is not a row)


def ingest_journals(conn: sqlite3.Connection, directory: Path, insert: str, fast_row: RowOf, row_of: RowOf,
                    chunk_bytes: int = INGEST_CHUNK_BYTES) -> Ingested:
    """Ingest every journal in ``directory`` through ``conn`` (autocommit
    mode); journals without a writer are finished and removed.

    ``fast_row`` makes a decoded line the INSERT's parameters with a quick
    shape check, ``row_of`` with a check of every value, for the lines of a
    chunk that failed (each line that is not a row is rejected)."""
    try:
        names = sorted(os.listdir(directory))
    except FileNotFoundError:
        return Ingested()
    except OSError as exc:
        raise JournalError(f"prediction log journals in {directory}: cannot list: {exc}") from None
    total = Ingested()
    for name in names:
        path = directory / name
        if name.startswith("."):
            _remove_abandoned(path)
            continue
        if not name.endswith(_SUFFIX):
            continue
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:  # finished by another ingester meanwhile
            continue
        except OSError as exc:
            raise JournalError(f"prediction log journal {path}: cannot open: {exc}") from None
        try:
            total += _ingest_one(conn, path, fd, insert, fast_row, row_of, chunk_bytes)
        finally:
            os.close(fd)
    if total.finished:
        _prune(conn)
    return total


def _writer_gone(fd: int) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # released when fd is closed
    except BlockingIOError:
        return False
    return True


def _rows_of(conn: sqlite3.Connection, body: bytes, insert: str, fast_row: RowOf, row_of: RowOf, name: str,
             offset: int) -> tuple[int, list[tuple[str, int, str, bytes]]]:
    """Insert the complete lines ``body`` (inside the caller's transaction);
    returns the rows inserted and the lines rejected.

    The whole chunk is decoded at once (orjson reads every line as one
    array: a newline inside a string is always escaped, so the raw ones
    separate lines) and inserted with one ``executemany``; any failure
    there, and the chunk goes line by line through the full check."""
    if not body:
        return 0, []
    try:
        rows = [fast_row(line) for line in orjson.loads(b"[" + body[:-1].replace(b"\n", b",") + b"]")]
    except (orjson.JSONDecodeError, ValueError, TypeError, IndexError):
        rows = None
    if rows is not None and len(rows) == body.count(b"\n"):
        conn.execute("SAVEPOINT chunk")
        try:
            conn.executemany(insert, rows)
            conn.execute("RELEASE chunk")
            return len(rows), []
        except sqlite3.Error:  # a constraint the quick check does not know: find the line
            conn.execute("ROLLBACK TO chunk")
            conn.execute("RELEASE chunk")
    good, bad = [], []
    start = 0
    for line in body.splitlines(keepends=True):
        try:
            good.append(row_of(orjson.loads(line)))
        except (orjson.JSONDecodeError, ValueError, TypeError, IndexError) as exc:
            bad.append((name, offset + start, f"not a prediction row: {exc}", line))
        start += len(line)
    conn.executemany(insert, good)
    return len(good), bad


def _ingest_one(conn: sqlite3.Connection, path: Path, fd: int, insert: str, fast_row: RowOf, row_of: RowOf,
                chunk_bytes: int) -> Ingested:
    key = f"journal:{path.name}"
    gone = _writer_gone(fd)  # checked first: a journal found without a writer gets no more writes
    rows_in = rejected = 0
    while True:
        conn.execute("BEGIN IMMEDIATE")  # the write lock first: the offset read below is the one we move on from
        try:
            found = conn.execute("SELECT value FROM log_meta WHERE key = ?", (key,)).fetchone()
            if found is not None and found[0].startswith(_DONE):  # finished before: only the file is left
                conn.execute("COMMIT")
                at_end = True
                break
            offset = int(found[0]) if found is not None else 0
            data = os.pread(fd, chunk_bytes, offset)
            at_end = len(data) < chunk_bytes
            end = data.rfind(b"\n") + 1
            if end == 0 and not at_end:
                end = len(data)  # a "line" longer than a whole chunk is not a row: rejected below
            finished = gone and at_end
            if end == 0 and not finished:  # nothing new: no write
                conn.execute("COMMIT")
                break
            body = data[:end]
            rows, bad = _rows_of(conn, body, insert, fast_row, row_of, path.name, offset)
            if finished and end < len(data):
                bad.append((path.name, offset + end, "torn write: a partial last line", data[end:]))
                end = len(data)
            if bad:
                conn.executemany("INSERT OR IGNORE INTO journal_rejected VALUES (?, ?, ?, ?)", bad)
            value = f"{_DONE} {int(time.time())}" if finished else str(offset + end)
            conn.execute("INSERT OR REPLACE INTO log_meta VALUES (?, ?)", (key, value))
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        rows_in += rows
        rejected += len(bad)
        for journal, at, reason, _ in bad:
            log.error("prediction log journal %s at byte %d: %s (kept in journal_rejected)", journal, at, reason)
        if at_end:
            break
    if gone and at_end:  # done (by us or already): the file goes; its tombstone stops any late re-read
        try:
            path.unlink()
        except FileNotFoundError:
            pass
        return Ingested(rows_in, rejected, (path.name,))
    return Ingested(rows_in, rejected)


def _remove_abandoned(path: Path) -> None:
    """A hidden journal whose writer died between creating and naming it
    (empty, unlocked, older than a minute) is removed.  One being created
    right now is left alone: between its creation and its lock it is empty
    and unlocked too, for microseconds."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return
    try:
        st = os.fstat(fd)
        if st.st_size == 0 and time.time() - st.st_mtime > _ABANDONED_AFTER_S and _writer_gone(fd):
            path.unlink(missing_ok=True)
    finally:
        os.close(fd)


def _prune(conn: sqlite3.Connection) -> None:
    """Tombstones of journals removed over a day ago: no ingester still
    holds such a file open (each holds one for a single pass)."""
    cutoff = int(time.time()) - _KEEP_DONE_S
    stale = [k for k, v in conn.execute("SELECT key, value FROM log_meta WHERE key LIKE 'journal:%'")
             if v.startswith(_DONE) and int(v.split()[1]) < cutoff]
    if stale:
        conn.executemany("DELETE FROM log_meta WHERE key = ?", [(k,) for k in stale])

