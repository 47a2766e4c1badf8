"""Shared pieces of the NATS/Redis stream tests: unique stream names per
test, a real ingester subprocess (`python -m runtime ingest`), its metrics,
and a TCP proxy that takes a service away and brings it back."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import nats
from nats.js.errors import NotFoundError

from runtime.contracts.steps import (
    AggregationConfig,
    ArtifactStoreConfig,
    DataSourceConfig,
    FeatureSetConfig,
    FieldConfig,
    IngestConfig,
    OnlineStoreConfig,
    StreamConsumerConfig,
)
from runtime.stream.publisher import publish_events

__all__ = [
    "require_service", "NATS_URL", "REDIS_URL", "IngesterProcess", "StreamNames", "TcpProxy", "delete_streams", "delete_redis_prefix",
    "events", "free_port", "ingest_config", "publish", "publish_raw", "wait_until",
]

REPO = Path(__file__).resolve().parents[2]


def _shared_conftest():  # type: ignore[no-untyped-def]
    # `from conftest import ...` is ambiguous without packages (tests/fuzz has a conftest.py too):
    # load the top-level one by path to use its require_service (skip locally, fail in CI).
    spec = importlib.util.spec_from_file_location("specops_tests_conftest", REPO / "tests" / "conftest.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


require_service = _shared_conftest().require_service
NATS_URL = "nats://127.0.0.1:4222"
REDIS_URL = "redis://127.0.0.1:6379/0"
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)


@dataclass(frozen=True)
class StreamNames:
    """Per-test names so parallel runs never share a stream, durable or key."""

    token: str
    stream: str
    subject: str
    durable: str
    dead_letter_stream: str
    dead_letter_subject: str
    redis_prefix: str

    @classmethod
    def new(cls) -> "StreamNames":
        t = uuid.uuid4().hex[:12]
        return cls(t, f"T_{t}", f"test.{t}.events", f"d-{t}", f"T_{t}_DEAD_LETTER", f"test.{t}.dead", f"test-{t}")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def source_config(names: StreamNames, url: str = NATS_URL) -> DataSourceConfig:
    return DataSourceConfig(
        name="sensor", type="stream", stream_url=url, subject=names.subject, stream=names.stream, durable=names.durable,
        entity="asset_id", timestamp="event_time",
        fields=(FieldConfig(name="asset_id", type="string"), FieldConfig(name="event_time", type="timestamp"),
                FieldConfig(name="asset_type", type="category", values=("pump", "turbine")),
                FieldConfig(name="vibration", type="float", nullable=True, min=0, max=50)),
        max_null_fraction=0.05, max_duplicate_fraction=0.01, max_out_of_range_fraction=0.01, min_rows=1,
        quarantine_action="quarantine", max_bad_fraction=0.05,
    )


def feature_set() -> FeatureSetConfig:
    week = 7 * 86400.0
    return FeatureSetConfig(
        name="health", source="sensor", entity="asset_id", timestamp="event_time", attributes=("asset_type",),
        transforms=(),
        aggregations=(AggregationConfig(name="events_count_7d", column=None, function="count", window_s=week),
                      AggregationConfig(name="vibration_sum_7d", column="vibration", function="sum", window_s=week)),
    )


def ingest_config(names: StreamNames, *, store_url: str, port: int, nats_url: str = NATS_URL,
                  ack_wait_s: float = 2.0, max_deliver: int = 20, batch: int = 50) -> IngestConfig:
    return IngestConfig(
        model="sensor", spec_hash="0" * 64, artifacts=ArtifactStoreConfig(uri=".specops/artifacts"),
        work_dir=".specops/work/ingest-sensor", source=source_config(names, nats_url), feature_sets=(feature_set(),),
        online_store=OnlineStoreConfig(backend="redis" if store_url.startswith("redis") else "sqlite", url=store_url),
        consumer=StreamConsumerConfig(ack_wait_s=ack_wait_s, max_deliver=max_deliver, batch=batch,
                                      dead_letter_subject=names.dead_letter_subject,
                                      dead_letter_stream=names.dead_letter_stream),
        port=port,
    )


def events(n: int, assets: int = 5, prefix: str = "e") -> list[dict[str, object]]:
    """n valid events spread over `assets` assets, one minute apart, in arrival order."""
    out = []
    for i in range(n):
        t = T0 + timedelta(seconds=60 * i)
        out.append({"asset_id": f"A{i % assets:03d}", "event_time": t, "asset_type": "pump" if i % 2 else "turbine",
                    "vibration": float(i % 17) + 0.5, "_event_id": f"{prefix}-{i:06d}", "_arrival_time": t})
    return out


async def _with_js(url: str, fn: Callable) -> object:  # type: ignore[type-arg]
    nc = await nats.connect(url)
    try:
        return await fn(nc.jetstream())
    finally:
        await nc.drain()


def publish(config: IngestConfig, records: Iterable[Mapping[str, object]]):  # type: ignore[no-untyped-def]
    """Publish through the runtime's publisher (creating the stream like the ingester would)."""
    from runtime.stream.jetstream import ensure_stream

    async def go(js):  # type: ignore[no-untyped-def]
        await ensure_stream(js, config.source)
        return await publish_events(js, config.source, records)

    return asyncio.run(_with_js(NATS_URL, go))


