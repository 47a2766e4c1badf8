"""The audit log: append-only, hash-chained, in the review store's database.

``append`` runs inside the caller's transaction, so an escalation, a
decision or an approval and its audit record commit together or not at all.
Append-only is enforced by the database too: triggers refuse UPDATE and
DELETE (and TRUNCATE on PostgreSQL), so rewriting history takes dropping a
trigger first, and ``verify`` still names the first record that changed.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from datetime import datetime, timezone
from typing import Any

from runtime.audit.database import Database, Tx
from runtime.audit.record import GENESIS, AuditRecord, canonical, payload_hash, record_hash
from runtime.audit.verify import ChainVerdict, verify_chain

__all__ = ["AUDIT_DDL", "AuditLog", "iso_us"]

_COLUMNS = "seq, at, actor, action, subject, payload, payload_hash, prev_hash, hash"

AUDIT_DDL: dict[str, tuple[str, ...]] = {
    "sqlite": (
        """CREATE TABLE IF NOT EXISTS audit_log (
            seq INTEGER PRIMARY KEY, at TEXT NOT NULL, actor TEXT NOT NULL, action TEXT NOT NULL,
            subject TEXT NOT NULL, payload TEXT NOT NULL, payload_hash TEXT NOT NULL,
            prev_hash TEXT NOT NULL UNIQUE, hash TEXT NOT NULL UNIQUE)""",
        """CREATE TRIGGER IF NOT EXISTS audit_log_no_update BEFORE UPDATE ON audit_log
           BEGIN SELECT RAISE(ABORT, 'audit_log is append-only: UPDATE refused'); END""",
        """CREATE TRIGGER IF NOT EXISTS audit_log_no_delete BEFORE DELETE ON audit_log
           BEGIN SELECT RAISE(ABORT, 'audit_log is append-only: DELETE refused'); END""",
    ),
    "postgres": (
        """CREATE TABLE IF NOT EXISTS audit_log (
            seq BIGINT PRIMARY KEY, at TEXT NOT NULL, actor TEXT NOT NULL, action TEXT NOT NULL,
            subject TEXT NOT NULL, payload TEXT NOT NULL, payload_hash TEXT NOT NULL,
            prev_hash TEXT NOT NULL UNIQUE, hash TEXT NOT NULL UNIQUE)""",
        """CREATE OR REPLACE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
           BEGIN RAISE EXCEPTION 'audit_log is append-only: % refused', TG_OP; END $$""",
        """CREATE OR REPLACE TRIGGER audit_log_no_change BEFORE UPDATE OR DELETE ON audit_log
           FOR EACH ROW EXECUTE FUNCTION audit_log_append_only()""",
        """CREATE OR REPLACE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
           FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only()""",
    ),
}


def iso_us(at_us: int) -> str:
    """Microsecond ISO 8601 UTC: the audit log's one time format."""
    return datetime.fromtimestamp(at_us / 1_000_000, tz=timezone.utc).isoformat(timespec="microseconds").replace(
        "+00:00", "Z")


def _record(row: tuple[Any, ...]) -> AuditRecord:
    seq, at, actor, action, subject, payload, p_hash, prev, h = row
    try:
        body = json.loads(payload)
    except json.JSONDecodeError:
        body = {"<unreadable payload>": payload}  # verify then reports the payload as edited
    return AuditRecord(int(seq), at, actor, action, subject, body if isinstance(body, dict) else {"<payload>": body},
                       p_hash, prev, h)


class AuditLog:
    def __init__(self, db: Database) -> None:
        self.db = db

    def setup(self) -> None:
        self.db.setup(AUDIT_DDL)

    @staticmethod
    def append(tx: Tx, *, actor: str, action: str, subject: str, payload: Mapping[str, Any], at_us: int) -> AuditRecord:
        """Append one record inside ``tx`` (the caller's transaction)."""
        tx.lock("audit_log")
        last = tx.rows("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1")
        seq, prev = (int(last[0][0]) + 1, last[0][1]) if last else (1, GENESIS)
        at = iso_us(at_us)
        body = dict(payload)
        p_hash = payload_hash(body)
        h = record_hash(seq, at, actor, action, subject, p_hash, prev)
        tx.execute(f"INSERT INTO audit_log ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                   (seq, at, actor, action, subject, canonical(body), p_hash, prev, h))
        return AuditRecord(seq, at, actor, action, subject, body, p_hash, prev, h)

    def record(self, *, actor: str, action: str, subject: str, payload: Mapping[str, Any], at_us: int) -> AuditRecord:
        """Append one record in its own transaction (a release approval, an automated action)."""
        with self.db.transaction() as tx:
            return self.append(tx, actor=actor, action=action, subject=subject, payload=payload, at_us=at_us)

    def records(self, batch: int = 1000) -> Iterator[AuditRecord]:
        """Every record in seq order, read in batches (the log may be large)."""
        after = 0
        while True:
            with self.db.transaction() as tx:
                rows = tx.rows(f"SELECT {_COLUMNS} FROM audit_log WHERE seq > ? ORDER BY seq LIMIT ?", (after, batch))
            if not rows:
                return
            for row in rows:
                yield _record(row)
            after = int(rows[-1][0])

    def verify(self) -> ChainVerdict:
        return verify_chain(self.records())
