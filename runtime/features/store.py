"""The online store interface and ``open_store(url)``.

A store keeps one ``EntityState`` per (feature set, entity) and runs each
apply as one atomic read-modify-write, so an event applied twice (a stream
redelivery after a crash) or by two ingesters at once changes the state
exactly once.  Stores are listed as data: a new one is one module in
``runtime/features/stores/`` and one line in ``STORES``.

URLs: ``memory://`` (in-process), ``sqlite:///PATH`` (``sqlite://`` alone is
in-memory), ``redis://HOST:PORT/DB?prefix=P``.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import NamedTuple, Protocol
from urllib.parse import urlsplit

from runtime.features.state import EntityState

__all__ = ["STORES", "ApplyResult", "OnlineStore", "StoreError", "open_store"]


class StoreError(ValueError):
    """The store URL cannot be used; the message says why."""


class ApplyResult(NamedTuple):  # a tuple: built once per event on the hot path
    state: EntityState
    applied: bool  # False: the event id was already applied (nothing changed)
    quarantine: str | None = None  # canonical JSON of a late event the policy quarantines


class OnlineStore(Protocol):
    def update(self, feature_set: str, entity: str, step: Callable[[EntityState | None], ApplyResult],
               ttl_s: float | None) -> bool:
        """Atomically: read the state, run ``step``, write the new state (with
        its TTL) and the quarantined record if any; return ``applied``."""
        ...

    def get(self, feature_set: str, entity: str) -> EntityState | None: ...

    def quarantined(self, feature_set: str) -> list[str]: ...

    def close(self) -> None: ...


# URL scheme -> "module:factory"; each factory takes the URL.
STORES: dict[str, str] = {
    "memory": "runtime.features.stores.memory_store:MemoryStore",
    "sqlite": "runtime.features.stores.sqlite_store:SqliteStore",
    "redis": "runtime.features.stores.redis_store:RedisStore",
}


def open_store(url: str) -> OnlineStore:
    scheme = urlsplit(url).scheme
    target = STORES.get(scheme)
    if target is None:
        raise StoreError(f"online store URL {url!r}: unknown scheme {scheme!r}; use one of "
                         f"{', '.join(f'{s}://' for s in sorted(STORES))}")
    module, factory = target.split(":")
    return getattr(importlib.import_module(module), factory)(url)  # type: ignore[no-any-return]
