"""Event identity: one definition shared by the file replay, the stream
publisher, the ingester and the online store's de-duplication."""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from datetime import date, datetime, timezone

__all__ = ["ARRIVAL_TIME", "EVENT_ID", "SYSTEM_COLUMNS", "canonical_json", "event_id"]

# System columns the runtime carries beside a source's declared fields.  They
# start with "_" so they can never collide with a spec field name.
EVENT_ID = "_event_id"  # stable identity: de-duplication and exactly-once apply
# When the row became known to the platform (ingestion time for events, ticket
# close time for labels).  Point-in-time joins use it: a row is visible at t
# only if it had arrived by t.  Absent: events arrive at their event time and
# labels at their timestamp plus the declared availability delay.
ARRIVAL_TIME = "_arrival_time"
SYSTEM_COLUMNS = (EVENT_ID, ARRIVAL_TIME)


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
    """The event's id: its ``_event_id`` if it carries one, else the sha256
    of the canonical JSON of its declared fields (system columns excluded, so
    a redelivered or duplicated event has the same id and is applied once)."""
    declared = record.get(EVENT_ID)
    if isinstance(declared, str) and declared:
        return declared
    fields = {k: v for k, v in record.items() if not k.startswith("_")}
    return hashlib.sha256(canonical_json(fields).encode()).hexdigest()[:32]
