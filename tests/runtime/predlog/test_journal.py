"""The prediction log's journal (runtime.predlog.journal): what a request
writes before its answer leaves reaches the table exactly once, whoever
ingests, whenever a writer dies, and whatever a torn or corrupt line holds."""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

from runtime.predlog.journal import JournalWriter
import pytest

from runtime.contracts.monitoring import LOG_COLUMNS
from runtime.predlog.store import LogError, PredictionLog, journal_line, journal_lines
from tests.runtime.predlog.test_predlog_store import rec

REPO = Path(__file__).resolve().parents[3]


def _ids(log: PredictionLog) -> list[str]:
    return [r.prediction_id for r in log.records()]


def _journals(log: PredictionLog) -> list[str]:
    return sorted(p.name for p in log.journals.iterdir()) if log.journals.exists() else []


def test_a_line_made_from_values_is_the_records_line_and_reads_back_as_it(log: PredictionLog) -> None:
    # The predictor writes journal_line(values...) per answer, not records: both must be one format.
    record = dataclasses.replace(rec(3), decision=True, fallback="human_review", features={"x": 1.5, "k": "a"})
    values = [getattr(record, name) for name in LOG_COLUMNS[1:]] + [record.features]
    assert journal_line(*values) == journal_lines([record])
    log.record_lines(journal_line(*values))
    assert next(log.records()) == dataclasses.replace(record, seq=1)
    with pytest.raises(LogError, match="nothing to record"):
        log.record_lines(b"")


def test_recorded_rows_reach_the_table_once_and_in_order(log: PredictionLog) -> None:
    for n in range(50):
        log.record([rec(n)])
    log.record([rec(50), rec(51)])
    assert _ids(log) == [rec(n).prediction_id for n in range(52)]
    assert [r.seq for r in log.records()] == list(range(1, 53))
    assert _ids(log) == [rec(n).prediction_id for n in range(52)]  # a second read ingests nothing twice
    assert next(log.records(seq_from=52)) == dataclasses.replace(rec(51), seq=52)  # every field, as recorded
    assert len(_journals(log)) == 1  # the live writer's journal stays


def test_a_failed_request_round_trips_too(log: PredictionLog) -> None:
    log.record([rec(7, status=503)])
    assert list(log.records()) == [dataclasses.replace(rec(7, status=503), seq=1)]


def test_racing_ingesters_insert_each_row_once(tmp_path: Path) -> None:
    path = tmp_path / "log.db"
    writer_log = PredictionLog(path)
    readers = [PredictionLog(path) for _ in range(3)]
    stop = threading.Event()
    errors: list[BaseException] = []

    def read(log: PredictionLog) -> None:
        while not stop.is_set():
            try:
                log.ingest()
            except BaseException as exc:  # noqa: BLE001 - reported below
                errors.append(exc)

    threads = [threading.Thread(target=read, args=(r,)) for r in readers]
    for t in threads:
        t.start()
    for n in range(2000):
        writer_log.record([rec(n)])
    stop.set()
    for t in threads:
        t.join()
    writer_log.close()  # the last ingest, and the journal goes
    assert errors == []
    counts = Counter(_ids(readers[0]))
    assert len(counts) == 2000 and set(counts.values()) == {1}
    assert _journals(readers[0]) == []
    for r in readers:
        r.close()


_CHILD = """
import os, sys
sys.path.insert(0, {repo!r})
from pathlib import Path
from runtime.predlog.store import PredictionLog
from tests.runtime.predlog.test_predlog_store import rec
log = PredictionLog(Path({path!r}))
n = 0
while True:
    log.record([rec(n)])
    n += 1
    os.write(1, b"+")  # one byte per record that returned: the parent counts answered requests
"""


def test_kill_9_of_a_writer_loses_no_recorded_row(tmp_path: Path) -> None:
    path = tmp_path / "log.db"
    child = subprocess.Popen([sys.executable, "-c", _CHILD.format(repo=str(REPO), path=str(path))],
                             stdout=subprocess.PIPE, cwd=REPO)
    assert child.stdout is not None
    returned = 0
    while returned < 3000:
        returned += len(os.read(child.stdout.fileno(), 4096))
    child.send_signal(signal.SIGKILL)
    child.wait()
    returned += len(child.stdout.read())
    log = PredictionLog(path)
    ids = _ids(log)
    # Every record whose write returned is there exactly once (one more may have been written
    # before the kill hit between the write and its byte on stdout).
    assert len(ids) == len(set(ids)) and returned <= len(ids) <= returned + 1
    assert ids == [rec(n).prediction_id for n in range(len(ids))]
    assert _journals(log) == []  # its writer is dead: ingested to the end and removed
    log.close()


def test_a_torn_tail_of_a_dead_writer_is_kept_as_rejected(log: PredictionLog) -> None:
    writer = JournalWriter(log.journals)
    writer.append(journal_lines([rec(1), rec(2)]))
    torn = journal_lines([rec(3)])[:40]
    writer.append(torn)  # what a power loss mid-write leaves: no newline
    writer.close()
    assert _ids(log) == [rec(1).prediction_id, rec(2).prediction_id]
    assert log.stats()["journal_lines_rejected"] == 1
    [(reason, line)] = log._conn.execute("SELECT reason, line FROM journal_rejected").fetchall()
    assert "torn" in reason and line == torn
    assert _journals(log) == []


