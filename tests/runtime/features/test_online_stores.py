"""Online stores: the SQLite default and the production Redis store give the
in-process store's values, apply each event id once (also under concurrent
writers), set the TTL, and keep state across a new engine instance."""

from __future__ import annotations

import json
import threading
import uuid
from pathlib import Path

import pytest
import redis as redis_client
from feature_builders import RATIO, event, events_table, feature_set, online_at, require_service, us

from runtime.features.online import OnlineEngine
from runtime.features.store import StoreError, open_store

REDIS_HOST, REDIS_PORT = "127.0.0.1", 6379


def stream(n: int = 400) -> list[dict]:
    """Two assets, an event every 7 minutes, a few NULLs, some out of order, one late, one duplicate."""
    rows = []
    for i in range(n):
        asset = "a" if i % 3 else "b"
        minutes = i * 7 + (20 if i % 11 == 0 else 0)
        arrival = minutes + (150 if i == 50 else (25 if i % 11 == 0 else 0))
        rows.append(event(i, asset, minutes, None if i % 13 == 0 else (i % 17) * 0.37, arrival_minutes=arrival,
                          temperature=50.0 + i % 5, pressure=float(i % 4)))
    rows.append(dict(rows[10]))
    return rows


CFG = feature_set(lateness_s=3600, policy="quarantine", transforms=[RATIO])
POINTS = [(a, us(m)) for a in ("a", "b") for m in (300, 1200, 2000, 2799, 2800)]


@pytest.fixture
def redis_url():
    require_service("Redis", REDIS_HOST, REDIS_PORT)
    prefix = f"specops-test-{uuid.uuid4().hex[:12]}"
    yield f"redis://{REDIS_HOST}:{REDIS_PORT}/0?prefix={prefix}"
    client = redis_client.Redis(host=REDIS_HOST, port=REDIS_PORT)
    keys = list(client.scan_iter(f"{prefix}:*"))
    if keys:
        client.delete(*keys)
    client.close()


def test_sqlite_store_matches_the_in_process_store_and_survives_a_restart(tmp_path: Path) -> None:
    table = events_table(stream())
    url = f"sqlite:///{tmp_path / 'online.db'}"
    assert online_at([CFG], table, POINTS, open_store(url)) == online_at([CFG], table, POINTS)
    restarted = OnlineEngine([CFG], open_store(url))  # a new process: state comes from the file
    assert restarted.read("a", us(2800)) == online_at([CFG], table, [("a", us(2800))])[("a", us(2800))]
    recent = stream()[381]  # a redelivery after the restart (an event within the window)
    assert restarted.apply(recent) is False
    assert [json.loads(q)["_event_id"] for q in restarted.store.quarantined(CFG.name)] == ["e50"]


@pytest.mark.services
def test_redis_store_matches_the_in_process_store(redis_url: str) -> None:
    table = events_table(stream())
    store = open_store(redis_url)
    try:
        assert online_at([CFG], table, POINTS, store) == online_at([CFG], table, POINTS)
        assert [json.loads(q)["_event_id"] for q in store.quarantined(CFG.name)] == ["e50"]
    finally:
        store.close()


@pytest.mark.services
def test_redis_apply_is_idempotent_and_survives_a_new_engine(redis_url: str) -> None:
    rows = sorted(stream(), key=lambda r: r["_arrival_time"])
    first = OnlineEngine([CFG], open_store(redis_url))
    applied = [first.apply(r) for r in rows]
    assert applied.count(False) == 1  # the duplicate of e10
    before = first.read("a", us(2800))
    first.store.close()
    again = OnlineEngine([CFG], open_store(redis_url))  # restart: a new engine and connection
    # Ids are remembered for the largest window (24 h): a redelivered recent event is refused...
    assert not any(again.apply(r) for r in rows[-150:])
    # ...and a redelivery of everything, older events included, changes no feature.
    for r in rows:
        again.apply(r)
    assert again.read("a", us(2800)) == before
    assert before["events_count_3600"] > 0
    again.store.close()


@pytest.mark.services
def test_redis_state_carries_the_feature_set_ttl(redis_url: str) -> None:
    store = open_store(redis_url)
    OnlineEngine([CFG], store).apply(event(1, "a", 0, 1.0))
    ttl_ms = store.client.pttl(store.key(CFG.name, "a"))  # type: ignore[attr-defined]
    assert 2 * 86400 * 1000 - 60_000 < ttl_ms <= 2 * 86400 * 1000  # online.ttl = 2 days
    store.close()


