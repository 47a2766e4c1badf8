"""`dvc repro` of the committed dvc.yaml really runs generate-data and
validate-data (the embedded sample data, end to end), and a second run is a
cache hit that changes nothing."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import yaml

REPO = Path(__file__).resolve().parents[3]
BIN = Path(sys.executable).parent


def _dvc(work: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}", DVC_NO_ANALYTICS="1")
    return subprocess.run([str(BIN / "dvc"), *args], cwd=work, env=env, capture_output=True, text=True, timeout=600)


def test_generated_dvc_pipeline_is_consistent() -> None:
    stages = yaml.safe_load((REPO / "dvc.yaml").read_text(encoding="utf-8"))["stages"]
    generate = stages["sample-data-generate-data"]
    validate = stages["pump-failure-validate-data"]
    data_deps = [d for d in validate["deps"] if not d.startswith("generated/")]
    assert sorted(generate["outs"]) == sorted(data_deps) == ["data/events", "data/labels"]


def test_dvc_repro_runs_the_data_stages_and_then_hits_the_cache(tmp_path: Path) -> None:
    work = tmp_path / "repo"
    work.mkdir()
    shutil.copy(REPO / "dvc.yaml", work / "dvc.yaml")
    shutil.copytree(REPO / "generated" / "runtime", work / "generated" / "runtime")
    # The golden cases hold other systems' dvc.yaml (with gs:// and s3:// paths):
    # the committed .dvcignore keeps DVC to the root pipeline.
    shutil.copytree(REPO / "tests" / "golden", work / "tests" / "golden")
    shutil.copy(REPO / ".dvcignore", work / ".dvcignore")
    init = _dvc(work, "init", "--no-scm")
    assert init.returncode == 0, init.stderr

    first = _dvc(work, "repro", "pump-failure-validate-data")
    assert first.returncode == 0, first.stdout + first.stderr
    assert "Running stage 'sample-data-generate-data'" in first.stdout
    assert "Running stage 'pump-failure-validate-data'" in first.stdout
    snapshot = work / ".specops/work/pump-failure/validated"
    lineage = json.loads((snapshot / "lineage.json").read_text())
    events = next(d for d in lineage["datasets"] if d["name"] == "sensor-events")
    assert events["rows_in"] > 100_000 and events["quarantined"] > 0  # the configured faults were caught
    assert events["rows_in"] == events["rows_out"] + events["quarantined"] + events["dropped"]
    assert pq.read_metadata(snapshot / "sensor-events.parquet").num_rows == events["rows_out"]
    lock = yaml.safe_load((work / "dvc.lock").read_text())["stages"]
    assert {"sample-data-generate-data", "pump-failure-validate-data"} <= set(lock)

    before = (snapshot / "sensor-events.parquet").read_bytes()
    second = _dvc(work, "repro", "pump-failure-validate-data")
    assert second.returncode == 0, second.stderr
    assert "Running stage" not in second.stdout
    assert "didn't change, skipping" in second.stdout or "up to date" in second.stdout
    assert (snapshot / "sensor-events.parquet").read_bytes() == before
