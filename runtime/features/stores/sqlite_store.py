"""SQLite online store: the embedded default that survives a restart.

Each apply is one ``BEGIN IMMEDIATE`` transaction (read, step, upsert,
quarantine insert), so concurrent ingesters on the same file serialize and
a crash leaves either the old or the new state.  TTLs are not enforced here
(SQLite has no expiry); the Redis store applies them.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable
from urllib.parse import urlsplit

from runtime.features.state import EntityState
from runtime.features.store import ApplyResult, StoreError

__all__ = ["SqliteStore"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS feature_state (
  feature_set TEXT NOT NULL, entity TEXT NOT NULL, state BLOB NOT NULL,
  PRIMARY KEY (feature_set, entity)
);
CREATE TABLE IF NOT EXISTS quarantine (
  id INTEGER PRIMARY KEY AUTOINCREMENT, feature_set TEXT NOT NULL, record TEXT NOT NULL
);
"""


class SqliteStore:
    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        path = parts.path or ":memory:"
        if parts.netloc:
            raise StoreError(f"online store URL {url!r}: use sqlite:///relative/path or sqlite:////absolute/path")
        path = path[1:] if path.startswith("/") else path
        # One connection per store; threads of one process take turns (other processes
        # are serialized by BEGIN IMMEDIATE).
        self._lock = threading.Lock()
        try:
            self._db = sqlite3.connect(path or ":memory:", isolation_level=None, timeout=30.0,
                                       check_same_thread=False)
            self._db.executescript(_SCHEMA)
        except sqlite3.Error as exc:
            raise StoreError(f"online store {url!r}: cannot open {path!r}: {exc}") from None

    def update(self, feature_set: str, entity: str, step: Callable[[EntityState | None], ApplyResult],
               ttl_s: float | None) -> bool:
        with self._lock:
            return self._update(feature_set, entity, step)

    def _update(self, feature_set: str, entity: str, step: Callable[[EntityState | None], ApplyResult]) -> bool:
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            row = db.execute("SELECT state FROM feature_state WHERE feature_set = ? AND entity = ?",
                             (feature_set, entity)).fetchone()
            result = step(EntityState.from_bytes(row[0]) if row else None)
            if result.applied:
                db.execute("INSERT INTO feature_state (feature_set, entity, state) VALUES (?, ?, ?) "
                           "ON CONFLICT (feature_set, entity) DO UPDATE SET state = excluded.state",
                           (feature_set, entity, result.state.to_bytes()))
            if result.quarantine is not None:
                db.execute("INSERT INTO quarantine (feature_set, record) VALUES (?, ?)", (feature_set, result.quarantine))
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        return result.applied

    def get(self, feature_set: str, entity: str) -> EntityState | None:
        with self._lock:
            row = self._db.execute("SELECT state FROM feature_state WHERE feature_set = ? AND entity = ?",
                                   (feature_set, entity)).fetchone()
        return EntityState.from_bytes(row[0]) if row else None

    def quarantined(self, feature_set: str) -> list[str]:
        with self._lock:
            return [r[0] for r in self._db.execute(
                "SELECT record FROM quarantine WHERE feature_set = ? ORDER BY id", (feature_set,))]

    def close(self) -> None:
        self._db.close()