@pytest.mark.services
def test_concurrent_redis_writers_apply_each_event_exactly_once(redis_url: str) -> None:
    """Two ingesters (threads with their own connections) apply the same
    events for one entity at once: WATCH/MULTI retries, nothing lost or doubled."""
    rows = [event(i, "a", i, 1.0) for i in range(120)]
    results: list[list[bool]] = [[], []]

    def worker(k: int) -> None:
        engine = OnlineEngine([CFG], open_store(redis_url))
        results[k] = [engine.apply(r) for r in rows]
        engine.store.close()

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(results[0]) + sum(results[1]) == len(rows)  # each event applied by exactly one writer
    reader = OnlineEngine([CFG], open_store(redis_url))
    assert reader.read("a", us(119))["events_count_3600"] == 60
    assert reader.read("a", us(119))["vibration_sum_86400"] == 120.0
    reader.store.close()


def test_unknown_store_scheme_is_a_clear_error() -> None:
    with pytest.raises(StoreError, match="unknown scheme 'mongodb'; use one of memory://, redis://, sqlite://"):
        open_store("mongodb://x")


def test_sqlite_store_two_processes_apply_each_event_once(tmp_path: Path) -> None:
    """Two processes (ingesters) share one SQLite file: BEGIN IMMEDIATE serializes them."""
    import subprocess
    import sys

    url = f"sqlite:///{tmp_path / 'shared.db'}"
    script = (
        "import sys, json\n"
        "sys.path.insert(0, sys.argv[2])\n"
        "from feature_builders import event, feature_set\n"
        "from runtime.features.online import OnlineEngine\n"
        "from runtime.features.store import open_store\n"
        "engine = OnlineEngine([feature_set()], open_store(sys.argv[1]))\n"
        "print(sum(engine.apply(event(i, 'a', i, 1.0)) for i in range(150)))\n"
    )
    here = str(Path(__file__).parent)
    procs = [subprocess.Popen([sys.executable, "-c", script, url, here], stdout=subprocess.PIPE, text=True)
             for _ in range(2)]
    applied = [int(p.communicate(timeout=120)[0]) for p in procs]
    assert sum(applied) == 150
    engine = OnlineEngine([feature_set()], open_store(url))
    assert engine.read("a", us(149))["events_count_86400"] == 150


