"""Compaction in the background of a predictor whose write-ahead file lives
on its pod's volume (nothing else can reach it): every ``every_s`` seconds,
on its own connection, so appends wait only for the short delete."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from runtime.predlog.parquet import compact
from runtime.predlog.store import PredictionLog

__all__ = ["BackgroundCompactor"]

log = logging.getLogger("runtime.predlog")


class BackgroundCompactor:
    def __init__(self, path: str, root: str, every_s: float) -> None:
        # Absolute now: the thread runs later, after the process may have changed directory.
        self.path, self.root, self.every_s = str(Path(path).absolute()), str(Path(root).absolute()), every_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="predlog-compactor", daemon=True)

    def start(self) -> "BackgroundCompactor":
        self._thread.start()
        return self

    def _loop(self) -> None:
        store = PredictionLog(self.path)
        try:
            while not self._stop.wait(self.every_s):
                try:
                    done = compact(store, self.root)
                    if done.rows_moved or done.rows_skipped:
                        log.info("prediction log: %d rows compacted to %s", done.rows_moved, self.root)
                except Exception as exc:  # the next round retries; the rows stay in the write-ahead file
                    log.error("prediction log: compaction to %s failed: %s", self.root, exc)
        finally:
            store.close()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=30)
