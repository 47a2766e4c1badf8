"""The online feature engine: incremental per-entity state behind an
OnlineStore, read at serving time.

``apply`` is atomic and idempotent per event id (the store runs it as one
read-modify-write), because the ingester acknowledges a stream message only
after apply and the stream redelivers after a crash.  Semantics are those of
``runtime.features.definition``; the batch engine computes the same values.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from runtime.contracts.steps import FeatureSetConfig, LabelConfig
from runtime.events import ARRIVAL_TIME, canonical_json, event_id
from runtime.features.definition import AggregationDef, FeatureSetDef, define
from runtime.features.expression import evaluate
from runtime.features.state import Column, EntityState, Events
from runtime.features.store import ApplyResult, OnlineStore
from runtime.features.timestamps import to_us

__all__ = [
    "FeatureReader",
    "FeatureValue",
    "OnlineEngine",
    "feature_reader",
    "features_from_state",
    "transform_row",
    "window_bounds",
]

FeatureValue = float | int | str | bool | None
US = 1_000_000.0


def window_bounds(events: Events, at: int, window_us: int) -> tuple[int, int]:
    """Indices [lo, hi) of the events with event time in (at - window, at]."""
    return events.bounds(at - window_us, at)


def _cast(value: Any, kind: str) -> FeatureValue:
    if value is None:
        return None
    if kind == "float":
        return float(value)
    if kind == "int":
        return int(math.trunc(float(value)))
    if kind == "bool":
        return bool(value)
    return value if isinstance(value, str) else str(value)


def _plain(value: Any) -> Any:
    """A record's value as both engines see it: numbers as doubles, NaN as NULL."""
    if type(value) is float:
        return None if value != value else value  # NaN is the only float unequal to itself
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int | float):
        f = float(value)
        return None if math.isnan(f) else f
    if hasattr(value, "item"):  # numpy scalar
        return _plain(value.item())
    return value


def transform_row(fs: FeatureSetDef, record: Mapping[str, Any]) -> dict[str, Any]:
    """The event's source columns and transforms (as stored in the series)."""
    get = record.get
    # Floats (nearly every value) are kept as they are unless NaN; the rest go through _plain.
    row = {c: v if type(v := get(c)) is float and v == v else _plain(v) for c in fs.source_columns}
    for t in fs.transforms:
        row[t.name] = _cast(evaluate(t.expr, row), t.type)
    return row


# A prepared aggregation: (its column, that column's prefix counts of values present or None,
# event times, at, window bounds) -> value; the bounds are indexed by the window's position in
# the reader's distinct windows.  The column (None for the events' own aggregations) is looked
# up, settled and counted once per read for a run of aggregations (see FeatureReader).
_Op = Callable[[Column | None, list[int] | None, list[int], int, list[tuple[int, int]]], FeatureValue]


def _present(column: Column, counts: list[int] | None, lo: int, hi: int) -> int:
    """``column.present(lo, hi)``, from the counts the reader took once (a resident state)."""
    return counts[hi] - counts[lo] if counts is not None else column.present(lo, hi)


