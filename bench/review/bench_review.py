"""What the durable hand-off costs an escalated request, and how fast the
audit chain verifies.

For SQLite (WAL, synchronous=FULL: one fsync per commit) and PostgreSQL
(127.0.0.1, default synchronous_commit), it times ``ReviewQueue.submit`` --
the predictor's hand-off: one transaction inserting the item and appending
its hash-chained audit record -- from 1 thread and from 8 threads at once
(the audit chain serialises appends), then ``verify`` over the whole log.
Medians and p99 in milliseconds; written to ``bench/results/review.json``.

    .venv/bin/python bench/review/bench_review.py [--quick]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import statistics
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from runtime.audit.database import PostgresDatabase, SqliteDatabase  # noqa: E402
from runtime.contracts.steps import ReviewPolicyConfig  # noqa: E402
from runtime.review import EscalatedPrediction, ReviewQueue  # noqa: E402

RESULTS_PATH = REPO / "bench" / "results" / "review.json"
PG_DSN = "host=127.0.0.1 port=5432 dbname=test user=postgres"
POLICY = ReviewPolicyConfig(timeout_s=1800, escalation="second_reviewer", conservative_action="hold", lease_s=300)


def _item(run: str, n: int) -> EscalatedPrediction:
    return EscalatedPrediction(f"{run}-{n}/0", f"{run}-{n}", "pump-failure", "1.4.0", "pump-failure-1-4-0", "prod",
                               f"pump-{n % 97:04d}", 0.93, 0.42, "HR-010", "critical asset", f"{n:064x}",
                               "2026-11-27T08:00:00Z")


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _measure(queue: ReviewQueue, n: int, threads: int) -> dict[str, float]:
    run = uuid.uuid4().hex[:8]
    times: list[float] = []
    lock = threading.Lock()

    def worker(k: int) -> None:
        mine = []
        for i in range(k, n, threads):
            t0 = time.perf_counter()
            queue.submit(_item(run, i))
            mine.append((time.perf_counter() - t0) * 1000)
        with lock:
            times.extend(mine)

    t0 = time.perf_counter()
    pool = [threading.Thread(target=worker, args=(k,)) for k in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    wall = time.perf_counter() - t0
    return {"threads": threads, "submits": n, "median_ms": round(statistics.median(times), 3),
            "p99_ms": round(_pct(times, 0.99), 3), "per_second": round(n / wall, 1)}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    n = 200 if args.quick else 1000
    results: dict[str, object] = {}
    for backend in ("sqlite", "postgres"):
        if backend == "sqlite":
            db: SqliteDatabase | PostgresDatabase = SqliteDatabase(Path(tempfile.mkdtemp()) / "review.db")
        else:
            db = PostgresDatabase(PG_DSN, f"bench_review_{uuid.uuid4().hex[:8]}")
        try:
            queue = ReviewQueue(db, "pump-failure", POLICY).setup()
            rows = [_measure(queue, n, 1), _measure(queue, n, 8)]
            t0 = time.perf_counter()
            verdict = queue.audit.verify()
            verify_s = time.perf_counter() - t0
            assert verdict.ok and verdict.records == 2 * n
            results[backend] = {"submit": rows, "verify_records": verdict.records,
                                "verify_records_per_second": round(verdict.records / verify_s)}
            for r in rows:
                print(f"{backend:9} submit x{r['submits']} threads={r['threads']}: median {r['median_ms']} ms, "
                      f"p99 {r['p99_ms']} ms, {r['per_second']}/s")
            print(f"{backend:9} verify {verdict.records} records: {verdict.records / verify_s:,.0f} records/s")
        finally:
            if isinstance(db, PostgresDatabase):
                db.drop_schema()
            db.close()
    out = {"benchmark": "review", "when": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
           "machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform()},
           "quick": args.quick, "results": results}
    RESULTS_PATH.write_text(json.dumps(out, indent=2) + "\n")
    print(f"wrote {RESULTS_PATH.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
