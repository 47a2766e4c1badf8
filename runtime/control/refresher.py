"""The predictor's reader of a shared control channel: a background thread
reads it at most once per ``interval_s``; the request path reads only the
in-memory snapshot (one attribute load, no lock, no I/O).

The channel being down (database unreachable, bad row) keeps the last good
control: serving never depends on the channel.  It is logged once when it
starts failing and once when it recovers, and ``staleness_s`` (exported as
``specops_control_staleness_seconds``) says how old the snapshot is.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from runtime.contracts.monitoring import RuntimeControl
from runtime.control.channel import ControlChannel

__all__ = ["ControlRefresher"]

log = logging.getLogger(__name__)


class ControlRefresher:
    def __init__(self, channel: ControlChannel, *, interval_s: float = 1.0,
                 clock: Callable[[], float] = time.monotonic,
                 on_refresh: Callable[["ControlRefresher"], None] | None = None) -> None:
        self.channel = channel
        self.path = channel.where  # what the predictor's messages name
        self.interval_s = interval_s
        self._clock = clock
        self._on_refresh = on_refresh
        self._control = RuntimeControl()
        self._fresh_at: float | None = None  # clock of the last successful read; None: never read
        self._started_at = clock()
        self._failing: str | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.reloads = 0   # reads that changed the snapshot
        self.failures = 0  # reads that failed

    def start(self) -> "ControlRefresher":
        """Read once now (so a predictor starts with the current control when
        the channel is up), then keep reading in a daemon thread."""
        self.refresh()
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name=f"control {self.path}", daemon=True)
            self._thread.start()
        return self

    def stop(self, timeout_s: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
            self._thread = None

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.refresh()

    def refresh(self) -> bool:
        """One read of the channel; False (the last control kept) when it failed."""
        try:
            control = self.channel.read()
        except Exception as exc:  # noqa: BLE001 - whatever the channel does, serving goes on with the last control
            self.failures += 1
            reason = f"{type(exc).__name__}: {exc}"
            if self._failing is None:
                log.warning("runtime control %s cannot be read (%s); keeping the last one (%s) until it can",
                            self.path, reason, self._control)
            self._failing = reason
            self._notify()
            return False
        if self._failing is not None:
            log.warning("runtime control %s readable again after %d failed reads", self.path, self.failures)
            self._failing = None
        self._fresh_at = self._clock()
        if control != self._control:
            self._control = control  # one reference assignment: readers see the old or the new snapshot
            self.reloads += 1
            log.info("runtime control %s: %s", self.path, control)
        self._notify()
        return True

    def _notify(self) -> None:
        if self._on_refresh is not None:
            try:
                self._on_refresh(self)
            except Exception:  # noqa: BLE001 - a metric must not stop the refresher
                log.exception("runtime control %s: refresh callback failed", self.path)

    @property
    def failing(self) -> str | None:
        """Why the last read failed, or None when it succeeded."""
        return self._failing

    def staleness_s(self) -> float:
        """Seconds since the snapshot was last confirmed (since start when never)."""
        return self._clock() - (self._started_at if self._fresh_at is None else self._fresh_at)

    # The ControlReader surface the predictor and the canary use.
    def current(self) -> RuntimeControl:
        return self._control

    def forced_open(self, now_us: int) -> RuntimeControl | None:
        c = self._control
        until = c.circuit_forced_open_until_us
        return c if until is not None and now_us < until else None

    def canary_percent(self) -> float | None:
        return self._control.canary_percent
