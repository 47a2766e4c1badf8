"""The train step: imbalance, calibration, thresholds, determinism, the
model directory, and refusals with clear messages."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from train_steps import run_step, train_config
from train_synthetic import make_table, write_table

from runtime.training.imbalance import resample
from runtime.training.threshold import ThresholdError, choose_threshold


def _json(path: Path) -> dict:
    return json.loads(path.read_text())


def test_lightgbm_beats_the_logistic_baseline_on_pr_auc(trained: Path):
    metrics = _json(trained / "model" / "metrics.json")
    assert metrics["holdout"]["pr_auc"] > metrics["baseline"]["pr_auc"] + 0.1, metrics
    assert metrics["backtest_mean"]["pr_auc"] > metrics["baseline_backtest_mean"]["pr_auc"] + 0.05, metrics
    # The positive class is rare, and the PR-AUC far above its base rate.
    h = metrics["holdout"]
    assert h["positives"] / h["rows"] < 0.05 and h["pr_auc"] > 5 * h["positives"] / h["rows"]


def test_the_model_directory_is_complete_and_traceable(trained: Path):
    model = trained / "model"
    for name in ("model.txt", "calibrator.json", "threshold.json", "features.json", "metrics.json", "backtest.json",
                 "training.json"):
        assert (model / name).is_file(), name
    training = _json(model / "training.json")
    data = (trained / "features" / "part-000.parquet").read_bytes()
    expected = hashlib.sha256(f"part-000.parquet\0{hashlib.sha256(data).hexdigest()}\n".encode()).hexdigest()
    assert training["training_data_sha256"] == expected
    assert training["spec_hash"] == "ab" * 32 and training["seed"] == 7
    assert [f["name"] for f in _json(model / "features.json")["features"]][:2] == ["asset_type", "criticality"]
    assert _json(model / "features.json")["features"][0]["vocabulary"] == ["centrifugal", "piston", "screw"]
    metrics = _json(model / "metrics.json")["holdout"]
    assert set(metrics["slices"]) == {"centrifugal", "piston", "screw"}
    for key in ("pr_auc", "roc_auc", "recall_at_precision_0.5", "brier", "ece", "best_iteration"):
        assert metrics[key] is not None, key
    # Early stopping on the later window stopped before the declared 300 rounds.
    assert metrics["best_iteration"] < 300


def test_training_is_deterministic(trained: Path, tmp_path: Path):
    shutil.copytree(trained / "features", tmp_path / "features")
    assert run_step(tmp_path, "train", train_config(tmp_path)) == 0
    for name in ("model.txt", "calibrator.json", "threshold.json", "metrics.json", "backtest.json", "reference.json"):
        assert (tmp_path / "model" / name).read_bytes() == (trained / "model" / name).read_bytes(), name


def test_the_model_directory_carries_the_drift_reference_profile(trained: Path):
    from runtime.monitoring.reference import CategoricalReference, NumericReference, profile_from_json

    profile = profile_from_json((trained / "model" / "reference.json").read_text())
    features = [f["name"] for f in _json(trained / "model" / "features.json")["features"]]
    assert [f.name for f in profile.features] == features
    assert isinstance(profile.feature("asset_type"), CategoricalReference)
    assert set(profile.feature("asset_type").categories) == {"centrifugal", "piston", "screw"}
    numeric = [f for f in profile.features if isinstance(f, NumericReference)]
    assert numeric and all(len(f.sample) <= 2000 and abs(sum(f.fractions) - 1) < 1e-9 for f in numeric)
    # the score reference is the calibrated holdout: as many rows as the holdout metrics count
    assert profile.score is not None
    assert profile.score.rows == _json(trained / "model" / "metrics.json")["holdout"]["rows"]


def test_isotonic_calibration_on_the_later_window_fixes_weighted_probabilities(trained: Path, tmp_path: Path):
    shutil.copytree(trained / "features", tmp_path / "features")
    assert run_step(tmp_path, "train", train_config(tmp_path, calibration="none", baseline=None)) == 0
    raw = _json(tmp_path / "model" / "metrics.json")["holdout"]
    calibrated = _json(trained / "model" / "metrics.json")["holdout"]
    # scale_pos_weight inflates every probability; the calibrator brings them back.
    assert raw["ece"] > 0.1 and calibrated["ece"] < 0.03, (raw["ece"], calibrated["ece"])
    assert calibrated["brier"] < raw["brier"]


def test_undersampling_keeps_the_ratio_and_corrects_the_weights():
    y = np.array([1] * 20 + [0] * 980)
    rs = resample(y, "undersample", negative_ratio=5.0, seed=3, native_scale_pos_weight=True)
    kept_y = y[rs.rows]
    assert kept_y.sum() == 20 and (kept_y == 0).sum() == 100
    assert rs.weight is not None and rs.weight[kept_y == 0].sum() == pytest.approx(980)  # the full negative mass
    assert list(rs.rows) == sorted(rs.rows)  # time order kept
    spw = resample(y, "scale_pos_weight", negative_ratio=None, seed=3, native_scale_pos_weight=True)
    assert spw.scale_pos_weight == pytest.approx(49.0) and spw.weight is None


@pytest.mark.parametrize("strategy", ["none", "class_weight", "undersample"])
def test_each_imbalance_strategy_trains(trained: Path, tmp_path: Path, strategy: str):
    shutil.copytree(trained / "features", tmp_path / "features")
    assert run_step(tmp_path, "train", train_config(tmp_path, imbalance=strategy, negative_ratio=10.0, baseline=None)) == 0
    backtest = _json(tmp_path / "model" / "backtest.json")
    assert backtest["folds"][-1]["resampling"]["strategy"] == strategy
    if strategy == "undersample":
        rs = backtest["folds"][-1]["resampling"]
        assert rs["negatives_kept"] < rs["negatives_total"]
    assert _json(tmp_path / "model" / "metrics.json")["holdout"]["pr_auc"] > 0.15


def test_cost_threshold_minimizes_the_declared_cost():
    rng = np.random.default_rng(0)
    y = (rng.random(2000) < 0.05).astype(int)
    p = np.clip(0.05 + 0.4 * y + rng.normal(0, 0.15, 2000), 0, 1)
    thr = choose_threshold(p, y, strategy="cost", fn_cost=50, fp_cost=1)
    brute = min(((p >= t) & (y == 0)).sum() * 1 + ((p < t) & (y == 1)).sum() * 50 for t in np.unique(p))
    assert dict(thr.detail)["validation_cost"] == brute
    tp = choose_threshold(p, y, strategy="target_precision", target_precision=0.6)
    assert y[p >= tp.value].mean() >= 0.6
    with pytest.raises(ThresholdError, match="no threshold reaches the target precision 1"):
        choose_threshold(np.full(100, 0.5), np.array([0, 1] * 50), strategy="target_precision", target_precision=1.0)


def test_logistic_regression_as_the_primary_algorithm(trained: Path, tmp_path: Path):
    shutil.copytree(trained / "features", tmp_path / "features")
    assert run_step(tmp_path, "train", train_config(tmp_path, algorithm="logistic_regression", params={"C": 0.5},
                                                    baseline=None, early_stopping_rounds=None)) == 0
    assert (tmp_path / "model" / "model.json").is_file()


# ------------------------------------------------------------------ refusals

def _stderr(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return err


def test_missing_table_exits_1_naming_the_step_to_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    assert run_step(tmp_path, "train", train_config(tmp_path)) == 1
    assert "training table not found (run the build-features step first)" in _stderr(capsys)


def test_missing_feature_column_exits_1_naming_it(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    write_table(tmp_path / "features", days=90)
    cfg = train_config(tmp_path, features=["asset_type", "vibration_mean_1h"])
    assert run_step(tmp_path, "train", cfg) == 1
    err = _stderr(capsys)
    assert "part-000.parquet: training table lacks column(s) vibration_mean_1h" in err


def test_short_history_exits_1_with_the_numbers(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    write_table(tmp_path / "features", days=50)
    assert run_step(tmp_path, "train", train_config(tmp_path)) == 1
    assert "less than minTrainWindow (60.0 days)" in _stderr(capsys)


def test_no_positive_rows_exits_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    write_table(tmp_path / "features", base_rate=-60.0)
    assert run_step(tmp_path, "train", train_config(tmp_path)) == 1
    assert "has no positive rows" in _stderr(capsys)


def test_null_labels_exit_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    table = make_table(days=90)
    labels = table.column("label").to_pylist()
    labels[5] = None
    (tmp_path / "features").mkdir()
    pq.write_table(table.set_column(table.schema.get_field_index("label"), "label",
                                    __import__("pyarrow").array(labels)), tmp_path / "features" / "x.parquet")
    assert run_step(tmp_path, "train", train_config(tmp_path)) == 1
    assert "1 null labels" in _stderr(capsys)


def test_invalid_config_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    assert run_step(tmp_path, "train", train_config(tmp_path, imbalance="smote")) == 2
    err = _stderr(capsys)
    assert "invalid train config: imbalance" in err


def test_runtime_fixed_lightgbm_params_are_refused(trained: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    shutil.copytree(trained / "features", tmp_path / "features")
    assert run_step(tmp_path, "train", train_config(tmp_path, params={"num_threads": 8, "n_estimators": 10})) == 1
    assert "algorithm.params.num_threads is fixed by the runtime" in _stderr(capsys)


def test_real_entry_point(trained: Path, tmp_path: Path):
    import subprocess
    import sys

    shutil.copytree(trained / "features", tmp_path / "features")
    cfg = tmp_path / "train.json"
    cfg.write_text(json.dumps(train_config(tmp_path, baseline=None)))
    res = subprocess.run([sys.executable, "-m", "runtime", "train", "--config", str(cfg)], capture_output=True,
                         text=True, cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert "train pump-failure: 3 folds" in res.stderr and (tmp_path / "model" / "model.txt").is_file()


def test_the_threshold_lies_between_validation_scores_not_on_one():
    """A calibrated model's scores tie on plateaus and the served score (ONNX)
    differs from the evaluated one (LightGBM) by ~1e-9: a threshold on a tied
    score would let that noise flip the whole plateau's decisions."""
    rng = np.random.default_rng(2)
    plateau = 0.2477
    p = np.where(rng.random(3000) < 0.3, plateau, rng.uniform(0, 1, 3000))
    y = ((p >= plateau) & (rng.random(3000) < 0.5)).astype(int)
    for thr in (choose_threshold(p, y, strategy="cost", fn_cost=20, fp_cost=1),
                choose_threshold(p, y, strategy="target_precision", target_precision=0.45)):
        lowest_positive, highest_negative = p[p >= thr.value].min(), p[p < thr.value].max()
        assert thr.value == (lowest_positive + highest_negative) / 2  # in the gap, not on a score
    cost = choose_threshold(p, y, strategy="cost", fn_cost=20, fp_cost=1)
    assert p[p < cost.value].max() < cost.value < plateau  # here the cost picks the plateau: the gap under it
    served = np.array([plateau * (1 - 2.4e-6), plateau * (1 + 2.4e-6)])  # the plateau as ONNX serves it
    assert (served >= cost.value).all()
