"""In-process online store: states live as Python objects (no serialization)."""

from __future__ import annotations

import threading
from collections.abc import Callable

from runtime.features.state import EntityState
from runtime.features.store import ApplyResult

__all__ = ["MemoryStore"]


class MemoryStore:
    def __init__(self, url: str = "memory://") -> None:
        self._states: dict[tuple[str, str], EntityState] = {}
        self._quarantine: dict[str, list[str]] = {}
        self._lock = threading.Lock()  # one apply at a time: the read-modify-write is atomic

    def update(self, feature_set: str, entity: str, step: Callable[[EntityState | None], ApplyResult],
               ttl_s: float | None) -> bool:
        key = (feature_set, entity)
        with self._lock:
            result = step(self._states.get(key))
            self._states[key] = result.state
            if result.quarantine is not None:
                self._quarantine.setdefault(feature_set, []).append(result.quarantine)
            return result.applied

    def get(self, feature_set: str, entity: str) -> EntityState | None:
        return self._states.get((feature_set, entity))

    def quarantined(self, feature_set: str) -> list[str]:
        return list(self._quarantine.get(feature_set, ()))

    def entities(self) -> int:
        return len(self._states)

    def close(self) -> None:
        self._states.clear()
