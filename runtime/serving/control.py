"""The runtime-control file (``runtime.contracts.monitoring.RuntimeControl``)
as the predictor reads it: re-read when its mtime changes, checked at most
once a second, so honouring it costs one ``stat`` a second.

A missing file means "no override".  An unreadable one keeps the last good
value (a half-written file is impossible with the writers' os.replace, so
this is a bad edit) and says so once on stderr.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable
from dataclasses import fields

from runtime.contracts.monitoring import RuntimeControl

__all__ = ["ControlFile", "write_control"]

_FIELDS = tuple(f.name for f in fields(RuntimeControl))


def _parse(raw: str, path: str) -> RuntimeControl:
    data = json.loads(raw)
    if not isinstance(data, dict):
        raise ValueError(f"{path}: a RuntimeControl is a JSON object")
    unknown = sorted(set(data) - set(_FIELDS))
    if unknown:
        raise ValueError(f"{path}: unknown RuntimeControl fields {unknown}")
    return RuntimeControl(**data)


class ControlFile:
    def __init__(self, path: str, *, check_every_s: float = 1.0,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.path = path
        self._every = check_every_s
        self._monotonic = monotonic
        self._next_check = float("-inf")
        self._mtime: int | None = None
        self._value = RuntimeControl()

    def current(self) -> RuntimeControl:
        now = self._monotonic()
        if now < self._next_check:
            return self._value
        self._next_check = now + self._every
        try:
            mtime = os.stat(self.path).st_mtime_ns
        except FileNotFoundError:
            self._mtime, self._value = None, RuntimeControl()
            return self._value
        if mtime != self._mtime:
            self._mtime = mtime
            try:
                with open(self.path, encoding="utf-8") as fh:
                    self._value = _parse(fh.read(), self.path)
            except (OSError, ValueError, TypeError) as exc:
                print(f"warning: {self.path}: unreadable runtime control, keeping the last one: {exc}",
                      file=sys.stderr, flush=True)
        return self._value


def write_control(path: str, control: RuntimeControl) -> None:
    """Atomically replace the control file (temp file + os.replace)."""
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump({name: getattr(control, name) for name in _FIELDS}, fh, sort_keys=True, indent=2)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
