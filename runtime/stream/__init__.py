"""The event stream (NATS JetStream): the publisher that replays events onto
a subject, and the ingester that applies them to the online store exactly
once (ack only after apply; idempotent apply by event id)."""

from runtime.stream.decode import Poison, decode_event
from runtime.stream.ingester import Ingester
from runtime.stream.jetstream import StreamSetupError, connect_options, ensure_consumer, ensure_stream
from runtime.stream.publisher import PublishResult, publish_events
from runtime.stream.status import IngestStatus

__all__ = [
    "Ingester",
    "IngestStatus",
    "Poison",
    "PublishResult",
    "StreamSetupError",
    "connect_options",
    "decode_event",
    "ensure_consumer",
    "ensure_stream",
    "publish_events",
]