def test_a_corrupt_line_is_rejected_and_its_neighbours_kept(log: PredictionLog) -> None:
    writer = JournalWriter(log.journals)
    good = journal_lines([rec(1), rec(2)])
    writer.append(good[: good.index(b"\n") + 1] + b'["not", "a", "row"]\n' + b"{garbage\n" + good[good.index(b"\n") + 1:])
    writer.close()
    assert _ids(log) == [rec(1).prediction_id, rec(2).prediction_id]
    reasons = [r for (r,) in log._conn.execute("SELECT reason FROM journal_rejected ORDER BY offset")]
    assert len(reasons) == 2 and all(r.startswith("not a prediction row") for r in reasons)


def test_a_line_being_written_is_left_for_the_next_ingest(log: PredictionLog) -> None:
    log.record([rec(1)])
    writer = log.writer()
    line = journal_lines([rec(2)])
    assert writer._fd is not None
    os.write(writer._fd, line[:25])  # the first half of a write still in progress
    assert _ids(log) == [rec(1).prediction_id]
    os.write(writer._fd, line[25:])
    assert _ids(log) == [rec(1).prediction_id, rec(2).prediction_id]


def test_rotation_removes_ingested_journals_and_keeps_order(tmp_path: Path) -> None:
    log = PredictionLog(tmp_path / "log.db")
    writer = JournalWriter(log.journals, rotate_bytes=2_000)
    for n in range(40):
        writer.append(journal_lines([rec(n)]))
    assert len(_journals(log)) > 5
    assert _ids(log) == [rec(n).prediction_id for n in range(40)]
    assert len(_journals(log)) == 1  # only the one still being written
    writer.close()
    log.close()


def test_a_finished_journal_found_again_is_not_ingested_twice(log: PredictionLog) -> None:
    writer = JournalWriter(log.journals)
    writer.append(journal_lines([rec(1), rec(2)]))
    name = writer.path.name if writer.path else ""
    writer.close()
    content = (log.journals / name).read_bytes()
    assert len(_ids(log)) == 2 and _journals(log) == []
    # A crash between the commit that finished it and the unlink leaves the file behind:
    (log.journals / name).write_bytes(content)
    assert len(_ids(log)) == 2
    assert _journals(log) == []


def test_ingest_waits_out_a_locked_database_and_loses_nothing(log: PredictionLog) -> None:
    log.record([rec(1)])
    log._conn.execute("PRAGMA busy_timeout = 50")
    blocker = __import__("sqlite3").connect(log.path, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    try:
        try:
            log.ingest()
        except Exception as exc:  # noqa: BLE001 - the failure must be clear, and the rows still there
            assert "cannot ingest its journals: database is locked" in str(exc) and "stay in" in str(exc)
        else:
            raise AssertionError("ingest succeeded while another connection held the write lock")
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    assert _ids(log) == [rec(1).prediction_id]


def test_a_closed_log_refuses_to_record(log: PredictionLog) -> None:
    log.record([rec(1)])
    log.close()
    try:
        log.record([rec(2)])
    except Exception as exc:  # noqa: BLE001
        assert "closed" in str(exc)
    else:
        raise AssertionError("a closed log recorded")
    reopened = PredictionLog(log.path)
    assert _ids(reopened) == [rec(1).prediction_id]  # close ingested it
    reopened.close()


def test_a_journal_being_created_is_not_taken_for_an_abandoned_one(log: PredictionLog) -> None:
    log.journals.mkdir(parents=True, exist_ok=True)
    fresh = log.journals / ".abc-000001.jsonl.tmp"
    fresh.touch()  # what a writer's journal looks like between its creation and its lock
    log.ingest()
    assert fresh.exists()
    old = log.journals / ".dead-000001.jsonl.tmp"
    old.touch()
    os.utime(old, (0, 0))  # a writer that died there long ago
    log.ingest()
    assert not old.exists() and fresh.exists()


def test_a_log_opened_by_a_relative_path_keeps_to_its_own_files_after_a_chdir(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Seen in the test suite: a log opened as ".specops/.../local.db" whose background thread
    # resolved that path again after the process had moved to another project took that
    # project's journal into its own table (and finished it there): the rows left their log.
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    monkeypatch.chdir(tmp_path / "a")
    first = PredictionLog("wal/log.db")
    first.record([rec(1)])  # its writer and background thread start (ingest every 0.5 s)
    monkeypatch.chdir(tmp_path / "b")
    writer = JournalWriter(Path("wal/log.db.journals"))  # another process's journal, finished
    writer.append(journal_lines([rec(2), rec(3)]))
    writer.close()
    journal = writer.directory.absolute()
    deadline = time.monotonic() + 1.6  # three of the first log's rounds
    while time.monotonic() < deadline:
        assert sorted(p.name for p in journal.iterdir()), "the other project's journal was taken"
        time.sleep(0.05)
    try:
        assert _ids(first) == [rec(1).prediction_id]
    finally:
        first.close()
    second = PredictionLog(tmp_path / "b" / "wal" / "log.db")
    try:
        assert _ids(second) == [rec(2).prediction_id, rec(3).prediction_id]
    finally:
        second.close()
