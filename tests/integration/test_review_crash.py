"""kill -9 of the review server during a burst of 1,000 high-risk requests,
on SQLite and on PostgreSQL: every request that got a response is in the
queue with its audit record, and the chain verifies.

The burst goes to the standalone server's enqueue endpoint, which calls
``ReviewQueue.submit`` -- the predictor's hand-off (``ReviewHandoff.submit``),
the same call the predictor makes before it answers.  The same burst through
the predictor itself is tests/runtime/serving/test_escalation_crash.py.
"""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from runtime.audit.database import PostgresDatabase, SqliteDatabase
from runtime.audit.log import AuditLog

REPO = Path(__file__).resolve().parents[2]
PG_DSN = "host=127.0.0.1 port=5432 dbname=test user=postgres"
BURST = 1000
KILL_AFTER = 400  # responses received before the kill


def _require_service(name: str, host: str, port: int) -> None:
    spec = importlib.util.spec_from_file_location("specops_tests_conftest", REPO / "tests" / "conftest.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.require_service(name, host, port)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _body(n: int, run: str) -> dict:  # type: ignore[type-arg]
    return {"prediction_id": f"{run}-{n:04d}/0", "request_id": f"{run}-{n:04d}", "model": "pump-failure",
            "version": "1.4.0", "release": "pump-failure-1-4-0", "environment": "prod",
            "entity": f"pump-{n % 97:04d}", "score": 0.95, "threshold": 0.42, "rule": "HR-010",
            "reason": "a predicted failure of a critical asset goes to a human", "feature_vector_sha256": f"{n:064x}",
            "at": "2026-11-27T08:00:00Z"}


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.services)])
def test_kill_9_during_a_burst_loses_no_acknowledged_escalation(backend: str, tmp_path: Path) -> None:
    config = json.loads((REPO / "generated/runtime/pump-failure/review.json").read_text())
    env = dict(os.environ)
    schema = f"t_crash_{uuid.uuid4().hex[:10]}"
    if backend == "sqlite":
        config["store"] = {"backend": "sqlite", "path": str(tmp_path / "review.db")}
        db: SqliteDatabase | PostgresDatabase = SqliteDatabase(tmp_path / "review.db")
    else:
        _require_service("PostgreSQL", "127.0.0.1", 5432)
        config["store"] = {"backend": "postgres", "dsn_env": "SPECOPS_REVIEW_DSN", "schema_name": schema}
        env["SPECOPS_REVIEW_DSN"] = PG_DSN
        db = PostgresDatabase(PG_DSN, schema)
    cfg = tmp_path / "review.json"
    cfg.write_text(json.dumps(config))
    port = _free_port()
    server = subprocess.Popen([sys.executable, "-m", "runtime", "review", "serve", "--config", str(cfg),
                               "--port", str(port), "--sweep-every", "3600"],
                              cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    acknowledged: list[str] = []
    failed = 0
    lock = threading.Lock()
    killed = threading.Event()
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert server.poll() is None, server.stderr.read().decode() if server.stderr else ""
            assert time.monotonic() < deadline, "review server did not start in 60 s"
            time.sleep(0.1)
        run = uuid.uuid4().hex[:8]
        client = httpx.Client(timeout=10)

        def send(n: int) -> None:
            nonlocal failed
            body = _body(n, run)
            try:
                response = client.post(f"{base}/v1/review/items", json=body)
            except httpx.HTTPError:
                with lock:
                    failed += 1
                return
            with lock:
                if response.status_code == 201:
                    acknowledged.append(body["prediction_id"])
                    if len(acknowledged) >= KILL_AFTER and not killed.is_set():
                        killed.set()
                        os.killpg(server.pid, signal.SIGKILL)  # mid-burst: requests are in flight
                else:
                    failed += 1

        started = time.perf_counter()
        with ThreadPoolExecutor(16) as pool:
            list(pool.map(send, range(BURST)))
        elapsed = time.perf_counter() - started
        client.close()
        server.wait(timeout=10)
        assert server.returncode == -signal.SIGKILL and killed.is_set()

        log = AuditLog(db)
        with db.transaction() as tx:
            queued = {r[0] for r in tx.rows("SELECT id FROM review_items")}
        audited = {r.subject for r in log.records() if r.action == "review.enqueued"}
        verdict = log.verify()
        lost = sorted(set(acknowledged) - queued)
        unaudited = sorted(set(acknowledged) - audited)
        print(f"\n[{backend}] burst {BURST}: {len(acknowledged)} acknowledged before/around kill -9, {failed} failed, "
              f"{len(queued)} in queue ({len(queued) - len(acknowledged)} committed without a response), "
              f"{len(acknowledged) / elapsed:.0f} acknowledged/s; {verdict.describe()}")
        assert lost == [] and unaudited == []
        assert queued == audited  # every queued item has its audit record, and no audit record lacks its item
        assert verdict.ok and verdict.records == len(queued)
        assert len(acknowledged) + failed == BURST and failed > 0
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait(timeout=10)
        if isinstance(db, PostgresDatabase):
            db.drop_schema()
        db.close()
