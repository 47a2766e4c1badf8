"""Several processes opening one fresh SQLite file at once all get it in WAL mode.

Without the retry in ``connect_wal``, 18-21 of these 180 opens failed with
"database is locked" (SQLite does not call the busy handler for the
journal-mode switch); that is how two ingesters on one online store failed CI.
"""

from __future__ import annotations

import multiprocessing as mp
from pathlib import Path

from runtime.sqlite_wal import connect_wal

ROUNDS = 60
OPENERS = 3


def _open(path: str, barrier: "mp.synchronize.Barrier", out: "mp.Queue[str]") -> None:
    barrier.wait()
    try:
        conn = connect_wal(path, timeout=30.0)
        mode = conn.execute("PRAGMA journal_mode").fetchone()[0]
        conn.execute("CREATE TABLE IF NOT EXISTS t (x)")
        conn.close()
        out.put(mode)
    except Exception as exc:  # reported, counted by the test
        out.put(f"error: {exc}")


def test_concurrent_opens_of_a_fresh_file_all_succeed_in_wal_mode(tmp_path: Path) -> None:
    ctx = mp.get_context("fork")
    outcomes: list[str] = []
    for i in range(ROUNDS):
        path = str(tmp_path / f"round{i}.db")
        barrier, out = ctx.Barrier(OPENERS), ctx.Queue()
        procs = [ctx.Process(target=_open, args=(path, barrier, out)) for _ in range(OPENERS)]
        for p in procs:
            p.start()
        for p in procs:
            p.join(60)
        outcomes += [out.get(timeout=5) for _ in procs]
    failures = [o for o in outcomes if o != "wal"]
    assert len(outcomes) == ROUNDS * OPENERS
    assert failures == [], f"{len(failures)} of {len(outcomes)} opens failed: {failures[:3]}"


def test_synchronous_level_is_applied(tmp_path: Path) -> None:
    full = connect_wal(tmp_path / "f.db", synchronous="full")
    normal = connect_wal(tmp_path / "n.db")
    assert full.execute("PRAGMA synchronous").fetchone()[0] == 2
    assert normal.execute("PRAGMA synchronous").fetchone()[0] == 1
