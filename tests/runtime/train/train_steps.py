"""Step configs in the compiled shape and a runner, for the train/evaluate/
export tests (a plain module: ``conftest`` is ambiguous across test folders)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from train_synthetic import FEATURES

from runtime.cli import main

__all__ = ["DAY", "evaluate_config", "export_config", "run_step", "train_config"]

DAY = 86400.0


def _common(root: Path) -> dict[str, Any]:
    return {"api_version": "runtime.specops.dev/v1alpha1", "model": "pump-failure", "spec_hash": "ab" * 32,
            "artifacts": {"uri": str(root / "artifacts")}, "work_dir": str(root)}


def train_config(root: Path, **over: Any) -> dict[str, Any]:
    return {**_common(root), "step": "train", "features": list(FEATURES), "algorithm": "lightgbm",
            "params": {"num_leaves": 15, "learning_rate": 0.05, "n_estimators": 300, "min_child_samples": 20},
            "seed": 7, "baseline": "logistic_regression", "baseline_params": {"C": 1.0},
            "imbalance": "scale_pos_weight", "folds": 3, "test_window_s": 7 * DAY, "gap_s": DAY,
            "min_train_window_s": 60 * DAY, "early_stopping_rounds": 30, "calibration": "isotonic",
            "threshold_strategy": "cost", "false_negative_cost": 50.0, "false_positive_cost": 1.0,
            "input": str(root / "features"), "output": str(root / "model"), "slice_column": "asset_type", **over}


def evaluate_config(root: Path, **over: Any) -> dict[str, Any]:
    return {**_common(root), "step": "evaluate",
            "gates": [{"metric": "pr_auc", "min": 0.15}, {"metric": "recall_at_precision", "at": 0.3, "min": 0.1},
                      {"metric": "ece", "max": 0.05}, {"metric": "onnx_parity_max_abs_diff", "max": 1e-5}],
            "challenger_metric": "pr_auc", "challenger_tolerance": 0.01, "slice_column": "asset_type",
            "input": str(root / "features"), "model_dir": str(root / "model"),
            "output": str(root / "reports" / "evaluation.json"), **over}


def export_config(root: Path, **over: Any) -> dict[str, Any]:
    return {**_common(root), "step": "export-onnx", "opset": 17, "parity_tolerance": 1e-5, "edge_enabled": True,
            "edge_max_size_bytes": 2 * 1024 * 1024, "edge_max_latency_ms": 10.0, "allow_tree_truncation": False,
            "model_dir": str(root / "model"), "input": str(root / "features"), "output": str(root / "onnx"), **over}


def run_step(root: Path, step: str, config: dict[str, Any]) -> int:
    path = root / f"{step}.json"
    path.write_text(json.dumps(config), encoding="utf-8")
    return main([step, "--config", str(path)])
