"""The prediction log's write-ahead store, compaction to hive-partitioned
Parquet, and the reader that unions both: real SQLite, real Parquet files,
real DuckDB; a compaction that crashes between writing its parts and
deleting its rows, re-run, duplicates nothing."""

from __future__ import annotations

import math
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from runtime.contracts.monitoring import LOG_COLUMNS, PredictionRecord
from runtime.predlog.parquet import PART, compact
from runtime.predlog.reader import read_log, read_records
from runtime.predlog.store import LogError, PredictionLog
from tests.runtime.predlog.conftest import TYPES

DAY_US = 86_400_000_000
T0 = 1_772_366_400_000_000  # 2026-03-01T12:00:00Z


def rec(n: int, *, served: int = T0, model: str = "pump-failure", status: int = 200) -> PredictionRecord:
    ok = status == 200
    return PredictionRecord(
        seq=0, prediction_id=f"r{n}/0" if ok else f"r{n}/-", request_id=f"r{n}", served_at_us=served + n,
        at_us=served + n, entity=f"P-{n % 7}" if ok else "", model=model, version="v1", release="", role="champion",
        environment="local", spec_hash="h", score=0.25 + n / 1e6 if ok else None, threshold=0.5 if ok else None,
        decision=False if ok else None, confidence=0.5 if ok else None, action="auto" if ok else None,
        rule=None, feature_vector_sha256=f"{n:064x}" if ok else None, feature_age_s=1.5 if ok else None,
        latency_s=0.001, status=status, error=None if ok else "invalid_input", fallback=None,
        features={"vibration_max_1h": float(n), "asset_type": "pump"} if ok else {})


def test_append_assigns_consecutive_seq_and_round_trips(log: PredictionLog, tmp_path: Path) -> None:
    assert log.append([rec(1), rec(2), rec(3)]) == (1, 3)
    assert log.append([rec(4, status=404)]) == (4, 4)
    # Another connection (the monitor's process) sees the committed rows.
    other = PredictionLog(tmp_path / "wal" / "log.db")
    got = list(other.records())
    other.close()
    assert [r.seq for r in got] == [1, 2, 3, 4]
    assert got[0] == PredictionRecord(**{**{c: getattr(rec(1), c) for c in LOG_COLUMNS}, "seq": 1},
                                      features=rec(1).features)
    assert (got[3].status, got[3].error, got[3].score, got[3].decision) == (404, "invalid_input", None, None)
    assert [r.seq for r in log.records(seq_from=2, seq_to=3)] == [2, 3]
    assert [r.seq for r in log.records(since_us=T0 + 2, until_us=T0 + 4)] == [2, 3]
    assert log.stats()["rows"] == 4 and log.stats()["failed_rows"] == 1


def test_non_finite_feature_is_logged_as_missing(log: PredictionLog) -> None:
    r = rec(1)
    log.append([PredictionRecord(**{**{c: getattr(r, c) for c in LOG_COLUMNS}},
                                 features={"vibration_max_1h": math.nan, "asset_type": None})])
    [got] = log.records()
    assert got.features == {"vibration_max_1h": None, "asset_type": None}


def test_compaction_writes_hive_parts_and_empties_the_wal(log: PredictionLog, tmp_path: Path) -> None:
    log.append([rec(n) for n in range(5)])
    log.append([rec(n, served=T0 + DAY_US) for n in range(5, 8)])
    log.append([rec(9, served=T0 + DAY_US, status=503)])
    root = tmp_path / "parquet"
    done = compact(log, str(root))
    assert (done.rows_moved, done.rows_skipped, done.rows_deleted) == (9, 0, 9)
    names = sorted(p.relative_to(root).as_posix() for p in root.rglob("*.parquet"))
    lid = log.log_id
    assert names == [f"model=pump-failure/date=2026-03-01/part-1-5-{lid}.parquet",
                     f"model=pump-failure/date=2026-03-02/part-6-9-{lid}.parquet"]
    assert list(log.records()) == []
    table = pq.read_table(root / names[0])
    assert table.column_names == [*LOG_COLUMNS, "features"]
    assert str(table.schema.field("features").type) == "struct<vibration_max_1h: double, asset_type: string>"
    assert str(table.schema.field("status").type) == "int32"
    # seq keeps counting after the rows are gone: new parts never reuse a name.
    assert log.append([rec(10)]) == (10, 10)


def test_crash_between_write_and_delete_duplicates_nothing(log: PredictionLog, tmp_path: Path) -> None:
    log.append([rec(n) for n in range(6)])
    root = str(tmp_path / "parquet")
    first = compact(log, root, crash_after_write=True)
    assert (first.rows_moved, first.rows_deleted) == (6, 0) and len(list(log.records())) == 6
    # Between the crash and the re-run, the server kept answering.
    log.append([rec(n) for n in range(6, 9)])
    # The reader already sees each row once: WAL rows a part holds are left out.
    assert sorted(read_log(root, "pump-failure", log).column("seq").to_pylist()) == list(range(1, 10))
    again = compact(log, root)
    assert (again.rows_moved, again.rows_skipped, again.rows_deleted) == (3, 6, 9)
    table = read_log(root, "pump-failure", log)
    assert table.column("seq").to_pylist() == list(range(1, 10))
    assert table.column("prediction_id").to_pylist() == [f"r{n}/0" for n in range(9)]
    # A third run has nothing to do.
    assert compact(log, root).rows_moved == 0


def test_reader_unions_parquet_and_wal_with_time_pruning(log: PredictionLog, tmp_path: Path) -> None:
    root = str(tmp_path / "parquet")
    log.append([rec(n) for n in range(3)])
    log.append([rec(n, served=T0 + DAY_US) for n in range(3, 5)])
    compact(log, root)
    log.append([rec(n, served=T0 + 2 * DAY_US) for n in range(5, 7)])
    everything = list(read_records(root, "pump-failure", log))
    assert [r.seq for r in everything] == [1, 2, 3, 4, 5, 6, 7] and everything[6].features["asset_type"] == "pump"
    window = read_log(root, "pump-failure", log, since_us=T0 + DAY_US, until_us=T0 + 2 * DAY_US + 6)
    assert window.column("seq").to_pylist() == [4, 5, 6]
    assert read_log(root, "other-model", log).num_rows == 0


def test_unwritable_log_is_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(LogError, match=r"prediction log .*cannot open"):
        PredictionLog(blocker / "log.db")
    with pytest.raises(LogError, match="feature types"):
        PredictionLog(tmp_path / "ok.db").set_feature_types("m", {"x": "int8"})


def test_part_names_parse() -> None:
    m = PART.match("part-12-40-0a1b2c3d.parquet")
    assert m is not None and m.groups() == ("12", "40", "0a1b2c3d")
    assert PART.match(".part-12-40-0a1b2c3d.parquet.tmp") is None
