"""The ingester: a durable JetStream consumer that applies each event to the
online store exactly once.

Per message: decode -> record contract -> apply -> ack.  Exactly once comes
from two rules together: a message is acknowledged only after the online
engine has applied it (a crash before the ack means JetStream redelivers it),
and the engine's apply is idempotent by event id (a redelivery or a
duplicate publish changes nothing and is acked as a duplicate).

Failures, and what happens:

* poison (not JSON, unreadable timestamp, contract violation, or an event the
  engine rejects): copied to the dead-letter subject with the reason, then
  terminated, so it is never redelivered and ingestion goes on;
* online store unreachable: the message is not acked; the apply is retried
  with backoff while ``in_progress`` keeps JetStream from redelivering it
  meanwhile (redeliveries would count towards maxDeliver and could drop it);
  readiness is false until the store answers;
* NATS unreachable: the client reconnects forever; readiness is false while
  disconnected; acks are never sent for unapplied events;
* SIGTERM: stop fetching, finish the messages already fetched (apply + ack),
  flush the acks, exit 0.  A message whose apply cannot finish is left unacked.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import nats
import redis.exceptions
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js import JetStreamContext

from runtime.contracts.steps import IngestConfig
from runtime.stream.decode import Poison, decode_event
from runtime.stream.jetstream import (
    StreamSetupError,
    connect_options,
    ensure_consumer,
    ensure_dead_letter_stream,
    ensure_stream,
)
from runtime.stream.status import IngestStatus

__all__ = ["TRANSIENT_STORE_ERRORS", "Applier", "Checker", "Ingester"]

log = logging.getLogger("runtime.stream.ingester")
T = TypeVar("T")

# The store is down or busy, not the event bad: retry, never dead-letter.
TRANSIENT_STORE_ERRORS: tuple[type[BaseException], ...] = (
    OSError, TimeoutError, sqlite3.OperationalError,
    redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, redis.exceptions.BusyLoadingError,
    redis.exceptions.ReadOnlyError, redis.exceptions.TryAgainError,
)
FETCH_TIMEOUT_S = 1.0
LAG_INTERVAL_S = 2.0
RETRY_MIN_S, RETRY_MAX_S = 0.2, 2.0

Applier = Callable[[Mapping[str, object]], bool]  # OnlineEngine.apply: False when already applied
Checker = Callable[[Mapping[str, object]], Sequence[object]]  # record -> contract violations (empty = OK)
Prober = Callable[[], object]  # a cheap store read; raises when the store is unreachable


def _describe(violations: Sequence[object]) -> str:
    parts = []
    for v in violations:
        rule, column, message = (getattr(v, a, None) for a in ("rule", "column", "message"))
        parts.append(f"{rule}({column}): {message}" if rule else str(v))
    return "contract violation: " + "; ".join(parts)


class Ingester:
    def __init__(self, config: IngestConfig, apply: Applier, check: Checker, probe: Prober, status: IngestStatus) -> None:
        self.config = config
        self.source = config.source
        self.apply_event = apply
        self.check = check
        self.probe = probe
        self.status = status
        self.stop = asyncio.Event()
        self.inflight: list[Msg] = []  # fetched, not yet acked or terminated
        # Store calls run on one worker thread (serialised, like the inline engine expects) so the
        # loop keeps holding in-flight messages and answering NATS while a call blocks in a
        # client's own retry/backoff during an outage.
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="online-store")
        # Re-claim held messages well within the shortest redelivery delay.
        self.hold_interval = min((config.consumer.ack_wait_s, *config.consumer.backoff_s)) / 2

    # ------------------------------------------------------------ lifecycle

    async def run(self) -> int:
        """Consume until ``stop`` is set; 0 after a graceful stop, 1 when the stream cannot be set up."""
        nc = await self._connect()
        if nc is None:
            return 0
        try:
            sub, js = await self._setup(nc)
            if sub is None:
                return 0
            await self._consume(js, sub)
        except StreamSetupError as exc:
            log.error("%s", exc)
            return 1
        finally:
            self.status.set(stopping=True, subscribed=False)
            try:
                # A PING/PONG round trip: every ack sent before it has reached the server.  (Not
                # drain(): it waits for the pull subscription's queue, which fetch never marks done.)
                await nc.flush(timeout=5)
            except Exception as exc:  # the connection may already be gone; unacked events are redelivered
                log.warning("flushing acks to NATS: %s", exc)
            await nc.close()
            self.status.set(nats_connected=False)
            self.executor.shutdown(wait=False, cancel_futures=True)
        return 0

    async def _store_call(self, fn: Callable[..., T], *args: object, hold: Msg | None = None) -> T:
        future = asyncio.get_running_loop().run_in_executor(self.executor, fn, *args)
        while True:
            done, _ = await asyncio.wait({future}, timeout=self.hold_interval)
            if done:
                return future.result()
            if hold is not None:
                await self._hold_inflight(hold)

    async def _connect(self) -> Client | None:
        async def disconnected() -> None:
            self.status.set(nats_connected=False)
            log.warning("NATS disconnected; reconnecting")

        async def reconnected() -> None:
            self.status.set(nats_connected=True)
            log.info("NATS reconnected")

        async def error(exc: Exception) -> None:
            log.warning("NATS: %s", exc)

        assert self.source.stream_url is not None
        delay = RETRY_MIN_S
        while not self.stop.is_set():
            self.status.beat()
            try:
                nc = await nats.connect(**connect_options(
                    self.source.stream_url, name=f"specops-ingest-{self.source.name}",
                    on_disconnect=disconnected, on_reconnect=reconnected, on_error=error))
                self.status.set(nats_connected=True)
                return nc
            except Exception as exc:  # the first connection is not retried by the client itself
                log.warning("cannot connect to %s: %s; retrying in %.1fs", self.source.stream_url, exc, delay)
                await self._sleep(delay)
                delay = min(delay * 2, RETRY_MAX_S)
        return None

    async def _setup(self, nc: Client) -> tuple[JetStreamContext.PullSubscription | None, JetStreamContext]:
        js = nc.jetstream()
        delay = RETRY_MIN_S
        while not self.stop.is_set():
            self.status.beat()
            try:
                await ensure_stream(js, self.source)
                await ensure_dead_letter_stream(js, self.config.consumer)
                sub = await ensure_consumer(js, self.source, self.config.consumer)
                self.status.set(subscribed=True)
                return sub, js
            except StreamSetupError:
                raise
            except Exception as exc:  # NATS/JetStream unavailable: wait for it
                log.warning("setting up stream %s: %s; retrying in %.1fs", self.source.stream, exc, delay)
                await self._sleep(delay)
                delay = min(delay * 2, RETRY_MAX_S)
        return None, js

    async def _sleep(self, seconds: float) -> None:
        try:
            await asyncio.wait_for(self.stop.wait(), timeout=seconds)
        except asyncio.TimeoutError:
            pass

    # ------------------------------------------------------------- the loop

    async def _consume(self, js: JetStreamContext, sub: JetStreamContext.PullSubscription) -> None:
        loop = asyncio.get_running_loop()
        next_lag = 0.0
        while not self.stop.is_set():
            self.status.beat()
            if loop.time() >= next_lag:
                await self._update_lag(sub)
                await self._probe_store()
                next_lag = loop.time() + LAG_INTERVAL_S
            try:
                msgs = await sub.fetch(self.config.consumer.batch, timeout=FETCH_TIMEOUT_S)
            except nats.errors.TimeoutError:
                continue
            except Exception as exc:  # disconnected, or JetStream briefly unavailable
                log.warning("fetch from %s: %s", self.source.stream, exc)
                await self._sleep(RETRY_MIN_S)
                continue
            # Messages already fetched are in flight: each is finished (applied + acked) even
            # when a SIGTERM arrives meanwhile, so a stop never strands a fetched batch.
            self.inflight = list(msgs)
            for msg in msgs:
                if not await self.handle(js, msg):
                    return  # stopping while the store is down: leave the rest unacked
                self.inflight.remove(msg)

    async def _probe_store(self) -> None:
        """Readiness must reflect the store even when no events arrive."""
        try:
            await self._store_call(self.probe)
        except TRANSIENT_STORE_ERRORS as exc:
            if self.status.snapshot().store_ok:
                log.warning("online store unavailable: %s", exc)
            self.status.set(store_ok=False)
        else:
            self.status.set(store_ok=True)

    async def _update_lag(self, sub: JetStreamContext.PullSubscription) -> None:
        try:
            info = await sub.consumer_info()
        except Exception:  # informational only
            return
        self.status.set(lag=int(info.num_pending or 0) + int(info.num_ack_pending or 0))

    async def handle(self, js: JetStreamContext, msg: Msg) -> bool:
        """Process one message; False only when it was left unacked because we are stopping."""
        self.status.count("consumed")
        try:
            delivered = msg.metadata.num_delivered
        except Exception:
            delivered = 1
        if delivered > 1:
            self.status.count("redelivered")
        record = decode_event(self.source, msg.data)
        if isinstance(record, Poison):
            return await self._dead_letter(js, msg, record.reason)
        try:
            violations = self.check(record)
        except Exception as exc:  # a value the contract check cannot even inspect is poison too
            return await self._dead_letter(js, msg, f"contract check failed: {type(exc).__name__}: {exc}")
        if violations:
            return await self._dead_letter(js, msg, _describe(violations))
        delay = RETRY_MIN_S
        while True:
            try:
                applied = await self._store_call(self.apply_event, record, hold=msg)
                break
            except TRANSIENT_STORE_ERRORS as exc:
                self.status.count("store_errors")
                self.status.set(store_ok=False)
                log.warning("online store unavailable (%s); event %s not acked, retrying in %.1fs",
                            exc, record.get("_event_id"), delay)
                if self.stop.is_set():
                    return False
                await self._hold_inflight(msg)
                await self._sleep(min(delay, self.hold_interval))
                delay = min(delay * 2, RETRY_MAX_S)
                self.status.beat()
            except (ValueError, TypeError, KeyError) as exc:  # the engine rejects this event: poison
                return await self._dead_letter(js, msg, f"online engine rejected the event: {exc}")
        self.status.set(store_ok=True)
        await self._ack(msg)
        self.status.count("applied" if applied else "duplicates")
        return True

    async def _hold_inflight(self, current: Msg) -> None:
        """Keep the current and the rest of the fetched batch ours while the store is down: no
        redelivery meanwhile (each would use up one of maxDeliver and arrive as a duplicate)."""
        for msg in {id(m): m for m in (current, *self.inflight)}.values():
            try:
                await msg.in_progress()
            except Exception:  # NATS gone too: JetStream redelivers later, the apply stays idempotent
                pass

    async def _ack(self, msg: Msg) -> None:
        try:
            await msg.ack()
        except Exception as exc:  # applied but not acked: the redelivery will be a counted duplicate
            log.warning("ack failed (%s); the event will be redelivered and recognised as a duplicate", exc)

    async def _dead_letter(self, js: JetStreamContext, msg: Msg, reason: str) -> bool:
        """Store the message on the dead-letter subject with its reason, then terminate it.
        If that publish fails the message stays unacked and comes back: nothing is lost."""
        consumer = self.config.consumer
        try:
            seq = msg.metadata.sequence.stream
        except Exception:
            seq = 0
        headers = {
            "Nats-Msg-Id": f"{self.source.stream}:{seq}",  # a re-dead-letter after a crash is de-duplicated
            "Specops-Reason": reason[:1000].replace("\r", " ").replace("\n", " "),
            "Specops-Source": self.source.name,
            "Specops-Subject": msg.subject,
            "Specops-Stream-Sequence": str(seq),
        }
        try:
            await js.publish(consumer.dead_letter_subject, msg.data, headers=headers, stream=consumer.dead_letter_stream)
            await msg.term()
        except Exception as exc:
            log.warning("dead-lettering message %s failed (%s); it stays unacked and will be redelivered", seq, exc)
            return True
        self.status.count("dead_lettered")
        log.warning("dead-lettered message %s of %s: %s", seq, self.source.stream, reason)
        return True
