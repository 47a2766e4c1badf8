"""Per-entity online state: the events of the last ``max_window`` and, per
column, its values aligned with those events, with exact prefix sums.

Layout: one ``Events`` (event times and ids, ordered by (time, id)) and one
``Column`` per kept column whose ``vals`` are aligned with the events (None
where the event had no value).  One bisection of the event times bounds a
window for every column, and an apply appends one value per column (prefix
sums are settled when read, see ``Column``): no per-column copy of times and
ids to keep, evict or serialize.

Why exact integers: a sliding window adds and removes values forever; float
running sums drift and a sum of squares cancels catastrophically.  Each
value is scaled to an integer (``x * 2**shift`` is exact for a binary float),
so window sums are differences of prefix sums with no rounding at all; the
only rounding is the final correctly rounded division (``int / int``).  The
state therefore matches the batch engine to the last few ulps, whatever the
history, and a read at any time t is two bisections per window (no buckets,
no approximation).

A state the in-process store keeps between reads also carries a
``ReadIndex`` per column (not serialized): counts of values present and
max/min records, so a read is O(log n) per aggregation instead of a scan of
each window; a state decoded from bytes for one read scans instead.

Memory is bounded: events older than the entity's clock (latest arrival)
minus the largest window can never be in a window of a read at or after
the clock, so they are evicted, in batches once the oldest is an eighth of
the window past that horizon (reads bisect, so the slack never shows; it
only amortizes the deletes).
"""

from __future__ import annotations

import json
from bisect import bisect_left, bisect_right
from collections.abc import Iterable
from itertools import accumulate, islice
from math import ldexp
from typing import Any

__all__ = ["FORMAT", "MIN_SHIFT", "Column", "EntityState", "Events", "ReadIndex"]

FORMAT = 2  # serialized layout; 1 (per-column times and ids) is still read
# Rebase prefix sums once they carry this many more bits than a value needs
# (keeps the serialized state small; correctness never depends on it).
_REBASE_BITS = 64
# The first value scales a column by at least 2**64 (exact for any double of
# magnitude >= 2**-12), so a column rescales (rewrites its prefix sums) about
# once in its life instead of each time a value with more fraction bits comes.
MIN_SHIFT = 64


class Events:
    """Event times and ids of one entity, ordered by (event time, event id)."""

    __slots__ = ("ets", "eids")

    def __init__(self) -> None:
        self.ets: list[int] = []
        self.eids: list[str] = []

    def position(self, et: int, eid: str) -> int:
        pos = bisect_right(self.ets, et)
        while pos > 0 and self.ets[pos - 1] == et and self.eids[pos - 1] > eid:
            pos -= 1
        return pos

    def bounds(self, lo_exclusive: int, hi_inclusive: int) -> tuple[int, int]:
        ets = self.ets
        return bisect_right(ets, lo_exclusive), bisect_right(ets, hi_inclusive)


class _Records:
    """Indices of the values above (``greater``) or below every later value, in
    order: the maximum (minimum) of ``vals[lo:]`` is at the first index >= lo.
    Extended over new values in amortized O(1) each (a monotonic stack)."""

    __slots__ = ("idx", "greater")

    def __init__(self, greater: bool) -> None:
        self.idx: list[int] = []
        self.greater = greater

    def extend(self, vals: list[Any], start: int, end: int) -> None:
        idx = self.idx
        greater = self.greater
        for i in range(start, end):
            v = vals[i]
            if v is None:
                continue
            if greater:
                while idx and vals[idx[-1]] <= v:
                    idx.pop()
            else:
                while idx and vals[idx[-1]] >= v:
                    idx.pop()
            idx.append(i)

    def first_from(self, lo: int) -> int:
        idx = self.idx
        pos = bisect_left(idx, lo)
        return idx[pos] if pos < len(idx) else -1

    def evict(self, k: int) -> None:
        idx = self.idx
        self.idx = [i - k for i in idx[bisect_left(idx, k):]]


