"""The decision threshold, chosen on the validation window (never the test one)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Threshold", "ThresholdError", "choose_threshold"]


class ThresholdError(Exception):
    """The declared strategy has no threshold on this data."""


@dataclass(frozen=True)
class Threshold:
    value: float
    strategy: str
    detail: tuple[tuple[str, float], ...] = ()

    def to_json(self) -> dict[str, object]:
        return {"value": self.value, "strategy": self.strategy, **dict(self.detail)}


def _candidates(p: np.ndarray) -> np.ndarray:
    # Predict positive when p >= t: the distinct scores are every distinct decision.
    return np.unique(np.concatenate([p, [1.0 + 1e-12]]))


def _boundary(cand: np.ndarray, best: int) -> float:
    """The threshold halfway between the chosen score and the next lower
    distinct one: the same decisions on the validation scores, and a served
    score that differs from the evaluated one by float noise (the ONNX graph
    against LightGBM: ~1e-9) decides the same.  On the score itself, every
    row of a calibrated plateau tied there would flip together."""
    if best == 0:
        return float(cand[0]) / 2  # every validation score is positive: so is anything above half the lowest
    return float((cand[best - 1] + cand[best]) / 2)


def choose_threshold(p: np.ndarray, y: np.ndarray, *, strategy: str, fn_cost: float | None = None,
                     fp_cost: float | None = None, target_precision: float | None = None,
                     value: float | None = None) -> Threshold:
    if strategy == "fixed":
        assert value is not None
        return Threshold(float(value), "fixed")
    order = np.argsort(-p, kind="stable")
    ys = y[order]
    cand = _candidates(p)
    # Counts of predicted positives at each candidate threshold (p >= t).
    n_pred = len(p) - np.searchsorted(np.sort(p), cand, side="left")
    tp = np.concatenate([[0], np.cumsum(ys)])[n_pred]
    fp = n_pred - tp
    fn = ys.sum() - tp
    if strategy == "cost":
        assert fn_cost is not None and fp_cost is not None
        cost = fn * fn_cost + fp * fp_cost
        best = int(np.argmin(cost))  # ties: the lowest threshold (more recall)
        return Threshold(_boundary(cand, best), "cost", (("false_negative_cost", fn_cost), ("false_positive_cost", fp_cost),
                                                        ("validation_cost", float(cost[best]))))
    if strategy == "target_precision":
        assert target_precision is not None
        with np.errstate(invalid="ignore", divide="ignore"):
            precision = np.where(n_pred > 0, tp / np.maximum(n_pred, 1), 0.0)
        ok = (precision >= target_precision) & (n_pred > 0)
        if not ok.any():
            raise ThresholdError(f"no threshold reaches the target precision {target_precision:g} on the validation "
                                 f"window (best precision {precision[n_pred > 0].max():.3f}); lower targetPrecision "
                                 "or improve the model")
        best = int(np.flatnonzero(ok)[0])  # lowest such threshold: the most recall
        return Threshold(_boundary(cand, best), "target_precision", (("target_precision", target_precision),
                                                                     ("validation_precision", float(precision[best]))))
    raise ThresholdError(f"unknown threshold strategy {strategy!r}")
