"""The audit log: the chain names the first edited, deleted or reordered
record; the database refuses UPDATE and DELETE; a tampered row (trigger
dropped first) is detected and named, on SQLite and on PostgreSQL."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
from review_support import PG_DSN, prediction

from runtime.audit import AuditLog, verify_chain
from runtime.audit.database import PostgresDatabase, SqliteDatabase
from runtime.audit.record import GENESIS

REPO = Path(__file__).resolve().parents[3]


def chain(n: int = 6) -> list:
    """A real chain of n records, appended through the log (SQLite in memory of a temp file)."""
    import tempfile

    db = SqliteDatabase(Path(tempfile.mkdtemp()) / "a.db")
    log = AuditLog(db)
    log.setup()
    for i in range(n):
        log.record(actor="system:test", action="release.approved" if i % 2 else "monitor.rollback",
                   subject=f"pump-failure-1-{i}", payload={"i": i, "by": "alice"}, at_us=1_800_000_000_000_000 + i)
    out = list(log.records())
    db.close()
    return out


def test_a_clean_chain_verifies_and_starts_at_genesis() -> None:
    records = chain()
    verdict = verify_chain(records)
    assert verdict.ok and verdict.records == 6 and verdict.head == records[-1].hash
    assert records[0].prev_hash == GENESIS and records[1].prev_hash == records[0].hash
    assert verify_chain([]).ok


@pytest.mark.parametrize("field,value", [("actor", "system:someone-else"), ("action", "release.rejected"),
                                         ("subject", "pump-failure-9-9"), ("at", "2020-01-01T00:00:00.000000Z")])
def test_an_edited_field_is_named(field: str, value: str) -> None:
    records = chain()
    records[3] = replace(records[3], **{field: value})
    verdict = verify_chain(records)
    assert not verdict.ok and verdict.broken_seq == 4 and "a field was edited" in verdict.problem


def test_an_edited_payload_is_named() -> None:
    records = chain()
    records[2] = replace(records[2], payload={"i": 2, "by": "mallory"})
    verdict = verify_chain(records)
    assert (verdict.ok, verdict.broken_seq) == (False, 3) and "payload was edited" in verdict.problem


def test_a_deleted_record_is_named() -> None:
    records = chain()
    del records[2]
    verdict = verify_chain(records)
    assert (verdict.ok, verdict.broken_seq) == (False, 4) and "expected seq 3" in verdict.problem


def test_reordered_records_are_named() -> None:
    records = chain()
    records[1], records[2] = records[2], records[1]
    verdict = verify_chain(records)
    assert (verdict.ok, verdict.broken_seq) == (False, 3) and "expected seq 2" in verdict.problem


def test_renumbered_records_are_named() -> None:
    """Swapping two records' seq (a "reorder" that keeps seq sorted) breaks their hashes."""
    records = chain()
    a, b = records[1], records[2]
    records[1], records[2] = replace(b, seq=2), replace(a, seq=3)
    verdict = verify_chain(records)
    assert (verdict.ok, verdict.broken_seq) == (False, 2)


def test_the_database_refuses_update_and_delete(make_queue) -> None:
    queue = make_queue()
    queue.submit(prediction(1))
    for statement in ("UPDATE audit_log SET actor = 'x' WHERE seq = 1", "DELETE FROM audit_log WHERE seq = 1"):
        with pytest.raises(Exception, match="append-only"):
            with queue.db.transaction() as tx:
                tx.execute(statement)
    if queue.db.dialect == "postgres":
        with pytest.raises(Exception, match="append-only"):
            with queue.db.transaction() as tx:
                tx.execute("TRUNCATE audit_log")
    assert queue.audit.verify().ok and queue.audit.verify().records == 1