def _op(agg: AggregationDef, k: int) -> _Op:
    """``agg`` as a small function specialised once for its function, so a read does not
    branch on the function name nor look the window up per aggregation.  Each returns
    exactly what the generic version did (same operations in the same order; the tests
    keep that version as their oracle)."""
    fn = agg.function
    if agg.column is None:  # over the events themselves
        if fn == "count":
            def count_events(column, counts, ets, at, bounds):  # type: ignore[no-untyped-def]
                lo, hi = bounds[k]
                return hi - lo
            return count_events

        def since_last_event(column, counts, ets, at, bounds):  # type: ignore[no-untyped-def]
            lo, hi = bounds[k]
            return (at - ets[hi - 1]) / US if hi > lo else None
        return since_last_event
    if fn == "last":
        def last(column, counts, ets, at, bounds):  # type: ignore[no-untyped-def]
            i = column.last(*bounds[k])
            return column.vals[i] if i >= 0 else None
        return last
    if fn == "time_since_last":
        def since_last(column, counts, ets, at, bounds):  # type: ignore[no-untyped-def]
            i = column.last(*bounds[k])
            return (at - ets[i]) / US if i >= 0 else None
        return since_last
    if fn == "max" or fn == "min":
        greater = fn == "max"

        def extreme(column, counts, ets, at, bounds):  # type: ignore[no-untyped-def]
            lo, hi = bounds[k]
            return column.extreme(lo, hi, greater)
        return extreme
    if fn == "count":
        def count(column, counts, ets, at, bounds):  # type: ignore[no-untyped-def]
            lo, hi = bounds[k]
            return _present(column, counts, lo, hi)
        return count
    # sum, mean, std: the column's prefix sums are settled (once per read) before any of these.
    if fn == "sum":
        def total(column, counts, ets, at, bounds):  # type: ignore[no-untyped-def]
            lo, hi = bounds[k]
            if not _present(column, counts, lo, hi):
                return 0.0
            s = column.s
            return (s[hi] - s[lo]) / (1 << column.shift)
        return total
    if fn == "mean":
        def mean(column, counts, ets, at, bounds):  # type: ignore[no-untyped-def]
            lo, hi = bounds[k]
            n = counts[hi] - counts[lo] if counts is not None else column.present(lo, hi)  # _present, inlined
            if not n:
                return None
            s = column.s
            return (s[hi] - s[lo]) / (n << column.shift)
        return mean
    assert fn == "std", fn

    def std(column, counts, ets, at, bounds):  # type: ignore[no-untyped-def]
        # sample standard deviation from exact sums: (n*Q - S^2) / (n (n-1))
        lo, hi = bounds[k]
        n = counts[hi] - counts[lo] if counts is not None else column.present(lo, hi)  # _present, inlined
        if n < 2:
            return None
        s, q = column.s, column.q
        t = s[hi] - s[lo]
        return math.sqrt((n * (q[hi] - q[lo]) - t * t) / ((n * (n - 1)) << (2 * column.shift)))
    return std


def _empty_value(agg: AggregationDef) -> FeatureValue:
    """What an aggregation is without state (none, or expired)."""
    return 0 if agg.function == "count" else (0.0 if agg.function == "sum" else None)


_SUMMED = frozenset({"sum", "mean", "std"})
_COUNTED = frozenset({"count", "sum", "mean", "std"})  # those reading the count of values present


class FeatureReader:
    """``features_from_state`` for one feature set, prepared once (per engine): the distinct
    windows (one bisection pair each per read, the as-of lookup sharing the largest), and the
    aggregations as runs over one column, each bound to a specialised function; per read a
    run looks its column up, settles its prefix sums and takes its counts once.  Runs are of
    consecutive aggregations, so the features come in the definition's order.  ``read_into``
    fills a caller's dict, so a read of several feature sets copies nothing."""

    __slots__ = ("fs", "widths", "as_of", "as_of_window", "runs", "empty", "ttl_us")

    def __init__(self, fs: FeatureSetDef) -> None:
        widths: list[int] = []
        for agg in fs.aggregations:
            if agg.window_us not in widths:
                widths.append(agg.window_us)
        self.as_of = fs.as_of  # a property building a tuple: once here, not per read
        if self.as_of and fs.max_window_us not in widths:
            widths.append(fs.max_window_us)
        self.fs = fs
        self.widths = tuple(widths)
        self.as_of_window = widths.index(fs.max_window_us) if self.as_of else -1
        # (column or None, settle its sums, take its counts, ((feature, op), ...)) per run
        runs: list[tuple[str | None, bool, bool, list[tuple[str, _Op]]]] = []
        for agg in fs.aggregations:
            if not runs or runs[-1][0] != agg.column:
                runs.append((agg.column, False, False, []))
            column, settle, count, ops = runs[-1]
            ops.append((agg.name, _op(agg, widths.index(agg.window_us))))
            runs[-1] = (column, settle or agg.function in _SUMMED, count or agg.function in _COUNTED, ops)
        self.runs = tuple((column, settle, count, tuple(ops)) for column, settle, count, ops in runs)
        self.empty: dict[str, FeatureValue] = {**dict.fromkeys(self.as_of),
                                               **{a.name: _empty_value(a) for a in fs.aggregations}}
        self.ttl_us = fs.ttl_us

    def read_into(self, state: EntityState | None, at: int, out: dict[str, FeatureValue]) -> None:
        ttl = self.ttl_us
        if state is None or (ttl is not None and at - state.clock > ttl):  # none, or expired
            out.update(self.empty)
            return
        events = state.events
        ets = events.ets
        series = state.series
        bounds_of = window_bounds  # looked up per read: the parity tests swap in a faulty one
        bounds = [bounds_of(events, at, w) for w in self.widths]
        if self.as_of:
            lo, hi = bounds[self.as_of_window]
            for name in self.as_of:
                vals = series[name].vals
                # Column.last, with its common case first: the latest event has a value.
                if hi > lo and vals[hi - 1] is not None:
                    out[name] = vals[hi - 1]
                else:
                    i = series[name].last(lo, hi)
                    out[name] = vals[i] if i >= 0 else None
        for name, settle, count, ops in self.runs:
            column = counts = None
            if name is not None:
                column = series[name]
                if settle:
                    column.settle()
                if count and column.index is not None:  # a resident state: prefix counts of values present
                    counts = column.index.counts(column.vals)
            for feature, op in ops:
                out[feature] = op(column, counts, ets, at, bounds)

    def __call__(self, state: EntityState | None, at: int) -> dict[str, FeatureValue]:
        out: dict[str, FeatureValue] = {}
        self.read_into(state, at, out)
        return out


