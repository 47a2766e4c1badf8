"""The two declared algorithms behind one interface: fit on a window, early
stop on a later one, give probabilities.  Deterministic given the seed."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import lightgbm as lgb
import numpy as np
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

__all__ = ["LIGHTGBM_FIXED", "EstimatorError", "Fitted", "fit_model", "load_lightgbm", "lightgbm_params"]

# Fixed so a retrain on the same data gives the same trees on any machine.
LIGHTGBM_FIXED: dict[str, Any] = {
    "objective": "binary",
    "num_threads": 1,
    "deterministic": True,
    "force_row_wise": True,
    "verbose": -1,
}
_LIGHTGBM_ROUNDS = ("n_estimators", "num_iterations", "num_boost_round", "num_rounds", "num_trees", "n_iter")
_LIGHTGBM_DEFAULT_ROUNDS = 100


class EstimatorError(Exception):
    """The declared algorithm or its parameters cannot be used."""


@dataclass(frozen=True)
class Fitted:
    algorithm: str
    model: Any  # lgb.Booster | sklearn Pipeline
    best_iteration: int | None = None

    def predict(self, x: np.ndarray) -> np.ndarray:
        if self.algorithm == "lightgbm":
            # One thread: OpenMP start-up dominates small batches and spins on a busy machine.
            return np.asarray(self.model.predict(x, num_iteration=self.best_iteration, num_threads=1), dtype=np.float64)
        return np.asarray(self.model.predict_proba(x)[:, 1], dtype=np.float64)


def lightgbm_params(params: dict[str, Any], seed: int) -> tuple[dict[str, Any], int]:
    """LightGBM core parameters and the number of boosting rounds."""
    core = {k: v for k, v in params.items() if k not in _LIGHTGBM_ROUNDS}
    rounds = next((int(params[k]) for k in _LIGHTGBM_ROUNDS if k in params), _LIGHTGBM_DEFAULT_ROUNDS)
    for key in LIGHTGBM_FIXED:
        if key in core:
            raise EstimatorError(f"algorithm.params.{key} is fixed by the runtime (determinism); remove it")
    return {**core, **LIGHTGBM_FIXED, "seed": seed}, rounds


def _fit_lightgbm(x: np.ndarray, y: np.ndarray, weight: np.ndarray | None, scale_pos_weight: float | None,
                  valid: tuple[np.ndarray, np.ndarray] | None, params: dict[str, Any], seed: int,
                  early_stopping_rounds: int | None) -> Fitted:
    core, rounds = lightgbm_params(params, seed)
    if scale_pos_weight is not None:
        core["scale_pos_weight"] = scale_pos_weight
    train_set = lgb.Dataset(x, label=y, weight=weight, params={"verbose": -1})
    callbacks = []
    valid_sets = []
    if valid is not None and early_stopping_rounds:
        core["metric"] = "average_precision"
        valid_sets = [lgb.Dataset(valid[0], label=valid[1], reference=train_set)]
        callbacks.append(lgb.early_stopping(early_stopping_rounds, first_metric_only=True, verbose=False))
    try:
        booster = lgb.train(core, train_set, num_boost_round=rounds, valid_sets=valid_sets, callbacks=callbacks)
    except lgb.basic.LightGBMError as exc:
        raise EstimatorError(f"LightGBM refused the parameters: {exc}") from None
    best = booster.best_iteration if booster.best_iteration > 0 else booster.current_iteration()
    return Fitted("lightgbm", booster, best)


def _fit_logistic(x: np.ndarray, y: np.ndarray, weight: np.ndarray | None, params: dict[str, Any], seed: int,
                  scale_pos_weight: float | None) -> Fitted:
    if scale_pos_weight is not None:
        weight = np.where(y == 1, scale_pos_weight, 1.0)
    try:
        clf = LogisticRegression(**{"max_iter": 1000, **params, "random_state": seed})
    except TypeError as exc:
        raise EstimatorError(f"logistic_regression parameters: {exc}") from None
    pipe = Pipeline([("impute", SimpleImputer(strategy="median", keep_empty_features=True)),
                     ("scale", StandardScaler()), ("model", clf)])
    try:
        pipe.fit(x, y, model__sample_weight=weight)
    except (ValueError, TypeError) as exc:
        raise EstimatorError(f"logistic_regression could not be fitted: {exc}") from None
    return Fitted("logistic_regression", pipe)


def fit_model(algorithm: str, x: np.ndarray, y: np.ndarray, *, weight: np.ndarray | None, scale_pos_weight: float | None,
              valid: tuple[np.ndarray, np.ndarray] | None, params: dict[str, Any], seed: int,
              early_stopping_rounds: int | None) -> Fitted:
    if algorithm == "lightgbm":
        return _fit_lightgbm(x, y, weight, scale_pos_weight, valid, params, seed, early_stopping_rounds)
    if algorithm == "logistic_regression":
        return _fit_logistic(x, y, weight, params, seed, scale_pos_weight)
    raise EstimatorError(f"unknown algorithm {algorithm!r}")


def load_lightgbm(path: str) -> Fitted:
    booster = lgb.Booster(model_file=path)
    return Fitted("lightgbm", booster, booster.current_iteration())
