"""The ingester's HTTP endpoints on one port, served from a thread so they
answer even while the asyncio loop waits on NATS or the store:

* ``GET /healthz``: liveness, 200 while the loop's heartbeat is recent;
* ``GET /readyz``: readiness, 200 while events flow (NATS + consumer + store), else 503 with the reasons;
* ``GET /metrics``: the counters in Prometheus text format.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from runtime.stream.status import IngestStatus, render_metrics

__all__ = ["LIVENESS_STALL_S", "HealthServer"]

# A loop iteration takes at most a fetch timeout or a store retry delay (seconds);
# no heartbeat for this long means the loop is stuck and the pod should restart.
LIVENESS_STALL_S = 60.0


class HealthServer:
    def __init__(self, status: IngestStatus, source: str, port: int, host: str = "0.0.0.0") -> None:
        self.status = status
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
                code, body, ctype = outer.respond(self.path)
                payload = body.encode()
                self.send_response(code)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: object) -> None:  # probes every few seconds: no access log
                return

        self.source = source
        self.server = ThreadingHTTPServer((host, port), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, name="ingest-health", daemon=True)

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    def respond(self, path: str) -> tuple[int, str, str]:
        snap = self.status.snapshot()
        route = path.split("?", 1)[0]
        if route == "/healthz":
            stalled = time.monotonic() - snap.heartbeat
            ok = stalled < LIVENESS_STALL_S
            return (200 if ok else 503), json.dumps({"alive": ok, "since_heartbeat_s": round(stalled, 3)}), "application/json"
        if route == "/readyz":
            body = {"ready": snap.ready, "reasons": snap.not_ready_reasons(), "lag": snap.lag}
            return (200 if snap.ready else 503), json.dumps(body), "application/json"
        if route == "/metrics":
            return 200, render_metrics(snap, self.source), "text/plain; version=0.0.4"
        return 404, json.dumps({"error": f"no such endpoint {route}; try /healthz, /readyz or /metrics"}), "application/json"

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
