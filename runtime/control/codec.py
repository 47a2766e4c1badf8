"""RuntimeControl <-> JSON, with the field checks every reader applies: a
bad value is refused whole (the reader keeps its last good control)."""

from __future__ import annotations

import json
from dataclasses import fields
from typing import Any

from runtime.contracts.monitoring import RuntimeControl

__all__ = ["decode", "encode"]

_FIELDS = {f.name: f.type for f in fields(RuntimeControl)}
_MAX_US = 253_402_300_799_999_999  # 9999-12-31T23:59:59.999999Z: a time the answers can still print


def decode(raw: bytes | str) -> RuntimeControl:
    """Parse and check one control; ValueError names the bad field."""
    data: Any = json.loads(raw)
    if not isinstance(data, dict):
        raise ValueError("not a JSON object")
    unknown = sorted(set(data) - set(_FIELDS))
    if unknown:
        raise ValueError(f"unknown fields {unknown} (RuntimeControl has {sorted(_FIELDS)})")
    for name in ("circuit_forced_open_until_us", "updated_at_us"):
        v = data.get(name)
        if v is not None and (isinstance(v, bool) or not isinstance(v, int) or not 0 <= v <= _MAX_US):
            raise ValueError(f"{name}: {v!r} is not a time in UTC microseconds (0 to year 9999)")
    pct = data.get("canary_percent")
    if pct is not None and (isinstance(pct, bool) or not isinstance(pct, (int, float)) or not 0 <= pct <= 100):
        raise ValueError(f"canary_percent: {pct!r} is not a number in [0, 100]")
    for name in ("circuit_reason", "canary_reason", "incident"):
        v = data.get(name)
        if v is not None and not isinstance(v, str):
            raise ValueError(f"{name}: {v!r} is not a string")
    if pct is not None:
        data["canary_percent"] = float(pct)
    return RuntimeControl(**data)


def encode(control: RuntimeControl, *, indent: int | None = 2) -> str:
    return json.dumps({name: getattr(control, name) for name in _FIELDS}, sort_keys=True, indent=indent)
