"""Decoded entity states kept for reads, with the bytes they were decoded from.

A store that keeps states as bytes outside the process (Redis, SQLite) still
reads the bytes on every read, so it sees every writer, but an unchanged
state is not decoded again and keeps its read index: decoding is most of a
read of a week's window (bench/serve).  Few entries: a decoded state is
large, and it is the hot entities that are read again before they change.
A state handed out here is for reading only, never for an apply's step.
"""

from __future__ import annotations

from collections.abc import Hashable

from runtime.features.state import EntityState

__all__ = ["READ_CACHE_ENTRIES", "DecodedStates"]

READ_CACHE_ENTRIES = 64


class DecodedStates:
    def __init__(self, entries: int = READ_CACHE_ENTRIES) -> None:
        self._entries = entries
        self._states: dict[Hashable, tuple[bytes, EntityState]] = {}

    def state(self, key: Hashable, raw: bytes | None) -> EntityState | None:
        """The state ``raw`` encodes (None: the key holds nothing)."""
        states = self._states
        if raw is None:
            states.pop(key, None)
            return None
        cached = states.get(key)
        if cached is not None and cached[0] == raw:
            return cached[1]
        state = EntityState.from_bytes(raw).resident()
        if cached is None and len(states) >= self._entries:
            del states[next(iter(states))]  # the oldest entry out
        states[key] = (raw, state)
        return state

    def clear(self) -> None:
        self._states.clear()
