"""`python -m runtime validate-data` end to end, as DVC and Argo run it:
a real process over real files, its exit status, report, snapshot and lineage."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pyarrow.parquet as pq

from runtime.contracts.steps import ArtifactStoreConfig, FieldConfig, ValidateDataConfig
from runtime.data.contract import VIOLATION
from runtime.events import EVENT_ID

from data_builders import T0, event_rows, events_source, write_parquet

REPO = Path(__file__).resolve().parents[3]


def labels_source():
    return events_source(name="failure-labels", type="labels", path="data/labels/*.parquet", timestamp="failure_time",
                         allowed_lateness_s=None, late_policy=None, availability_delay_s=3600.0, max_duplicate_fraction=0.0,
                         fields=(FieldConfig(name="asset_id", type="string"),
                                 FieldConfig(name="failure_time", type="timestamp"),
                                 FieldConfig(name="failed", type="bool")))


def config(work: Path, **overrides) -> Path:
    cfg = ValidateDataConfig(model="m", spec_hash="abc", artifacts=ArtifactStoreConfig(uri=".specops/artifacts"),
                             work_dir=".specops/work/m", sources=overrides.pop("sources", (events_source(), labels_source())),
                             output=".specops/work/m/validated", report=".specops/work/m/reports/data.json",
                             as_of=T0 + timedelta(hours=1), **overrides)
    path = work / "validate-data.json"
    path.write_text(cfg.model_dump_json(exclude_none=True), encoding="utf-8")
    return path


def write_labels(work: Path) -> None:
    import pyarrow as pa

    write_parquet(work, "data/labels/l.parquet", pa.table({
        "asset_id": ["A0", "A1"], "failure_time": pa.array([T0, T0 + timedelta(minutes=5)], pa.timestamp("us", tz="UTC")),
        "failed": [True, False]}))


def run(work: Path, cfg: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "runtime", "validate-data", "--config", str(cfg)],
                          cwd=work, capture_output=True, text=True, timeout=120)


def test_a_good_batch_becomes_a_snapshot_with_lineage(tmp_path: Path) -> None:
    rows = event_rows(40)
    rows[3]["vibration"] = 60.0  # quarantined
    rows.append(dict(rows[5], _arrival_time=rows[5]["_arrival_time"] + timedelta(seconds=9)))  # duplicate
    write_parquet(tmp_path, "data/events/a.parquet", rows)
    write_labels(tmp_path)
    done = run(tmp_path, config(tmp_path))
    assert done.returncode == 0, done.stderr
    out = tmp_path / ".specops/work/m/validated"
    events = pq.read_table(out / "sensor-events.parquet")
    quarantine = pq.read_table(out / "quarantine/sensor-events.parquet")
    assert events.num_rows == 39 and quarantine.num_rows == 2
    assert sorted(quarantine[VIOLATION].to_pylist()) == ["duplicate:_event_id", "range:vibration"]
    assert events.column_names[-2:] == [EVENT_ID, "_arrival_time"]
    lineage = json.loads((out / "lineage.json").read_text())
    ds = {d["name"]: d for d in lineage["datasets"]}
    ev = ds["sensor-events"]
    assert ev["sha256"] == hashlib.sha256((out / "sensor-events.parquet").read_bytes()).hexdigest()
    assert (ev["rows_in"], ev["rows_out"], ev["quarantined"], ev["dropped"]) == (41, 39, 2, 0)
    assert ev["source"]["files"] == [{"path": "data/events/a.parquet", "rows": 41,
                                      "sha256": hashlib.sha256((tmp_path / "data/events/a.parquet").read_bytes()).hexdigest()}]
    assert ev["contract"]["passed"] and any(r["rule"] == "duplicate_fraction" and r["count"] == 1
                                            for r in ev["contract"]["results"])
    assert ds["failure-labels"]["rows_out"] == 2 and lineage["spec_hash"] == "abc"
    report = json.loads((tmp_path / ".specops/work/m/reports/data.json").read_text())
    assert report["passed"] and report["snapshot_sha256"] == lineage["snapshot_sha256"]
    # Same input, same snapshot bytes: the hash identifies the data.
    first = (out / "sensor-events.parquet").read_bytes()
    assert run(tmp_path, config(tmp_path)).returncode == 0
    assert (out / "sensor-events.parquet").read_bytes() == first


def test_a_bad_batch_stops_the_pipeline_with_a_report(tmp_path: Path) -> None:
    rows = event_rows(40)
    for r in rows[:20]:
        r["temperature"] = None
    write_parquet(tmp_path, "data/events/a.parquet", rows)
    write_labels(tmp_path)
    snapshot = tmp_path / ".specops/work/m/validated"
    snapshot.mkdir(parents=True)
    (snapshot / "stale.parquet").write_bytes(b"from an earlier run")
    done = run(tmp_path, config(tmp_path))
    assert done.returncode == 1
    assert "FAIL sensor-events" in done.stderr and "null_fraction temperature: 20/40 rows (50.00%)" in done.stderr
    assert "e.g." in done.stderr and "Traceback" not in done.stderr
    assert not snapshot.exists(), "no snapshot (not even an old one) is left for downstream"
    report = json.loads((tmp_path / ".specops/work/m/reports/data.json").read_text())
    assert report["passed"] is False
    failed = [r for d in report["datasets"] for r in d["contract"]["results"] if r["status"] == "fail"]
    assert [(r["rule"], r["column"], r["count"]) for r in failed] == [("null_fraction", "temperature", 20)]
    assert failed[0]["examples"][0]["temperature"] is None


def test_unreadable_or_missing_data_exit_1_with_the_file_named(tmp_path: Path) -> None:
    cfg = config(tmp_path)
    missing = run(tmp_path, cfg)
    assert missing.returncode == 1 and "data/events" in missing.stderr and "Traceback" not in missing.stderr
    (tmp_path / "data/events").mkdir(parents=True)
    (tmp_path / "data/events/x.parquet").write_bytes(b"garbage")
    corrupt = run(tmp_path, cfg)
    assert corrupt.returncode == 1 and "data/events/x.parquet: not a readable Parquet file" in corrupt.stderr
    report = json.loads((tmp_path / ".specops/work/m/reports/data.json").read_text())
    assert report["passed"] is False and "x.parquet" in report["error"]


def test_a_path_escaping_the_working_directory_is_a_bad_invocation(tmp_path: Path) -> None:
    cfg = config(tmp_path, sources=(events_source(path="../../etc/*.parquet"),))
    done = run(tmp_path, cfg)
    assert done.returncode == 2 and "outside the working directory" in done.stderr and "Traceback" not in done.stderr
    escaping = config(tmp_path)
    data = json.loads(escaping.read_text())
    data["output"] = "../elsewhere"
    escaping.write_text(json.dumps(data))
    assert run(tmp_path, escaping).returncode == 2


def test_schema_drift_in_one_file_is_reported_with_the_file(tmp_path: Path) -> None:
    write_parquet(tmp_path, "data/events/a.parquet", event_rows(10))
    renamed = [{("temp_c" if k == "temperature" else k): v for k, v in r.items()} for r in event_rows(10)]
    import pyarrow as pa

    write_parquet(tmp_path, "data/events/b.parquet", pa.Table.from_pylist(renamed))
    write_labels(tmp_path)
    done = run(tmp_path, config(tmp_path))
    assert done.returncode == 1
    assert "data/events/b.parquet: declared column 'temperature' (float) is missing" in done.stderr
    assert "data/events/b.parquet: column 'temp_c' is not declared" in done.stderr
