"""The prediction log checkpoints its WAL in the background, not inside a request's commit."""

from __future__ import annotations

import time
from pathlib import Path

from runtime.predlog.store import PredictionLog
from tests.runtime.predlog.test_predlog_store import rec

COMMITS = 3000


def _wal_bytes(path: Path) -> int:
    wal = Path(f"{path}-wal")
    return wal.stat().st_size if wal.exists() else 0


def test_the_wal_stays_bounded_by_background_checkpoints(tmp_path: Path) -> None:
    path = tmp_path / "log.db"
    log = PredictionLog(path)
    # The writer itself would checkpoint only past 20,000 pages (~80 MB): every bound below is the thread's.
    assert log._conn.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 20_000
    largest = 0
    for n in range(COMMITS):
        log.append([rec(n)])
        if n % 100 == 99:
            time.sleep(0.03)  # the server's idle moments; the thread runs every 50 ms
            largest = max(largest, _wal_bytes(path))
    checkpointer = log._checkpoint
    assert checkpointer is not None and checkpointer.checkpoints >= 1
    # 3,000 one-row commits write ~9,000 WAL frames (~37 MB) when nothing checkpoints; measured: ~4 MB.
    assert largest < 8 * 2**20, f"WAL grew to {largest} bytes"
    assert [r.prediction_id for r in log.records()] == [f"r{n}/0" for n in range(COMMITS)]
    log.close()
    assert not checkpointer._thread.is_alive()
    # Closing the last connection checkpoints the rest and removes the WAL: every row is in the file.
    reopened = PredictionLog(path)
    assert reopened.stats()["rows"] == COMMITS
    reopened.close()


def test_a_reader_starts_no_checkpoint_thread(tmp_path: Path) -> None:
    writer = PredictionLog(tmp_path / "log.db")
    writer.append([rec(1)])
    reader = PredictionLog(tmp_path / "log.db")
    assert list(reader.records())[0].prediction_id == "r1/0"
    assert reader._checkpoint is None
    reader.close()
    writer.close()
