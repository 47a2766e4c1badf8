"""Connecting to NATS and making sure the stream, the dead-letter stream and
the durable consumer exist, with the delivery settings the spec declares.

Creation is idempotent: an existing stream that already captures the subject
is used as it is (never reconfigured behind its owner's back); the durable
consumer is created or updated to the declared settings (JetStream's
consumer create is create-or-update for editable fields).
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable
from typing import Any

from nats.aio.client import RawCredentials
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy, StreamConfig
from nats.js.errors import BadRequestError
from nats.js.errors import NotFoundError

from runtime.contracts.steps import DataSourceConfig, StreamConsumerConfig

__all__ = [
    "NATS_CREDENTIALS_ENV",
    "StreamSetupError",
    "connect_options",
    "ensure_consumer",
    "ensure_dead_letter_stream",
    "ensure_stream",
    "consumer_config",
    "subject_matches",
]

# Set from the stream's credentials secretRef by the compiled Deployment.
NATS_CREDENTIALS_ENV = "NATS_CREDENTIALS"


class StreamSetupError(Exception):
    """The stream or consumer cannot be set up as declared; retrying will not help."""


def connect_options(url: str, *, name: str,
                    on_disconnect: Callable[[], Awaitable[None]] | None = None,
                    on_reconnect: Callable[[], Awaitable[None]] | None = None,
                    on_error: Callable[[Exception], Awaitable[None]] | None = None) -> dict[str, Any]:
    """Keyword arguments for ``nats.connect``: reconnect forever (an ingester outlives NATS restarts),
    credentials from ``NATS_CREDENTIALS`` (a .creds file's content, ``user:password`` or a token)."""
    options: dict[str, Any] = {
        "servers": [url], "name": name, "allow_reconnect": True, "max_reconnect_attempts": -1,
        "reconnect_time_wait": 0.5, "connect_timeout": 2, "ping_interval": 5, "max_outstanding_pings": 2,
    }
    if on_disconnect:
        options["disconnected_cb"] = on_disconnect
    if on_reconnect:
        options["reconnected_cb"] = on_reconnect
    if on_error:
        options["error_cb"] = on_error
    secret = os.environ.get(NATS_CREDENTIALS_ENV, "").strip()
    if "BEGIN NATS USER JWT" in secret:
        options["user_credentials"] = RawCredentials(secret)
    elif ":" in secret:
        options["user"], options["password"] = secret.split(":", 1)
    elif secret:
        options["token"] = secret
    return options


def subject_matches(pattern: str, subject: str) -> bool:
    """NATS subject matching: ``*`` one token, ``>`` the rest."""
    p, s = pattern.split("."), subject.split(".")
    for i, token in enumerate(p):
        if token == ">":
            return len(s) > i
        if i >= len(s) or (token != "*" and token != s[i]):
            return False
    return len(p) == len(s)


def _covers(patterns: list[str], subject: str) -> bool:
    # A stream subject pattern covers ours if every subject ours matches, it matches too.
    return any(p == subject or subject_matches(p, subject) for p in patterns)


async def _ensure(js: JetStreamContext, name: str, subject: str, what: str) -> None:
    try:
        info = await js.stream_info(name)
    except NotFoundError:
        try:
            await js.add_stream(StreamConfig(name=name, subjects=[subject]))
        except BadRequestError as exc:
            raise StreamSetupError(f"cannot create {what} stream '{name}' for subject '{subject}': {exc}") from None
        return
    subjects = list(info.config.subjects or [])
    if not _covers(subjects, subject):
        raise StreamSetupError(
            f"{what} stream '{name}' exists but captures {subjects}, not '{subject}': add the subject to the stream "
            "or point the DataSource's stream.stream at the stream that captures it")


async def ensure_stream(js: JetStreamContext, source: DataSourceConfig) -> None:
    if not source.stream or not source.subject:
        raise StreamSetupError(f"data source '{source.name}' has no stream/subject (is it a stream source?)")
    await _ensure(js, source.stream, source.subject, "event")


async def ensure_dead_letter_stream(js: JetStreamContext, consumer: StreamConsumerConfig) -> None:
    await _ensure(js, consumer.dead_letter_stream, consumer.dead_letter_subject, "dead-letter")


def consumer_config(source: DataSourceConfig, consumer: StreamConsumerConfig) -> ConsumerConfig:
    durable = source.durable or f"specops-{source.name}"
    return ConsumerConfig(
        name=durable, durable_name=durable, deliver_policy=DeliverPolicy.ALL, ack_policy=AckPolicy.EXPLICIT,
        ack_wait=consumer.ack_wait_s, max_deliver=consumer.max_deliver,
        backoff=list(consumer.backoff_s) or None, max_ack_pending=consumer.max_ack_pending,
        filter_subject=source.subject,
    )


async def ensure_consumer(js: JetStreamContext, source: DataSourceConfig,
                          consumer: StreamConsumerConfig) -> JetStreamContext.PullSubscription:
    """Create or update the durable pull consumer and bind to it."""
    cfg = consumer_config(source, consumer)
    assert source.stream is not None
    try:
        await js.add_consumer(source.stream, cfg)
    except BadRequestError as exc:
        raise StreamSetupError(f"cannot create or update durable consumer '{cfg.durable_name}' on stream "
                               f"'{source.stream}': {exc}") from None
    return await js.pull_subscribe_bind(durable=cfg.durable_name, stream=source.stream)
