"""The ingester against the real NATS JetStream and Redis: every event lands
in the online store exactly once through duplicates, redeliveries, a SIGKILL
mid-stream, poison messages, NATS and Redis outages and a SIGTERM.

"Exactly once" is checked in the store itself: per asset, the 7-day count
feature equals the number of distinct events and the vibration sum equals
their sum (a double-applied event would show in both)."""

from __future__ import annotations

import asyncio
import json
import time
from collections import defaultdict

import nats
import pytest
from stream_harness import (
    NATS_URL,
    require_service,
    IngesterProcess,
    StreamNames,
    TcpProxy,
    delete_redis_prefix,
    delete_streams,
    events,
    free_port,
    ingest_config,
    publish,
    publish_raw,
    wait_until,
)

from runtime.contracts.steps import IngestConfig
from runtime.features.online import OnlineEngine
from runtime.features.store import open_store
from runtime.stream.publisher import encode_event

pytestmark = pytest.mark.services


@pytest.fixture
def names():
    require_service("NATS", "127.0.0.1", 4222)
    require_service("Redis", "127.0.0.1", 6379)
    n = StreamNames.new()
    yield n
    delete_streams(n.stream, n.dead_letter_stream)
    delete_redis_prefix(n.redis_prefix)


def _store(names: StreamNames) -> str:
    return f"redis://127.0.0.1:6379/0?prefix={names.redis_prefix}"


def _config(names: StreamNames, **kw) -> IngestConfig:
    kw.setdefault("store_url", _store(names))
    return ingest_config(names, port=free_port(), **kw)


def assert_exactly_once(config: IngestConfig, names: StreamNames, evs: list[dict]) -> None:
    """Online features in the real store == features of the distinct events."""
    by_asset: dict[str, dict] = defaultdict(lambda: {"ids": set(), "sum": 0.0, "last": None})
    for e in evs:
        a = by_asset[e["asset_id"]]
        if e["_event_id"] not in a["ids"]:
            a["ids"].add(e["_event_id"])
            a["sum"] += e["vibration"]
            a["last"] = max(a["last"], e["event_time"]) if a["last"] else e["event_time"]
    engine = OnlineEngine(config.feature_sets, open_store(_store(names)))
    for asset, want in sorted(by_asset.items()):
        got = engine.read(asset, want["last"])
        assert got["events_count_7d"] == len(want["ids"]), (asset, got)
        assert got["vibration_sum_7d"] == pytest.approx(want["sum"]), (asset, got)


def consumer_state(names: StreamNames) -> tuple[int, int, int]:
    """(num_pending, num_ack_pending, num_redelivered) of the durable consumer."""
    async def go():
        nc = await nats.connect(NATS_URL)
        try:
            info = await nc.jetstream().consumer_info(names.stream, names.durable)
            return info.num_pending, info.num_ack_pending, info.num_redelivered
        finally:
            await nc.close()
    return asyncio.run(go())


def wait_drained(names: StreamNames, timeout: float = 60.0) -> None:
    wait_until(lambda: consumer_state(names)[:2] == (0, 0), timeout, "the consumer to ack everything")


def dead_letters(names: StreamNames) -> list[tuple[bytes, dict]]:
    async def go():
        nc = await nats.connect(NATS_URL)
        out = []
        try:
            js = nc.jetstream()
            info = await js.stream_info(names.dead_letter_stream)
            for seq in range(info.state.first_seq, info.state.last_seq + 1):
                msg = await js.get_msg(names.dead_letter_stream, seq)
                out.append((msg.data, dict(msg.headers or {})))
        finally:
            await nc.close()
        return out
    return asyncio.run(go())


def test_duplicates_and_republished_events_are_applied_exactly_once(names, tmp_path):
    config = _config(names)
    evs = events(300)
    first = publish(config, evs)
    assert (first.published, first.duplicates) == (300, 0)
    again = publish(config, evs[:100])  # inside JetStream's de-dup window: dropped at the server
    assert (again.published, again.duplicates) == (0, 100)
    # The same events under other message ids get past JetStream: the online store must catch them.
    publish_raw(names.subject, [encode_event(config.source, e)[1] for e in evs[100:150]],
                [f"replay-{i}" for i in range(50)])

    ingester = IngesterProcess(config, tmp_path)
    try:
        ingester.wait_metric("consumed", 350)
        wait_drained(names)
        m = ingester.metrics()
        assert (m["consumed"], m["applied"], m["duplicates"], m["dead_lettered"]) == (350, 300, 50, 0)
        wait_until(ingester.ready, 10, "readiness")
        assert ingester.get("/healthz")[0] == 200
    finally:
        assert ingester.terminate() == 0, ingester.log()
    assert_exactly_once(config, names, evs)


