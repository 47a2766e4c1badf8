"""Data contracts: every rule detects what it should, reports the count and
examples, and no row is lost (rows in = valid + quarantined + dropped)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
from hypothesis import given, settings
from hypothesis import strategies as st

from runtime.contracts.steps import DataSourceConfig
from runtime.data.contract import VIOLATION, ContractOutcome, apply_contract, check_record
from runtime.data.sources import LoadedSource
from runtime.events import ARRIVAL_TIME, EVENT_ID

from data_builders import T0, event_rows, events_source, table


def run(rows: list[dict[str, object]], source: DataSourceConfig | None = None, as_of=None) -> ContractOutcome:
    source = source or events_source()
    return apply_contract(LoadedSource(source, table(rows), (), ()), as_of)


def result(outcome: ContractOutcome, rule: str, column: str | None = None):
    return next(r for r in outcome.results if r.rule == rule and (column is None or r.column == column))


def balanced(o: ContractOutcome) -> bool:
    return o.rows_in == o.rows_out + o.rows_quarantined + o.dropped


def test_a_clean_batch_passes_sorted_by_entity_time_id() -> None:
    rows = event_rows(30)
    o = run(list(reversed(rows)))
    assert o.passed and o.rows_out == 30 and o.rows_quarantined == 0 and o.dropped == 0
    keys = list(zip(o.valid["asset_id"].to_pylist(), o.valid["event_time"].to_pylist()))
    assert keys == sorted(keys)


def test_null_in_a_non_nullable_column_is_quarantined_and_named() -> None:
    rows = event_rows(20)
    rows[3]["asset_type"] = None
    o = run(rows)
    assert o.passed and o.rows_quarantined == 1 and balanced(o)
    assert o.quarantined[VIOLATION].to_pylist() == ["null:asset_type"]
    r = result(o, "null", "asset_type")
    assert r.count == 1 and r.status == "warn" and r.action == "quarantine" and r.examples[0]["_event_id"] == "e3"


def test_null_flood_fails_the_batch_with_examples() -> None:
    rows = event_rows(20)
    for r in rows[:8]:
        r["temperature"] = None
    o = run(rows, events_source(max_null_fraction=0.05))
    assert not o.passed and o.valid is None
    r = result(o, "null_fraction", "temperature")
    assert r.status == "fail" and r.count == 8 and "8/20 rows (40.00%)" in r.detail and len(r.examples) == 3


def test_nan_counts_as_null() -> None:
    rows = event_rows(10)
    rows[0]["vibration"] = float("nan")
    assert result(run(rows), "null_fraction", "vibration").count == 1


def test_out_of_range_rows_are_quarantined_and_the_fraction_is_limited() -> None:
    rows = event_rows(100)
    rows[5]["temperature"] = 999.0
    rows[6]["vibration"] = -1.0
    o = run(rows, events_source(max_out_of_range_fraction=0.02))
    assert o.passed and o.rows_quarantined == 2 and balanced(o)
    assert sorted(o.quarantined[VIOLATION].to_pylist()) == ["range:temperature", "range:vibration"]
    for r in rows[10:13]:
        r["temperature"] = 500.0
    flooded = run(rows, events_source(max_out_of_range_fraction=0.02))
    assert not flooded.passed and result(flooded, "out_of_range_fraction", "temperature").count == 4


def test_new_asset_type_declared_passes_undeclared_is_quarantined() -> None:
    """The drift scenario: compressor is declared in the spec, so it passes
    (monitoring sees the drift); an undeclared type is stopped and counted."""
    rows = event_rows(20)
    rows[1]["asset_type"] = "compressor"
    rows[2]["asset_type"] = "blower"
    o = run(rows)
    assert o.passed and o.rows_quarantined == 1
    r = result(o, "category", "asset_type")
    assert r.count == 1 and r.status == "warn" and "blower" in r.detail
    assert "compressor" in o.valid["asset_type"].to_pylist()


def test_duplicates_keep_the_first_arrival() -> None:
    rows = event_rows(10)
    again = dict(rows[4], _arrival_time=rows[4]["_arrival_time"] + timedelta(minutes=3))
    o = run([again, *rows])  # the redelivery comes first in the file: arrival decides, not position
    assert o.passed and o.rows_quarantined == 1 and balanced(o)
    q = o.quarantined.to_pylist()[0]
    assert q[EVENT_ID] == "e4" and q[ARRIVAL_TIME] == again["_arrival_time"] and q[VIOLATION] == "duplicate:_event_id"
    strict = run([again, *rows], events_source(max_duplicate_fraction=0.0))
    assert not strict.passed and result(strict, "duplicate_fraction").count == 1


def _late_rows() -> list[dict[str, object]]:
    rows = event_rows(20)
    rows[7]["_arrival_time"] = rows[7]["event_time"] + timedelta(hours=5)
    return rows


def test_late_events_follow_the_policy() -> None:
    quarantined = run(_late_rows(), events_source(late_policy="quarantine"))
    assert quarantined.rows_quarantined == 1 and quarantined.quarantined[VIOLATION][0].as_py() == "late:event_time"
    dropped = run(_late_rows(), events_source(late_policy="drop"))
    assert dropped.dropped == 1 and dropped.rows_quarantined == 0 and dropped.rows_out == 19 and balanced(dropped)
    assert result(dropped, "late").count == 1 and result(dropped, "late").action == "drop"
    kept = run(_late_rows(), events_source(late_policy="reprocess"))
    assert kept.rows_out == 20 and result(kept, "late").action == "reprocess"
    on_time = run(_late_rows(), events_source(allowed_lateness_s=6 * 3600.0))
    assert result(on_time, "late").count == 0


def test_quarantine_action_drop_and_fail() -> None:
    rows = event_rows(20)
    rows[2]["vibration"] = 99.0
    dropped = run(rows, events_source(quarantine_action="drop"))
    assert dropped.passed and dropped.dropped == 1 and dropped.rows_quarantined == 0 and balanced(dropped)
    failed = run(rows, events_source(quarantine_action="fail"))
    assert not failed.passed and result(failed, "quarantine").count == 1


def test_too_many_bad_rows_fail_the_batch() -> None:
    rows = event_rows(10)
    for r in rows[:3]:
        r["asset_type"] = "fan"
    o = run(rows, events_source(max_bad_fraction=0.2))
    assert not o.passed and result(o, "bad_fraction").count == 3 and "3/10 rows (30.00%)" in result(o, "bad_fraction").detail


def test_freshness_against_the_reference_time() -> None:
    rows = event_rows(10)  # newest event at T0 + 9 min
    fresh = run(rows, events_source(freshness_max_age_s=1800.0), as_of=T0 + timedelta(minutes=30))
    assert result(fresh, "freshness").status == "pass"
    stale = run(rows, events_source(freshness_max_age_s=1800.0), as_of=T0 + timedelta(hours=2))
    assert not stale.passed and "limit 1800s" in result(stale, "freshness").detail
    warned = run(rows, events_source(freshness_max_age_s=1800.0, freshness_severity="warning"),
                 as_of=T0 + timedelta(hours=2))
    assert warned.passed and result(warned, "freshness").status == "warn"


def test_min_rows_counts_valid_rows() -> None:
    rows = event_rows(5)
    rows[0]["asset_type"] = None
    o = run(rows, events_source(min_rows=5))
    assert not o.passed and result(o, "min_rows").count == 4


def test_schema_problems_fail_without_a_table() -> None:
    from runtime.data.sources import SchemaProblem, SourceFile

    loaded = LoadedSource(events_source(), None, (SourceFile("data/events/a.parquet", "0" * 64, 12),),
                          (SchemaProblem("data/events/a.parquet", "vibration", "schema.missing", "missing"),))
    o = apply_contract(loaded)
    assert not o.passed and o.rows_in == 12 and result(o, "schema.missing").column == "vibration"


@settings(max_examples=40, deadline=None)
@given(st.lists(st.sampled_from(["ok", "null", "range", "category", "late", "dup", "nan"]), min_size=1, max_size=60),
       st.sampled_from(["quarantine", "drop"]), st.sampled_from(["quarantine", "drop", "reprocess"]))
def test_no_row_is_ever_lost(faults: list[str], action: str, late_policy: str) -> None:
    rows = event_rows(len(faults))
    extra = []
    for r, fault in zip(rows, faults):
        if fault == "null":
            r["asset_id"] = None
        elif fault == "range":
            r["vibration"] = 77.0
        elif fault == "category":
            r["asset_type"] = "fan"
        elif fault == "late":
            r["_arrival_time"] = r["event_time"] + timedelta(hours=3)
        elif fault == "nan":
            r["temperature"] = float("nan")
        elif fault == "dup":
            extra.append(dict(r, _arrival_time=r["_arrival_time"] + timedelta(seconds=30)))
    lenient = events_source(max_null_fraction=1.0, max_duplicate_fraction=1.0, max_out_of_range_fraction=1.0,
                            max_bad_fraction=1.0, min_rows=0, quarantine_action=action, late_policy=late_policy)
    o = run(rows + extra, lenient)
    assert o.passed and balanced(o), (o.rows_in, o.rows_out, o.rows_quarantined, o.dropped)
    assert o.rows_in == len(rows) + len(extra)
    if action == "quarantine":
        assert o.rows_quarantined >= sum(f in ("null", "range", "category", "dup") for f in faults)
    assert pc.count_distinct(o.valid[EVENT_ID]).as_py() == o.rows_out  # no duplicate survives


# ------------------------------------------------------------------ records


def test_check_record_accepts_a_good_event() -> None:
    record = dict(event_rows(1)[0])
    assert check_record(events_source(), record) == ()
    as_json = dict(record, event_time="2026-03-01T00:00:00Z", _arrival_time="2026-03-01T00:00:05Z")
    assert check_record(events_source(), as_json) == ()


def test_check_record_names_each_problem() -> None:
    record = dict(event_rows(1)[0], asset_type="fan", temperature=999.0, vibration="loud", humidity=3.0)
    del record["asset_id"]
    found = {(v.rule, v.column) for v in check_record(events_source(), record)}
    assert found == {("category", "asset_type"), ("range", "temperature"), ("schema.type", "vibration"),
                     ("schema.extra", "humidity"), ("null", "asset_id")}
    assert check_record(events_source(), dict(event_rows(1)[0], temperature=True))[0].rule == "schema.type"


def test_check_record_lateness_needs_a_clock() -> None:
    record = event_rows(1)[0]
    assert check_record(events_source(), record) == ()
    late = check_record(events_source(), record, now=T0 + timedelta(hours=3))
    assert [(v.rule, v.column) for v in late] == [("late", "event_time")]
    assert check_record(events_source(), record, now=T0 + timedelta(hours=1)) == ()


def test_events_stamped_after_their_arrival_are_set_aside() -> None:
    rows = event_rows(10)
    rows[4]["event_time"] = rows[4]["_arrival_time"] + timedelta(minutes=10)  # a device clock running ahead
    rows[5]["event_time"] = rows[5]["_arrival_time"] + timedelta(seconds=30)  # within the tolerated skew
    o = run(rows)
    assert o.passed and o.rows_quarantined == 1 and balanced(o)
    assert o.quarantined[VIOLATION].to_pylist() == ["future:event_time"]
    assert result(o, "future").count == 1 and result(o, "bad_fraction").count == 1


def test_check_record_flags_a_clock_running_ahead() -> None:
    record = event_rows(1)[0]
    ahead = check_record(events_source(), record, now=T0 - timedelta(minutes=5))
    assert [(v.rule, v.column) for v in ahead] == [("future", "event_time")]
    assert check_record(events_source(), record, now=T0 - timedelta(seconds=30)) == ()
