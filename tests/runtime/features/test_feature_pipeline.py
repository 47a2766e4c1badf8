"""The real pipeline on the embedded generator's data: validate-data, then
build-features and parity with the compiled configs in generated/runtime;
parity reports 0 mismatches on the default data and catches injected skew."""

from __future__ import annotations

import contextlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

import runtime.features.online as online
from runtime.cli import main
from runtime.contracts.steps import GeneratorConfig
from runtime.data.generator import generate
from runtime.features.training import CUT_TIME, LABEL

REPO = Path(__file__).resolve().parents[3]
CONFIGS = "generated/runtime/pump-failure"
WORK = Path(".specops/work/pump-failure")


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A scratch repository with generated data and a validated snapshot."""
    root = tmp_path_factory.mktemp("pipeline")
    shutil.copytree(REPO / "generated", root / "generated")
    data = generate(GeneratorConfig(assets=6, days=21, null_rate=0.02, duplicate_rate=0.005, out_of_order_rate=0.05,
                                    late_rate=0.01))
    for name, table in (("events", data.events), ("labels", data.labels)):
        (root / "data" / name).mkdir(parents=True)
        pq.write_table(table, root / "data" / name / "part-0.parquet")
    config = json.loads((root / CONFIGS / "validate-data.json").read_text())
    config["as_of"] = "2026-01-22T00:00:00Z"  # the data's "now" (freshness is checked against it)
    (root / "validate-data.json").write_text(json.dumps(config))
    with contextlib.chdir(root):
        assert main(["validate-data", "--config", "validate-data.json"]) == 0
    return root


def run_step(root: Path, step: str) -> int:
    with contextlib.chdir(root):
        return main([step, "--config", f"{CONFIGS}/{step}.json"])


def test_parity_reports_zero_mismatches_on_the_default_data(pipeline: Path, capsys) -> None:
    assert run_step(pipeline, "parity") == 0
    report = json.loads((pipeline / WORK / "reports/parity.json").read_text())
    assert report["ok"] is True and report["mismatch_count"] == 0
    assert report["samples"] > 1000 and report["values_compared"] > 20 * report["samples"]
    assert report["max_rel_error"] <= 1e-9
    assert "0 mismatch(es)" in capsys.readouterr().out


def test_an_online_window_boundary_off_by_one_event_is_caught(pipeline: Path, monkeypatch, capsys) -> None:
    def one_too_many(series, at, window_us):
        lo, hi = series.bounds(at - window_us, at)
        return max(lo - 1, 0), hi  # the event just before the window slips in

    monkeypatch.setattr(online, "window_bounds", one_too_many)
    assert run_step(pipeline, "parity") == 1
    report = json.loads((pipeline / WORK / "reports/parity.json").read_text())
    counts = [m for m in report["mismatches"] if m["feature"] == "events_count_1h"]
    assert counts, "the off-by-one count was not reported"
    assert all(m["online"] == m["batch"] + 1 for m in counts)
    first = report["mismatches"][0]
    assert set(first) == {"feature_set", "entity", "time", "feature", "batch", "online"}
    err = capsys.readouterr().err
    assert f"entity {first['entity']!r} at {first['time']}: {first['feature']}" in err


def test_a_different_null_handling_online_is_caught(pipeline: Path, monkeypatch) -> None:
    real = online._plain
    monkeypatch.setattr(online, "_plain", lambda v: 0.0 if v is None else real(v))  # missing reading read as 0
    assert run_step(pipeline, "parity") == 1
    report = json.loads((pipeline / WORK / "reports/parity.json").read_text())
    features = {m["feature"] for m in report["mismatches"]}
    assert features & {"vibration_mean_24h", "temperature_mean_24h", "pressure_min_24h", "vibration_std_7d"}
    assert all(m["entity"].startswith("A") and m["time"].endswith("Z") for m in report["mismatches"])


def test_build_features_writes_the_point_in_time_training_table(pipeline: Path) -> None:
    assert run_step(pipeline, "build-features") == 0
    config = json.loads((pipeline / CONFIGS / "build-features.json").read_text())
    table = pq.read_table(pipeline / WORK / "features/training.parquet")
    assert table.column_names == ["asset_id", CUT_TIME, *config["features"], LABEL]
    assert table.schema.field(CUT_TIME).type == pa.timestamp("us", tz="UTC")
    lineage = json.loads((pipeline / WORK / "features/lineage.json").read_text())
    assert json.loads(table.schema.metadata[b"specops.lineage"]) == lineage
    snapshot = pipeline / WORK / "validated"
    import hashlib

    for name, entry in lineage["inputs"].items():
        assert entry["sha256"] == hashlib.sha256((snapshot / f"{name}.parquet").read_bytes()).hexdigest()
    # Every row's label is mature at the table cut: t + horizon + delay <= cut.
    cut = pc.max(table.column(CUT_TIME)).as_py()
    horizon, delay = config["label"]["horizon_s"], config["label"]["availability_delay_s"]
    from datetime import datetime

    table_cut = datetime.fromisoformat(lineage["table_cut_time"].replace("Z", "+00:00"))
    assert (table_cut - cut).total_seconds() >= horizon + delay
    assert 0 < lineage["positives"] < lineage["rows"] and lineage["rows"] == table.num_rows
    assert lineage["rows_left_out_immature_label"] > 0


def test_training_table_bytes_are_reproducible(pipeline: Path) -> None:
    assert run_step(pipeline, "build-features") == 0
    first = (pipeline / WORK / "features/training.parquet").read_bytes()
    assert run_step(pipeline, "build-features") == 0
    assert (pipeline / WORK / "features/training.parquet").read_bytes() == first


def test_the_real_entry_point_exits_1_on_missing_input(tmp_path: Path) -> None:
    shutil.copytree(REPO / "generated", tmp_path / "generated")
    proc = subprocess.run([sys.executable, "-m", "runtime", "parity", "--config", f"{CONFIGS}/parity.json"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1
    assert "no validated data for source 'sensor-events' (run validate-data first)" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_build_features_refuses_a_feature_from_the_label(pipeline: Path, tmp_path: Path, capsys) -> None:
    config = json.loads((pipeline / CONFIGS / "build-features.json").read_text())
    config["feature_sets"][0]["attributes"].append("failed")  # the label's outcome column as a feature
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(config))
    with contextlib.chdir(pipeline):
        assert main(["build-features", "--config", str(path)]) == 1
    err = capsys.readouterr().err
    assert "build-features refused: feature set 'asset-health', attribute 'failed'" in err
    assert "label's outcome column" in err and "Traceback" not in err


def test_build_features_names_a_missing_column(pipeline: Path, tmp_path: Path, capsys) -> None:
    snapshot = tmp_path / "validated"
    shutil.copytree(pipeline / WORK / "validated", snapshot)
    events = pq.read_table(snapshot / "sensor-events.parquet")
    pq.write_table(events.drop_columns(["vibration"]), snapshot / "sensor-events.parquet")
    config = json.loads((pipeline / CONFIGS / "build-features.json").read_text())
    config["input"], config["output"] = str(snapshot), str(tmp_path / "features")
    path = tmp_path / "cfg.json"
    path.write_text(json.dumps(config))
    with contextlib.chdir(pipeline):
        assert main(["build-features", "--config", str(path)]) == 1
    err = capsys.readouterr().err
    assert "source 'sensor-events': missing column(s) vibration needed by feature set 'asset-health'" in err
    assert not (tmp_path / "features").exists()  # nothing half-written
