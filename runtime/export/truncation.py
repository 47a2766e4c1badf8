"""Meet the edge size budget by dropping trailing trees, at a measured cost.

Boosting adds trees in order of decreasing marginal value, so the first
``k`` trees are the best ``k``-tree model this booster holds.  The largest
``k`` whose graph fits is found by bisection; the truncated model is
re-calibrated on the same validation window as the full one (its scores
have a different scale) and its holdout PR-AUC is compared with the full
model's: the loss is reported and gated by the caller.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import lightgbm as lgb
import numpy as np

from runtime.training.calibration import Calibrator, fit_calibrator
from runtime.training.estimators import Fitted
from runtime.training.metrics import pr_auc

__all__ = ["Truncation", "truncate_to_budget"]


@dataclass(frozen=True)
class Truncation:
    model: Fitted
    calibrator: Calibrator
    onnx: bytes
    trees_total: int
    trees_kept: int
    pr_auc_full: float | None
    pr_auc_truncated: float | None

    @property
    def pr_auc_loss(self) -> float | None:
        if self.pr_auc_full is None or self.pr_auc_truncated is None:
            return None
        return self.pr_auc_full - self.pr_auc_truncated

    def to_json(self) -> dict[str, object]:
        return {"trees_total": self.trees_total, "trees_kept": self.trees_kept, "pr_auc_full": self.pr_auc_full,
                "pr_auc_truncated": self.pr_auc_truncated, "pr_auc_loss": self.pr_auc_loss}


def _first_trees(model: Fitted, k: int) -> Fitted:
    return Fitted("lightgbm", lgb.Booster(model_str=model.model.model_to_string(num_iteration=k)), k)


def truncate_to_budget(model: Fitted, calibrator: Calibrator, export: Callable[[Fitted, Calibrator], bytes],
                       budget_bytes: int, valid: tuple[np.ndarray, np.ndarray],
                       holdout: tuple[np.ndarray, np.ndarray]) -> Truncation | None:
    """The largest prefix of trees whose export fits ``budget_bytes``; None if none does."""
    total = int(model.model.num_trees())
    lo, hi, best = 1, total - 1, None
    while lo <= hi:
        mid = (lo + hi) // 2
        cand = _first_trees(model, mid)
        # The calibrator's size barely depends on k; size with the full one, re-fit once at the end.
        if len(export(cand, calibrator)) <= budget_bytes:
            best, lo = mid, mid + 1
        else:
            hi = mid - 1
    if best is None:
        return None
    cut = _first_trees(model, best)
    cut_cal = fit_calibrator(calibrator.method, cut.predict(valid[0]), valid[1])
    onnx = export(cut, cut_cal)
    if len(onnx) > budget_bytes:  # the re-fitted calibrator has more breakpoints; one tree fewer
        if best == 1:
            return None
        cut = _first_trees(model, best - 1)
        cut_cal = fit_calibrator(calibrator.method, cut.predict(valid[0]), valid[1])
        onnx = export(cut, cut_cal)
        if len(onnx) > budget_bytes:
            return None
    hx, hy = holdout
    return Truncation(model=cut, calibrator=cut_cal, onnx=onnx, trees_total=total, trees_kept=cut.best_iteration or 0,
                      pr_auc_full=pr_auc(hy, calibrator.apply(model.predict(hx))),
                      pr_auc_truncated=pr_auc(hy, cut_cal.apply(cut.predict(hx))))
