"""When to reload: the local registry's aliases moved (``specops run``
promoted a new champion, a candidate was registered), or SIGHUP asked for it.

A daemon thread polls the registry's aliases (one small JSON read) every
``poll_s`` (0: never; SIGHUP only) and calls ``SpecOpsPredictor.reload`` when they change or a
SIGHUP arrived; loading and warming happen on this thread, never on the
server's event loop, so requests keep being answered meanwhile.  In a
cluster a new release is a new KServe revision, so no watcher runs there.
"""

from __future__ import annotations

import signal
import sys
import threading
from typing import Any

__all__ = ["ReleaseWatcher"]


class ReleaseWatcher:
    def __init__(self, predictor: Any, poll_s: float) -> None:
        self.predictor = predictor
        self.poll_s = poll_s
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._seen = self._aliases()
        self._thread = threading.Thread(target=self._run, name="specops-reload", daemon=True)

    def _aliases(self) -> dict[str, str] | None:
        cfg = self.predictor.config
        if not cfg.registry_aliases:
            return None
        from runtime.registry import Registry

        try:
            return Registry(cfg.artifacts.uri).aliases(cfg.model)
        except (OSError, ValueError) as exc:  # a half-written aliases file: try again next poll
            print(f"reload {cfg.model}: cannot read the registry aliases: {exc}", file=sys.stderr, flush=True)
            return self._seen

    def start(self, *, sighup: bool = True) -> "ReleaseWatcher":
        if sighup and threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGHUP, lambda *_: self.request())
        self._thread.start()
        return self

    def request(self) -> None:
        """Reload now (SIGHUP, or an explicit call)."""
        self._wake.set()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.is_set():
            forced = self._wake.wait(self.poll_s or None)  # 0: no polling, SIGHUP only
            self._wake.clear()
            if self._stop.is_set():
                return
            now = self._aliases()
            if forced or now != self._seen:
                self._seen = now
                self.predictor.reload()
