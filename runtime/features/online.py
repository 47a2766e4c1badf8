"""The online feature engine: incremental per-entity state behind an
OnlineStore, read at serving time.

``apply`` is atomic and idempotent per event id (the store runs it as one
read-modify-write), because the ingester acknowledges a stream message only
after apply and the stream redelivers after a crash.  Semantics are those of
``runtime.features.definition``; the batch engine computes the same values.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from runtime.contracts.steps import FeatureSetConfig, LabelConfig
from runtime.events import ARRIVAL_TIME, canonical_json, event_id
from runtime.features.definition import AggregationDef, FeatureSetDef, define
from runtime.features.expression import evaluate
from runtime.features.state import EntityState, Events
from runtime.features.store import ApplyResult, OnlineStore
from runtime.features.timestamps import to_us

__all__ = ["FeatureValue", "OnlineEngine", "features_from_state", "transform_row", "window_bounds"]

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


def _aggregate(agg: AggregationDef, state: EntityState | None, at: int,
               bounds: dict[int, tuple[int, int]]) -> FeatureValue:
    """One aggregation; ``bounds`` caches the window bounds per width (one bisection
    pair per window for the whole read, every column being aligned with the events)."""
    if state is None:
        return 0 if agg.function == "count" else (0.0 if agg.function == "sum" else None)
    events = state.events
    window_us = agg.window_us
    lo_hi = bounds.get(window_us)
    if lo_hi is None:
        lo_hi = bounds[window_us] = window_bounds(events, at, window_us)
    lo, hi = lo_hi
    fn = agg.function
    if agg.column is None:  # over the events themselves
        if fn == "count":
            return hi - lo
        return (at - events.ets[hi - 1]) / US if hi > lo else None  # time_since_last
    column = state.series[agg.column]
    if fn in ("last", "time_since_last"):
        i = column.last(lo, hi)
        if i < 0:
            return None
        return column.vals[i] if fn == "last" else (at - events.ets[i]) / US
    if fn == "max" or fn == "min":
        return column.extreme(lo, hi, fn == "max")
    n = column.present(lo, hi)
    if fn == "count":
        return n
    column.settle()
    assert column.s is not None
    total = column.s[hi] - column.s[lo]
    if fn == "sum":
        return total / (1 << column.shift) if n else 0.0
    if fn == "mean":
        return total / (n << column.shift) if n else None
    # std: sample standard deviation from exact sums: (n*Q - S^2) / (n (n-1))
    if n < 2:
        return None
    assert column.q is not None
    squares = column.q[hi] - column.q[lo]
    return math.sqrt((n * squares - total * total) / ((n * (n - 1)) << (2 * column.shift)))


def _expired(fs: FeatureSetDef, state: EntityState, now: int) -> bool:
    """online.ttl: state not updated for longer than the TTL is gone (Redis expires the key;
    every store behaves the same, so parity sees what serving will see)."""
    return fs.ttl_us is not None and now - state.clock > fs.ttl_us


def features_from_state(fs: FeatureSetDef, state: EntityState | None, at: int) -> dict[str, FeatureValue]:
    if state is not None and _expired(fs, state, at):
        state = None
    out: dict[str, FeatureValue] = {}
    for name in fs.as_of:
        value = None
        if state is not None:
            column = state.series[name]
            lo, hi = window_bounds(state.events, at, fs.max_window_us)
            i = column.last(lo, hi)
            value = column.vals[i] if i >= 0 else None
        out[name] = value
    bounds: dict[int, tuple[int, int]] = {}
    for agg in fs.aggregations:
        out[agg.name] = _aggregate(agg, state, at, bounds)
    return out


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
        out: dict[str, FeatureValue] = {}
        for fs in self.definitions:
            out.update(features_from_state(fs, self.store.get(fs.name, str(entity)), at_us))
        return out
