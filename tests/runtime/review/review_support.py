"""Helpers for the review and audit tests: the shared require_service, a
controllable clock, policies and escalated predictions."""

from __future__ import annotations

import importlib.util
import uuid
from pathlib import Path

from runtime.contracts.steps import ReviewPolicyConfig
from runtime.review import EscalatedPrediction

__all__ = ["PG_DSN", "T0", "Clock", "pg_schema", "policy", "prediction", "require_service"]


def _shared_conftest():  # type: ignore[no-untyped-def]
    # Without packages `from conftest import ...` is ambiguous: load the top-level one by path.
    path = Path(__file__).resolve().parents[2] / "conftest.py"
    spec = importlib.util.spec_from_file_location("specops_tests_conftest", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


require_service = _shared_conftest().require_service

PG_DSN = "host=127.0.0.1 port=5432 dbname=test user=postgres"
T0 = 1_800_000_000_000_000  # a fixed start (µs): tests move the clock, never sleep


class Clock:
    def __init__(self) -> None:
        self.us = T0

    def __call__(self) -> int:
        return self.us

    def advance(self, seconds: float) -> None:
        self.us += int(seconds * 1e6)


def policy(**over: object) -> ReviewPolicyConfig:
    base: dict[str, object] = {"timeout_s": 1800.0, "escalation": "second_reviewer", "conservative_action": "hold",
                               "notify": ("oncall",), "lease_s": 300.0}
    base.update(over)
    return ReviewPolicyConfig(**base)  # type: ignore[arg-type]


def prediction(n: int, score: float = 0.9, model: str = "pump-failure", entity: str | None = None) -> EscalatedPrediction:
    return EscalatedPrediction(
        prediction_id=f"req-{n:05d}/0", request_id=f"req-{n:05d}", model=model, version="1.4.0",
        release="pump-failure-1-4-0", environment="prod", entity=entity or f"pump-{n % 50:04d}", score=score,
        threshold=0.42, rule="HR-010", reason="a predicted failure of a critical asset goes to a human",
        feature_vector_sha256=f"{n:064x}", at="2026-11-27T08:00:00Z")


def pg_schema() -> str:
    return f"t_review_{uuid.uuid4().hex[:12]}"


def open_db(where: tuple[str, ...]):  # type: ignore[no-untyped-def]
    """A database from a picklable description (for worker processes)."""
    from runtime.audit.database import PostgresDatabase, SqliteDatabase

    return SqliteDatabase(where[1]) if where[0] == "sqlite" else PostgresDatabase(where[1], where[2])


def reviewer_worker(where: tuple[str, ...], reviewers: list[str], lease_s: float, seed: int) -> list[str]:
    """Reviewers (threads of one process) claiming and deciding until the queue
    is empty, with short leases that expire under them; returns the ids each
    decision succeeded for."""
    import random
    import threading
    import time

    from runtime.review import ReviewError, ReviewQueue

    db = open_db(where)
    queue = ReviewQueue(db, "pump-failure", policy(lease_s=lease_s))
    decided: list[str] = []
    lock = threading.Lock()

    def work(name: str, rng: random.Random) -> None:
        idle = 0
        while idle < 20:
            claim = queue.claim(name)
            if claim is None:
                idle += 1
                time.sleep(0.01)
                continue
            idle = 0
            time.sleep(rng.choice((0.0, 0.001, lease_s * 1.5)))  # some reviewers are too slow: the lease expires
            try:
                queue.decide(claim.item.id, claim.token, name, "approve", f"checked by {name}")
            except ReviewError:
                continue
            with lock:
                decided.append(claim.item.id)

    threads = [threading.Thread(target=work, args=(name, random.Random(seed * 100 + i)))
               for i, name in enumerate(reviewers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    db.close()
    return decided
