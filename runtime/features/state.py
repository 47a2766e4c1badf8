"""Per-entity online state: the events of the last ``max_window`` and, per
column, its non-NULL values with exact prefix sums.

Why exact integers: a sliding window adds and removes values forever; float
running sums drift and a sum of squares cancels catastrophically.  Each
value is scaled to an integer (``x * 2**shift`` is exact for a binary float),
so window sums are differences of prefix sums with no rounding at all; the
only rounding is the final correctly rounded division (``int / int``).  The
state therefore matches the batch engine to the last few ulps, whatever the
history, and a read at any time t is two bisections per window (no buckets,
no approximation).

Memory is bounded: events older than the entity's clock (latest arrival)
minus the largest window can never be in a window of a read at or after
the clock, so they are evicted, in batches once the oldest is an eighth of
the window past that horizon (reads bisect, so the slack never shows; it
only amortizes the deletes).
"""

from __future__ import annotations

import json
from bisect import bisect_right
from collections.abc import Iterable
from typing import Any

__all__ = ["MIN_SHIFT", "EntityState", "Series"]

# Rebase prefix sums once they carry this many more bits than a value needs
# (keeps the serialized state small; correctness never depends on it).
_REBASE_BITS = 64
# The first value scales a series by at least 2**64 (exact for any double of
# magnitude >= 2**-12), so a series rescales (rewrites its prefix sums) about
# once in its life instead of each time a value with more fraction bits comes.
MIN_SHIFT = 64


class Series:
    """Non-NULL values of one column, ordered by (event time, event id)."""

    __slots__ = ("ets", "eids", "vals", "s", "q", "shift")

    def __init__(self, sums: bool, squares: bool) -> None:
        self.ets: list[int] = []
        self.eids: list[str] = []
        self.vals: list[Any] = []
        self.s: list[int] | None = [0] if sums else None  # prefix sums, len(vals) + 1
        self.q: list[int] | None = [0] if squares else None  # prefix sums of squares
        self.shift = 0  # values are scaled by 2**shift (sums) and 2**(2*shift) (squares)

    def position(self, et: int, eid: str) -> int:
        pos = bisect_right(self.ets, et)
        while pos > 0 and self.ets[pos - 1] == et and self.eids[pos - 1] > eid:
            pos -= 1
        return pos

    def insert(self, et: int, eid: str, value: Any) -> None:
        ets = self.ets
        appending = not ets or et > ets[-1] or (et == ets[-1] and eid >= self.eids[-1])
        if appending:  # the common case: events arrive in time order
            ets.append(et)
            self.eids.append(eid)
            self.vals.append(value)
        else:
            pos = self.position(et, eid)
            ets.insert(pos, et)
            self.eids.insert(pos, eid)
            self.vals.insert(pos, value)
        s = self.s
        if s is None:
            return
        num, den = value.as_integer_ratio() if type(value) is float else float(value).as_integer_ratio()
        k = den.bit_length() - 1
        if k > self.shift:
            self.rescale(max(k, MIN_SHIFT) - self.shift)
            s = self.s
        xi = num << (self.shift - k)
        q = self.q
        if appending:
            s.append(s[-1] + xi)
            if q is not None:
                q.append(q[-1] + xi * xi)
            return
        _insert_prefix(s, pos, xi)
        if q is not None:
            _insert_prefix(q, pos, xi * xi)

    def rescale(self, by: int) -> None:
        assert self.s is not None
        self.s = [v << by for v in self.s]
        if self.q is not None:
            self.q = [v << (2 * by) for v in self.q]
        self.shift += by

    def evict(self, horizon: int) -> None:
        """Drop values with event time <= horizon."""
        ets = self.ets
        if not ets or ets[0] > horizon:
            return
        k = bisect_right(ets, horizon)
        del ets[:k], self.eids[:k], self.vals[:k]
        s = self.s
        if s is not None:
            del s[:k]
            if s[0].bit_length() > self.shift + _REBASE_BITS:
                base = s[0]
                self.s = [v - base for v in s]
            q = self.q
            if q is not None:
                del q[:k]
                if q[0].bit_length() > 2 * self.shift + _REBASE_BITS:
                    base = q[0]
                    self.q = [v - base for v in q]

    def bounds(self, lo_exclusive: int, hi_inclusive: int) -> tuple[int, int]:
        ets = self.ets
        return bisect_right(ets, lo_exclusive), bisect_right(ets, hi_inclusive)

    def to_json(self) -> list[Any]:
        return [self.ets, self.eids, self.vals, self.s, self.q, self.shift]

    @classmethod
    def from_json(cls, data: list[Any]) -> Series:
        out = cls.__new__(cls)
        out.ets, out.eids, out.vals, out.s, out.q, out.shift = data
        return out


def _insert_prefix(prefix: list[int], pos: int, x: int) -> None:
    prefix.insert(pos + 1, prefix[pos] + x)
    for i in range(pos + 2, len(prefix)):
        prefix[i] += x


class EntityState:
    """One entity's state in one feature set."""

    __slots__ = ("clock", "events", "series", "dropped", "ids")

    def __init__(self, series: Iterable[tuple[str, bool, bool]]) -> None:
        self.clock = -(2**62)  # latest arrival applied (microseconds)
        self.events = Series(False, False)  # every applied event (vals unused: count, time_since_last)
        self.series = {name: Series(sums, squares) for name, sums, squares in series}
        self.dropped: dict[str, int] = {}  # late events left out: id -> arrival (for idempotence)
        self.ids: set[str] = set()

    def seen(self, eid: str) -> bool:
        return eid in self.ids

    def evict(self, horizon: int, slack: int = 0) -> None:
        """Forget events with event time <= horizon, once the oldest is ``slack`` past it."""
        events = self.events
        ets = events.ets
        if (not ets or ets[0] > horizon - slack) and len(self.dropped) <= 64:
            return
        self.ids.difference_update(events.eids[:bisect_right(ets, horizon)])
        events.evict(horizon)
        for s in self.series.values():
            s.evict(horizon)
        if self.dropped:
            for eid in [e for e, arrival in self.dropped.items() if arrival <= horizon]:
                del self.dropped[eid]
                self.ids.discard(eid)

    def to_bytes(self) -> bytes:
        data = {"c": self.clock, "e": self.events.to_json(), "d": self.dropped,
                "s": {k: v.to_json() for k, v in self.series.items()}}
        return json.dumps(data, separators=(",", ":")).encode()

    @classmethod
    def from_bytes(cls, raw: bytes | str) -> EntityState:
        data = json.loads(raw)
        out = cls.__new__(cls)
        out.clock = data["c"]
        out.events = Series.from_json(data["e"])
        out.series = {k: Series.from_json(v) for k, v in data["s"].items()}
        out.dropped = data["d"]
        out.ids = set(out.events.eids) | set(out.dropped)
        return out