def test_sigkill_mid_stream_then_restart_counts_every_event_exactly_once(names, tmp_path):
    config = _config(names, ack_wait_s=2.0, batch=50)
    evs = events(1500, assets=10)
    assert publish(config, evs).published == 1500

    first = IngesterProcess(config, tmp_path)
    first.wait_metric("applied", 200)
    before_kill = first.metrics()
    first.kill()  # SIGKILL: no drain, acks of the batch in flight never sent
    pending, ack_pending, _ = consumer_state(names)
    assert pending + ack_pending > 0 and before_kill["applied"] < 1500, "the kill must land mid-stream"

    second = IngesterProcess(config, tmp_path)
    try:
        wait_drained(names, timeout=90)
        m = second.metrics()
        assert m["applied"] + m["duplicates"] == m["consumed"]
        assert 0 < m["applied"] < 1500  # it resumed where the durable consumer was, not from scratch
        assert m["dead_lettered"] == 0
    finally:
        assert second.terminate() == 0, second.log()
    assert_exactly_once(config, names, evs)


def test_poison_messages_are_dead_lettered_once_and_ingestion_continues(names, tmp_path):
    config = _config(names, ack_wait_s=1.0, max_deliver=3)
    evs = events(100)
    publish(config, evs[:50])
    good = json.loads(encode_event(config.source, evs[0])[1])
    poison = [
        b"{not json",
        b"[1, 2, 3]",
        json.dumps({**good, "_event_id": "p-range", "vibration": 999.0}).encode(),
        json.dumps({**good, "_event_id": "p-category", "asset_type": "rocket"}).encode(),
        json.dumps({**good, "_event_id": "p-null", "event_time": None}).encode(),
        json.dumps({**good, "_event_id": "p-time", "event_time": "yesterday"}).encode(),
    ]
    publish_raw(names.subject, poison, [f"poison-{i}" for i in range(len(poison))])
    publish(config, evs[50:])

    ingester = IngesterProcess(config, tmp_path)
    try:
        ingester.wait_metric("consumed", 106)
        wait_drained(names)
        time.sleep(3 * config.consumer.ack_wait_s)  # long enough for any redelivery to show
        m = ingester.metrics()
        assert (m["applied"], m["dead_lettered"], m["consumed"], m["redelivered"]) == (100, 6, 106, 0)
        assert consumer_state(names)[2] == 0  # JetStream redelivered nothing: poison was terminated
        assert ingester.ready()
    finally:
        assert ingester.terminate() == 0, ingester.log()
    letters = dead_letters(names)
    assert [data for data, _ in letters] == poison
    reasons = [h["Specops-Reason"] for _, h in letters]
    assert reasons[0].startswith("malformed JSON") and reasons[1].startswith("malformed event")
    assert "range(vibration)" in reasons[2] and "category(asset_type)" in reasons[3]
    assert "null(event_time)" in reasons[4] and "not an ISO-8601 timestamp" in reasons[5]
    assert all(h["Specops-Source"] == "sensor" and h["Specops-Subject"] == names.subject for _, h in letters)
    assert_exactly_once(config, names, evs)


def test_sigterm_drains_in_flight_events_and_acks_nothing_unapplied(names, tmp_path):
    config = _config(names, batch=100)
    evs = events(2000, assets=8)
    publish(config, evs)
    ingester = IngesterProcess(config, tmp_path)
    ingester.wait_metric("applied", 150)
    assert ingester.terminate() == 0, ingester.log()
    assert "stopped: consumed=" in ingester.log()
    pending, ack_pending, _ = consumer_state(names)
    assert ack_pending == 0, "a fetched batch was left unacked: SIGTERM must finish in-flight events"
    assert 0 < pending < 2000
    # Exactly the acked events are in the store: the first 2000 - pending in stream order.
    assert_exactly_once(config, names, evs[: 2000 - pending])


def test_nats_outage_readiness_false_then_reconnects_and_catches_up(names, tmp_path):
    proxy = TcpProxy(4222)
    config = _config(names, nats_url=f"nats://127.0.0.1:{proxy.port}")
    evs = events(200)
    publish(config, evs[:100])
    ingester = IngesterProcess(config, tmp_path)
    try:
        ingester.wait_metric("applied", 100)
        wait_until(ingester.ready, 10, "readiness")
        proxy.cut()
        wait_until(lambda: not ingester.ready(), 15, "readiness to drop while NATS is unreachable")
        code, body = ingester.get("/readyz")
        assert code == 503 and "NATS disconnected" in json.loads(body)["reasons"]
        assert ingester.get("/healthz")[0] == 200  # alive: no restart for a network outage
        publish(config, evs[100:])  # the stream keeps filling meanwhile (published directly)
        time.sleep(1.0)
        assert ingester.metrics()["applied"] == 100
        proxy.restore()
        ingester.wait_metric("applied", 200, timeout=60)
        wait_until(ingester.ready, 15, "readiness after reconnecting")
        wait_drained(names)
    finally:
        rc = ingester.terminate()
        proxy.close()
    assert rc == 0, ingester.log()
    assert_exactly_once(config, names, evs)