def publish_raw(subject: str, payloads: Iterable[bytes], msg_ids: Iterable[str | None] | None = None) -> None:
    """Publish bytes as they are (poison, or duplicates under a different Nats-Msg-Id)."""
    payloads = list(payloads)
    ids = list(msg_ids) if msg_ids is not None else [None] * len(payloads)

    async def go(js):  # type: ignore[no-untyped-def]
        for payload, mid in zip(payloads, ids):
            await js.publish(subject, payload, headers={"Nats-Msg-Id": mid} if mid else None)

    asyncio.run(_with_js(NATS_URL, go))


def delete_streams(*names: str) -> None:
    async def go(js):  # type: ignore[no-untyped-def]
        for name in names:
            try:
                await js.delete_stream(name)
            except NotFoundError:
                pass

    asyncio.run(_with_js(NATS_URL, go))


def delete_redis_prefix(prefix: str) -> None:
    import redis

    client = redis.Redis(host="127.0.0.1", port=6379, db=0)
    keys = list(client.scan_iter(match=f"{prefix}:*", count=1000))
    if keys:
        client.delete(*keys)
    client.close()


def wait_until(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


class IngesterProcess:
    """A real `python -m runtime ingest --config FILE` subprocess."""

    def __init__(self, config: IngestConfig | Path, workdir: Path, port: int | None = None) -> None:
        if isinstance(config, Path):
            self.config_path = config
            self.port = port if port is not None else json.loads(config.read_text())["port"]
        else:
            self.config_path = workdir / f"ingest-{uuid.uuid4().hex[:6]}.json"
            self.config_path.write_text(config.model_dump_json())
            self.port = config.port
        self.log_path = workdir / f"{self.config_path.stem}-{uuid.uuid4().hex[:6]}.log"
        self._log = open(self.log_path, "wb")
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        self.proc = subprocess.Popen([sys.executable, "-m", "runtime", "ingest", "--config", str(self.config_path)],
                                     cwd=workdir, stdout=self._log, stderr=subprocess.STDOUT, env=env)

    def get(self, path: str) -> tuple[int, str]:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=2) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()
        except OSError:
            return 0, ""

    def metrics(self) -> dict[str, float]:
        code, text = self.get("/metrics")
        out: dict[str, float] = {}
        if code != 200:
            return out
        for line in text.splitlines():
            if line and not line.startswith("#"):
                name, value = line.rsplit(" ", 1)
                out[name.split("{", 1)[0].removeprefix("specops_ingest_").removesuffix("_total")] = float(value)
        return out

    def ready(self) -> bool:
        return self.get("/readyz")[0] == 200

    def log(self) -> str:
        if not self._log.closed:
            self._log.flush()
        return self.log_path.read_text(errors="replace")

    def wait_metric(self, name: str, at_least: float, timeout: float = 30.0) -> None:
        wait_until(lambda: self.metrics().get(name, -1) >= at_least or self.proc.poll() is not None, timeout,
                   f"{name} >= {at_least}")
        assert self.proc.poll() is None, f"ingester exited ({self.proc.returncode}):\n{self.log()}"

    def terminate(self, timeout: float = 20.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        rc = self.proc.wait(timeout=timeout)
        self._log.close()
        return rc

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)
        self._log.close()


class TcpProxy:
    """Forwards a local port to a service; `cut()` drops every connection and refuses new ones
    (the service is gone as far as the client can tell), `restore()` brings it back on the same port."""

    def __init__(self, target_port: int, target_host: str = "127.0.0.1") -> None:
        self.target = (target_host, target_port)
        self.port = free_port()
        self.loop = asyncio.new_event_loop()
        self.server: asyncio.AbstractServer | None = None
        self.writers: set[asyncio.StreamWriter] = set()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.restore()

    def _call(self, coro):  # type: ignore[no-untyped-def]
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=10)

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.close()
            return
        self.writers |= {writer, up_writer}
        await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))
        self.writers -= {writer, up_writer}

    def restore(self) -> None:
        async def start() -> None:
            self.server = await asyncio.start_server(self._handle, "127.0.0.1", self.port, reuse_address=True)
        self._call(start())

    def cut(self) -> None:
        async def stop() -> None:
            if self.server is not None:
                self.server.close()
                self.server = None
            for w in list(self.writers):
                w.transport.abort()
            self.writers.clear()
        self._call(stop())

    def close(self) -> None:
        self.cut()
        self.loop.call_soon_threadsafe(self.loop.stop)
