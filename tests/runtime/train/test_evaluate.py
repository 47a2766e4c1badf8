"""The evaluate step: declared gates and champion/challenger, exit 1 with a
report when refused."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from train_steps import evaluate_config, export_config, run_step, train_config


def _report(root: Path) -> dict:
    return json.loads((root / "reports" / "evaluation.json").read_text())


def _stderr(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return err


def _champion_from(root: Path, tmp: Path) -> dict:
    """Export ``root``'s model and describe it as a release (local file URI)."""
    assert run_step(root, "export-onnx", export_config(root, edge_enabled=False)) == 0
    path = tmp / "champion" / "model.onnx"
    path.parent.mkdir(parents=True)
    shutil.copy(root / "onnx" / "model.onnx", path)
    return {"name": "pump-failure-1-3-0", "version": "1.3.0", "uri": path.as_uri(),
            "sha256": hashlib.sha256(path.read_bytes()).hexdigest()}


def test_gates_pass_and_no_champion_is_recorded(work: Path, capsys: pytest.CaptureFixture[str]):
    cfg = evaluate_config(work, gates=[*evaluate_config(work)["gates"], {"metric": "slice_pr_auc_min", "min": 0.05},
                                       {"metric": "latency_p99_ms", "max": 50.0}])
    assert run_step(work, "evaluate", cfg) == 0
    report = _report(work)
    assert report["passed"] and report["champion"] == {"status": "no champion", "passed": True,
                                                        "note": "no champion release in the production environment"}
    gates = {g["metric"]: g for g in report["gates"]}
    assert gates["onnx_parity_max_abs_diff"]["value"] <= 1e-5
    assert set(report["slices"]) == {"centrifugal", "piston", "screw"}
    assert "PASS  pr_auc = " in _stderr(capsys)


def test_a_failed_gate_exits_1_with_report_and_summary(work: Path, capsys: pytest.CaptureFixture[str]):
    cfg = evaluate_config(work, gates=[{"metric": "pr_auc", "min": 0.99}, {"metric": "ece", "max": 0.05}])
    assert run_step(work, "evaluate", cfg) == 1
    report = _report(work)
    assert not report["passed"]
    pr = report["gates"][0]
    assert pr["passed"] is False and pr["value"] < 0.99
    err = _stderr(capsys)
    assert "FAIL  pr_auc = " in err and "(needs >= 0.99)" in err and "REFUSED" in err


def test_a_degraded_challenger_is_refused_against_the_champion(work: Path, tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]):
    champion = _champion_from(work, tmp_path)
    # The challenger learns from labels shuffled over its training rows only;
    # validation and holdout rows (and so the comparison window) are untouched.
    fit_until = json.loads((work / "model" / "training.json").read_text())["fit"]["until"]
    table = pq.read_table(work / "features" / "part-000.parquet")
    t = table.column("cut_time").cast(pa.int64()).to_numpy() / 1e6
    labels = table.column("label").to_numpy(zero_copy_only=False).copy()
    early = np.flatnonzero(t <= fit_until)
    labels[early] = np.random.default_rng(5).permutation(labels[early])
    pq.write_table(table.set_column(table.schema.get_field_index("label"), "label", pa.array(labels)),
                   work / "features" / "part-000.parquet")
    assert run_step(work, "train", train_config(work)) == 0
    assert run_step(work, "evaluate", evaluate_config(work, gates=[], champion=champion)) == 1
    report = _report(work)
    c = report["champion"]
    assert c["status"] == "compared" and c["passed"] is False
    assert c["challenger"] < c["champion"] - 0.01 and c["delta"] < -0.01
    assert f"FAIL  champion {champion['name']}: pr_auc challenger" in _stderr(capsys)


def test_the_same_model_as_champion_passes(work: Path, tmp_path: Path):
    champion = _champion_from(work, tmp_path)
    assert run_step(work, "evaluate", evaluate_config(work, champion=champion)) == 0
    c = _report(work)["champion"]
    assert c["status"] == "compared" and c["passed"] and abs(c["delta"]) < 1e-4


def test_an_unverifiable_champion_fails_the_comparison(work: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    champion = _champion_from(work, tmp_path)
    assert run_step(work, "evaluate", evaluate_config(work, champion={**champion, "sha256": "0" * 64})) == 1
    assert "does not match the release" in _report(work)["champion"]["error"]
    unreachable = {**champion, "uri": (tmp_path / "nowhere.onnx").as_uri()}
    assert run_step(work, "evaluate", evaluate_config(work, champion=unreachable)) == 1
    assert _report(work)["champion"]["status"] == "unavailable"
    assert "cannot read the champion model" in _stderr(capsys)


def test_a_changed_table_is_refused(work: Path, capsys: pytest.CaptureFixture[str]):
    table = pq.read_table(work / "features" / "part-000.parquet")
    pq.write_table(table.slice(0, table.num_rows - 10), work / "features" / "part-000.parquet")
    assert run_step(work, "evaluate", evaluate_config(work)) == 1
    assert "the training table changed since the model was trained" in _stderr(capsys)


def test_missing_model_dir_exits_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    assert run_step(tmp_path, "evaluate", evaluate_config(tmp_path)) == 1
    assert "model directory not found (run the train step first)" in _stderr(capsys)


def test_an_unexportable_model_fails_the_parity_gate_with_the_reason(work: Path, capsys: pytest.CaptureFixture[str]):
    assert run_step(work, "train", train_config(work, algorithm="logistic_regression", params={}, baseline=None)) == 0
    assert run_step(work, "evaluate", evaluate_config(work, gates=[{"metric": "pr_auc", "min": 0.01},
                                                                  {"metric": "onnx_parity_max_abs_diff", "max": 1e-5}])) == 1
    gates = {g["metric"]: g for g in _report(work)["gates"]}
    assert gates["pr_auc"]["passed"] and gates["onnx_parity_max_abs_diff"]["value"] is None
    assert "ONNX export supports lightgbm models" in gates["onnx_parity_max_abs_diff"]["note"]
    assert "FAIL  onnx_parity_max_abs_diff = n/a" in _stderr(capsys)
