"""kill -9 of the real predictor process (`python -m runtime serve`) in the
middle of a burst of 1,000 requests: after a restart, every request that
received an answer is in the prediction log exactly once, the restarted
server keeps appending to the same log, and compaction to Parquet keeps
every row once."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

import httpx

from runtime.predlog.parquet import compact
from runtime.predlog.reader import read_log
from runtime.predlog.store import PredictionLog
from tests.runtime.serving.served import ASSETS, T0, iso, make_repo, start_server, stop_server

BURST = 1000
KILL_AFTER = 400  # answers received before the kill
MODEL = "pump-failure"
AT = iso(T0 + timedelta(minutes=1))


def test_kill_9_mid_burst_loses_no_answered_prediction(tmp_path: Path) -> None:
    repo = make_repo(tmp_path)
    cfg = repo.config.prediction_log
    assert cfg is not None
    server = start_server(repo)
    url = f"{server.url}/v1/models/{MODEL}:predict"
    entities = sorted(ASSETS)
    answered: list[str] = []
    failed = 0
    lock = threading.Lock()
    killed = threading.Event()
    client = httpx.Client(timeout=10)

    def send(n: int) -> None:
        nonlocal failed
        rid = f"burst-{n:04d}"
        body = json.dumps({"instances": [{"entity": entities[n % len(entities)], "at": AT}]})
        try:
            response = client.post(url, content=body, headers={"content-type": "application/json",
                                                                "x-request-id": rid})
        except httpx.HTTPError:
            with lock:
                failed += 1
            return
        with lock:
            if response.status_code == 200:
                answered.append(rid)
                if len(answered) >= KILL_AFTER and not killed.is_set():
                    killed.set()
                    os.kill(server.process.pid, signal.SIGKILL)  # mid-burst: requests are in flight
            else:
                failed += 1

    try:
        started = time.perf_counter()
        with ThreadPoolExecutor(16) as pool:
            list(pool.map(send, range(BURST)))
        elapsed = time.perf_counter() - started
        server.process.wait(timeout=10)
        assert server.process.returncode == -signal.SIGKILL and killed.is_set()

        # Restart on the same log: it opens after kill -9 and keeps counting.
        server = start_server(repo)
        after = client.post(f"{server.url}/v1/models/{MODEL}:predict", content=json.dumps({"instances": [{"entity": "P-CRIT", "at": AT}]}),
                            headers={"content-type": "application/json", "x-request-id": "after-restart"})
        assert after.status_code == 200, after.text
    finally:
        client.close()
        if server.process.poll() is None:
            stop_server(server)

    log = PredictionLog(tmp_path / cfg.path)
    try:
        rows = list(log.records())
        seen = Counter(r.request_id for r in rows if r.status == 200)
        lost = sorted(set(answered) - set(seen))
        twice = sorted(rid for rid, n in seen.items() if n > 1)
        unanswered = sum(1 for rid in seen if rid.startswith("burst-") and rid not in set(answered))
        print(f"\nburst {BURST}: {len(answered)} answered before/around kill -9 ({len(answered) / elapsed:.0f}/s), "
              f"{failed} failed, {sum(seen.values())} logged answers ({unanswered} committed without a response "
              f"reaching the client), lost {len(lost)}, duplicated {len(twice)}")
        assert lost == [] and twice == []
        assert seen["after-restart"] == 1 and len(answered) + failed == BURST and failed > 0
        seqs = [r.seq for r in rows]
        assert seqs == sorted(set(seqs))
        # Compaction moves them all; the union reads each once.
        root = str(tmp_path / "parquet")
        done = compact(log, root)
        assert done.rows_moved == len(rows) and list(log.records()) == []
        table = read_log(root, MODEL, log)
        assert Counter(table.column("request_id").to_pylist()) == Counter(r.request_id for r in rows)
    finally:
        log.close()
