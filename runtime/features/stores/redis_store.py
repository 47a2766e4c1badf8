"""Redis online store (production).

URL: ``redis://[:PASSWORD@]HOST:PORT/DB?prefix=P&connect_timeout=S&socket_timeout=S&retries=N``.
The timeouts (seconds; defaults 0.25 each) and retries (default 1, no
backoff) are short on purpose: a predictor's request timeout is seconds, and
an outage must fail a read fast enough for the circuit breaker to answer
with the fallback in time (redis-py's defaults would wait 5 s and retry
three times with backoff).  One retry survives a pooled connection that the
server closed (a Redis restart).

Keys (``P`` is the URL's ``prefix``, default ``specops``):
``P:fs:<feature set>:<entity>`` the entity's serialized state, with the
feature set's ``online.ttl`` as expiry (refreshed on every apply);
``P:q:<feature set>`` a list of quarantined late events.

A read is one GET.  An apply is optimistic and atomic, in at most two round
trips: GET the state (skipped when this store wrote the key last and still
holds what it wrote), run the step in Python, then one Lua script that
writes the new state (and the quarantined record) only if the key still
holds exactly the bytes the step started from: a compare-and-set on the
value.  If another writer got in between, the script changes nothing and
the apply is retried on the new state.  Comparing the whole value instead of
a version counter is safe from ABA: the step depends only on the state's
content, and equal bytes are an equal state (the encoding is canonical).
The event ids of the window live inside the state, so a redelivered event
is recognised in the same compare-and-set that would apply it (idempotent);
a redelivery recognised from a state read is answered with no write at all.
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import parse_qs, urlsplit

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from runtime.features.state import EntityState
from runtime.features.stores.decoded import DecodedStates
from runtime.features.store import ApplyResult, StoreError

__all__ = ["CONNECTION_RETRIES", "CONNECT_TIMEOUT_S", "SOCKET_TIMEOUT_S", "RedisStore"]

_MAX_RETRIES = 100
CONNECT_TIMEOUT_S = 0.25
SOCKET_TIMEOUT_S = 0.25
CONNECTION_RETRIES = 1
# States this store wrote last, kept to skip the GET of the next apply to the
# same entity; bounded (oldest first out), a miss only costs that GET.
_CACHE_ENTRIES = 4096

# KEYS[1] state, KEYS[2] quarantine list; ARGV[1] "1" if the step read a state,
# ARGV[2] its bytes, ARGV[3] the new state ("" = unchanged), ARGV[4] TTL in ms
# ("0" = none), ARGV[5] the quarantined record ("" = none).  1 = written, 0 = conflict.
_COMPARE_AND_SET = """
local current = redis.call('GET', KEYS[1])
if ARGV[1] == '1' then
  if current ~= ARGV[2] then return 0 end
elseif current then
  return 0
end
if ARGV[3] ~= '' then
  if ARGV[4] ~= '0' then
    redis.call('SET', KEYS[1], ARGV[3], 'PX', ARGV[4])
  else
    redis.call('SET', KEYS[1], ARGV[3])
  end
end
if ARGV[5] ~= '' then redis.call('RPUSH', KEYS[2], ARGV[5]) end
return 1
"""


def _number(query: dict[str, list[str]], name: str, default: float, url: str) -> float:
    raw = query.get(name, [None])[0]
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not (0 <= value < 3600) or (value == 0 and name != "retries"):
        raise StoreError(f"online store URL {url!r}: {name}={raw!r} must be a positive number of "
                         f"{'retries' if name == 'retries' else 'seconds'} (default {default:g})")
    return value


class RedisStore:
    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        query = parse_qs(parts.query)
        self.prefix = query.get("prefix", ["specops"])[0]
        db = parts.path.strip("/") or "0"
        if not db.isdigit():
            raise StoreError(f"online store URL {url!r}: the database must be a number (redis://HOST:PORT/DB)")
        connect_timeout = _number(query, "connect_timeout", CONNECT_TIMEOUT_S, url)
        socket_timeout = _number(query, "socket_timeout", SOCKET_TIMEOUT_S, url)
        retries = _number(query, "retries", CONNECTION_RETRIES, url)
        if retries != int(retries):
            raise StoreError(f"online store URL {url!r}: retries must be a whole number, got {retries:g}")
        try:
            self.client = redis.Redis(host=parts.hostname or "127.0.0.1", port=parts.port or 6379, db=int(db),
                                      password=parts.password, socket_connect_timeout=connect_timeout,
                                      socket_timeout=socket_timeout, retry=Retry(NoBackoff(), int(retries)))
        except ValueError as exc:
            raise StoreError(f"online store URL {url!r}: {exc}") from None
        self._compare_and_set = self.client.register_script(_COMPARE_AND_SET)
        self._written: dict[str, tuple[bytes, EntityState]] = {}
        self._decoded = DecodedStates()  # reads only: never handed to a step

    def key(self, feature_set: str, entity: str) -> str:
        return f"{self.prefix}:fs:{feature_set}:{entity}"

    def quarantine_key(self, feature_set: str) -> str:
        return f"{self.prefix}:q:{feature_set}"

    def update(self, feature_set: str, entity: str, step: Callable[[EntityState | None], ApplyResult],
               ttl_s: float | None) -> bool:
        key = self.key(feature_set, entity)
        written = self._written
        ttl_ms = str(max(1, round(ttl_s * 1000))) if ttl_s else "0"
        for _ in range(_MAX_RETRIES):
            # The step changes the state in place: the cached one is taken out and
            # only put back once the compare-and-set has succeeded.
            raw, state = written.pop(key, None) or self._read(key)
            result = step(state)
            if not result.applied and result.quarantine is None:
                return False  # already applied: the state read holds its id
            new = result.state.to_bytes() if result.applied else b""
            args = ("1" if raw is not None else "0", raw or b"", new, ttl_ms, result.quarantine or "")
            if self._compare_and_set(keys=(key, self.quarantine_key(feature_set)), args=args):
                if result.applied:
                    if len(written) >= _CACHE_ENTRIES:
                        del written[next(iter(written))]
                    written[key] = (new, result.state)
                return result.applied
        raise RuntimeError(f"redis key {key}: gave up after {_MAX_RETRIES} conflicting concurrent updates")

    def _read(self, key: str) -> tuple[bytes | None, EntityState | None]:
        raw = self.client.get(key)
        return raw, (EntityState.from_bytes(raw) if raw is not None else None)

    def get(self, feature_set: str, entity: str) -> EntityState | None:
        key = self.key(feature_set, entity)
        return self._decoded.state(key, self.client.get(key))

    def quarantined(self, feature_set: str) -> list[str]:
        return [r.decode() for r in self.client.lrange(self.quarantine_key(feature_set), 0, -1)]

    def close(self) -> None:
        self._written.clear()
        self._decoded.clear()
        self.client.close()
