"""Open a SQLite file in WAL mode, safely when several processes open it at once.

``PRAGMA journal_mode=WAL`` on a file another connection is switching at the
same moment can fail with "database is locked" at once: SQLite does not call
the busy handler for that lock, so ``timeout=`` does not help (seen in CI: two
ingesters opening a fresh online store, about 1 open in 50 under load).  The
switch is retried here until the connection's own timeout runs out.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Literal

__all__ = ["connect_wal"]

_RETRY_S = 0.005


def connect_wal(path: str | Path, *, synchronous: Literal["normal", "full"] = "normal",
                timeout: float = 30.0) -> sqlite3.Connection:
    """An autocommit connection (``isolation_level=None``) usable from any
    thread, with the WAL journal and the given ``synchronous`` level.
    Raises ``sqlite3.Error`` when the file cannot be opened or stays locked
    for ``timeout`` seconds."""
    conn = sqlite3.connect(path, isolation_level=None, timeout=timeout, check_same_thread=False)
    deadline = time.monotonic() + timeout
    while True:
        try:
            conn.execute("PRAGMA journal_mode=WAL")  # an in-memory database stays "memory"
            break
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() >= deadline:
                conn.close()
                raise
            time.sleep(_RETRY_S)
    conn.execute(f"PRAGMA synchronous={synchronous.upper()}")
    return conn
