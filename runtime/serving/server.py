"""The kserve ModelServer around the predictor, as `specops serve` and the
InferenceService run it.

Two departures from kserve's defaults, both measured or security-driven:
kserve binds every interface (its uvicorn config hard-codes 0.0.0.0), so the
host comes from the serve config (the local variant binds 127.0.0.1); and
per-request logging (uvicorn's access log, kserve's timing middleware and
latency log line) is off unless asked for, as it costs about half the
throughput.  gRPC is off (the InferenceService exposes HTTP only), and the
model-repository load/unload routes are refused (``guard``): a served
release changes only through git.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from typing import Any

from kserve import ModelServer
from kserve.constants.constants import FASTAPI_APP_IMPORT_STRING
from kserve.errors import InvalidInput
from kserve.protocol.rest.server import RESTServer
from uvicorn.importer import import_from_string

from runtime.serving.errors import ServingError
from runtime.serving.guard import PredictGuard
from runtime.serving.metrics import ServingMetrics
from runtime.serving.openapi import install_openapi
from runtime.serving.predictor import SpecOpsPredictor

__all__ = ["DEFAULT_HOST", "DEFAULT_PORT", "SpecOpsModelServer"]

DEFAULT_HOST = "0.0.0.0"  # in a pod, the kubelet probes and the queue-proxy reach us from outside
DEFAULT_PORT = 8080


async def _serving_error(_: Any, exc: Exception) -> Any:
    from fastapi.responses import JSONResponse

    assert isinstance(exc, ServingError)
    return JSONResponse(status_code=exc.status, content={"error": exc.message})


async def _invalid_input(_: Any, exc: Exception) -> Any:
    """kserve's own handler logs a traceback for every malformed body; a
    caller's mistake is not the server's error, so it is answered quietly."""
    from fastapi.responses import JSONResponse

    return JSONResponse(status_code=400, content={"error": str(exc)})


class _RESTServer(RESTServer):
    def __init__(self, *args: Any, host: str, access_log: bool, models: Sequence[str],
                 metrics: Callable[[str], ServingMetrics | None], log_failure: Any = None,
                 direct: Callable[[str], Any] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.config.host = host
        self.config.access_log = access_log
        self._access_log = access_log
        self._models = tuple(models)
        self._metrics = metrics
        self._log_failure = log_failure
        self._direct = direct

    def _add_middlewares(self, app: Any) -> None:
        if self._access_log:
            super()._add_middlewares(app)

    def create_application(self) -> None:
        super().create_application()
        app = import_from_string(FASTAPI_APP_IMPORT_STRING)
        app.add_exception_handler(ServingError, _serving_error)
        app.add_exception_handler(InvalidInput, _invalid_input)
        install_openapi(app, self._models)
        # The guard is the application uvicorn runs (outside FastAPI's own error, telemetry and
        # body-limit layers, which every other route still passes): the predictor's v1 route it
        # answers itself then skips them (bench/serve measures the route).
        self.config.app = PredictGuard(app, metrics=self._metrics, log_failure=self._log_failure,
                                       direct=self._direct)


class SpecOpsModelServer(ModelServer):
    def __init__(self, *, host: str = DEFAULT_HOST, http_port: int = DEFAULT_PORT, access_log: bool = False,
                 **kwargs: Any) -> None:
        super().__init__(http_port=http_port, enable_grpc=False, workers=1, enable_latency_logging=access_log,
                         **kwargs)
        self.host = host
        self.access_log = access_log
        if not access_log:
            logging.getLogger("kserve.trace").setLevel(logging.WARNING)
            logging.getLogger("uvicorn.access").disabled = True

    def start(self, models: list[Any]) -> None:  # type: ignore[override]
        self._register_and_check_atleast_one_model_is_ready(models)
        by_name = {m.name: m for m in models}

        def metrics(name: str) -> ServingMetrics | None:
            model = by_name.get(name)
            return getattr(model, "metrics", None) if model is not None else None

        def log_failure(name: str, rid: str, status: int, reason: str, latency_s: float) -> None:
            record = getattr(by_name.get(name), "log_failure", None)  # the predictor's prediction log
            if record is not None:
                record(rid, status, reason, latency_s)

        # The predictor's v1 route is answered by the guard (see guard.py); with
        # the access log on, kserve's route runs, so its timing middleware sees it.
        direct_models = {} if self.access_log else {n: m for n, m in by_name.items() if isinstance(m, SpecOpsPredictor)}

        self._rest_server = _RESTServer(
            FASTAPI_APP_IMPORT_STRING, self.dataplane, self.model_repository_extension, self.http_port,
            host=self.host, access_log=self.access_log, models=tuple(by_name), metrics=metrics, log_failure=log_failure,
            direct=direct_models.get,
            access_log_format=self.access_log_format, workers=1, grace_period=self.grace_period,
            event_loop=self.event_loop, timeout_keep_alive=self.timeout_keep_alive,
        )
        self.servers.append(self._rest_server.start())
        self.setup_event_loop()
        self.register_signal_handler()
        asyncio.run(self._serve())

