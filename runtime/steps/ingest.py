"""``python -m runtime ingest --config generated/runtime/ingest-<source>/ingest.json``:
the long-running stream -> online store service (see ``runtime.stream.ingester``).

Exit status: 0 after a graceful stop (SIGTERM/SIGINT), 1 when the stream
cannot be set up as declared, 2 when the config cannot be used (online store
URL missing or invalid, port taken).
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
from functools import partial

from runtime.contracts.steps import IngestConfig, OnlineStoreConfig
from runtime.stream.health import HealthServer
from runtime.stream.ingester import Ingester
from runtime.stream.status import IngestStatus

__all__ = ["resolve_store_url", "run"]

log = logging.getLogger("runtime.steps.ingest")


class _Unusable(Exception):
    pass


def resolve_store_url(store: OnlineStoreConfig) -> str:
    """The store URL: from the config, or from the environment variable the Deployment fills from a Secret."""
    if store.url_env:
        url = os.environ.get(store.url_env, "").strip()
        if not url:
            raise _Unusable(f"online store: environment variable {store.url_env} is not set (the Deployment "
                            "fills it from the System's onlineStore.connection secretRef; create that Secret)")
        return url
    if store.url:
        return store.url
    raise _Unusable("online store: the config gives neither url nor url_env (recompile with `specops compile`)")


def run(config: IngestConfig) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    from runtime.data.contract import check_record
    from runtime.features.online import OnlineEngine
    from runtime.features.store import StoreError, open_store

    try:
        url = resolve_store_url(config.online_store)
        if url.startswith("sqlite:///"):
            parent = os.path.dirname(url[len("sqlite:///"):])
            if parent:
                os.makedirs(parent, exist_ok=True)
        store = open_store(url)
        engine = OnlineEngine(config.feature_sets, store)
    except (_Unusable, StoreError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    probe_fs = config.feature_sets[0].name if config.feature_sets else ""
    status = IngestStatus()
    try:
        server = HealthServer(status, config.source.name, config.port)
    except OSError as exc:
        print(f"error: cannot serve health endpoints on port {config.port}: {exc}", file=sys.stderr)
        return 2
    server.start()
    ingester = Ingester(config, engine.apply, partial(check_record, config.source),
                        lambda: store.get(probe_fs, "__specops_probe__"), status)

    async def main() -> int:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, ingester.stop.set)
        return await ingester.run()

    log.info("ingesting %s (%s on %s) into the %s online store; health on :%d",
             config.source.name, config.source.subject, config.source.stream, config.online_store.backend, server.port)
    try:
        return asyncio.run(main())
    finally:
        server.stop()
        snap = status.snapshot()
        log.info("stopped: consumed=%d applied=%d duplicates=%d dead_lettered=%d redelivered=%d store_errors=%d",
                 snap.consumed, snap.applied, snap.duplicates, snap.dead_lettered, snap.redelivered, snap.store_errors)
