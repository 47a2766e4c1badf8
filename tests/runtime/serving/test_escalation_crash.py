"""kill -9 of the *predictor* (the real kserve server `specops serve` runs)
during a burst of 1,000 high-risk prediction requests, on SQLite and on
PostgreSQL: every prediction that was answered ``human_review`` is in the
review queue with its audit record, and the chain verifies.

This is the path a real escalation takes: request -> features -> model ->
policy -> ``ReviewQueue.submit`` (queue row + audit record in one
transaction) -> response.  test_review_crash.py covers the review server's
own enqueue endpoint.
"""

from __future__ import annotations

import os
import signal
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from runtime.audit.database import PostgresDatabase, SqliteDatabase
from runtime.audit.log import AuditLog
from tests.conftest import require_service
from tests.runtime.serving.served import MODEL, T0, compiled_config, iso, make_repo, start_server

PG_DSN = "host=127.0.0.1 port=5432 dbname=test user=postgres"
BURST = 1000
KILL_AFTER = 400  # escalations answered before the kill
AT = iso(T0)


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.services)])
def test_kill_9_of_the_predictor_loses_no_answered_escalation(backend: str, tmp_path: Path) -> None:
    review = compiled_config()["review"]
    env: dict[str, str] = {}
    schema = f"t_pcrash_{uuid.uuid4().hex[:10]}"
    db: SqliteDatabase | PostgresDatabase
    if backend == "sqlite":
        review["store"] = {"backend": "sqlite", "path": ".specops/review/review.db"}
    else:
        require_service("PostgreSQL", "127.0.0.1", 5432)
        review["store"] = {"backend": "postgres", "dsn_env": "SPECOPS_REVIEW_DSN", "schema_name": schema}
        env["SPECOPS_REVIEW_DSN"] = PG_DSN
    repo = make_repo(tmp_path, review=review)
    server = start_server(repo, env=env)
    db = (SqliteDatabase(tmp_path / ".specops/review/review.db") if backend == "sqlite"
          else PostgresDatabase(PG_DSN, schema))
    escalated: list[str] = []
    other_actions: list[str] = []
    failed = 0
    lock = threading.Lock()
    killed = threading.Event()
    run = uuid.uuid4().hex[:8]
    client = httpx.Client(timeout=10)
    try:
        def send(n: int) -> None:
            nonlocal failed
            try:
                response = client.post(f"{server.url}/v1/models/{MODEL}:predict",
                                       json={"instances": [{"entity": "P-CRIT", "at": AT}]},
                                       headers={"x-request-id": f"{run}-{n:04d}"})
            except httpx.HTTPError:
                with lock:
                    failed += 1
                return
            with lock:
                if response.status_code != 200:
                    failed += 1
                    return
                [p] = response.json()["predictions"]
                if p["action"] != "human_review":
                    other_actions.append(p["action"])
                    return
                escalated.append(p["prediction_id"])
                if len(escalated) >= KILL_AFTER and not killed.is_set():
                    killed.set()
                    os.kill(server.process.pid, signal.SIGKILL)  # mid-burst: requests are in flight

        started = time.perf_counter()
        with ThreadPoolExecutor(16) as pool:
            list(pool.map(send, range(BURST)))
        elapsed = time.perf_counter() - started
        server.process.wait(timeout=10)
        assert server.process.returncode == -signal.SIGKILL and killed.is_set()

        log = AuditLog(db)
        with db.transaction() as tx:
            queued = {r[0] for r in tx.rows("SELECT id FROM review_items")}
        audited = {r.subject for r in log.records() if r.action == "review.enqueued"}
        verdict = log.verify()
        lost = sorted(set(escalated) - queued)
        unaudited = sorted(set(escalated) - audited)
        print(f"\n[{backend}] predictor burst {BURST}: {len(escalated)} answered human_review before/around "
              f"kill -9, {failed} failed, {len(queued)} in queue ({len(queued) - len(escalated)} committed "
              f"without a response), {len(escalated) / elapsed:.0f} escalations/s; {verdict.describe()}")
        assert other_actions == []  # the fixture's critical pump always escalates
        assert lost == [] and unaudited == []
        assert queued == audited
        assert verdict.ok and verdict.records == len(queued)
        assert len(escalated) + failed == BURST and failed > 0
    finally:
        client.close()
        if server.process.poll() is None:
            server.process.kill()
            server.process.wait(timeout=10)
        if isinstance(db, PostgresDatabase):
            db.drop_schema()
        db.close()
