"""The compiled configs of the example model (generated/runtime/pump-failure)
end to end on the embedded generator's data: validate-data -> build-features
-> train -> evaluate -> export-onnx, through the same entry point DVC and
Argo call."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import shutil
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from runtime.cli import main
from runtime.contracts.steps import GeneratorConfig
from runtime.data.generator import generate
from runtime.export.bundle import verify_bundle
from runtime.export.signing import load_public_key

REPO = Path(__file__).resolve().parents[3]
CONFIGS = "generated/runtime/pump-failure"
WORK = Path(".specops/work/pump-failure")
DAYS = 105.0  # 60 d minimum history + 4 folds of 7 d + gaps and validation windows + label maturity


@pytest.fixture(scope="module")
def features(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("real-pipeline")
    shutil.copytree(REPO / "generated", root / "generated")
    data = generate(GeneratorConfig(assets=6, days=DAYS, mean_interval_s=3600.0))
    for name, table in (("events", data.events), ("labels", data.labels)):
        (root / "data" / name).mkdir(parents=True)
        pq.write_table(table, root / "data" / name / "part-0.parquet")
    config = json.loads((root / CONFIGS / "validate-data.json").read_text())
    as_of = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc) + dt.timedelta(days=DAYS)
    config["as_of"] = as_of.isoformat().replace("+00:00", "Z")
    (root / "validate-data.json").write_text(json.dumps(config))
    with contextlib.chdir(root):
        assert main(["validate-data", "--config", "validate-data.json"]) == 0
        assert main(["build-features", "--config", f"{CONFIGS}/build-features.json"]) == 0
    return root


def test_train_evaluate_export_on_the_compiled_configs(features: Path, capsys: pytest.CaptureFixture[str]):
    with contextlib.chdir(features):
        assert main(["train", "--config", f"{CONFIGS}/train.json"]) == 0
        training = json.loads((WORK / "model" / "training.json").read_text())
        lineage = json.loads((WORK / "features" / "lineage.json").read_text())
        assert training["spec_hash"] == lineage["spec_hash"]
        assert training["best_iteration"] <= 400
        # Local runs compare with the local registry's champion; there is none yet.
        main(["evaluate", "--config", f"{CONFIGS}/evaluate.json"])
        report = json.loads((WORK / "reports" / "evaluation.json").read_text())
        assert report["champion"]["status"] == "no champion" and "registry" in report["champion"]["note"]
        # In a cluster the champion is the production release, in object storage this
        # machine cannot reach: the comparison fails closed instead of passing by default.
        cluster = json.loads((Path(CONFIGS) / "evaluate.json").read_text())
        cluster["champion"] = {"name": "pump-failure-1-3-0", "version": "1.3.0", "sha256": "0" * 64,
                               "uri": "s3://acme-ml-artifacts/predictive-maintenance/pump-failure/1.3.0/model.onnx"}
        cluster["champion_alias"] = None
        Path("evaluate-cluster.json").write_text(json.dumps(cluster))
        assert main(["evaluate", "--config", "evaluate-cluster.json"]) == 1
        report = json.loads((WORK / "reports" / "evaluation.json").read_text())
        assert report["champion"]["status"] == "unavailable" and "cannot read the champion model" in report["champion"]["error"]
        assert [g["metric"] for g in report["gates"]] == ["pr_auc", "recall_at_precision", "ece", "onnx_parity_max_abs_diff"]
        assert all(g["value"] is not None for g in report["gates"])
        assert main(["export-onnx", "--config", f"{CONFIGS}/export-onnx.json"]) == 0
        export = json.loads((WORK / "onnx" / "export.json").read_text())
        assert export["parity"]["max_abs_diff"] <= 1e-5 and export["opset"] == 17
        bundle = verify_bundle(WORK / "onnx" / "edge", load_public_key((WORK / "onnx" / "edge-signing-key.pub").read_bytes()),
                               allow_throwaway=True)
        assert bundle.manifest["spec_hash"] == training["spec_hash"]
    assert "Traceback" not in capsys.readouterr().err
