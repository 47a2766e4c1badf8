"""The backtest and the model it ships: one function from (config, table) to
a frozen ``TrainResult``; nothing here touches the disk.

Per fold (``runtime.training.folds``): resample the fit window as declared,
fit (early stopping on the validation window), calibrate on the validation
window, choose the threshold on the calibrated validation scores, then score
the test window.  The baseline goes through the same folds.  The shipped
model is the latest fold's: the exact model whose holdout metrics the
evaluate step gates on (the last ``gap + 2 * test_window`` of data trains
no shipped tree; that is the price of an honest holdout).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from runtime.contracts.steps import TrainConfig
from runtime.monitoring.reference import ReferenceProfile, build_profile
from runtime.training.calibration import Calibrator, fit_calibrator
from runtime.training.estimators import Fitted, fit_model
from runtime.training.folds import Fold, rolling_origin
from runtime.training.imbalance import resample
from runtime.training.metrics import summary
from runtime.training.table import FeatureEncoding, TrainingTable, encode, fit_encoding
from runtime.training.threshold import Threshold, choose_threshold

__all__ = ["FoldResult", "TrainResult", "slice_metrics", "train"]

# The precision at which recall is reported when the config does not say (evaluate gates use the spec's own).
REPORT_PRECISION = 0.5


@dataclass(frozen=True)
class FoldResult:
    fold: Fold
    model: Fitted
    calibrator: Calibrator
    threshold: Threshold
    test_scores: np.ndarray  # calibrated
    metrics: dict[str, Any]
    baseline_metrics: dict[str, Any] | None
    resampling: dict[str, Any]


@dataclass(frozen=True)
class TrainResult:
    encoding: FeatureEncoding
    folds: tuple[FoldResult, ...]
    source_hash: str
    slice_column: str | None
    # What serving is compared with for drift (runtime.monitoring.reference).
    reference: ReferenceProfile | None = None

    @property
    def final(self) -> FoldResult:
        return self.folds[-1]


def slice_metrics(values: list[object], y: np.ndarray, p: np.ndarray, threshold: float) -> dict[str, Any]:
    out: dict[str, Any] = {}
    arr = np.array(["<null>" if v is None else str(v) for v in values], dtype=object)
    for value in sorted(set(arr.tolist())):
        m = arr == value
        out[value] = summary(y[m], p[m], threshold, precision=REPORT_PRECISION)
    return out


def _fit_fold(cfg: TrainConfig, algorithm: str, params: dict[str, Any], x: np.ndarray, y: np.ndarray, fold: Fold,
              *, early_stopping: bool) -> tuple[Fitted, Calibrator, Threshold, np.ndarray, dict[str, Any]]:
    fx, fy = x[fold.fit.rows], y[fold.fit.rows]
    vx, vy = x[fold.valid.rows], y[fold.valid.rows]
    rs = resample(fy, cfg.imbalance, negative_ratio=cfg.negative_ratio, seed=cfg.seed + fold.index,
                  native_scale_pos_weight=algorithm == "lightgbm")
    model = fit_model(algorithm, fx[rs.rows], fy[rs.rows], weight=rs.weight, scale_pos_weight=rs.scale_pos_weight,
                      valid=(vx, vy) if early_stopping else None, params=params, seed=cfg.seed,
                      early_stopping_rounds=cfg.early_stopping_rounds if early_stopping else None)
    raw_valid = model.predict(vx)
    calibrator = fit_calibrator(cfg.calibration, raw_valid, vy)
    vp = calibrator.apply(raw_valid)
    threshold = choose_threshold(vp, vy, strategy=cfg.threshold_strategy, fn_cost=cfg.false_negative_cost,
                                 fp_cost=cfg.false_positive_cost, target_precision=cfg.target_precision,
                                 value=cfg.threshold_value)
    test_p = calibrator.apply(model.predict(x[fold.test.rows]))
    resampling = {"strategy": cfg.imbalance, "rows": int(len(rs.rows)), "negatives_kept": rs.negatives_kept,
                  "negatives_total": rs.negatives_total, "scale_pos_weight": rs.scale_pos_weight}
    return model, calibrator, threshold, test_p, resampling


def train(cfg: TrainConfig, table: TrainingTable, slice_column: str | None = None) -> TrainResult:
    folds = rolling_origin(table.times, cfg.folds, cfg.test_window_s, cfg.gap_s, cfg.min_train_window_s)
    # The vocabulary comes from rows the shipped model may see (before its holdout).
    encoding = fit_encoding(table.columns.slice(0, folds[-1].valid.hi), cfg.features)
    x, y = encode(table.columns, encoding), table.y
    slices = table.columns.column(slice_column).to_pylist() if slice_column else None
    results = []
    for fold in folds:
        model, cal, thr, test_p, rs = _fit_fold(cfg, cfg.algorithm, dict(cfg.params), x, y, fold, early_stopping=True)
        ty = y[fold.test.rows]
        metrics = summary(ty, test_p, thr.value, precision=REPORT_PRECISION)
        if model.best_iteration is not None:
            metrics["best_iteration"] = model.best_iteration
        if slices is not None:
            metrics["slices"] = slice_metrics(slices[fold.test.lo:fold.test.hi], ty, test_p, thr.value)
        baseline = None
        if cfg.baseline is not None:
            _, _, bthr, bp, _ = _fit_fold(cfg, cfg.baseline, dict(cfg.baseline_params), x, y, fold,
                                          early_stopping=cfg.baseline == "lightgbm")
            baseline = summary(ty, bp, bthr.value, precision=REPORT_PRECISION)
        results.append(FoldResult(fold, model, cal, thr, test_p, metrics, baseline, rs))
    # The shipped model's own fit rows and its calibrated holdout scores: the
    # inputs it learned from and the scores it gives on data it never saw.
    final = results[-1]
    reference = build_profile(table.columns.slice(final.fold.fit.lo, final.fold.fit.hi - final.fold.fit.lo),
                              cfg.features, final.test_scores, seed=cfg.seed,
                              source="features: fit window of the shipped fold; score: its calibrated holdout")
    return TrainResult(encoding=encoding, folds=tuple(results), source_hash=table.source_hash,
                       slice_column=slice_column, reference=reference)
