"""The prepared feature reader (``FeatureReader``, behind ``features_from_state``,
``OnlineEngine.read`` and serving's ``OnlineFeatures.read``) returns exactly
what the generic per-aggregation code it replaced returned -- kept here, as
it was, as the oracle -- and what a brute-force recomputation from the raw
events gives for the exact functions: ==, and the same types (int vs float,
None), over random states and read times, including empty windows, all-NULL
columns, expired TTL and no state."""

from __future__ import annotations

import math
import random
from typing import Any

import pytest
from feature_builders import HOUR, RATIO, event, feature_set, us

from runtime.features.definition import AggregationDef, FeatureSetDef
from runtime.features.online import (
    FeatureReader,
    FeatureValue,
    OnlineEngine,
    feature_reader,
    features_from_state,
    window_bounds,
)
from runtime.features.state import EntityState
from runtime.features.store import open_store

US = 1_000_000.0
FUNCTIONS = ("count", "sum", "mean", "min", "max", "std", "last", "time_since_last")


# ------------------------------------------------------------------ the oracle: the generic code, as it was


def _aggregate(agg: AggregationDef, state: EntityState | None, at: int,
               bounds: dict[int, tuple[int, int]]) -> FeatureValue:
    if state is None:
        return 0 if agg.function == "count" else (0.0 if agg.function == "sum" else None)
    events = state.events
    window_us = agg.window_us
    lo_hi = bounds.get(window_us)
    if lo_hi is None:
        lo_hi = bounds[window_us] = window_bounds(events, at, window_us)
    lo, hi = lo_hi
    fn = agg.function
    if agg.column is None:
        if fn == "count":
            return hi - lo
        return (at - events.ets[hi - 1]) / US if hi > lo else None
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
    if n < 2:
        return None
    assert column.q is not None
    squares = column.q[hi] - column.q[lo]
    return math.sqrt((n * squares - total * total) / ((n * (n - 1)) << (2 * column.shift)))


def oracle(fs: FeatureSetDef, state: EntityState | None, at: int) -> dict[str, FeatureValue]:
    if state is not None and fs.ttl_us is not None and at - state.clock > fs.ttl_us:
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


def brute_force(fs: FeatureSetDef, rows: list[tuple[int, str, dict[str, Any]]], clock: int | None,
                at: int) -> dict[str, FeatureValue]:
    """The exact functions (and the empty results of the others) from the raw applied events."""
    if clock is None or (fs.ttl_us is not None and at - clock > fs.ttl_us):
        rows = []
    rows = sorted(rows, key=lambda r: (r[0], r[1]))
    out: dict[str, FeatureValue] = {}
    for agg in fs.aggregations:
        window = [r for r in rows if at - agg.window_us < r[0] <= at]
        if agg.column is None:
            if agg.function == "count":
                out[agg.name] = len(window)
            else:
                out[agg.name] = (at - window[-1][0]) / US if window else None
            continue
        present = [(et, row[agg.column]) for et, _, row in window if row[agg.column] is not None]
        values = [v for _, v in present]
        fn = agg.function
        if fn == "count":
            out[agg.name] = len(values)
        elif fn in ("max", "min"):
            out[agg.name] = (max(values) if fn == "max" else min(values)) if values else None
        elif fn == "last":
            out[agg.name] = values[-1] if values else None
        elif fn == "time_since_last":
            out[agg.name] = (at - present[-1][0]) / US if present else None
        elif fn == "sum" and not values:
            out[agg.name] = 0.0
        elif fn in ("sum", "mean") and not values or fn == "std" and len(values) < 2:
            out[agg.name] = None
        else:
            out[agg.name] = "inexact"  # sums: compared with the oracle only (exact integer arithmetic)
    return out


# ------------------------------------------------------------------ random states


def same(a: dict[str, FeatureValue], b: dict[str, FeatureValue]) -> bool:
    """Equal, in the same order, with the same types (0 is not 0.0, None is None)."""
    return list(a) == list(b) and all(type(a[k]) is type(b[k]) and a[k] == b[k] for k in a)


def random_config(rng: random.Random) -> Any:
    windows = rng.sample([0.25 * HOUR, HOUR, 3 * HOUR, 24 * HOUR], rng.randint(1, 3))
    aggs = [(col, fn, w) for w in windows for col in ("vibration", "temperature", None)
            for fn in FUNCTIONS if (col is not None or fn in ("count", "time_since_last")) and rng.random() < 0.7]
    return feature_set(aggregations=aggs or [(None, "count", HOUR)], transforms=(RATIO,) if rng.random() < 0.5 else (),
                       ttl_s=rng.choice([None, 2 * HOUR, 30 * HOUR]), lateness_s=rng.choice([None, 2 * HOUR]),
                       policy=rng.choice([None, "drop"]), attributes=rng.choice([(), ("asset_type",)]))


def check(fs: FeatureSetDef, state: EntityState | None, rows: list, clock: int | None, at: int) -> None:
    want = oracle(fs, state, at)
    for got in (features_from_state(fs, state, at), FeatureReader(fs)(state, at)):
        assert same(got, want), (at, got, want)
    brute = brute_force(fs, rows, clock, at)
    for name, value in brute.items():
        if value != "inexact":
            assert type(want[name]) is type(value) and want[name] == value, (name, at, want[name], value)


