"""Event times as integer microseconds since the epoch (UTC).

Both feature engines compare and subtract times as integers, so window
boundaries and ``time_since_last`` are exact and identical in DuckDB
(``epoch_us``) and Python.
"""

from __future__ import annotations

from datetime import datetime, timezone

__all__ = ["EPOCH", "from_us", "to_us"]

EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def to_us(value: object) -> int:
    """A timestamp (aware or naive-UTC datetime, ISO-8601 string, or int
    microseconds) as microseconds since the epoch."""
    if isinstance(value, datetime):
        dt = value if value.tzinfo else value.replace(tzinfo=timezone.utc)
        delta = dt - EPOCH
        return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
    if isinstance(value, str):
        try:
            return to_us(datetime.fromisoformat(value.replace("Z", "+00:00")))
        except ValueError:
            raise ValueError(f"not an ISO-8601 timestamp: {value!r}") from None
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if hasattr(value, "to_pydatetime"):  # pandas Timestamp
        return to_us(value.to_pydatetime())  # type: ignore[union-attr]
    raise ValueError(f"not a timestamp: {value!r}")


def from_us(us: int) -> datetime:
    return datetime.fromtimestamp(us // 1_000_000, tz=timezone.utc).replace(microsecond=us % 1_000_000)
