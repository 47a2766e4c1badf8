"""The feature semantics, checked with hand-computed numbers in BOTH engines:
point-in-time visibility (event time and arrival), window boundaries, late
events under each policy, NULLs, duplicates, transforms."""

from __future__ import annotations

import json
import math

import pytest
from feature_builders import HOUR, RATIO, batch_at, event, events_table, feature_set, online_at, us

from runtime.contracts.steps import AggregationConfig
from runtime.features.batch import late_events_sql
from runtime.features.definition import define
from runtime.features.online import OnlineEngine
from runtime.features.store import open_store

# e2 happens at 10 min but arrives at 50 min (40 min late).
ROWS = [
    event(1, "a", 0, 1.0),
    event(2, "a", 10, 3.0, arrival_minutes=50),
    event(3, "a", 30, 5.0),
]


def both(cfg, rows, points):
    table = events_table(rows)
    return batch_at([cfg], table, points), online_at([cfg], table, points)


def test_a_row_uses_only_events_that_had_arrived_by_its_time() -> None:
    cfg = feature_set()
    points = [("a", us(40))]
    for result in both(cfg, ROWS, points):
        row = result[points[0]]
        # e2 (event time 10 min) has not arrived at 40 min: e1 and e3 only.
        assert row["vibration_count_3600"] == 2
        assert row["vibration_mean_3600"] == 3.0
        assert row["vibration_max_3600"] == 5.0
        assert row["vibration_last_3600"] == 5.0
        assert row["events_time_since_last_3600"] == 600.0


def test_an_event_exactly_one_window_old_has_left_the_window() -> None:
    cfg = feature_set()
    points = [("a", us(60)), ("a", us(59.5))]
    for result in both(cfg, ROWS, points):
        at60, before = result[points[0]], result[points[1]]
        # (t - 1h, t]: e1 at 0 min is out at exactly 60 min, still in at 59.5 min.
        assert at60["events_count_3600"] == 2 and at60["vibration_sum_3600"] == 8.0
        assert before["events_count_3600"] == 3 and before["vibration_sum_3600"] == 9.0
        assert at60["events_count_86400"] == 3


@pytest.mark.parametrize(("policy", "count", "mean", "quarantined"), [
    ("drop", 1, 5.0, []),
    ("quarantine", 1, 5.0, ["e2"]),
    ("reprocess", 2, 4.0, []),
])
def test_late_events_follow_the_policy_identically_in_both_engines(policy, count, mean, quarantined) -> None:
    cfg = feature_set(lateness_s=30 * 60, policy=policy)
    table = events_table(ROWS)
    points = [("a", us(60))]
    batch, online = batch_at([cfg], table, points), online_at([cfg], table, points)
    for row in (batch[points[0]], online[points[0]]):
        assert row["events_count_3600"] == count
        assert row["vibration_mean_3600"] == mean
    # What the policy sets aside: the batch listing and the online store's quarantine agree.
    import duckdb

    con = duckdb.connect()
    con.register("ev", table)
    fs = define([cfg])[0]
    sql = late_events_sql(fs, {r[0]: r[1] for r in con.execute("DESCRIBE SELECT * FROM ev").fetchall()}, "ev")
    batch_late = [] if sql is None else con.sql(sql).to_arrow_table().column("_event_id").to_pylist()
    store = open_store("memory://")
    engine = OnlineEngine([cfg], store)
    for r in sorted(ROWS, key=lambda r: r["_arrival_time"]):
        assert engine.apply(r) is True
    online_late = [json.loads(q)["_event_id"] for q in store.quarantined(cfg.name)]
    assert online_late == quarantined
    assert batch_late == (["e2"] if policy in ("drop", "quarantine") else [])


def test_event_within_allowed_lateness_is_applied_out_of_order() -> None:
    cfg = feature_set(lateness_s=3600, policy="drop")
    points = [("a", us(60)), ("a", us(45))]
    for result in both(cfg, ROWS, points):
        assert result[points[0]]["events_count_3600"] == 2  # e2 (40 min late, allowed 60) and e3
        assert result[points[1]]["events_count_3600"] == 2  # e1, e3: e2 arrives at 50


