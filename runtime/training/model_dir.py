"""The model directory: what train writes and evaluate / export-onnx read.

```
model.txt         native LightGBM model (shipped iteration count only)
model.json        or: the logistic regression's fitted parameters
calibrator.json   runtime.training.calibration.Calibrator
threshold.json    the decision threshold and how it was chosen
features.json     feature order and category vocabularies
metrics.json      holdout (latest fold) metrics, per slice, and the baseline's
backtest.json     every fold: windows, gap, resampling, metrics
training.json     lineage: training-data sha256, spec hash, seed, versions
reference.json    the drift reference profile (runtime.monitoring.reference)
```
JSON is written with sorted keys so the same training gives the same bytes.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np
import sklearn

from runtime.contracts.steps import TrainConfig
from runtime.monitoring.reference import REFERENCE_FILE, profile_to_json
from runtime.training.calibration import Calibrator
from runtime.training.estimators import Fitted, load_lightgbm
from runtime.training.pipeline import TrainResult
from runtime.training.table import FeatureEncoding
from runtime.training.threshold import Threshold

__all__ = ["FILES", "LinearModel", "ModelDir", "ModelDirError", "dump_json", "read_model_dir", "write_model_dir"]

FILES = ("calibrator.json", "threshold.json", "features.json", "metrics.json", "backtest.json", "training.json",
         REFERENCE_FILE)


class ModelDirError(Exception):
    """The model directory is missing a file or holds something unreadable."""


def _clean(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if isinstance(value, (np.floating, float)):
        return float(value) if math.isfinite(float(value)) else None
    if isinstance(value, np.integer):
        return int(value)
    return value


def dump_json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(_clean(data), indent=2, sort_keys=True, allow_nan=False) + "\n", encoding="utf-8")


@dataclass(frozen=True)
class LinearModel:
    """A fitted impute -> scale -> logistic pipeline, as plain numbers."""

    medians: tuple[float, ...]
    means: tuple[float, ...]
    scales: tuple[float, ...]
    coef: tuple[float, ...]
    intercept: float

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        x = np.where(np.isnan(x), np.asarray(self.medians), x)
        z = ((x - np.asarray(self.means)) / np.asarray(self.scales)) @ np.asarray(self.coef) + self.intercept
        p = 1.0 / (1.0 + np.exp(-z))
        return np.column_stack([1 - p, p])


def _linear(model: Any) -> LinearModel:
    imp, sc, lr = model.named_steps["impute"], model.named_steps["scale"], model.named_steps["model"]
    return LinearModel(tuple(imp.statistics_.tolist()), tuple(sc.mean_.tolist()), tuple(sc.scale_.tolist()),
                       tuple(lr.coef_[0].tolist()), float(lr.intercept_[0]))


@dataclass(frozen=True)
class ModelDir:
    path: Path
    model: Fitted
    calibrator: Calibrator
    threshold: Threshold
    encoding: FeatureEncoding
    training: dict[str, Any]

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Calibrated probabilities."""
        return self.calibrator.apply(self.model.predict(x))


def write_model_dir(out: Path, cfg: TrainConfig, result: TrainResult) -> None:
    final = result.final
    out.mkdir(parents=True, exist_ok=True)
    if final.model.algorithm == "lightgbm":
        # Only the shipped trees: export, evaluation and serving see one model.
        final.model.model.save_model(str(out / "model.txt"), num_iteration=final.model.best_iteration)
    else:
        lin = _linear(final.model.model)
        dump_json(out / "model.json", {"algorithm": "logistic_regression", "medians": lin.medians, "means": lin.means,
                                       "scales": lin.scales, "coef": lin.coef, "intercept": lin.intercept})
    dump_json(out / "calibrator.json", final.calibrator.to_json())
    dump_json(out / "threshold.json", final.threshold.to_json())
    dump_json(out / "features.json", result.encoding.to_json())
    dump_json(out / "metrics.json", {"holdout": final.metrics, "baseline": final.baseline_metrics,
                                     "backtest_mean": _mean([f.metrics for f in result.folds]),
                                     "baseline_backtest_mean": _mean([f.baseline_metrics for f in result.folds
                                                                      if f.baseline_metrics is not None])})
    dump_json(out / "backtest.json", {
        "scheme": "rolling_origin", "gap_s": cfg.gap_s, "test_window_s": cfg.test_window_s,
        "min_train_window_s": cfg.min_train_window_s,
        "folds": [{"index": f.fold.index, "fit": f.fold.fit.to_json(), "validation": f.fold.valid.to_json(),
                   "test": f.fold.test.to_json(), "resampling": f.resampling, "threshold": f.threshold.to_json(),
                   "metrics": f.metrics, "baseline_metrics": f.baseline_metrics} for f in result.folds]})
    if result.reference is not None:
        (out / REFERENCE_FILE).write_text(profile_to_json(result.reference), encoding="utf-8")
    dump_json(out / "training.json", {
        "model": cfg.model, "spec_hash": cfg.spec_hash, "algorithm": cfg.algorithm, "params": cfg.params,
        "seed": cfg.seed, "imbalance": cfg.imbalance, "calibration": cfg.calibration,
        "training_data_sha256": result.source_hash, "input": cfg.input, "slice_column": result.slice_column,
        "best_iteration": final.model.best_iteration,
        "holdout": final.fold.test.to_json(), "fit": final.fold.fit.to_json(), "validation": final.fold.valid.to_json(),
        "versions": {"lightgbm": lgb.__version__, "scikit-learn": sklearn.__version__, "numpy": np.__version__},
    })


def _mean(rows: list[dict[str, Any]]) -> dict[str, float | None]:
    keys = ("pr_auc", "roc_auc", "brier", "ece")
    out: dict[str, float | None] = {}
    for k in keys:
        vals = [r[k] for r in rows if r.get(k) is not None]
        out[k] = float(np.mean(vals)) if vals else None
    return out


def _read(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ModelDirError(f"{path}: missing (run the train step first)") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelDirError(f"{path}: unreadable: {exc}") from None


def read_model_dir(path: Path) -> ModelDir:
    if not path.is_dir():
        raise ModelDirError(f"{path}: model directory not found (run the train step first)")
    training = _read(path / "training.json")
    if training.get("algorithm") == "lightgbm":
        if not (path / "model.txt").is_file():
            raise ModelDirError(f"{path / 'model.txt'}: missing (run the train step first)")
        try:
            model = load_lightgbm(str(path / "model.txt"))
        except lgb.basic.LightGBMError as exc:
            raise ModelDirError(f"{path / 'model.txt'}: not a LightGBM model: {exc}") from None
    else:
        m = _read(path / "model.json")
        model = Fitted("logistic_regression", LinearModel(tuple(m["medians"]), tuple(m["means"]), tuple(m["scales"]),
                                                          tuple(m["coef"]), float(m["intercept"])))
    thr = _read(path / "threshold.json")
    return ModelDir(path=path, model=model, calibrator=Calibrator.from_json(_read(path / "calibrator.json")),
                    threshold=Threshold(float(thr["value"]), str(thr["strategy"])),
                    encoding=FeatureEncoding.from_json(_read(path / "features.json")), training=training)
