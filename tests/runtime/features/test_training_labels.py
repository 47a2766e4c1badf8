"""Labels are joined by availability, never from the future (definitions in
runtime.features.training), checked on hand-built rows."""

from __future__ import annotations

from datetime import timedelta

import duckdb
import pyarrow as pa
from feature_builders import HOUR, LABEL, T0, at, event, events_table, feature_set, us

from runtime.features.definition import define
from runtime.features.training import CUT_TIME, training_table

LABEL_SCHEMA = pa.schema([("asset_id", pa.string()), ("failure_time", pa.timestamp("us", tz="UTC")),
                          ("failed", pa.bool_()), ("_event_id", pa.string()),
                          ("_arrival_time", pa.timestamp("us", tz="UTC"))])
DAY_MIN = 24 * 60
# Both assets report every 6 hours for 10 days.
STEADY = [event(n, asset, m, 1.0) for n, (asset, m) in enumerate(
    (asset, m) for asset in ("a", "b") for m in range(0, 10 * DAY_MIN, 360))]


def cut(labels: list[dict], cut_minutes: float | None = None, events: list[dict] | None = None):
    con = duckdb.connect()
    con.register("ev", events_table(events or STEADY))
    con.register("lab", pa.Table.from_pylist(labels, schema=LABEL_SCHEMA))
    cfg = feature_set(aggregations=[(None, "count", 24 * HOUR)])
    return training_table(con, define([cfg], LABEL), ["events_count_86400"], LABEL, {"events": "ev"}, "lab",
                          "failure_time", sample_every_us=round(HOUR * 1e6),
                          cut_us=us(cut_minutes) if cut_minutes is not None else None)


def label(asset: str, failure_min: float, arrival_min: float | None = None, failed: bool = True, n: int = 0) -> dict:
    return {"asset_id": asset, "failure_time": at(failure_min), "failed": failed, "_event_id": f"l{n}",
            "_arrival_time": at(arrival_min) if arrival_min is not None else None}


def rows_of(result) -> dict[tuple[str, int], int]:
    table = result.table
    return {(e, int((t - T0) / timedelta(minutes=1))): y for e, t, y in zip(
        table.column("asset_id").to_pylist(), table.column(CUT_TIME).to_pylist(), table.column("label").to_pylist())}


def test_label_is_a_failure_in_the_half_open_horizon_after_the_cut_time() -> None:
    # Failure of "a" at day 2 + 30 min, reported an hour later; table cut at day 10.
    result = cut([label("a", 2 * DAY_MIN + 30, 2 * DAY_MIN + 90)], cut_minutes=10 * DAY_MIN)
    rows = rows_of(result)
    fail = 2 * DAY_MIN + 30
    for (asset, t), y in rows.items():
        expected = int(asset == "a" and t < fail <= t + DAY_MIN)  # failure in (t, t + 24 h]
        assert y == expected, (asset, t, y)
    assert rows[("a", 2 * DAY_MIN)] == 1  # 30 min before the failure
    assert rows[("a", 1 * DAY_MIN + 60)] == 1  # 23.5 h before
    assert rows[("a", 1 * DAY_MIN)] == 0  # 24.5 h before: outside the horizon
    assert rows[("a", 3 * DAY_MIN)] == 0  # after the failure
    assert result.positives == 24


def test_a_label_that_arrived_after_the_table_cut_is_not_used() -> None:
    # Reported only at day 9 (later than the declared 48 h delay); the table is cut at day 8.
    late = cut([label("a", 2 * DAY_MIN + 30, 9 * DAY_MIN)], cut_minutes=8 * DAY_MIN)
    assert late.positives == 0 and late.labels_after_cut == 1
    known = cut([label("a", 2 * DAY_MIN + 30, 9 * DAY_MIN)], cut_minutes=9 * DAY_MIN)
    assert known.positives == 24 and known.labels_after_cut == 0


def test_rows_whose_label_is_not_mature_at_the_cut_are_left_out() -> None:
    result = cut([], cut_minutes=5 * DAY_MIN)
    times = [t for (_, t) in rows_of(result)]
    # horizon 24 h + availability delay 48 h: the last row is at day 5 - 3 days = day 2.
    assert max(times) == 2 * DAY_MIN and min(times) == 0
    assert len(times) == 2 * (2 * 24 + 1)
    assert result.rows_immature == 2 * 3 * 24  # (day 2, day 5], hourly, both assets


def test_negative_tickets_are_not_failures_and_the_default_cut_is_the_latest_arrival() -> None:
    result = cut([label("a", 2 * DAY_MIN + 30, 2 * DAY_MIN + 60, failed=False, n=1),
                  label("b", 9 * DAY_MIN, None, n=2)])  # no _arrival_time: failure time + 48 h
    assert result.table_cut_us == us(11 * DAY_MIN)
    rows = rows_of(result)
    # a's ticket says "no failure"; b's failure at day 9 is exactly t + 24 h for the last mature row (day 8).
    assert result.positives == 1 and rows[("b", 8 * DAY_MIN)] == 1 and max(t for _, t in rows) == 8 * DAY_MIN


def test_features_of_a_row_never_see_events_after_its_cut_time() -> None:
    events = [event(1, "a", 0, 1.0), event(2, "a", 30, 1.0), event(3, "a", 61, 1.0), event(4, "a", 90, 1.0, arrival_minutes=130)]
    result = cut([], cut_minutes=10 * DAY_MIN, events=events)
    counts = dict(zip([int((t - T0) / timedelta(minutes=1)) for t in result.table.column(CUT_TIME).to_pylist()],
                      result.table.column("events_count_86400").to_pylist()))
    assert counts[0] == 1 and counts[60] == 2 and counts[120] == 3  # e4 (arrives 130 min) not yet at 120
    assert counts[180] == 4