class _CountingClient:
    """Counts the commands a store sends (the real client underneath, not a mock)."""

    def __init__(self, client: redis_client.Redis) -> None:
        self.client, self.commands = client, []
        self._execute = client.execute_command
        client.execute_command = self._count  # type: ignore[method-assign]

    def _count(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        self.commands.append(str(args[0]).split()[0].upper())
        return self._execute(*args, **kwargs)


@pytest.mark.services
def test_redis_read_is_one_get_and_a_steady_apply_one_round_trip(redis_url: str) -> None:
    store = open_store(redis_url)
    engine = OnlineEngine([CFG], store)
    counter = _CountingClient(store.client)  # type: ignore[attr-defined]
    engine.apply(event(1, "a", 1, 1.0))
    assert counter.commands == ["GET", "EVALSHA"]  # a first apply reads the (missing) state, then writes
    counter.commands.clear()
    for i in range(2, 12):
        engine.apply(event(i, "a", i, 1.0))
    assert counter.commands == ["EVALSHA"] * 10  # then one compare-and-set per event
    counter.commands.clear()
    assert engine.apply(event(5, "a", 5, 1.0)) is False  # a redelivery: recognised, nothing written
    assert counter.commands == []
    assert engine.read("a", us(11))["events_count_3600"] == 11
    assert counter.commands == ["GET"]
    store.close()


@pytest.mark.services
def test_redis_apply_on_a_state_changed_by_another_writer_retries_on_the_new_state(redis_url: str) -> None:
    """Each writer skips the read when it wrote the key last; a write by another
    ingester in between must fail its compare-and-set, not be overwritten."""
    first, second = OnlineEngine([CFG], open_store(redis_url)), OnlineEngine([CFG], open_store(redis_url))
    assert first.apply(event(1, "a", 1, 1.0))
    assert second.apply(event(2, "a", 2, 2.0))  # first's copy of the state is now stale
    counter = _CountingClient(first.store.client)  # type: ignore[attr-defined]
    assert first.apply(event(3, "a", 3, 4.0))
    assert counter.commands == ["EVALSHA", "GET", "EVALSHA"]  # refused, re-read, applied on the new state
    assert first.apply(event(2, "a", 2, 2.0)) is False  # second's event is in the state first sees now
    values = OnlineEngine([CFG], open_store(redis_url)).read("a", us(3))
    assert values["events_count_3600"] == 3 and values["vibration_sum_86400"] == 7.0
    for engine in (first, second):
        engine.store.close()


@pytest.mark.services
def test_redis_state_expired_while_cached_is_not_resurrected(redis_url: str) -> None:
    store = open_store(redis_url)
    engine = OnlineEngine([CFG], store)
    for i in range(5):
        engine.apply(event(i, "a", i, 1.0))
    store.client.delete(store.key(CFG.name, "a"))  # type: ignore[attr-defined]  # what the TTL expiry does
    assert engine.apply(event(9, "a", 9, 1.0))
    assert engine.read("a", us(9))["events_count_3600"] == 1
    store.close()


def test_a_state_written_in_the_previous_layout_is_read_without_loss() -> None:
    """Format 1 kept each column's own times, ids and non-NULL values; a store
    written by that version must give the same features after the upgrade."""
    from runtime.features.state import EntityState

    rows = [r for r in stream() if r["asset_id"] == "a"]
    engine = OnlineEngine([CFG], open_store("memory://"))
    for r in sorted(rows, key=lambda r: r["_arrival_time"]):
        engine.apply(r)
    state = engine.store.get(CFG.name, "a")
    assert state is not None
    ets, eids = state.events.ets, state.events.eids

    def column_v1(name: str) -> list:
        col = state.series[name]
        kept = [(et, eid, v) for et, eid, v in zip(ets, eids, col.vals) if v is not None]
        return [[k[0] for k in kept], [k[1] for k in kept], [k[2] for k in kept],
                None if col.s is None else [0] * (len(kept) + 1), None if col.q is None else [0] * (len(kept) + 1), 0]

    v1 = json.dumps({"c": state.clock, "e": [ets, eids, [None] * len(ets), None, None, 0], "d": state.dropped,
                     "s": {name: column_v1(name) for name in state.series}})
    assert any(v is None for v in state.series["vibration"].vals)  # the case that needs realigning
    from runtime.features.online import features_from_state

    fs = engine.definitions[0]
    for minutes in (2000, 2799, 2800):
        assert features_from_state(fs, EntityState.from_bytes(v1), us(minutes)) == engine.read("a", us(minutes))


def test_sqlite_store_runs_in_wal_mode_and_refuses_an_unknown_synchronous(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'wal.db'}")
    assert store._db.execute("PRAGMA journal_mode").fetchone() == ("wal",)  # type: ignore[attr-defined]
    assert store._db.execute("PRAGMA synchronous").fetchone() == (1,)  # type: ignore[attr-defined]  # NORMAL
    store.close()
    full = open_store(f"sqlite:///{tmp_path / 'full.db'}?synchronous=full")
    assert full._db.execute("PRAGMA synchronous").fetchone() == (2,)  # type: ignore[attr-defined]
    full.close()
    with pytest.raises(StoreError, match="synchronous='off' is not one of normal, full"):
        open_store(f"sqlite:///{tmp_path / 'x.db'}?synchronous=off")


@pytest.mark.services
def test_redis_reads_reuse_an_unchanged_decoded_state_and_see_every_writer(redis_url: str) -> None:
    """A read always GETs; an unchanged state is not decoded again (the same
    object, with its read index), a state changed by another writer or expired
    is seen at once, and the values equal those of the in-process store."""
    reader, writer = open_store(redis_url), open_store(redis_url)
    engine, other = OnlineEngine([CFG], reader), OnlineEngine([CFG], writer)
    memory = OnlineEngine([CFG], open_store("memory://"))
    rows = stream(120)
    for row in rows[:100]:
        engine.apply(row)
        memory.apply(row)
    counter = _CountingClient(reader.client)  # type: ignore[attr-defined]
    first = reader.get(CFG.name, "a")
    assert first is not None and reader.get(CFG.name, "a") is first  # not decoded again
    assert first.series["vibration"].index is not None
    assert counter.commands == ["GET", "GET"]  # but read each time
    at = us(100 * 7 + 60)
    assert engine.read("a", at) == memory.read("a", at) == engine.read("a", at)
    for row in rows[100:]:
        other.apply(row)  # another ingester
        memory.apply(row)
    later = us(120 * 7 + 60)
    assert reader.get(CFG.name, "a") is not first
    assert engine.read("a", later) == memory.read("a", later)
    reader.client.delete(reader.key(CFG.name, "b"))  # type: ignore[attr-defined]  # expired
    assert reader.get(CFG.name, "b") is None
    for store in (reader, writer):
        store.close()