# Readers prepared on first use, for callers that hold only the FeatureSetDef (keyed by
# identity: hashing a definition per read would cost more than it saves; the entry keeps
# the definition alive, so its id cannot be reused while cached).
_READERS: dict[int, FeatureReader] = {}
_READERS_MAX = 256


def feature_reader(fs: FeatureSetDef) -> FeatureReader:
    """The prepared reader of ``fs`` (cached)."""
    reader = _READERS.get(id(fs))
    if reader is None or reader.fs is not fs:
        if len(_READERS) >= _READERS_MAX:
            _READERS.clear()
        reader = _READERS[id(fs)] = FeatureReader(fs)
    return reader


def features_from_state(fs: FeatureSetDef, state: EntityState | None, at: int) -> dict[str, FeatureValue]:
    """The features of ``fs`` as of ``at`` from ``state`` (None: no state)."""
    return feature_reader(fs)(state, at)


@dataclass(frozen=True, slots=True)
class _ApplyPlan:
    """What an apply needs of one feature set, computed once per engine so the
    per-event path reads plain attributes (no properties, no tuple scans)."""

    fs: FeatureSetDef
    columns: tuple[tuple[str, bool, bool], ...]  # (column, has sums, has squares), as EntityState takes them
    width: int  # the largest window: what the state keeps
    slack: int  # eviction runs once the oldest event is this far past the horizon (amortizes the deletes)
    lateness_us: int | None  # allowed lateness, None: no event is late
    leave_out_late: bool  # late events are left out of every feature (drop / quarantine)
    quarantine: bool
    ttl_us: int | None
    plain_rows: bool  # no transforms: the row is the source columns as they are


def _plan_apply(fs: FeatureSetDef) -> _ApplyPlan:
    return _ApplyPlan(
        fs=fs, columns=tuple((c, c in fs.sum_series, c in fs.square_series) for c in fs.series),
        width=fs.max_window_us, slack=fs.max_window_us >> 3, lateness_us=fs.late.allowed_lateness_us,
        leave_out_late=fs.late.excludes_late, quarantine=fs.late.policy == "quarantine", ttl_us=fs.ttl_us,
        plain_rows=not fs.transforms)


