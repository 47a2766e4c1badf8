"""Replays event records onto a JetStream subject.

Each message is the record's canonical JSON, projected onto the source's
declared fields plus the system columns (an undeclared column, such as PII
the stream does not carry, is not published), with ``Nats-Msg-Id`` = the
event id: JetStream drops a re-publish inside its duplicate window, and the
ingester's idempotent apply catches the rest.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from nats.js import JetStreamContext

from runtime.contracts.steps import DataSourceConfig
from runtime.events import SYSTEM_COLUMNS, canonical_json, event_id

__all__ = ["ACK_TIMEOUT_S", "PublishResult", "encode_event", "publish_events"]

ACK_TIMEOUT_S = 10.0  # JetStream normally acks in milliseconds; no ack this long = not stored


@dataclass(frozen=True, slots=True)
class PublishResult:
    published: int  # stored by JetStream
    duplicates: int  # dropped by JetStream's de-duplication window (same Nats-Msg-Id)


def encode_event(source: DataSourceConfig, record: Mapping[str, object]) -> tuple[str, bytes]:
    """(event id, payload) of one record, as the ingester decodes it."""
    keep = {f.name for f in source.fields} | set(SYSTEM_COLUMNS)
    projected = {k: v for k, v in record.items() if k in keep}
    eid = event_id(record)
    projected["_event_id"] = eid
    return eid, canonical_json(projected).encode()


async def publish_events(js: JetStreamContext, source: DataSourceConfig, records: Iterable[Mapping[str, object]],
                         *, window: int = 256) -> PublishResult:
    """Publish in order, waiting for JetStream's ack of every message (at most ``window`` in flight)."""
    assert source.subject is not None
    published = duplicates = 0
    pending = []
    for record in records:
        eid, payload = encode_event(source, record)
        pending.append(await js.publish_async(source.subject, payload, headers={"Nats-Msg-Id": eid}))
        if len(pending) >= window:
            p, d = await _settle(pending)
            published, duplicates, pending = published + p, duplicates + d, []
    p, d = await _settle(pending)
    return PublishResult(published + p, duplicates + d)


async def _settle(futures: list) -> tuple[int, int]:  # type: ignore[type-arg]
    published = duplicates = 0
    for fut in futures:
        ack = await asyncio.wait_for(fut, timeout=ACK_TIMEOUT_S)
        if ack.duplicate:
            duplicates += 1
        else:
            published += 1
    return published, duplicates
