"""export-onnx: parity measured on the holdout, the signed edge bundle and
its verification, the size budget and truncation."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import onnx
import pytest
from train_steps import export_config, run_step, train_config
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from runtime.export.bundle import BundleError, verify_bundle
from runtime.export.signing import load_public_key


def _report(root: Path) -> dict:
    return json.loads((root / "onnx" / "export.json").read_text())


def _stderr(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return err


def _trusted(root: Path):
    return load_public_key((root / "onnx" / "edge-signing-key.pub").read_bytes())


@pytest.mark.parametrize("calibration", ["isotonic", "sigmoid", "none"])
def test_parity_is_measured_within_1e_5(work: Path, calibration: str):
    if calibration != "isotonic":
        assert run_step(work, "train", train_config(work, calibration=calibration, baseline=None)) == 0
    assert run_step(work, "export-onnx", export_config(work, edge_enabled=False)) == 0
    parity = _report(work)["parity"]
    assert parity["rows"] == 560 and parity["max_abs_diff"] <= 1e-5 and parity["passed"]


def test_the_graph_is_self_contained_and_deterministic(work: Path, tmp_path: Path):
    assert run_step(work, "export-onnx", export_config(work, edge_enabled=False)) == 0
    first = (work / "onnx" / "model.onnx").read_bytes()
    assert run_step(work, "export-onnx", export_config(work, edge_enabled=False)) == 0
    assert (work / "onnx" / "model.onnx").read_bytes() == first
    model = onnx.load_from_string(first)
    ops = {n.op_type for n in model.graph.node}
    assert "ZipMap" not in ops and "TreeEnsembleRegressor" in ops
    assert [o.name for o in model.graph.output] == ["probability"]
    assert next(o.version for o in model.opset_import if o.domain == "") == 17
    meta = {p.key: p.value for p in model.metadata_props}
    assert meta["specops.calibration"] == "isotonic" and json.loads(meta["specops.features"])[0] == "asset_type"


def test_edge_bundle_verifies_and_records_a_throwaway_key(work: Path, capsys: pytest.CaptureFixture[str]):
    assert run_step(work, "export-onnx", export_config(work)) == 0
    assert "THROWAWAY key" in _stderr(capsys)
    bundle = work / "onnx" / "edge"
    verified = verify_bundle(bundle, _trusted(work), allow_throwaway=True)
    m = verified.manifest
    assert m["spec_hash"] == "ab" * 32 and m["key"]["kind"] == "throwaway"
    assert set(m["files"]) == {"model.onnx", "features.json", "thresholds.json", "golden.json"}
    assert m["release_sha256"] == hashlib.sha256((work / "onnx" / "model.onnx").read_bytes()).hexdigest()
    # A production edge runner does not accept a locally signed bundle.
    with pytest.raises(BundleError, match="throwaway key"):
        verify_bundle(bundle, _trusted(work))
    edge = _report(work)["edge"]
    assert edge["bundle_bytes"] <= 2 * 1024 * 1024 and edge["truncated"] is False


@pytest.mark.parametrize("tamper, message", [
    (lambda b: (b / "model.onnx").write_bytes((b / "model.onnx").read_bytes()[:-1] + b"\0"), "was altered after signing"),
    (lambda b: (b / "thresholds.json").write_text('{"strategy": "fixed", "value": 0.99}\n'), "was altered after signing"),
    (lambda b: (b / "manifest.json").write_text((b / "manifest.json").read_text().replace('"truncated": false',
                                                                                           '"truncated": true')),
     "signature does not verify"),
    (lambda b: (b / "extra.onnx").write_bytes(b"x"), "files not in the signed manifest: extra.onnx"),
    (lambda b: (b / "features.json").unlink(), "features.json: listed in the manifest but missing"),
    (lambda b: (b / "manifest.sig").unlink(), "incomplete bundle"),
])
def test_tampering_is_detected(work: Path, tamper, message: str):
    assert run_step(work, "export-onnx", export_config(work)) == 0
    tamper(work / "onnx" / "edge")
    with pytest.raises(BundleError, match=message):
        verify_bundle(work / "onnx" / "edge", _trusted(work), allow_throwaway=True)


def test_signing_with_a_secret_key_file(work: Path, tmp_path: Path):
    key = Ed25519PrivateKey.generate()
    key_file = tmp_path / "edge-signing.pem"
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    assert run_step(work, "export-onnx", export_config(work, signing_key_file=str(key_file))) == 0
    verified = verify_bundle(work / "onnx" / "edge", key.public_key())
    assert verified.manifest["key"]["kind"] == "secret"
    with pytest.raises(BundleError, match="signature does not verify with the trusted key"):
        verify_bundle(work / "onnx" / "edge", Ed25519PrivateKey.generate().public_key())


def test_unreadable_signing_key_exits_1(work: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    assert run_step(work, "export-onnx", export_config(work, signing_key_file=str(tmp_path / "none.pem"))) == 1
    assert "cannot read the signing key" in _stderr(capsys)
    (tmp_path / "bad.pem").write_text("not a key")
    assert run_step(work, "export-onnx", export_config(work, signing_key_file=str(tmp_path / "bad.pem"))) == 1
    assert "not an unencrypted PEM private key" in _stderr(capsys)


def test_truncation_meets_the_budget_and_reports_the_cost(work: Path):
    full = 74_111 + 8_000
    cfg = export_config(work, edge_max_size_bytes=full // 2 + 10_000, allow_tree_truncation=True,
                        truncation_max_pr_auc_loss=0.5)
    assert run_step(work, "export-onnx", cfg) == 0
    edge = _report(work)["edge"]
    t = edge["truncation"]
    assert edge["truncated"] and t["trees_kept"] < t["trees_total"]
    assert edge["bundle_bytes"] <= cfg["edge_max_size_bytes"]
    assert t["pr_auc_loss"] == pytest.approx(t["pr_auc_full"] - t["pr_auc_truncated"])
    assert edge["parity"]["max_abs_diff"] <= 1e-5
    verify_bundle(work / "onnx" / "edge", _trusted(work), allow_throwaway=True)


def test_truncation_costing_too_much_is_refused(work: Path, capsys: pytest.CaptureFixture[str]):
    cfg = export_config(work, edge_max_size_bytes=30_000, allow_tree_truncation=True, truncation_max_pr_auc_loss=0.01)
    assert run_step(work, "export-onnx", cfg) == 1
    err = _stderr(capsys)
    assert "REFUSED: edge bundle: keeping" in err and "holdout PR-AUC, above the allowed 0.01" in err
    assert not (work / "onnx" / "model.onnx").exists() and not (work / "onnx" / "edge").exists()
    assert _report(work)["passed"] is False


def test_over_budget_without_truncation_is_refused(work: Path, capsys: pytest.CaptureFixture[str]):
    assert run_step(work, "export-onnx", export_config(work, edge_max_size_bytes=30_000)) == 1
    assert "tree truncation is not allowed" in _stderr(capsys)


def test_parity_above_tolerance_is_refused(work: Path, capsys: pytest.CaptureFixture[str]):
    assert run_step(work, "export-onnx", export_config(work, parity_tolerance=1e-15)) == 1
    err = _stderr(capsys)
    assert "REFUSED: ONNX parity: max |native - onnx| = " in err and "above parity_tolerance 1e-15" in err
    assert _report(work)["parity"]["passed"] is False


def test_latency_budget_is_gated(work: Path, capsys: pytest.CaptureFixture[str]):
    assert run_step(work, "export-onnx", export_config(work, edge_max_latency_ms=1e-6)) == 1
    assert "single-row p99 latency" in _stderr(capsys)


def test_a_logistic_model_is_refused_clearly(work: Path, capsys: pytest.CaptureFixture[str]):
    assert run_step(work, "train", train_config(work, algorithm="logistic_regression", params={}, baseline=None)) == 0
    assert run_step(work, "export-onnx", export_config(work)) == 1
    assert "ONNX export supports lightgbm models; this model is logistic_regression" in _stderr(capsys)


def test_missing_model_dir_exits_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    shutil.rmtree(tmp_path, ignore_errors=True)
    tmp_path.mkdir()
    assert run_step(tmp_path, "export-onnx", export_config(tmp_path)) == 1
    assert "model directory not found" in _stderr(capsys)
