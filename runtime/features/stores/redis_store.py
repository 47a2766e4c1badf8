"""Redis online store (production).

Keys (``P`` is the URL's ``prefix``, default ``specops``):
``P:fs:<feature set>:<entity>`` the entity's serialized state, with the
feature set's ``online.ttl`` as expiry (refreshed on every apply);
``P:q:<feature set>`` a list of quarantined late events.

An apply is optimistic and atomic: WATCH the state key, read it, run the
step in Python, then MULTI/SET(+RPUSH)/EXEC; if another writer changed the
key in between, EXEC fails and the apply is retried on the new state.  The
event ids of the window live inside the state, so a redelivered event is
recognised in the same transaction that would apply it (idempotent).
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import parse_qs, urlsplit

import redis

from runtime.features.state import EntityState
from runtime.features.store import ApplyResult, StoreError

__all__ = ["RedisStore"]

_MAX_RETRIES = 100


class RedisStore:
    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        query = parse_qs(parts.query)
        self.prefix = query.get("prefix", ["specops"])[0]
        db = parts.path.strip("/") or "0"
        if not db.isdigit():
            raise StoreError(f"online store URL {url!r}: the database must be a number (redis://HOST:PORT/DB)")
        try:
            self.client = redis.Redis(host=parts.hostname or "127.0.0.1", port=parts.port or 6379, db=int(db),
                                      password=parts.password, socket_timeout=5.0)
        except ValueError as exc:
            raise StoreError(f"online store URL {url!r}: {exc}") from None

    def key(self, feature_set: str, entity: str) -> str:
        return f"{self.prefix}:fs:{feature_set}:{entity}"

    def quarantine_key(self, feature_set: str) -> str:
        return f"{self.prefix}:q:{feature_set}"

    def update(self, feature_set: str, entity: str, step: Callable[[EntityState | None], ApplyResult],
               ttl_s: float | None) -> bool:
        key = self.key(feature_set, entity)
        with self.client.pipeline(transaction=True) as pipe:
            for _ in range(_MAX_RETRIES):
                try:
                    pipe.watch(key)
                    raw = pipe.get(key)
                    result = step(EntityState.from_bytes(raw) if raw is not None else None)
                    pipe.multi()
                    if result.applied:
                        if ttl_s:
                            pipe.set(key, result.state.to_bytes(), px=max(1, round(ttl_s * 1000)))
                        else:
                            pipe.set(key, result.state.to_bytes())
                    if result.quarantine is not None:
                        pipe.rpush(self.quarantine_key(feature_set), result.quarantine)
                    pipe.execute()
                    return result.applied
                except redis.WatchError:
                    continue
        raise RuntimeError(f"redis key {key}: gave up after {_MAX_RETRIES} conflicting concurrent updates")

    def get(self, feature_set: str, entity: str) -> EntityState | None:
        raw = self.client.get(self.key(feature_set, entity))
        return EntityState.from_bytes(raw) if raw is not None else None

    def quarantined(self, feature_set: str) -> list[str]:
        return [r.decode() for r in self.client.lrange(self.quarantine_key(feature_set), 0, -1)]

    def close(self) -> None:
        self.client.close()
