"""``python -m runtime export-onnx --config export-onnx.json``.

Writes ``<output>/model.onnx`` (calibrated graph), ``<output>/export.json``
(parity, sizes, latency, truncation) and, when the edge is enabled, the
signed bundle ``<output>/edge/`` plus ``<output>/edge-signing-key.pub`` (the
public half, for local verification).  Exit 1 when a gate refuses: parity
above ``parity_tolerance``, a bundle over the size budget that truncation
cannot meet within ``truncation_max_pr_auc_loss``, single-row p99 latency
over ``edge_max_latency_ms``.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sys
from pathlib import Path
from typing import Any

from runtime.contracts.steps import ExportOnnxConfig
from runtime.export.bundle import BundleError, verify_bundle, write_bundle
from runtime.export.convert import ExportError, to_onnx
from runtime.export.golden import GOLDEN, GoldenError, golden_json
from runtime.export.holdout import model_windows
from runtime.export.parity import latency, onnx_scorer, parity
from runtime.export.signing import SigningError, load_signing_key, public_bytes
from runtime.export.truncation import truncate_to_budget
from runtime.training.calibration import Calibrator
from runtime.training.estimators import Fitted
from runtime.training.model_dir import ModelDirError, dump_json, read_model_dir
from runtime.training.table import TableError

__all__ = ["run"]

# Room left in the size budget for manifest.json and manifest.sig.
MANIFEST_ALLOWANCE_BYTES = 4096
# golden.json's rows may change with truncation (the top-scored rows do): slack on its size.
GOLDEN_ALLOWANCE_BYTES = 1024


def _refuse(cfg: ExportOnnxConfig, report: dict[str, Any], reason: str) -> int:
    # A refused export leaves no model behind for a later step to pick up.
    (Path(cfg.output) / "model.onnx").unlink(missing_ok=True)
    shutil.rmtree(Path(cfg.output) / "edge", ignore_errors=True)
    report["passed"] = False
    report["refused"] = reason
    dump_json(Path(cfg.output) / "export.json", report)
    print(f"export-onnx {cfg.model}: REFUSED: {reason} (report: {Path(cfg.output) / 'export.json'})", file=sys.stderr)
    return 1


def run(config: ExportOnnxConfig) -> int:
    try:
        return _run(config)
    except (ModelDirError, TableError, ExportError, SigningError, BundleError, GoldenError) as exc:
        print(f"error: export-onnx {config.model}: {exc}", file=sys.stderr)
        return 1


def _run(cfg: ExportOnnxConfig) -> int:
    md = read_model_dir(Path(cfg.model_dir))
    win = model_windows(md, Path(cfg.input))
    hx, hy = win.x[win.holdout], win.table.y[win.holdout]
    features = md.encoding.features
    meta = {"specops.encoding": json.dumps(md.encoding.to_json(), sort_keys=True), "specops.model": cfg.model, "specops.spec_hash": cfg.spec_hash,
            "specops.threshold": repr(md.threshold.value),
            "specops.training_data_sha256": str(md.training["training_data_sha256"])}

    def export(model: Fitted, cal: Calibrator) -> bytes:
        return to_onnx(model, cal, features, opset=cfg.opset, metadata=meta)

    out = Path(cfg.output)
    out.mkdir(parents=True, exist_ok=True)
    onnx_bytes = export(md.model, md.calibrator)
    score = onnx_scorer(onnx_bytes)
    par = parity(md.predict(hx), score(hx), cfg.parity_tolerance)
    report: dict[str, Any] = {"model": cfg.model, "spec_hash": cfg.spec_hash, "opset": cfg.opset,
                              "onnx_bytes": len(onnx_bytes), "parity": par.to_json(),
                              "latency_single_row": latency(score, hx).to_json(),
                              "calibration": "in-graph (float64)"}
    if not par.ok:
        return _refuse(cfg, report, f"ONNX parity: max |native - onnx| = {par.max_abs_diff:.3g} over {par.rows} holdout "
                                    f"rows, above parity_tolerance {cfg.parity_tolerance:g}")
    (out / "model.onnx").write_bytes(onnx_bytes)
    if cfg.edge_enabled:
        code = _edge(cfg, md, win, onnx_bytes, export, report)
        if code:
            return code
    report["passed"] = True
    dump_json(out / "export.json", report)
    print(f"export-onnx {cfg.model}: parity max |dp| {par.max_abs_diff:.2e} (tolerance {cfg.parity_tolerance:g}), "
          f"{len(onnx_bytes)} bytes" + (f", edge bundle {report['edge']['bundle_bytes']} bytes" if cfg.edge_enabled else ""),
          file=sys.stderr)
    return 0


def _edge(cfg: ExportOnnxConfig, md: Any, win: Any, onnx_bytes: bytes, export: Any, report: dict[str, Any]) -> int:
    out = Path(cfg.output)
    features_json = (json.dumps(md.encoding.to_json(), indent=2, sort_keys=True) + "\n").encode()
    thresholds_json = (json.dumps(md.threshold.to_json(), indent=2, sort_keys=True) + "\n").encode()
    hx = win.x[win.holdout]
    vocab = {f: v for f, v in md.encoding.vocabularies}

    def golden(graph: bytes) -> bytes:
        return golden_json(hx, tuple(md.encoding.features), vocab, onnx_scorer(graph), cfg.edge_max_latency_ms)

    budget = (cfg.edge_max_size_bytes - len(features_json) - len(thresholds_json) - len(golden(onnx_bytes))
              - GOLDEN_ALLOWANCE_BYTES - MANIFEST_ALLOWANCE_BYTES)
    edge: dict[str, Any] = {"max_size_bytes": cfg.edge_max_size_bytes, "truncated": False}
    report["edge"] = edge
    model, cal, edge_onnx = md.model, md.calibrator, onnx_bytes
    if len(onnx_bytes) > budget:
        if not cfg.allow_tree_truncation:
            return _refuse(cfg, report, f"edge bundle: model.onnx is {len(onnx_bytes)} bytes, over the "
                                        f"{budget}-byte room in edge_max_size_bytes {cfg.edge_max_size_bytes}, and "
                                        "tree truncation is not allowed")
        if md.model.algorithm != "lightgbm":
            return _refuse(cfg, report, "edge bundle over budget and only lightgbm models can be truncated")
        cut = truncate_to_budget(md.model, md.calibrator, export, budget,
                                 (win.x[win.valid], win.table.y[win.valid]), (win.x[win.holdout], win.table.y[win.holdout]))
        if cut is None:
            return _refuse(cfg, report, f"edge bundle: even one tree exceeds the {budget}-byte budget")
        edge["truncated"] = True
        edge["truncation"] = {**cut.to_json(), "max_pr_auc_loss": cfg.truncation_max_pr_auc_loss}
        loss = cut.pr_auc_loss
        if loss is None or loss > cfg.truncation_max_pr_auc_loss:
            return _refuse(cfg, report, f"edge bundle: keeping {cut.trees_kept} of {cut.trees_total} trees to fit "
                                        f"{cfg.edge_max_size_bytes} bytes costs {'n/a' if loss is None else f'{loss:.4f}'} "
                                        f"holdout PR-AUC, above the allowed {cfg.truncation_max_pr_auc_loss:g}")
        model, cal, edge_onnx = cut.model, cut.calibrator, cut.onnx
        epar = parity(cal.apply(model.predict(hx)), onnx_scorer(edge_onnx)(hx), cfg.parity_tolerance)
        edge["parity"] = epar.to_json()
        if not epar.ok:
            return _refuse(cfg, report, f"edge ONNX parity {epar.max_abs_diff:.3g} above {cfg.parity_tolerance:g}")
    lat = latency(onnx_scorer(edge_onnx), win.x[win.holdout])
    edge["latency_single_row"] = lat.to_json()
    if lat.p99_ms > cfg.edge_max_latency_ms:
        return _refuse(cfg, report, f"edge single-row p99 latency {lat.p99_ms:.3f} ms above edge_max_latency_ms "
                                    f"{cfg.edge_max_latency_ms:g}")
    key = load_signing_key(cfg.signing_key_file)
    bundle_dir = out / "edge"
    manifest = write_bundle(bundle_dir, {"model.onnx": edge_onnx, "features.json": features_json,
                                         "thresholds.json": thresholds_json, GOLDEN: golden(edge_onnx)},
                            {"model": cfg.model, "spec_hash": cfg.spec_hash,
                             # the release's (cloud) model: an edge runner checks its release names this
                             "release_sha256": hashlib.sha256(onnx_bytes).hexdigest(),
                             "training_data_sha256": md.training["training_data_sha256"],
                             "truncated": edge["truncated"], "parity_max_abs_diff": report["parity"]["max_abs_diff"]
                             if not edge["truncated"] else edge["parity"]["max_abs_diff"]}, key)
    (out / "edge-signing-key.pub").write_text(public_bytes(key.public).hex() + "\n", encoding="utf-8")
    verify_bundle(bundle_dir, key.public, allow_throwaway=True)  # what the edge runner will check
    size = sum(p.stat().st_size for p in bundle_dir.iterdir() if p.is_file())
    edge.update({"bundle_bytes": size, "key_kind": key.kind, "key_id": manifest["key"]["id"]})
    if size > cfg.edge_max_size_bytes:
        return _refuse(cfg, report, f"edge bundle is {size} bytes, over edge_max_size_bytes {cfg.edge_max_size_bytes}")
    if key.kind == "throwaway":
        print(f"export-onnx {cfg.model}: edge bundle signed with a THROWAWAY key (no signing_key_file): "
              "fine for local runs, refused by a production edge runner", file=sys.stderr)
    return 0