@pytest.mark.parametrize("seed", range(12))
def test_the_prepared_reader_equals_the_generic_code_and_the_raw_events(seed: int) -> None:
    rng = random.Random(seed)
    cfg = random_config(rng)
    engine = OnlineEngine([cfg], open_store("memory://"))
    fs = engine.definitions[0]
    all_null = rng.random() < 0.3  # vibration NULL throughout: empty windows of values, not of events
    applied: list[tuple[int, str, dict[str, Any]]] = []
    minute = 0.0
    checked = 0
    for i in range(250):
        minute += rng.choice([0.5, 3.0, 20.0, 90.0, 600.0 if rng.random() < 0.05 else 1.0])  # gaps empty windows
        late = rng.random() < 0.1
        event_minute = max(minute - rng.uniform(1, 150), 0.0) if late else minute
        value = None if all_null or rng.random() < 0.15 else rng.choice([0.0, -1.5, 2.25, 1e-9, 3.0, float(i)])
        temperature = None if rng.random() < 0.2 else rng.uniform(-40, 120)
        record = event(i, "a", event_minute, value, arrival_minutes=minute, temperature=temperature,
                       pressure=rng.choice([None, 0.0, 101.3]), asset_type=rng.choice(["pump", "fan"]))
        if engine.apply(record):
            state = engine.store.get(cfg.name, "a")
            assert state is not None
            if record["_event_id"] in state.events.eids:  # applied into the windows (not left out as late)
                et = us(event_minute)
                applied.append((et, record["_event_id"], {"vibration": value, "temperature": temperature}))
        if i % 5:
            continue
        state = engine.store.get(cfg.name, "a")
        if state is not None:
            applied = [r for r in applied if r[1] in state.events.eids]  # evicted, or the TTL reset the state
        decoded = EntityState.from_bytes(state.to_bytes()) if state is not None else None
        for later in (0.0, 0.0, 7.5, 60.0, 61.0, 24 * 60.0, 24 * 60.0 + 1, 3 * 24 * 60.0):  # past the TTL too
            at = us(minute + later)
            check(fs, state, applied, state.clock if state else None, at)
            check(fs, decoded, applied, state.clock if state else None, at)
            checked += 1
    check(fs, None, [], None, us(minute))
    assert checked > 300


def test_no_state_and_an_expired_state_give_the_empty_values_in_both() -> None:
    cfg = feature_set(transforms=(RATIO,), ttl_s=HOUR)
    engine = OnlineEngine([cfg], open_store("memory://"))
    fs = engine.definitions[0]
    engine.apply(event(1, "a", 0, 2.0))
    state = engine.store.get(cfg.name, "a")
    for s, at in ((None, us(0)), (state, us(61)), (state, us(10_000))):
        got = features_from_state(fs, s, at)
        assert same(got, oracle(fs, s, at))
        assert got["vibration_count_3600"] == 0 and type(got["vibration_count_3600"]) is int
        assert got["vibration_sum_3600"] == 0.0 and type(got["vibration_sum_3600"]) is float
        assert got["vibration_mean_3600"] is None and got["asset_type"] is None and got["temp_pressure_ratio"] is None
    assert features_from_state(fs, state, us(59))["vibration_count_3600"] == 1  # not yet expired


def test_nan_and_all_null_columns_read_as_missing() -> None:
    cfg = feature_set()
    engine = OnlineEngine([cfg], open_store("memory://"))
    fs = engine.definitions[0]
    for i in range(5):
        engine.apply(event(i, "a", i, float("nan") if i % 2 else None))
    state = engine.store.get(cfg.name, "a")
    got = features_from_state(fs, state, us(5))
    assert same(got, oracle(fs, state, us(5)))
    assert got["vibration_count_3600"] == 0 and got["events_count_3600"] == 5
    assert got["vibration_sum_3600"] == 0.0 and got["vibration_mean_3600"] is None and got["vibration_std_3600"] is None
    assert got["vibration_max_3600"] is None and got["vibration_last_3600"] is None
    assert got["events_time_since_last_3600"] == 60.0


def test_readers_are_prepared_once_per_definition_and_follow_a_swapped_window_bounds(monkeypatch) -> None:
    """The parity checks swap ``window_bounds`` for a faulty one: a prepared reader must use it."""
    from runtime.features import online

    fs = OnlineEngine([feature_set()], open_store("memory://")).definitions[0]
    assert feature_reader(fs) is feature_reader(fs)
    engine = OnlineEngine([feature_set()], open_store("memory://"))
    for i in range(3):
        engine.apply(event(i, "a", 30 * i, 1.0))
    assert engine.read("a", us(61))["events_count_3600"] == 2

    def one_too_many(series, at, window_us):  # type: ignore[no-untyped-def]
        lo, hi = series.bounds(at - window_us, at)
        return max(lo - 1, 0), hi

    monkeypatch.setattr(online, "window_bounds", one_too_many)
    assert engine.read("a", us(61))["events_count_3600"] == 3
