"""The edge runner's local HTTP API (stdlib: a gateway is small).

``GET /healthz``  200 while the process runs (liveness)
``GET /readyz``   200 when a verified, healthy bundle serves, else 503
``GET /metrics``  Prometheus text (``runtime.edge.metrics``)
``GET /v1/status`` what serves, what is kept as previous, recent installs and refusals
``POST /v1/predict`` ``{"instances": [{feature: value, ...} | [values in feature order], ...]}``
                  -> ``{"model", "version", "predictions": [{"score", "decision", "threshold"}]}``
``POST /v1/poll`` check the sources now (same as the timer); returns the outcomes
"""

from __future__ import annotations

import json
import logging
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST

from runtime.edge.runner import EdgeRunner, InvalidInput, NotReady

__all__ = ["HEALTH_PATH", "PREDICT_PATH", "READY_PATH", "EdgeServer"]

log = logging.getLogger("runtime.edge")

HEALTH_PATH = "/healthz"
READY_PATH = "/readyz"
METRICS_PATH = "/metrics"
STATUS_PATH = "/v1/status"
PREDICT_PATH = "/v1/predict"
POLL_PATH = "/v1/poll"
MAX_BODY_BYTES = 1 << 20


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: a local client loop reuses its connection
    # Headers and body go out in two writes: with Nagle on, the body waits for the
    # client's delayed ACK (~40 ms per request on a keep-alive connection).
    disable_nagle_algorithm = True
    runner: EdgeRunner

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's signature
        log.debug("edge-run http: " + format, *args)

    def _send(self, status: int, body: bytes, content_type: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _json(self, status: int, obj: Any) -> None:
        self._send(status, (json.dumps(obj, sort_keys=True) + "\n").encode())

    def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
        path = self.path.split("?", 1)[0]
        if path == HEALTH_PATH:
            self._json(200, {"status": "alive"})
        elif path == READY_PATH:
            active = self.runner.active
            if active is None:
                self._json(503, {"ready": False, "reason": "no verified edge bundle serves yet"})
            else:
                self._json(200, {"ready": True, "version": active.version})
        elif path == METRICS_PATH:
            self._send(200, self.runner.metrics.render(), CONTENT_TYPE_LATEST)
        elif path == STATUS_PATH:
            self._json(200, self.runner.status())
        else:
            self._json(404, {"error": f"no such path {path}"})

    def do_POST(self) -> None:  # noqa: N802
        path = self.path.split("?", 1)[0]
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY_BYTES:
            self.close_connection = True
            self._json(413, {"error": f"body over {MAX_BODY_BYTES} bytes"})
            return
        body = self.rfile.read(length) if length else b""
        if path == POLL_PATH:
            self._json(200, {"outcomes": [o.to_json() for o in self.runner.poll_once()]})
        elif path == PREDICT_PATH:
            self._predict(body)
        else:
            self._json(404, {"error": f"no such path {path}"})

    def _predict(self, body: bytes) -> None:
        t0 = time.perf_counter()
        runner = self.runner
        active = runner.active
        version = active.version if active else "none"
        try:
            try:
                payload = json.loads(body)
            except ValueError as exc:
                raise InvalidInput(f"the body is not JSON: {exc}") from None
            if not isinstance(payload, dict) or "instances" not in payload:
                raise InvalidInput('expected {"instances": [...]}')
            bundle, predictions = runner.predict(payload["instances"])
        except InvalidInput as exc:
            runner.metrics.failed(version, "invalid_input", time.perf_counter() - t0)
            self._json(400, {"error": str(exc), "reason": "invalid_input"})
            return
        except NotReady as exc:
            runner.metrics.failed(version, "model_error", time.perf_counter() - t0)
            self._json(503, {"error": str(exc), "reason": "model_error"})
            return
        except Exception as exc:  # a request never takes the server down; it is counted and answered 500
            log.exception("edge-run: prediction failed")
            runner.metrics.failed(version, "internal", time.perf_counter() - t0)
            self._json(500, {"error": f"internal error: {type(exc).__name__}", "reason": "internal"})
            return
        runner.metrics.answered(bundle.version, time.perf_counter() - t0, len(predictions))
        self._json(200, {"model": runner.config.model, "version": bundle.version,
                         "manifest_sha256": bundle.manifest_sha256, "predictions": predictions})


class EdgeServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, runner: EdgeRunner, host: str, port: int) -> None:
        handler = type("EdgeHandler", (_Handler,), {"runner": runner})
        super().__init__((host, port), handler)

    @property
    def port(self) -> int:
        return int(self.server_address[1])
