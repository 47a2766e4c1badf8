"""The predictor's side of ``RuntimeControl``: the JSON file the actions
enforcing objectives write (``runtime.contracts.monitoring.control_path``).

Read on the request path, so it must be cheap: at most one ``stat`` a second
(``interval_s``), and the file is parsed again only when its mtime or size
changed.  A missing file is "no override".  A file that cannot be read or
parsed keeps the last good control and is logged once per change: the
writer replaces it atomically, so a bad one is a bug there, and serving on
must not depend on it.

Two levers only: ``forced_open`` (every breaker answers with the declared
fallback until a time) and ``canary_percent`` (traffic to the canary).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable

from runtime.contracts.monitoring import RuntimeControl, control_path
from runtime.control.codec import decode

__all__ = ["ControlReader"]  # writers: runtime.control.channel

log = logging.getLogger(__name__)


def _parse(raw: bytes, path: str) -> RuntimeControl:
    return decode(raw)


class ControlReader:
    """The current ``RuntimeControl`` of one predictor, re-read when the file changes."""

    def __init__(self, path: str, *, interval_s: float = 1.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.path = os.path.abspath(path)  # read later, on requests: not after a change of directory
        self.interval_s = interval_s
        self._clock = clock
        self._lock = threading.Lock()
        self._next_check = float("-inf")
        self._seen: tuple[int, int] | None = None  # (mtime_ns, size) of the file last read; None: absent
        self._control = RuntimeControl()
        self.reloads = 0  # files parsed (for tests and the bench)

    @classmethod
    def for_predictor(cls, work_dir: str, model: str, environment: str) -> "ControlReader":
        return cls(control_path(work_dir, model, environment))

    def current(self) -> RuntimeControl:
        now = self._clock()
        if now < self._next_check:  # the common case: one clock read and a compare
            return self._control
        with self._lock:
            if now >= self._next_check:
                self._next_check = now + self.interval_s
                self._refresh()
            return self._control

    def _refresh(self) -> None:
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            if self._seen is not None:
                log.info("runtime control %s removed: no override", self.path)
            self._seen, self._control = None, RuntimeControl()
            return
        except OSError as exc:
            log.warning("runtime control %s: cannot stat (%s); keeping the last one", self.path, exc)
            return
        key = (st.st_mtime_ns, st.st_size)
        if key == self._seen:
            return
        self._seen = key
        try:
            with open(self.path, "rb") as f:
                control = _parse(f.read(), self.path)
        except (OSError, ValueError, TypeError) as exc:
            log.warning("runtime control %s is unusable (%s); keeping the last one. The writer must write "
                        "RuntimeControl fields as JSON, atomically (temp file + os.replace)", self.path, exc)
            return
        self._control = control
        self.reloads += 1
        log.info("runtime control %s: %s", self.path, control)

    def forced_open(self, now_us: int) -> RuntimeControl | None:
        """The control forcing every circuit open at ``now_us``, or None."""
        c = self.current()
        until = c.circuit_forced_open_until_us
        return c if until is not None and now_us < until else None

    def canary_percent(self) -> float | None:
        """The canary traffic override (0.0: all traffic to the champion), or None."""
        return self.current().canary_percent