def _tamper(db, statement: str) -> None:  # type: ignore[no-untyped-def]
    """What an attacker with DDL rights does: drop the guard, rewrite, (not) restore it."""
    with db.transaction() as tx:
        if db.dialect == "sqlite":
            tx.execute("DROP TRIGGER audit_log_no_update")
            tx.execute("DROP TRIGGER audit_log_no_delete")
        else:
            tx.execute("DROP TRIGGER audit_log_no_change ON audit_log")
        tx.execute(statement)


@pytest.mark.parametrize("statement,seq,problem", [
    ("UPDATE audit_log SET payload = replace(payload, 'sensor fault', 'real failure') WHERE seq = 5", 5,
     "payload was edited"),
    ("DELETE FROM audit_log WHERE seq = 2", 3, "expected seq 2"),
])
def test_a_tampered_row_is_detected_and_named(make_queue, statement: str, seq: int, problem: str) -> None:
    queue = make_queue()
    for n in range(3):
        queue.submit(prediction(n))
    claim = queue.claim("alice")
    assert claim is not None
    queue.decide(claim.item.id, claim.token, "alice", "override", "sensor fault")
    assert queue.audit.verify().ok
    _tamper(queue.db, statement)
    verdict = queue.audit.verify()
    assert not verdict.ok and verdict.broken_seq == seq and problem in verdict.problem


def _config(tmp_path: Path, store: dict) -> Path:  # type: ignore[type-arg]
    config = json.loads((REPO / "generated/runtime/pump-failure/review.json").read_text())
    config["store"] = store
    path = tmp_path / "review.json"
    path.write_text(json.dumps(config))
    return path


def test_audit_verify_cli_names_the_broken_record(db, tmp_path: Path, make_queue) -> None:
    """`python -m runtime audit verify` (what `specops audit verify` runs): 0, then 1 with the record."""
    queue = make_queue()
    queue.submit(prediction(7))
    queue.submit(prediction(8))
    if isinstance(db, SqliteDatabase):
        store = {"backend": "sqlite", "path": str(db.path)}
        env = None
    else:
        assert isinstance(db, PostgresDatabase)
        store = {"backend": "postgres", "dsn_env": "SPECOPS_REVIEW_DSN", "schema_name": db.schema}
        env = {"SPECOPS_REVIEW_DSN": PG_DSN}
    config = _config(tmp_path, store)
    import os

    run_env = {**os.environ, **(env or {})}
    ok = subprocess.run([sys.executable, "-m", "runtime", "audit", "verify", "--config", str(config)],
                        capture_output=True, text=True, env=run_env, cwd=tmp_path)
    assert ok.returncode == 0 and "audit chain OK: 2 record(s)" in ok.stdout
    exported = subprocess.run([sys.executable, "-m", "runtime", "audit", "export", "--config", str(config)],
                              capture_output=True, text=True, env=run_env, cwd=tmp_path)
    lines = [json.loads(line) for line in exported.stdout.splitlines()]
    assert [r["seq"] for r in lines] == [1, 2] and lines[1]["subject"] == "req-00008/0"
    _tamper(db, "UPDATE audit_log SET actor = 'predictor:someone' WHERE seq = 2")
    bad = subprocess.run([sys.executable, "-m", "runtime", "audit", "verify", "--config", str(config)],
                         capture_output=True, text=True, env=run_env, cwd=tmp_path)
    assert bad.returncode == 1, bad.stderr
    assert "BROKEN at record seq=2: a field was edited" in bad.stderr and "Traceback" not in bad.stderr


def test_a_postgres_store_without_its_dsn_is_a_clear_error(tmp_path: Path) -> None:
    config = _config(tmp_path, {"backend": "postgres", "dsn_env": "SPECOPS_REVIEW_DSN_UNSET",
                                "dsn_secret": "review-db/dsn"})
    done = subprocess.run([sys.executable, "-m", "runtime", "audit", "verify", "--config", str(config)],
                          capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 2
    assert "needs its DSN in $SPECOPS_REVIEW_DSN_UNSET (from Secret review-db/dsn)" in done.stderr
