"""The prediction log's background thread in a serving process: it ingests
the journals (``runtime.predlog.journal``), then checkpoints the WAL, off
the request path.

SQLite's automatic checkpoint runs inside the commit that crosses the
threshold: that request copies the WAL back into the database file and
waits for two fsyncs, on the server's event loop, while every other request
waits behind it.  In process, the mean predict with the log fell from 302 µs
to 201 µs (88 µs without the log) once the writer stopped checkpointing.

Here a thread with its own connection checkpoints every ``every_s``: 50 ms,
since a busy server writes several MB of WAL a second.  PASSIVE never blocks
a writer, and the sqlite3 module releases the GIL while it runs.  SQLite
starts the WAL over from its beginning after a complete checkpoint, so the
file stays bounded (tests/runtime/predlog/test_checkpoint.py: 4 MB at most
over 3,000 commits, against 37 MB without).  The writer keeps a far higher
automatic threshold as a safety net, should this thread fall behind.

A serving process's thread runs every 0.5 s (``PredictionLog.writer``): it
is then the log's only writer, and a round's batch (~1,400 rows at 2,800
requests/s) spreads the transaction's and the checkpoint's fixed costs
(bench/serve: the log's share of throughput fell from 15 % to 12 % against
every 50 ms).
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["BackgroundCheckpoint", "WRITER_AUTOCHECKPOINT_PAGES"]

log = logging.getLogger(__name__)

WRITER_AUTOCHECKPOINT_PAGES = 20_000  # ~80 MB of WAL: only if the background thread stalls


class BackgroundCheckpoint:
    def __init__(self, path: Path, every_s: float = 0.05,
                 ingest: Callable[[sqlite3.Connection], Any] | None = None) -> None:
        self.path = path
        self.every_s = every_s
        self.ingest = ingest  # the journals into the table, on this thread's connection, before each checkpoint
        self.checkpoints = 0  # completed runs that copied frames (for tests)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="predlog-checkpoint", daemon=True)

    def start(self) -> BackgroundCheckpoint:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)

    def _run(self) -> None:
        try:
            conn = sqlite3.connect(self.path, isolation_level=None, timeout=5.0, check_same_thread=False)
        except sqlite3.Error as exc:
            log.warning("prediction log %s: no background checkpoints (%s); the writer checkpoints itself",
                        self.path, exc)
            return
        failing = ""
        try:
            while not self._stop.wait(self.every_s):
                if self.ingest is not None:
                    try:
                        self.ingest(conn)
                        failing = ""
                    except Exception as exc:  # noqa: BLE001 - the rows stay in the journal; next round retries
                        if str(exc) != failing:  # once per distinct failure, not every round
                            log.warning("%s", exc)
                        failing = str(exc)
                try:
                    # fetchall: a statement left unfinished would hold a read snapshot, and the WAL could never restart
                    [(_busy, _frames, copied)] = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                except sqlite3.Error as exc:  # another process's checkpoint holds the lock: next time
                    log.debug("prediction log %s: checkpoint skipped: %s", self.path, exc)
                    continue
                if copied > 0:
                    self.checkpoints += 1
        finally:
            conn.close()
