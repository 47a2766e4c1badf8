"""In-process online store: states live as Python objects (no serialization)."""

from __future__ import annotations

import threading
from collections.abc import Callable

from runtime.features.state import EntityState
from runtime.features.store import ApplyResult

__all__ = ["MemoryStore"]


class MemoryStore:
    def __init__(self, url: str = "memory://") -> None:
        self._states: dict[str, dict[str, EntityState]] = {}  # feature set -> entity -> state
        self._quarantine: dict[str, list[str]] = {}
        self._lock = threading.Lock()  # one apply at a time: the read-modify-write is atomic

    def update(self, feature_set: str, entity: str, step: Callable[[EntityState | None], ApplyResult],
               ttl_s: float | None) -> bool:
        states = self._states.get(feature_set)
        if states is None:
            states = self._states.setdefault(feature_set, {})
        with self._lock:
            state, applied, quarantine = step(states.get(entity))
            states[entity] = state
            if quarantine is not None:
                self._quarantine.setdefault(feature_set, []).append(quarantine)
            return applied

    def get(self, feature_set: str, entity: str) -> EntityState | None:
        states = self._states.get(feature_set)
        return states.get(entity) if states is not None else None

    def quarantined(self, feature_set: str) -> list[str]:
        return list(self._quarantine.get(feature_set, ()))

    def entities(self) -> int:
        return sum(len(states) for states in self._states.values())

    def close(self) -> None:
        self._states.clear()