def test_nulls_are_skipped_and_empty_windows_have_defined_values() -> None:
    cfg = feature_set()
    rows = [event(1, "a", 0, None), event(2, "a", 5, 2.0), event(3, "a", 6, None)]
    points = [("a", us(10)), ("a", us(100)), ("nobody", us(10))]
    for result in both(cfg, rows, points):
        row = result[points[0]]
        assert row["events_count_3600"] == 3 and row["vibration_count_3600"] == 1
        assert row["vibration_mean_3600"] == 2.0 and row["vibration_std_3600"] is None
        assert row["vibration_last_3600"] == 2.0  # the latest non-NULL value
        assert row["vibration_time_since_last_3600"] == 300.0 and row["events_time_since_last_3600"] == 240.0
        empty = result[points[1]]  # 100 min: nothing in the last hour
        assert empty["events_count_3600"] == 0 and empty["vibration_sum_3600"] == 0.0
        assert empty["vibration_mean_3600"] is None and empty["vibration_max_3600"] is None
        assert empty["events_time_since_last_3600"] is None
        assert empty["events_count_86400"] == 3
        unknown = result[points[2]]
        assert unknown["events_count_86400"] == 0 and unknown["asset_type"] is None


def test_a_duplicate_event_id_counts_once() -> None:
    cfg = feature_set()
    rows = [event(1, "a", 0, 1.0), event(1, "a", 0, 1.0, arrival_minutes=3), event(2, "a", 1, 2.0)]
    points = [("a", us(10))]
    for result in both(cfg, rows, points):
        assert result[points[0]]["events_count_3600"] == 2
        assert result[points[0]]["vibration_sum_3600"] == 3.0


def test_transforms_and_attributes_are_carried_as_of_the_latest_event() -> None:
    cfg = feature_set(transforms=[RATIO], attributes=("asset_type",))
    rows = [event(1, "a", 0, 1.0, temperature=80.0, pressure=40.0, asset_type="pump"),
            event(2, "a", 5, 1.0, temperature=80.0, pressure=0.0, asset_type="turbine")]
    points = [("a", us(3)), ("a", us(10))]
    for result in both(cfg, rows, points):
        assert result[points[0]]["temp_pressure_ratio"] == 2.0
        assert result[points[0]]["asset_type"] == "pump"
        # Division by zero is NULL; the as-of value is the latest non-NULL one (2.0 from e1).
        assert result[points[1]]["temp_pressure_ratio"] == 2.0
        assert result[points[1]]["asset_type"] == "turbine"


def test_sum_mean_std_stay_exact_over_a_long_sliding_stream() -> None:
    """5,000 events through a 1 h window with a large offset (1e6): float
    running sums would drift; the online engine matches the exact value."""
    from fractions import Fraction

    cfg = feature_set(aggregations=[("vibration", fn, HOUR) for fn in ("sum", "mean", "std")])
    values = [1e6 + ((i * 7919) % 1000) * 1e-3 for i in range(5000)]
    rows = [event(i, "a", i, v) for i, v in enumerate(values)]
    points = [("a", us(4999))]
    batch, online = both(cfg, rows, points)
    window = [Fraction(v) for v in values[-60:]]  # (t - 60 min, t]
    mean = sum(window) / len(window)
    var = sum((x - mean) ** 2 for x in window) / (len(window) - 1)
    exact = {"vibration_sum_3600": float(sum(window)), "vibration_mean_3600": float(mean),
             "vibration_std_3600": math.sqrt(float(var))}
    for name, want in exact.items():
        got = online[points[0]][name]
        assert abs(got - want) <= 1e-12 * abs(want), (name, got, want)
        assert abs(batch[points[0]][name] - want) <= 1e-9 * abs(want), (name, batch[points[0]][name], want)


def test_online_state_is_bounded_by_the_largest_window() -> None:
    cfg = feature_set(aggregations=[("vibration", "mean", HOUR)])
    store = open_store("memory://")
    engine = OnlineEngine([cfg], store)
    for i in range(3000):
        engine.apply(event(i, "a", i, float(i)))
    state = store.get(cfg.name, "a")
    assert state is not None
    # One event a minute: (t - 1 h, t] holds 60; eviction runs in batches once
    # the oldest is 1/8 of the window past the horizon, so at most 60 + 7 are kept.
    assert 60 <= len(state.events.ets) <= 68
    assert len(state.series["vibration"].vals) == len(state.ids) == len(state.events.ets)
    assert engine.read("a", us(2999))["vibration_mean_3600"] == sum(range(2940, 3000)) / 60


def test_apply_is_idempotent_by_event_id() -> None:
    cfg = feature_set()
    engine = OnlineEngine([cfg], open_store("memory://"))
    assert engine.apply(event(1, "a", 0, 1.0)) is True
    assert engine.apply(event(1, "a", 0, 1.0)) is False
    assert engine.read("a", us(1))["events_count_3600"] == 1


