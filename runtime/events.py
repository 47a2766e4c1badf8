"""Event identity: one definition shared by the file replay, the stream
publisher, the ingester and the online store's de-duplication."""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from datetime import date, datetime, timezone

__all__ = ["canonical_json", "event_id"]


def _plain(value: object) -> object:
    if isinstance(value, datetime):
        value = value if value.tzinfo else value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float) and not math.isfinite(value):
        return None if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if hasattr(value, "item"):  # numpy scalars
        return _plain(value.item())  # type: ignore[union-attr]
    return value


def canonical_json(record: Mapping[str, object]) -> str:
    """Sorted keys, UTC ISO timestamps, no whitespace: the same bytes for
    the same event wherever it was read from."""
    return json.dumps({k: _plain(v) for k, v in record.items()}, sort_keys=True, separators=(",", ":"))


def event_id(record: Mapping[str, object]) -> str:
    """The event's id: its declared ``event_id`` if it has one, else the
    sha256 of its canonical JSON (a redelivered or duplicated event has the
    same id, so it is applied once)."""
    declared = record.get("event_id")
    if isinstance(declared, str) and declared:
        return declared
    return hashlib.sha256(canonical_json({k: v for k, v in record.items() if k != "event_id"}).encode()).hexdigest()[:32]
