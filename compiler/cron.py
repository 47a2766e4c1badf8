"""Approximate the interval of a cron schedule (for coherence checks only)."""

from __future__ import annotations

import re

__all__ = ["approximate_interval"]

_MACROS = {"@hourly": 3_600_000, "@daily": 86_400_000, "@weekly": 604_800_000, "@monthly": 2_592_000_000}


def approximate_interval(schedule: str) -> int | None:
    """Milliseconds between runs of a 5-field cron (or macro); None if irregular."""
    if schedule in _MACROS:
        return _MACROS[schedule]
    parts = schedule.split()
    if len(parts) != 5:
        return None
    minute, hour, dom, month, dow = parts
    if _STEP.match(minute):
        return int(minute[2:]) * 60_000
    if minute == "*":
        return 60_000
    if _STEP.match(hour):
        return int(hour[2:]) * 3_600_000
    if hour == "*":
        return 3_600_000
    if dom == "*" and dow == "*":
        return 86_400_000 // max(1, len(hour.split(",")))
    if dom == "*" and month == "*":
        days = _count(dow, 7)
        return 604_800_000 // max(1, days) // max(1, len(hour.split(",")))
    return 2_592_000_000


_STEP = re.compile(r"^\*/[0-9]{1,4}$")
_DIGITS = re.compile(r"^[0-9]{1,4}$")


def _count(field: str, size: int) -> int:
    """How many values a cron list/range field selects (e.g. '1-5' -> 5, '1,3' -> 2)."""
    total = 0
    for part in field.split(","):
        base, _, step = part.partition("/")
        if base == "*":
            span = size
        elif "-" in base:
            lo, _, hi = base.partition("-")
            span = int(hi) - int(lo) + 1 if _DIGITS.match(lo) and _DIGITS.match(hi) else 1
        else:
            span = 1
        total += max(1, span // int(step)) if _DIGITS.match(step) and int(step) else span
    return total
