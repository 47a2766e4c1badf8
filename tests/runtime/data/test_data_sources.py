"""File and label sources: formats, globs, partitions, and bad files that
must give a clear error (never a traceback, never a silent pass)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pyarrow as pa
import pytest

from runtime.contracts.steps import FieldConfig
from runtime.data.paths import DataPathError, MissingDataError, inside
from runtime.data.sources import DataReadError, read_source
from runtime.events import ARRIVAL_TIME, EVENT_ID, event_id

from data_builders import T0, TS, event_rows, events_source, table, write_parquet


def test_parquet_glob_reads_every_file_in_order(work: Path) -> None:
    write_parquet(work, "data/events/b.parquet", event_rows(4, start=T0 + timedelta(days=1)))
    write_parquet(work, "data/events/a.parquet", event_rows(3))
    loaded = read_source(events_source(), work)
    assert loaded.problems == () and loaded.table is not None
    assert [f.path for f in loaded.files] == ["data/events/a.parquet", "data/events/b.parquet"]
    assert [f.rows for f in loaded.files] == [3, 4] and loaded.table.num_rows == 7
    assert all(len(f.sha256) == 64 for f in loaded.files)
    assert loaded.table.schema.field("event_time").type == TS


def test_date_partitions(work: Path) -> None:
    for day in range(3):
        write_parquet(work, f"data/events/date=2026-03-0{day + 1}/part-0.parquet",
                      event_rows(2, start=T0 + timedelta(days=day)))
    loaded = read_source(events_source(path="data/events/date=*/*.parquet"), work)
    assert loaded.table is not None and loaded.table.num_rows == 6
    assert "date" not in loaded.table.column_names  # the partition key is not a data column


def test_csv_with_iso_timestamps_and_empty_cells(work: Path) -> None:
    path = work / "data/events/x.csv"
    path.parent.mkdir(parents=True)
    path.write_text("asset_id,event_time,asset_type,temperature,vibration\n"
                    "A1,2026-03-01T00:00:00Z,pump,61.5,\n"
                    "A2,2026-03-01T00:01:00+00:00,turbine,,3.5\n", encoding="utf-8")
    loaded = read_source(events_source(path="data/events/*.csv", format="csv"), work)
    t = loaded.table
    assert t is not None and t.num_rows == 2
    assert t["temperature"].to_pylist() == [61.5, None] and t["vibration"].to_pylist() == [None, 3.5]
    # Without system columns: arrival = event time, id = the shared event identity.
    assert t[ARRIVAL_TIME].to_pylist() == t["event_time"].to_pylist()
    first = {k: v for k, v in t.to_pylist()[0].items() if not k.startswith("_")}
    assert t[EVENT_ID][0].as_py() == event_id(first)


def test_labels_arrive_after_the_availability_delay_when_not_recorded(work: Path) -> None:
    src = events_source(name="labels", type="labels", path="data/labels/*.parquet", timestamp="failure_time",
                        availability_delay_s=3600.0, allowed_lateness_s=None,
                        fields=(FieldConfig(name="asset_id", type="string"), FieldConfig(name="failure_time", type="timestamp"),
                                FieldConfig(name="failed", type="bool")))
    write_parquet(work, "data/labels/l.parquet", pa.table({"asset_id": ["A1"], "failure_time": pa.array([T0], TS),
                                                           "failed": [True]}))
    t = read_source(src, work).table
    assert t is not None and t[ARRIVAL_TIME][0].as_py() == T0 + timedelta(hours=1)


def test_naive_timestamps_are_read_as_utc(work: Path) -> None:
    rows = event_rows(2)
    naive = table(rows).set_column(1, "event_time", pa.array([r["event_time"].replace(tzinfo=None) for r in rows],
                                                             pa.timestamp("ms")))
    write_parquet(work, "data/events/a.parquet", naive)
    t = read_source(events_source(), work).table
    assert t is not None and t["event_time"].to_pylist() == [r["event_time"] for r in rows]


def test_schema_problems_name_the_file_and_column(work: Path) -> None:
    rows = event_rows(3)
    bad = table(rows).drop_columns(["vibration"]).append_column("humidity", pa.array([1.0, 2.0, 3.0]))
    bad = bad.set_column(bad.schema.get_field_index("temperature"), "temperature", pa.array(["hot"] * 3))
    write_parquet(work, "data/events/good.parquet", rows)
    write_parquet(work, "data/events/bad.parquet", bad)
    loaded = read_source(events_source(), work)
    assert loaded.table is None
    found = {(p.file, p.rule, p.column) for p in loaded.problems}
    assert found == {("data/events/bad.parquet", "schema.missing", "vibration"),
                     ("data/events/bad.parquet", "schema.extra", "humidity"),
                     ("data/events/bad.parquet", "schema.type", "temperature")}
    assert all("data/events/bad.parquet" in p.message for p in loaded.problems)


def test_wrong_csv_header_is_a_schema_problem(work: Path) -> None:
    path = work / "data/events/x.csv"
    path.parent.mkdir(parents=True)
    path.write_text("asset,when,asset_type,temperature,vibration\nA1,2026-03-01T00:00:00Z,pump,1,1\n", encoding="utf-8")
    loaded = read_source(events_source(path="data/events/*.csv", format="csv"), work)
    assert {(p.rule, p.column) for p in loaded.problems} >= {("schema.missing", "asset_id"),
                                                            ("schema.missing", "event_time"),
                                                            ("schema.extra", "asset")}


def test_unparsable_csv_value_names_the_file(work: Path) -> None:
    path = work / "data/events/x.csv"
    path.parent.mkdir(parents=True)
    path.write_text("asset_id,event_time,asset_type,temperature,vibration\nA1,2026-03-01T00:00:00Z,pump,warm,1\n",
                    encoding="utf-8")
    with pytest.raises(DataReadError, match=r"data/events/x.csv: not a readable CSV file"):
        read_source(events_source(path="data/events/*.csv", format="csv"), work)


def test_corrupt_parquet_is_a_clear_error(work: Path) -> None:
    path = work / "data/events/broken.parquet"
    path.parent.mkdir(parents=True)
    path.write_bytes(b"PAR1 this is not parquet")
    with pytest.raises(DataReadError, match=r"data/events/broken.parquet: not a readable Parquet file"):
        read_source(events_source(), work)


def test_empty_glob_and_missing_folder(work: Path) -> None:
    with pytest.raises(MissingDataError, match="does not exist"):
        read_source(events_source(), work)
    (work / "data/events").mkdir(parents=True)
    (work / "data/events/readme.txt").write_text("x")
    with pytest.raises(MissingDataError, match="matches no file"):
        read_source(events_source(), work)


@pytest.mark.parametrize("path", ["../outside/*.parquet", "data/../../outside/*.parquet", "/etc/*.parquet",
                                  "file:///etc/*.parquet"])
def test_paths_outside_the_working_directory_are_refused(work: Path, path: str) -> None:
    with pytest.raises(DataPathError, match="outside the working directory"):
        read_source(events_source(path=path), work)


def test_symlink_out_of_the_working_directory_is_refused(tmp_path: Path) -> None:
    work = tmp_path / "work"
    outside = tmp_path / "secret"
    write_parquet(outside, "x.parquet", event_rows(1))
    (work / "data/events").mkdir(parents=True)
    (work / "data/events/x.parquet").symlink_to(outside / "x.parquet")
    with pytest.raises(DataPathError, match="outside the working directory"):
        read_source(events_source(), work)


def test_inside_accepts_nested_paths(work: Path) -> None:
    assert inside("data/./events", work) == (work / "data/events").resolve()


def test_unsupported_scheme_is_refused(work: Path) -> None:
    with pytest.raises(DataPathError, match="unsupported location scheme"):
        read_source(events_source(path="ftp://host/data/*.parquet"), work)


def test_file_urls_inside_the_working_directory_read_like_paths(work: Path) -> None:
    write_parquet(work, "data/events/a.parquet", event_rows(3))
    loaded = read_source(events_source(path=f"file://{work.resolve()}/data/events/*.parquet"), work)
    assert loaded.table is not None and [f.path for f in loaded.files] == ["data/events/a.parquet"]


def test_nan_becomes_null_so_batch_and_online_agree(work: Path) -> None:
    rows = event_rows(3)
    rows[1]["temperature"] = float("nan")
    write_parquet(work, "data/events/a.parquet", rows)
    t = read_source(events_source(), work).table
    assert t is not None and t["temperature"].to_pylist() == [60.0, None, 62.0] and t["temperature"].null_count == 1


def test_rows_without_their_own_arrival_time_get_the_default(work: Path) -> None:
    rows = event_rows(3)
    rows[1]["_arrival_time"] = None
    write_parquet(work, "data/events/a.parquet", rows)
    t = read_source(events_source(), work).table
    assert t is not None and t[ARRIVAL_TIME].null_count == 0
    assert t[ARRIVAL_TIME][1].as_py() == rows[1]["event_time"]
    assert t[ARRIVAL_TIME][0].as_py() == rows[0]["_arrival_time"]