class ReadIndex:
    """What a resident state (the in-process store keeps it between reads)
    derives from a column's values so a read is O(log n) instead of a scan of
    each window: prefix counts of the values present, and the records that
    answer max/min of a window ending at the latest event (every read at or
    after the entity's clock).  Each part covers ``vals[:covered]`` and is
    extended lazily, like the prefix sums; an eviction shifts it, an
    out-of-order insert drops it (rebuilt by the next read)."""

    __slots__ = ("present", "covered", "records")

    def __init__(self) -> None:
        self.present = [0]  # present[i]: values not None in vals[:i], for i <= covered
        self.covered = 0
        self.records: dict[bool, tuple[_Records, int]] = {}  # greater -> (records, values covered)

    def counts(self, vals: list[Any]) -> list[int]:
        n = len(vals)  # once: every part covers exactly vals[:n], whatever is appended meanwhile
        if self.covered < n:
            present = self.present
            present.extend(islice(accumulate((v is not None for v in vals[self.covered:n]),
                                             initial=present[-1]), 1, None))
            self.covered = n
        return self.present

    def extreme(self, vals: list[Any], lo: int, greater: bool) -> int:
        """Index of the max (``greater``) or min of ``vals[lo:]``, or -1 if all are None."""
        entry = self.records.get(greater)
        records, covered = entry if entry is not None else (_Records(greater), 0)
        n = len(vals)
        if covered < n:
            records.extend(vals, covered, n)
            self.records[greater] = (records, n)
        return records.first_from(lo)

    def evict(self, k: int) -> None:
        if k >= self.covered:
            self.present, self.covered, self.records = [0], 0, {}
            return
        del self.present[:k]
        self.covered -= k
        for greater, (records, covered) in list(self.records.items()):
            if k >= covered:
                del self.records[greater]
            else:
                records.evict(k)
                self.records[greater] = (records, covered - k)


class Column:
    """One column's values aligned with ``Events`` (None: the event had none).

    Prefix sums are settled lazily: an apply only appends the value, and
    ``settle`` scales the values not yet summed when a read (or a write to a
    store) needs the sums.  The work per value is the same, done once, in one
    loop instead of per event, and never for values evicted unread (eviction
    rebases the sums, whose origin is arbitrary: only differences are read).
    """

    __slots__ = ("vals", "s", "q", "shift", "index")

    def __init__(self, sums: bool, squares: bool, index: bool = True) -> None:
        self.vals: list[Any] = []
        # Resident states keep a read index; a state decoded for one read scans instead.
        self.index: ReadIndex | None = ReadIndex() if index else None
        # Prefix sums (a None adds 0) of vals[:len(s) - 1]; len(s) <= len(vals) + 1.
        self.s: list[int] | None = [0] if sums else None
        self.q: list[int] | None = [0] if squares else None  # prefix sums of squares, as long as s
        self.shift = 0  # values are scaled by 2**shift (sums) and 2**(2*shift) (squares)

    def settle(self) -> None:
        """Extend the prefix sums over every value."""
        s = self.s
        if s is None or len(s) > len(self.vals):
            return
        tail = self.vals[len(s) - 1:]
        # ldexp by a power of two is exact, and its result is an integer exactly
        # when the value has at most ``shift`` fraction bits: then int() is the
        # exact scaled value and the sums accumulate in C.  Otherwise (more bits,
        # or overflow to inf) rescale, one value at a time.
        if self.shift < MIN_SHIFT:  # the first settle: take the usual scale at once
            self.rescale(MIN_SHIFT - self.shift)
            s = self.s
        shift = self.shift
        scaled = [0.0 if v is None else ldexp(v, shift) for v in tail]
        if all(f.is_integer() for f in scaled):
            xs = [int(f) for f in scaled]
            s.extend(islice(accumulate(xs, initial=s[-1]), 1, None))
            if self.q is not None:
                self.q.extend(islice(accumulate((x * x for x in xs), initial=self.q[-1]), 1, None))
            return
        for value in tail:
            xi = 0 if value is None else self.scaled(value)
            s = self.s  # scaled() may have rescaled (replaced) the lists
            s.append(s[-1] + xi)
            if self.q is not None:
                self.q.append(self.q[-1] + xi * xi)

    def append(self, value: Any) -> None:
        self.vals.append(value)

    def insert(self, pos: int, value: Any) -> None:
        self.settle()
        self.vals.insert(pos, value)
        if self.index is not None:
            self.index = ReadIndex()  # out of order is rare: rebuilt by the next read
        if self.s is None:
            return
        xi = 0 if value is None else self.scaled(value)
        _insert_prefix(self.s, pos, xi)  # self.s, not a copy: scaled() may have rescaled it
        if self.q is not None:
            _insert_prefix(self.q, pos, xi * xi)

    def scaled(self, value: Any) -> int:
        """``value * 2**shift`` as an exact integer (rescaling first if it needs more bits)."""
        num, den = value.as_integer_ratio() if type(value) is float else float(value).as_integer_ratio()
        k = den.bit_length() - 1
        if k > self.shift:
            self.rescale(max(k, MIN_SHIFT) - self.shift)
        return num << (self.shift - k)  # type: ignore[no-any-return]

    def rescale(self, by: int) -> None:
        assert self.s is not None
        self.s = [v << by for v in self.s]
        if self.q is not None:
            self.q = [v << (2 * by) for v in self.q]
        self.shift += by

    def evict(self, k: int) -> None:
        """Drop the first ``k`` values."""
        del self.vals[:k]
        if self.index is not None:
            self.index.evict(k)
        s = self.s
        if s is None:
            return
        if k >= len(s) - 1:  # none of the rest is summed yet: start the sums afresh
            self.s = [0]
            if self.q is not None:
                self.q = [0]
            return
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

    def present(self, lo: int, hi: int) -> int:
        """How many of ``vals[lo:hi]`` are not None."""
        if self.index is None:
            return hi - lo - self.vals[lo:hi].count(None)
        counts = self.index.counts(self.vals)
        return counts[hi] - counts[lo]

    def extreme(self, lo: int, hi: int, greater: bool) -> Any:
        """max (``greater``) or min of the values in ``vals[lo:hi]`` that are not None (None if none is)."""
        vals = self.vals
        if self.index is not None and hi == len(vals):
            i = self.index.extreme(vals, lo, greater)
            return vals[i] if i >= lo else None
        window = vals[lo:hi]
        if None in window:
            window = [v for v in window if v is not None]
        if not window:
            return None
        return max(window) if greater else min(window)

    def last(self, lo: int, hi: int) -> int:
        """Index of the latest non-None value in [lo, hi), or -1."""
        vals = self.vals
        for i in range(hi - 1, lo - 1, -1):
            if vals[i] is not None:
                return i
        return -1


