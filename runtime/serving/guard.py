"""The HTTP edge of the prediction routes, as a plain ASGI application
wrapped around kserve's FastAPI app (the one uvicorn runs; ``server``):
content type and body size are checked before kserve decodes anything, and
every request is counted (requests, latency, errors by reason) from the
status it finally got, wherever it was refused.

Only ``POST /v1/models/<name>:predict`` and ``POST /v2/models/<name>/infer``
of served models are guarded; everything else passes through untouched,
except three kserve routes it answers itself (schemathesis found the last
two answering 5xx): the model-repository API (load/unload a model by name
over HTTP; what is served changes only through git), ``:explain`` (no
explainer is deployed) and any ``model_version`` (kserve raises
NotImplementedError; one version is served, the one git names).

The v1 predict route of a model the server hands it (``direct``) is answered
here, as kserve's route would: the same steps (readiness, JSON decode,
``validate``, ``preprocess``, ``predict``, ``postprocess``), the same error
bodies and statuses, the same orjson encoding, without FastAPI's middleware
layers, routing and dependency resolution and kserve's dataplane, which
cost more per request than the prediction itself (bench/serve).  CloudEvents and every
other route still go through kserve.
"""

from __future__ import annotations

import inspect
import json
import logging
import re
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import TYPE_CHECKING, Any

import orjson

from runtime.serving.errors import ServingError, reason_for_status
from runtime.serving.request import new_request_id

if TYPE_CHECKING:
    from runtime.serving.metrics import ServingMetrics

__all__ = ["MAX_BODY_BYTES", "REPOSITORY_PREFIX", "FailureLog", "PredictGuard"]

log = logging.getLogger("runtime.serving")
# (model, request id, HTTP status, error reason, latency in seconds): a failed request into the prediction log
FailureLog = Callable[[str, str, int, str, float], None]
_REQUEST_ID = re.compile(rb"^[A-Za-z0-9._:-]{1,128}$")  # the predictor's request id rule

MAX_BODY_BYTES = 1 << 20
REPOSITORY_PREFIX = "/v2/repository/"
_ROUTE = re.compile(r"^/v1/models/(?P<v1>[^/]+):predict$|^/v2/models/(?P<v2>[^/]+)(?:/versions/[^/]+)?/infer$")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


async def _refuse(send: Send, status: int, message: str) -> None:
    body = json.dumps({"error": message}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


def _refused_route(scope: Scope) -> tuple[int, str] | None:
    path: str = scope["path"]
    if path.startswith(REPOSITORY_PREFIX):
        return 404, "the model repository API is disabled: what is served changes only through git"
    if path.startswith("/v1/models/") and path.endswith(":explain"):
        return 404, "no explainer is deployed for this model"
    if path.startswith("/v2/models/") and ("/versions/" in path or b"model_version" in scope.get("query_string", b"")):
        return 400, ("model versions are not addressable: the server serves the one version its release names "
                     "(see the response's model_version); omit model_version")
    return None


_log = logging.getLogger(__name__)
_JSON_OPTIONS = orjson.OPT_NON_STR_KEYS | orjson.OPT_SERIALIZE_NUMPY  # fastapi's ORJSONResponse, kserve's v1 answer


async def _answer(send: Send, status: int, body: bytes) -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-length", str(len(body)).encode()), (b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": body})


_COROUTINE: dict[Any, bool] = {}  # function -> is it async (inspect's answer costs a microsecond per call)


async def _call(method: Any, *args: Any) -> Any:
    function = getattr(method, "__func__", method)
    is_async = _COROUTINE.get(function)
    if is_async is None:
        is_async = _COROUTINE[function] = inspect.iscoroutinefunction(method)
    return await method(*args) if is_async else method(*args)


async def _predict_v1(model: Any, scope: Scope, body: bytes, send: Send) -> None:
    """kserve's ``POST /v1/models/<name>:predict`` for ``model``, step by step."""
    from kserve.errors import InvalidInput

    if not model.ready:
        await _answer(send, 503, orjson.dumps({"error": f"Model with name {model.name} is not ready."}))
        return
    headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
    try:
        try:
            payload = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise InvalidInput(f"Unrecognized request format: {exc}") from None
        payload = model.validate(await _call(model.preprocess, payload, headers))
        result = await _call(model.postprocess, await _call(model.predict, payload, headers), headers)
        status, out = 200, orjson.dumps(result, option=_JSON_OPTIONS)
    except ServingError as exc:
        status, out = exc.status, orjson.dumps({"error": exc.message})
    except InvalidInput as exc:
        status, out = 400, orjson.dumps({"error": str(exc)})
    except Exception as exc:  # a bug: kserve's generic handler answers the same
        _log.error("Exception:", exc_info=exc)
        status, out = 500, orjson.dumps({"error": f"{type(exc).__name__} : {exc}"})
    await _answer(send, status, out)


