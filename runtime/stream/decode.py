"""Bytes on the wire -> a typed event record, or the reason it is poison.

The publisher sends ``canonical_json`` of the record (timestamps as UTC ISO
strings).  Decoding restores what the batch path reads from Parquet:
timezone-aware datetimes for timestamp fields and ``_arrival_time``, floats
for float fields, and an ``_event_id`` on every record, so the record
contract check and the online engine see the same values training saw.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import datetime, timezone

from runtime.contracts.steps import DataSourceConfig
from runtime.events import ARRIVAL_TIME, EVENT_ID, event_id

__all__ = ["Poison", "decode_event", "parse_timestamp"]


@dataclass(frozen=True, slots=True)
class Poison:
    """A message that can never be applied; ``reason`` goes with it to the dead-letter subject."""

    reason: str


def parse_timestamp(value: object) -> datetime | None:
    """ISO-8601 text (``Z`` or an offset; naive means UTC) or epoch seconds -> aware UTC datetime."""
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00") if value.endswith("Z") else value)
        except ValueError:
            return None
        return parsed.replace(tzinfo=timezone.utc) if parsed.tzinfo is None else parsed.astimezone(timezone.utc)
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        return datetime.fromtimestamp(value, tz=timezone.utc)
    return None


def decode_event(source: DataSourceConfig, data: bytes) -> dict[str, object] | Poison:
    """The record, or Poison when the payload is not a JSON object or a timestamp cannot be read.

    Range, null and category rules are not checked here: that is the data
    contract's job (``runtime.data.contract.check_record``)."""
    try:
        raw = json.loads(data)
    except (UnicodeDecodeError, ValueError) as exc:
        return Poison(f"malformed JSON: {exc}")
    if not isinstance(raw, dict):
        return Poison(f"malformed event: expected a JSON object, got {type(raw).__name__}")
    record: dict[str, object] = dict(raw)
    for f in source.fields:
        value = record.get(f.name)
        if value is None:
            continue
        if f.type == "timestamp":
            parsed = parse_timestamp(value)
            if parsed is None:
                return Poison(f"field '{f.name}': {value!r} is not an ISO-8601 timestamp")
            record[f.name] = parsed
        elif f.type == "float" and isinstance(value, int) and not isinstance(value, bool):
            record[f.name] = float(value)
    if record.get(ARRIVAL_TIME) is not None:
        parsed = parse_timestamp(record[ARRIVAL_TIME])
        if parsed is None:
            return Poison(f"field '{ARRIVAL_TIME}': {record[ARRIVAL_TIME]!r} is not an ISO-8601 timestamp")
        record[ARRIVAL_TIME] = parsed
    if not isinstance(record.get(EVENT_ID), str) or not record[EVENT_ID]:
        # Same rule as the file path: the id is the hash of the declared fields.
        record[EVENT_ID] = event_id(raw)
    return record