def _insert_prefix(prefix: list[int], pos: int, x: int) -> None:
    prefix.insert(pos + 1, prefix[pos] + x)
    if x:
        for i in range(pos + 2, len(prefix)):
            prefix[i] += x


class EntityState:
    """One entity's state in one feature set."""

    __slots__ = ("clock", "events", "series", "dropped", "ids")

    def __init__(self, series: Iterable[tuple[str, bool, bool]]) -> None:
        self.clock = -(2**62)  # latest arrival applied (microseconds)
        self.events = Events()  # every applied event (count, time_since_last, window bounds)
        self.series = {name: Column(sums, squares) for name, sums, squares in series}
        self.dropped: dict[str, int] = {}  # late events left out: id -> arrival (for idempotence)
        self.ids: set[str] = set()

    def seen(self, eid: str) -> bool:
        return eid in self.ids

    def insert(self, et: int, eid: str, row: dict[str, Any]) -> None:
        """Add an event anywhere in (time, id) order (the out-of-order path)."""
        events = self.events
        pos = events.position(et, eid)
        events.ets.insert(pos, et)
        events.eids.insert(pos, eid)
        for name, column in self.series.items():
            column.insert(pos, row[name])

    def evict(self, horizon: int, slack: int = 0) -> None:
        """Forget events with event time <= horizon, once the oldest is ``slack`` past it."""
        events = self.events
        ets = events.ets
        if (not ets or ets[0] > horizon - slack) and len(self.dropped) <= 64:
            return
        k = bisect_right(ets, horizon)
        if k:
            self.ids.difference_update(events.eids[:k])
            del ets[:k], events.eids[:k]
            for column in self.series.values():
                column.evict(k)
        if self.dropped:
            for eid in [e for e, arrival in self.dropped.items() if arrival <= horizon]:
                del self.dropped[eid]
                self.ids.discard(eid)

    def resident(self) -> EntityState:
        """Keep a read index on every column: this state will be read again."""
        for column in self.series.values():
            if column.index is None:
                column.index = ReadIndex()
        return self

    def to_bytes(self) -> bytes:
        for column in self.series.values():
            column.settle()  # a stored state is read many times: sum once, before writing
        data = {"v": FORMAT, "c": self.clock, "e": [self.events.ets, self.events.eids], "d": self.dropped,
                "s": {k: [c.vals, c.s, c.q, c.shift] for k, c in self.series.items()}}
        return json.dumps(data, separators=(",", ":")).encode()

    @classmethod
    def from_bytes(cls, raw: bytes | str) -> EntityState:
        data = json.loads(raw)
        out = cls.__new__(cls)
        out.clock = data["c"]
        out.dropped = data["d"]
        events = out.events = Events()
        if data.get("v") == FORMAT:
            events.ets, events.eids = data["e"]
            out.series = {}
            for name, (vals, s, q, shift) in data["s"].items():
                column = out.series[name] = Column.__new__(Column)
                column.vals, column.s, column.q, column.shift, column.index = vals, s, q, shift, None
        else:
            out.series = _from_format_1(events, data)
        out.ids = set(events.eids) | set(out.dropped)
        return out


def _from_format_1(events: Events, data: dict[str, Any]) -> dict[str, Column]:
    """States written before FORMAT 2 (each column with its own times, ids and
    non-NULL values): realigned with the events, prefix sums recomputed, so a
    store written by the previous version is read without loss."""
    events.ets, events.eids = data["e"][0], data["e"][1]
    columns: dict[str, Column] = {}
    for name, (_ets, eids, vals, s, q, _shift) in data["s"].items():
        by_id = dict(zip(eids, vals))
        column = columns[name] = Column(s is not None, q is not None, index=False)
        for eid in events.eids:
            column.append(by_id.get(eid))
    return columns
