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


def _open(paths: list[str], barrier: "mp.synchronize.Barrier", out: "mp.Queue[str]") -> None:
    """One opener: a fresh connection to each round's fresh file, the openers released together."""
    for path in paths:
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
    # The same ROUNDS x OPENERS opens; the openers are forked once and meet at a barrier
    # before each round's file (forking three processes a round was most of the test's 8 s).
    ctx = mp.get_context("fork")
    paths = [str(tmp_path / f"round{i}.db") for i in range(ROUNDS)]
    barrier, out = ctx.Barrier(OPENERS, timeout=60), ctx.Queue()
    procs = [ctx.Process(target=_open, args=(paths, barrier, out)) for _ in range(OPENERS)]
    for p in procs:
        p.start()
    outcomes = [out.get(timeout=60) for _ in range(ROUNDS * OPENERS)]
    for p in procs:
        p.join(60)
    failures = [o for o in outcomes if o != "wal"]
    assert len(outcomes) == ROUNDS * OPENERS
    assert failures == [], f"{len(failures)} of {len(outcomes)} opens failed: {failures[:3]}"


def test_synchronous_level_is_applied(tmp_path: Path) -> None:
    full = connect_wal(tmp_path / "f.db", synchronous="full")
    normal = connect_wal(tmp_path / "n.db")
    assert full.execute("PRAGMA synchronous").fetchone()[0] == 2
    assert normal.execute("PRAGMA synchronous").fetchone()[0] == 1
