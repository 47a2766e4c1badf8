"""Concurrent reviewers (4 processes x 4 threads) with leases short enough to
expire mid-review: every item is decided exactly once, every refused decision
is refused by the database, and the audit chain verifies."""

from __future__ import annotations

import multiprocessing
from collections import Counter

from review_support import PG_DSN, prediction, reviewer_worker

from runtime.audit.database import SqliteDatabase

ITEMS = 60
PROCESSES, THREADS = 4, 4


def test_concurrent_reviewers_never_double_decide(db, make_queue) -> None:
    queue = make_queue()
    for n in range(ITEMS):
        queue.submit(prediction(n))
    where = ("sqlite", str(db.path)) if isinstance(db, SqliteDatabase) else ("postgres", PG_DSN, db.schema)
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(PROCESSES) as pool:
        results = pool.starmap(reviewer_worker, [
            (where, [f"r{p}-{t}" for t in range(THREADS)], 0.05, p) for p in range(PROCESSES)])
    successes = Counter(item for decided in results for item in decided)
    assert len(successes) == ITEMS and set(successes.values()) == {1}, successes.most_common(3)
    assert queue.stats()["decided"] == ITEMS
    decided_records = Counter(r.subject for r in queue.audit.records() if r.action == "review.decided")
    assert len(decided_records) == ITEMS and set(decided_records.values()) == {1}
    claims = sum(r.action == "review.claimed" for r in queue.audit.records())
    assert claims > ITEMS  # leases expired under slow reviewers and were re-claimed: the race happened
    assert queue.audit.verify().ok