def _cloudevent(scope: Scope) -> bool:
    for name, _ in scope["headers"]:  # a loop, not any(<generator>): this runs on every request
        if name.startswith(b"ce-"):
            return True
    return False


class PredictGuard:
    def __init__(self, app: Any, metrics: Callable[[str], ServingMetrics | None],
                 max_body_bytes: int = MAX_BODY_BYTES, log_failure: FailureLog | None = None,
                 direct: Callable[[str], Any] | None = None) -> None:
        self.app = app
        self.metrics = metrics
        self.max_body_bytes = max_body_bytes
        self.log_failure = log_failure
        self.direct = direct  # name -> the model whose v1 predict route is answered here, or None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            refusal = _refused_route(scope)
            if refusal is not None:
                await _refuse(send, *refusal)
                return
        if scope["type"] != "http" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        match = _ROUTE.match(scope["path"])
        metrics = self.metrics(match.group("v1") or match.group("v2")) if match else None
        if metrics is None:
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500
        rid = self._request_id(scope) if self.log_failure is not None else ""

        async def send_counted(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            refusal = self._check_headers(scope)
            body = b""
            if refusal is None:
                body, refusal = await self._read_body(receive)
            if refusal is not None:
                await _refuse(send_counted, *refusal)
                return
            name = match.group("v1") if match else None
            model = self.direct(name) if name and self.direct is not None else None
            if model is not None and not _cloudevent(scope):
                await _predict_v1(model, scope, body, send_counted)
                return
            replayed = False

            async def replay() -> Message:
                nonlocal replayed
                if replayed:
                    return await receive()  # http.disconnect
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}

            await self.app(scope, replay, send_counted)
        finally:
            metrics.requests.inc()
            metrics.duration.observe(time.perf_counter() - start)
            reason = reason_for_status(status)
            if reason is not None:
                metrics.error(reason)
                if self.log_failure is not None:
                    try:
                        self.log_failure(match.group("v1") or match.group("v2"), rid, status, reason,
                                         time.perf_counter() - start)
                    except Exception as exc:  # the answer has left: a lost failure row must not crash the edge
                        log.error("prediction log: failed request %s not recorded: %s", rid, exc)

    @staticmethod
    def _request_id(scope: Scope) -> str:
        """The caller's x-request-id, or a new one handed to the predictor, so
        a failed request is logged under the id its answer would carry."""
        headers = scope["headers"]
        invalid = False
        for name, value in headers:
            if name == b"x-request-id":
                if _REQUEST_ID.match(value):
                    return value.decode()
                invalid = True
        rid = new_request_id()
        if invalid:
            headers = [(n, v) for n, v in headers if n != b"x-request-id"]
        scope["headers"] = [*headers, (b"x-request-id", rid.encode())]
        return rid

    def _check_headers(self, scope: Scope) -> tuple[int, str] | None:
        content_type = b""
        length = None
        for name, value in scope["headers"]:
            if name == b"content-type":
                content_type = value
            elif name == b"content-length":
                length = value
        media = content_type.split(b";")[0].strip().lower()
        if media != b"application/json":
            shown = content_type.decode("latin-1") or "none"
            return 415, f"Content-Type {shown!r} is not supported; send a JSON body with Content-Type: application/json"
        if length is not None:
            try:
                size = int(length)
            except ValueError:
                return 400, "Content-Length is not a number"
            if size > self.max_body_bytes:
                return 413, f"the body is {size} bytes; the limit is {self.max_body_bytes} (send at most 64 instances)"
        return None

    async def _read_body(self, receive: Receive) -> tuple[bytes, tuple[int, str] | None]:
        chunks = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return b"", (400, "the client disconnected before sending the whole body")
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                return b"", (413, f"the body exceeds the limit of {self.max_body_bytes} bytes")
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks), None
