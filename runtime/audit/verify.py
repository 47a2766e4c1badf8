"""Checking a chain: the first record that does not follow from the one before.

Pure: records in, verdict out.  Detects an edited field or payload (its
hashes no longer match), a deleted record (a gap in ``seq`` and a
``prev_hash`` that names no neighbour), reordered records (``seq`` out of
order) and a truncated head when the expected head is known.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from runtime.audit.record import GENESIS, AuditRecord, payload_hash, record_hash

__all__ = ["ChainVerdict", "verify_chain"]


@dataclass(frozen=True, slots=True)
class ChainVerdict:
    ok: bool
    records: int  # how many records were read
    head: str  # the hash of the last good record (GENESIS for an empty chain)
    broken_seq: int | None = None  # the first record that does not verify
    problem: str = ""

    def describe(self) -> str:
        if self.ok:
            return f"audit chain OK: {self.records} record(s), head {self.head}"
        return f"audit chain BROKEN at record seq={self.broken_seq}: {self.problem}"


def verify_chain(records: Iterable[AuditRecord]) -> ChainVerdict:
    prev, expected_seq, count = GENESIS, 1, 0
    for rec in records:
        count += 1
        problem = _problem(rec, expected_seq, prev)
        if problem:
            return ChainVerdict(False, count, prev, rec.seq, problem)
        prev, expected_seq = rec.hash, expected_seq + 1
    return ChainVerdict(True, count, prev)


def _problem(rec: AuditRecord, expected_seq: int, prev: str) -> str:
    if rec.seq != expected_seq:
        what = "missing (deleted?)" if rec.seq > expected_seq else "out of order or duplicated"
        return f"expected seq {expected_seq}, found {rec.seq}: record(s) {what}"
    if rec.prev_hash != prev:
        return f"prev_hash {rec.prev_hash[:16]}... does not match the previous record's hash {prev[:16]}..."
    actual_payload = payload_hash(rec.payload)
    if actual_payload != rec.payload_hash:
        return (f"payload was edited (its sha256 is {actual_payload[:16]}..., "
                f"the record says {rec.payload_hash[:16]}...)")
    actual = record_hash(rec.seq, rec.at, rec.actor, rec.action, rec.subject, rec.payload_hash, rec.prev_hash)
    if actual != rec.hash:
        return f"a field was edited (the record hashes to {actual[:16]}..., it says {rec.hash[:16]}...)"
    return ""
