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