def test_an_event_without_event_id_is_identified_by_its_content() -> None:
    cfg = feature_set()
    engine = OnlineEngine([cfg], open_store("memory://"))
    record = {k: v for k, v in event(1, "a", 0, 1.0).items() if k != "_event_id"}
    assert engine.apply(record) is True
    assert engine.apply(dict(record)) is False


def test_an_event_without_time_is_a_clear_error() -> None:
    engine = OnlineEngine([feature_set()], open_store("memory://"))
    with pytest.raises(ValueError, match="'asset_id' and 'event_time' are required"):
        engine.apply({"asset_id": "a", "_event_id": "x"})


def test_aggregation_over_a_transform() -> None:
    cfg = feature_set(transforms=[RATIO], aggregations=[("temp_pressure_ratio", "mean", HOUR)])
    rows = [event(1, "a", 0, temperature=80.0, pressure=40.0), event(2, "a", 1, temperature=90.0, pressure=30.0)]
    points = [("a", us(2))]
    for result in both(cfg, rows, points):
        assert result[points[0]]["temp_pressure_ratio_mean_3600"] == 2.5


def test_aggregation_names_follow_the_config() -> None:
    cfg = feature_set(aggregations=[("vibration", "max", 7 * 24 * HOUR)])
    assert cfg.aggregations[0] == AggregationConfig(name="vibration_max_604800", column="vibration",
                                                    function="max", window_s=7 * 24 * HOUR)


def test_parity_on_messy_rows_compares_both_engines_without_crashing() -> None:
    """NaN readings, a row without entity, out-of-order and late arrivals, a duplicate."""
    from runtime.features.parity import check_parity

    rows = [event(i, "a" if i % 2 else "b", i * 9, float("nan") if i % 7 == 0 else i * 0.5,
                  arrival_minutes=i * 9 + (100 if i % 5 == 0 else 0)) for i in range(60)]
    rows.append({**event(99, "a", 30, 1.0), "asset_id": None})
    rows.append(dict(rows[3]))
    cfg = feature_set(lateness_s=3600, policy="quarantine", transforms=[RATIO])
    report = check_parity([cfg], {"events": events_table(rows)}, samples=200, seed=3)
    assert report.ok, report.mismatches[:3]
    assert report.samples > 50 and report.events_replayed == 61  # the row without entity is skipped


def test_a_ttl_shorter_than_a_window_is_caught_by_parity() -> None:
    """Online state expires after online.ttl (as Redis does); an entity idle
    longer than the TTL but within the 24 h window has features in training
    and none in serving: parity reports it."""
    from runtime.features.parity import check_parity

    rows = [event(i, "a", i * 10, 1.0) for i in range(6)]  # 0..50 min
    rows += [event(10 + i, "a", 300 + i * 10, 2.0) for i in range(6)]  # idle 250 min, then 300..350
    rows += [event(20 + i, "b", i * 10, 1.0) for i in range(36)]  # b never idles
    short = feature_set(ttl_s=2 * HOUR)
    report = check_parity([short], {"events": events_table(rows)}, samples=400, seed=1)
    idle = [m for m in report.mismatches if m.entity == "a" and m.feature == "events_count_86400"]
    assert idle and all(m.online == 1 or m.online is None or m.online < m.batch for m in idle)
    assert not [m for m in report.mismatches if m.entity == "b"]
    long_enough = feature_set(ttl_s=48 * HOUR)
    assert check_parity([long_enough], {"events": events_table(rows)}, samples=400, seed=1).ok


