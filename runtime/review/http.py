"""The review endpoints: small, JSON, the same ``ReviewQueue`` calls as the
CLI and the predictor.  ``review_router`` mounts on any FastAPI app (the
predictor's, once it carries a review config); ``review_app`` is the
standalone server of ``python -m runtime review serve``, which also sweeps
timed-out items every few seconds and serves ``/metrics`` (backlog and
time to decision, for the ServiceLevel's review objectives).

Reviewer identity comes in the request body here; in a cluster, put the
endpoints behind the identity-aware proxy that sets it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any, Literal

from fastapi import APIRouter, FastAPI, Query
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from pydantic import BaseModel, ConfigDict

from runtime.audit.database import DatabaseError
from runtime.review.metrics import ReviewCollector
from runtime.review.queue import ReviewError, ReviewQueue

__all__ = ["review_app", "review_router"]

log = logging.getLogger("runtime.review")


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class EnqueueBody(_Body):
    prediction_id: str
    request_id: str
    model: str
    version: str
    release: str
    environment: str
    entity: str
    score: float
    threshold: float
    rule: str | None = None
    reason: str
    feature_vector_sha256: str
    at: str


class ClaimBody(_Body):
    reviewer: str
    item: str | None = None


class DecisionBody(_Body):
    item: str
    token: str
    reviewer: str
    verdict: Literal["approve", "override"]
    reason: str


def _refused(exc: Exception) -> JSONResponse:
    status = 503 if isinstance(exc, DatabaseError) else 409
    return JSONResponse(status_code=status, content={"error": str(exc)})


def review_router(queue: ReviewQueue) -> APIRouter:
    router = APIRouter(prefix="/v1")

    # Plain (sync) handlers: FastAPI runs them in its thread pool, and each
    # thread has its own database connection.
    @router.post("/review/items", status_code=201)
    def enqueue(body: EnqueueBody) -> Any:
        if body.model != queue.model:
            return JSONResponse(status_code=409, content={"error": f"this queue is for model {queue.model!r}"})
        try:
            return queue.submit(body).to_json()  # the predictor's own hand-off call
        except (ReviewError, DatabaseError) as exc:
            return _refused(exc)

    @router.get("/review/items")
    def items(status: str | None = Query(None, pattern="^(open|pending|claimed|decided)$"),
              limit: int = Query(100, ge=1, le=10_000)) -> Any:
        return [i.to_json() for i in queue.items(status, limit)]

    @router.post("/review/claim")
    def claim(body: ClaimBody) -> Any:
        try:
            got = queue.claim(body.reviewer, body.item)
        except (ReviewError, DatabaseError) as exc:
            return _refused(exc)
        return got.to_json() if got else JSONResponse(status_code=404, content={"error": "nothing to claim"})

    @router.post("/review/decisions")
    def decide(body: DecisionBody) -> Any:
        try:
            return queue.decide(body.item, body.token, body.reviewer, body.verdict, body.reason).to_json()
        except (ReviewError, DatabaseError) as exc:
            return _refused(exc)

    @router.post("/review/sweep")
    def sweep() -> Any:
        return [i.to_json() for i in queue.sweep()]

    @router.get("/review/stats")
    def stats() -> Any:
        return queue.stats()

    @router.get("/audit/verify")
    def verify() -> Any:
        verdict = queue.audit.verify()
        body = {"ok": verdict.ok, "records": verdict.records, "head": verdict.head,
                "broken_seq": verdict.broken_seq, "problem": verdict.problem}
        return JSONResponse(status_code=200 if verdict.ok else 409, content=body)

    return router


def review_app(queue: ReviewQueue, sweep_every_s: float = 5.0) -> FastAPI:
    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        async def sweeper() -> None:
            while True:
                await asyncio.sleep(sweep_every_s)
                try:
                    await asyncio.to_thread(queue.sweep)
                except Exception as exc:  # keep sweeping; a store outage is logged, not fatal
                    log.error("review sweep failed: %s", exc)

        task = asyncio.create_task(sweeper())
        try:
            yield
        finally:
            task.cancel()

    app = FastAPI(title="SpecOps review", lifespan=lifespan)
    app.include_router(review_router(queue))
    registry = CollectorRegistry(auto_describe=False)
    registry.register(ReviewCollector(queue))

    @app.get("/metrics")
    def metrics() -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    @app.get("/healthz")
    def healthz() -> Any:
        return {"ok": True}

    return app