def _apply_to_state(plan: _ApplyPlan, state: EntityState | None, eid: str, et: int, arrival: int,
                    row: Mapping[str, Any]) -> tuple[EntityState, bool, bool]:
    """(state, new, quarantine): the event applied per the late-event policy.  ``row``
    is the record itself when there are no transforms (its values are made plain
    here, column by column, instead of copying the row first)."""
    ttl_us = plan.ttl_us
    if state is None or (ttl_us is not None and arrival - state.clock > ttl_us and eid not in state.ids):
        state = EntityState(plan.columns)
    ids = state.ids
    if eid in ids:
        return state, False, False
    clock = state.clock
    if arrival > clock:
        clock = arrival
    horizon = clock - plan.width
    lateness = plan.lateness_us
    late = lateness is not None and arrival - et > lateness
    if (late and plan.leave_out_late) or et <= horizon:
        # Left out: late under drop/quarantine, or already outside every window.
        state.clock = clock
        state.dropped[eid] = arrival
        ids.add(eid)
        state.evict(horizon, plan.slack)
        return state, True, late and plan.quarantine
    events = state.events
    ets = events.ets
    if ets and (et < ets[-1] or (et == ets[-1] and eid < events.eids[-1])):
        # Out of order (within the allowed lateness): in place.
        row = {name: _plain(row.get(name)) for name in state.series}
        _check_numeric(state, eid, row.items())
        state.insert(et, eid, row)
    else:
        # In order for the entity: append (the hot path, Column.append inlined).  The
        # values go first: a refused one leaves the state as it was.
        get = row.get
        for name, column in state.series.items():
            value = get(name)
            if type(value) is not float:
                value = _plain(value)
                if column.s is not None and value is not None and not isinstance(value, int | float):
                    for done, previous in state.series.items():
                        if done == name:
                            break
                        previous.vals.pop()
                    _check_numeric(state, eid, ((name, value),))
            elif value != value:  # NaN is NULL
                value = None
            column.vals.append(value)  # sums are settled when read
        ets.append(et)
        events.eids.append(eid)
    state.clock = clock
    ids.add(eid)
    if ets[0] <= horizon - plan.slack or len(state.dropped) > 64:
        state.evict(horizon, plan.slack)
    return state, True, False


def _check_numeric(state: EntityState, eid: str, values: Iterable[tuple[str, Any]]) -> None:
    """A summed column takes numbers only (the data contract checks this before the ingester applies)."""
    for name, value in values:
        if state.series[name].s is not None and value is not None and not isinstance(value, int | float):
            raise ValueError(f"event {eid}: column {name!r} is summed (sum/mean/std) but its value "
                             f"{value!r} is not a number; fix the source or its data contract")


class OnlineEngine:
    """Incremental features for ``feature_sets`` kept in ``store``."""

    def __init__(self, feature_sets: Sequence[FeatureSetConfig], store: OnlineStore,
                 label: LabelConfig | None = None) -> None:
        self.definitions = define(feature_sets, label)
        self.store = store
        self._plans = tuple(_plan_apply(fs) for fs in self.definitions)
        self.readers = tuple(FeatureReader(fs) for fs in self.definitions)  # aligned with definitions

    def apply(self, record: Mapping[str, Any]) -> bool:
        """Apply one event; False when its event id was already applied."""
        eid = event_id(record)
        new = False
        get = record.get
        raw_arrival = get(ARRIVAL_TIME)
        update = self.store.update
        for plan in self._plans:
            fs = plan.fs
            raw_time = get(fs.timestamp)
            raw_entity = get(fs.entity)
            if raw_time is None or raw_entity is None:
                raise ValueError(f"event {eid}: {fs.entity!r} and {fs.timestamp!r} are required "
                                 f"(feature set {fs.name!r})")
            et = to_us(raw_time)
            arrival = to_us(raw_arrival) if raw_arrival is not None else et
            row = record if plan.plain_rows else transform_row(fs, record)
            entity = raw_entity if type(raw_entity) is str else str(raw_entity)

            def step(state: EntityState | None, plan: _ApplyPlan = plan, et: int = et, arrival: int = arrival,
                     row: Mapping[str, Any] = row) -> ApplyResult:
                new_state, applied, quarantine = _apply_to_state(plan, state, eid, et, arrival, row)
                return ApplyResult(new_state, applied, canonical_json(record) if quarantine else None)

            new |= update(fs.name, entity, step, fs.ttl_s)
        return new

    def read(self, entity: str, at: Any) -> dict[str, FeatureValue]:
        """The feature values of ``entity`` as of ``at`` (a datetime, ISO string or microseconds),
        which must not be before the latest event applied for it."""
        at_us = to_us(at)
        entity = str(entity)
        get = self.store.get
        out: dict[str, FeatureValue] = {}
        for reader in self.readers:
            reader.read_into(get(reader.fs.name, entity), at_us, out)
        return out