def test_lazily_settled_sums_are_exact_whatever_reads_evictions_and_inserts_interleave() -> None:
    """Sums are settled only when read: reads at irregular points, windows
    evicted before any read, out-of-order inserts into an unsettled tail,
    NULLs and values of very different fraction widths (rescales) must give
    the exact sum/mean/std of the window every time."""
    from fractions import Fraction

    cfg = feature_set(lateness_s=2 * HOUR, aggregations=[("vibration", fn, HOUR) for fn in ("sum", "mean", "std")])
    engine = OnlineEngine([cfg], open_store("memory://"))
    kinds = (lambda i: float(i % 7), lambda i: 1e6 + i * 1e-3, lambda i: (i % 5) * 2.0**-40, lambda i: None,
             lambda i: (i % 3 + 1) * 1e-25)  # more fraction bits than the first scale (2**64)
    applied: dict[int, float | None] = {}  # minute -> value
    for i in range(1500):
        minute = i if i % 9 else max(i - 30, 0) + 0.5  # every 9th event arrives 30 min late (in order of arrival)
        value = kinds[(i // 50) % len(kinds)](i)
        engine.apply(event(i, "a", minute, value, arrival_minutes=float(i)))
        applied[minute] = value
        if i % 97 == 0 or i in (1, 2, 3, 600, 1499):
            window = [Fraction(v) for m, v in applied.items() if i - 60 < m <= i and v is not None]
            got = engine.read("a", us(i))
            if not window:
                assert got["vibration_sum_3600"] == 0.0 and got["vibration_mean_3600"] is None
                continue
            assert got["vibration_sum_3600"] == float(sum(window)), i
            assert got["vibration_mean_3600"] == float(sum(window) / len(window)), i
            if len(window) > 1:
                mean = sum(window) / len(window)
                var = sum((x - mean) ** 2 for x in window) / (len(window) - 1)
                assert abs(got["vibration_std_3600"] - math.sqrt(float(var))) <= 1e-12 * math.sqrt(float(var)), i


@pytest.mark.parametrize("minutes", [10, 3], ids=["in-order", "out-of-order"])
def test_a_non_numeric_value_in_a_summed_column_is_refused_and_leaves_the_state_unchanged(minutes: int) -> None:
    cfg = feature_set(lateness_s=HOUR, aggregations=[("vibration", "sum", HOUR)])
    engine = OnlineEngine([cfg], open_store("memory://"))
    for i in range(5):
        engine.apply(event(i, "a", i, 1.0))
    before = engine.read("a", us(10))
    bad = event(99, "a", minutes, 1.0, arrival_minutes=10)
    bad["vibration"] = "loud"
    with pytest.raises(ValueError, match="event e99: column 'vibration' is summed .* 'loud' is not a number"):
        engine.apply(bad)
    assert engine.read("a", us(10)) == before
    state = engine.store.get(cfg.name, "a")
    assert state is not None and "e99" not in state.ids
    assert len(state.events.ets) == len(state.series["vibration"].vals) == 5
    assert engine.apply(event(99, "a", minutes, 2.0, arrival_minutes=10))  # the corrected event is applied
    assert engine.read("a", us(10))["vibration_sum_3600"] == 7.0


def test_the_resident_read_index_answers_as_a_scan_of_the_window_whatever_interleaves() -> None:
    """The in-process store keeps a read index per column (counts of values
    present, records for max/min), extended lazily and shifted on eviction:
    reads repeated with no apply between, reads later than the clock (the
    window's start moves), out-of-order inserts, evictions, NULLs and tied
    values must give exactly the window's count/min/max/mean, and the same as
    a state decoded from bytes (no index: a scan)."""
    from runtime.features.online import features_from_state
    from runtime.features.state import EntityState

    aggs = [("vibration", fn, w) for w in (HOUR, 3 * HOUR) for fn in ("count", "min", "max", "mean")]
    cfg = feature_set(lateness_s=2 * HOUR, aggregations=aggs)
    engine = OnlineEngine([cfg], open_store("memory://"))
    fs = engine.definitions[0]
    applied: list[tuple[float, float | None]] = []
    checked = 0
    for i in range(900):
        minute = i if i % 9 else max(i - 30, 0) + 0.5  # every 9th arrives 30 min late: inserted in place
        value = None if i % 13 == 0 else float((i * 7) % 11) - 5.0  # ties, negatives, NULLs
        engine.apply(event(i, "a", minute, value, arrival_minutes=float(i)))
        applied.append((minute, value))
        if i % 7:
            continue
        state = engine.store.get(cfg.name, "a")
        decoded = EntityState.from_bytes(state.to_bytes())
        assert decoded.series["vibration"].index is None
        for later in (0, 0, 25, 90, 170):  # twice at the clock (index reused), then past it
            t = i + later
            got = features_from_state(fs, state, us(t))
            assert got == features_from_state(fs, decoded, us(t)), (i, later)
            for window_min in (60, 180):
                values = [v for m, v in applied if t - window_min < m <= t and v is not None]
                suffix = f"_{window_min * 60}"
                assert got["vibration_count" + suffix] == len(values), (i, later)
                assert got["vibration_max" + suffix] == (max(values) if values else None), (i, later)
                assert got["vibration_min" + suffix] == (min(values) if values else None), (i, later)
            checked += 1
    assert checked > 500
