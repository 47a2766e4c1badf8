"""Fixtures for the training, evaluation and export steps: a synthetic
training table, step configs in the compiled shape, and one trained model
shared (read-only) by the tests that only read it."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from train_synthetic import FEATURES, write_table

from runtime.cli import main

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


@pytest.fixture(scope="session")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A work dir with features/ and a trained model/ (do not modify; copy it)."""
    root = tmp_path_factory.mktemp("trained")
    write_table(root / "features")
    assert run_step(root, "train", train_config(root)) == 0
    return root


@pytest.fixture
def work(trained: Path, tmp_path: Path) -> Path:
    """A private copy of the trained work dir."""
    root = tmp_path / "work"
    shutil.copytree(trained, root)
    return root


@pytest.fixture
def step() -> Callable[[Path, str, dict[str, Any]], int]:
    return run_step
