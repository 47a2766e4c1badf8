"""One audit record and the hash that chains it to the one before.

``hash = sha256(canonical JSON of seq, at, actor, action, subject,
payload_hash, prev_hash)``; ``payload_hash = sha256(canonical payload)``.
The payload itself is stored beside the record so auditors can read it, and
its hash in the chain means an edited payload is detected too.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["GENESIS", "AuditRecord", "canonical", "payload_hash", "record_hash"]

# prev_hash of the first record: the chain has a fixed, well-known start.
GENESIS = "0" * 64


def canonical(value: Any) -> str:
    """Sorted keys, no whitespace, no NaN: the same bytes on every machine."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def payload_hash(payload: Mapping[str, Any]) -> str:
    return hashlib.sha256(canonical(dict(payload)).encode()).hexdigest()


def record_hash(seq: int, at: str, actor: str, action: str, subject: str, payload_sha256: str, prev_hash: str) -> str:
    body = {"seq": seq, "at": at, "actor": actor, "action": action, "subject": subject,
            "payload_hash": payload_sha256, "prev_hash": prev_hash}
    return hashlib.sha256(canonical(body).encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class AuditRecord:
    seq: int
    at: str  # ISO 8601 UTC, microseconds
    actor: str  # "reviewer:alice", "system:review-sweeper", "predictor:pump-failure"
    action: str  # "review.enqueued", "review.decided", "review.escalated", "release.approved", ...
    subject: str  # what it is about: a prediction id, a release name
    payload: Mapping[str, Any]
    payload_hash: str
    prev_hash: str
    hash: str

    def to_json(self) -> dict[str, Any]:
        return {"seq": self.seq, "at": self.at, "actor": self.actor, "action": self.action, "subject": self.subject,
                "payload": dict(self.payload), "payload_hash": self.payload_hash, "prev_hash": self.prev_hash,
                "hash": self.hash}