def test_redis_outage_no_ack_retry_readiness_false_then_recovers(names, tmp_path):
    proxy = TcpProxy(6379)
    config = _config(names, store_url=f"redis://127.0.0.1:{proxy.port}/0?prefix={names.redis_prefix}", ack_wait_s=1.0)
    evs = events(200)
    publish(config, evs[:100])
    ingester = IngesterProcess(config, tmp_path)
    try:
        ingester.wait_metric("applied", 100)
        proxy.cut()
        publish(config, evs[100:])
        ingester.wait_metric("store_errors", 1)
        wait_until(lambda: not ingester.ready(), 15, "readiness to drop while Redis is unreachable")
        assert "online store unavailable" in json.loads(ingester.get("/readyz")[1])["reasons"]
        time.sleep(2.5 * config.consumer.ack_wait_s)  # past ack wait: in_progress keeps the event ours
        m = ingester.metrics()
        assert m["applied"] == 100 and m["dead_lettered"] == 0
        pending, ack_pending, _ = consumer_state(names)
        assert ack_pending >= 1 and pending + ack_pending == 100  # nothing acked without being applied
        proxy.restore()
        ingester.wait_metric("applied", 200, timeout=60)
        wait_until(ingester.ready, 15, "readiness after Redis is back")
        wait_drained(names)
        m = ingester.metrics()
        # held with in_progress, nothing was redelivered even though the outage outlasted ack wait
        assert (m["duplicates"], m["redelivered"]) == (0, 0)
    finally:
        rc = ingester.terminate()
        proxy.close()
    assert rc == 0, ingester.log()
    assert_exactly_once(config, names, evs)


def test_stream_and_consumer_setup_is_idempotent_and_a_foreign_stream_is_refused(names, tmp_path):
    from runtime.stream.jetstream import StreamSetupError, ensure_consumer, ensure_stream

    config = _config(names)

    async def setup_twice():
        nc = await nats.connect(NATS_URL)
        try:
            js = nc.jetstream()
            for ack_wait in (2.0, 2.0, 5.0):  # same settings twice, then a changed one: updated in place
                await ensure_stream(js, config.source)
                consumer = config.consumer.model_copy(update={"ack_wait_s": ack_wait})
                await ensure_consumer(js, config.source, consumer)
            info = await js.consumer_info(names.stream, names.durable)
            streams = [s.config.name for s in await js.streams_info() if s.config.name == names.stream]
            other = config.source.model_copy(update={"subject": f"test.{names.token}.other"})
            with pytest.raises(StreamSetupError, match="exists but captures"):
                await ensure_stream(js, other)
            return info.config.ack_wait, info.config.max_deliver, streams
        finally:
            await nc.close()

    ack_wait, max_deliver, streams = asyncio.run(setup_twice())
    assert (ack_wait, max_deliver, streams) == (5.0, config.consumer.max_deliver, [names.stream])

    # The ingester refuses a stream that does not capture its subject: exit 1, one clear line.
    bad = config.model_copy(update={"source": config.source.model_copy(update={"subject": f"test.{names.token}.x"})})
    ingester = IngesterProcess(bad, tmp_path)
    assert ingester.proc.wait(timeout=60) == 1
    log = ingester.log()
    assert f"stream '{names.stream}' exists but captures" in log and "Traceback" not in log


def test_the_stream_feeds_the_online_store_exactly_like_the_file_replay(names, repo, tmp_path):
    """Same generator events (with nulls and duplicates), two paths: applied straight from the
    records (the file replay) and published -> NATS -> ingester.  Every feature of the example's
    asset-health set must be identical, so nothing is lost or bent on the wire."""
    from runtime.contracts.steps import GeneratorConfig
    from runtime.data.generator import iter_events

    example = IngestConfig.model_validate_json((repo / "generated/runtime/ingest-sensor-stream/ingest.json").read_text())
    mine = _config(names)
    config = example.model_copy(update={
        "source": example.source.model_copy(update={k: getattr(mine.source, k) for k in ("stream_url", "subject", "stream", "durable")}),
        "consumer": mine.consumer, "online_store": mine.online_store, "port": mine.port})
    generator = GeneratorConfig(seed=5, assets=6, days=1.0, null_rate=0.05, duplicate_rate=0.03)
    records = list(iter_events(generator))
    distinct = {r["_event_id"] for r in records}
    assert len(distinct) < len(records)  # the generator did inject duplicates

    direct = OnlineEngine(config.feature_sets, open_store("memory://"))
    for r in records:
        direct.apply(r)
    published = publish(config, records)
    assert published.published == len(distinct) and published.duplicates == len(records) - len(distinct)

    ingester = IngesterProcess(config, tmp_path)
    try:
        ingester.wait_metric("applied", len(distinct), timeout=90)
        wait_drained(names)
        assert ingester.metrics()["dead_lettered"] == 0
    finally:
        assert ingester.terminate() == 0, ingester.log()
    streamed = OnlineEngine(config.feature_sets, open_store(_store(names)))
    for asset in sorted({r["asset_id"] for r in records}):
        last = max(r["event_time"] for r in records if r["asset_id"] == asset)
        assert streamed.read(asset, last) == direct.read(asset, last), asset
