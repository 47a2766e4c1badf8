"""``python -m runtime edge-run --config edge-run-<env>.json`` (alias: ``edge``).

Serves predictions on an edge gateway from a signed bundle (``runtime.edge``):
start-up recovery (a corrupt ``current`` switches back to ``previous``), the
configured release's bundle, then a poller for newer bundles, and the local
HTTP API on ``port`` (8080).  Exit 0 on SIGTERM/SIGINT, 1 when the trusted
key cannot be read or the port cannot be bound.
"""

from __future__ import annotations

import logging
import signal
import sys
import threading
from pathlib import Path
from types import FrameType

from runtime.contracts.steps import EdgeRunConfig
from runtime.edge.http import EdgeServer
from runtime.edge.loaded import CheckPolicy
from runtime.edge.runner import EdgeRunner
from runtime.export.signing import SigningError, load_public_key

__all__ = ["DEFAULT_PORT", "run"]

DEFAULT_PORT = 8080


def _policy(config: EdgeRunConfig) -> CheckPolicy:
    path = Path(config.trusted_key_file)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise SigningError(f"{path}: cannot read the trusted edge public key ({exc.strerror}); mount it "
                           "(trusted_key_file) — a bundle is never trusted by a key it carries") from None
    try:
        trusted = load_public_key(data)
    except SigningError as exc:
        raise SigningError(f"{path}: {exc}") from None
    return CheckPolicy(trusted, config.allow_throwaway_key, config.health_tolerance, config.max_latency_ms)


def run(config: EdgeRunConfig) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(message)s", stream=sys.stderr)
    try:
        policy = _policy(config)
    except SigningError as exc:
        print(f"error: edge-run {config.model}: {exc}", file=sys.stderr)
        return 1
    runner = EdgeRunner(config, policy)
    runner.start()
    host = config.host if config.host is not None else "0.0.0.0"
    port = config.port if config.port is not None else DEFAULT_PORT
    try:
        server = EdgeServer(runner, host, port)
    except OSError as exc:
        print(f"error: edge-run {config.model}: cannot listen on {host}:{port}: {exc.strerror}", file=sys.stderr)
        return 1
    stop = threading.Event()
    poller = threading.Thread(target=runner.poll_forever, args=(stop,), name="edge-poll", daemon=True)
    poller.start()

    def _stop(signum: int, frame: FrameType | None) -> None:
        stop.set()
        threading.Thread(target=server.shutdown, daemon=True).start()  # shutdown() blocks until serve_forever ends

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    active = runner.active
    print(f"edge-run {config.model}: serving on http://{host}:{server.port} "
          f"({'version ' + active.version if active else 'NOT READY: no verified bundle yet'})", file=sys.stderr, flush=True)
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        stop.set()
        server.server_close()
    return 0
