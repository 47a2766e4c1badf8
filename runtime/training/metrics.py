"""Binary-classification metrics that stay honest under rare positives.

A metric that is undefined on the data (ROC-AUC with one class, precision
when nothing is predicted positive) is ``None``, never a made-up number; a
gate over ``None`` fails.
"""

from __future__ import annotations

import numpy as np
from sklearn.metrics import average_precision_score, brier_score_loss, precision_recall_curve, roc_auc_score

__all__ = [
    "ECE_BINS",
    "METRIC_FUNCTIONS",
    "expected_calibration_error",
    "metric",
    "precision_at_k",
    "recall_at_precision",
    "summary",
]

ECE_BINS = 10


def _both_classes(y: np.ndarray) -> bool:
    return bool(0 < y.sum() < len(y))


def pr_auc(y: np.ndarray, p: np.ndarray) -> float | None:
    return float(average_precision_score(y, p)) if y.sum() > 0 else None


def roc_auc(y: np.ndarray, p: np.ndarray) -> float | None:
    return float(roc_auc_score(y, p)) if _both_classes(y) else None


def recall_at_precision(y: np.ndarray, p: np.ndarray, precision: float) -> float | None:
    """The best recall over thresholds whose precision reaches ``precision``."""
    if y.sum() == 0:
        return None
    prec, rec, _ = precision_recall_curve(y, p)
    ok = prec >= precision
    return float(rec[ok].max()) if ok.any() else 0.0


def precision_at_k(y: np.ndarray, p: np.ndarray, k: float) -> float | None:
    """Precision among the ``k`` highest scores (ties broken by row order)."""
    n = min(int(k), len(y))
    if n <= 0:
        return None
    top = np.argsort(-p, kind="stable")[:n]
    return float(y[top].mean())


def brier(y: np.ndarray, p: np.ndarray) -> float | None:
    return float(brier_score_loss(y, p)) if len(y) else None


def expected_calibration_error(y: np.ndarray, p: np.ndarray, bins: int = ECE_BINS) -> float | None:
    """Equal-width bins, weighted by their share of rows."""
    if not len(y):
        return None
    idx = np.minimum((p * bins).astype(int), bins - 1)
    total = 0.0
    for b in range(bins):
        m = idx == b
        if m.any():
            total += m.mean() * abs(float(p[m].mean()) - float(y[m].mean()))
    return float(total)


def accuracy(y: np.ndarray, p: np.ndarray, threshold: float) -> float | None:
    return float(((p >= threshold) == (y == 1)).mean()) if len(y) else None


def f1(y: np.ndarray, p: np.ndarray, threshold: float) -> float | None:
    pred = p >= threshold
    tp = float((pred & (y == 1)).sum())
    denom = float(pred.sum() + y.sum())
    return 2 * tp / denom if denom else None


# Metrics computed from (labels, scores[, parameter]); the threshold-dependent
# ones take the model's decision threshold as their parameter.
METRIC_FUNCTIONS = {
    "pr_auc": lambda y, p, at, thr: pr_auc(y, p),
    "roc_auc": lambda y, p, at, thr: roc_auc(y, p),
    "recall_at_precision": lambda y, p, at, thr: recall_at_precision(y, p, at),
    "precision_at_k": lambda y, p, at, thr: precision_at_k(y, p, at),
    "brier": lambda y, p, at, thr: brier(y, p),
    "ece": lambda y, p, at, thr: expected_calibration_error(y, p),
    "accuracy": lambda y, p, at, thr: accuracy(y, p, thr),
    "f1": lambda y, p, at, thr: f1(y, p, thr),
}


def metric(name: str, y: np.ndarray, p: np.ndarray, *, at: float | None = None, threshold: float = 0.5) -> float | None:
    return METRIC_FUNCTIONS[name](y, p, at, threshold)


def summary(y: np.ndarray, p: np.ndarray, threshold: float, *, precision: float = 0.5, k: int | None = None) -> dict[str, float | int | None]:
    """The standard report of one window."""
    k = k if k is not None else max(int(y.sum()), 1)
    return {
        "rows": int(len(y)),
        "positives": int(y.sum()),
        "pr_auc": pr_auc(y, p),
        "roc_auc": roc_auc(y, p),
        f"recall_at_precision_{precision:g}": recall_at_precision(y, p, precision),
        f"precision_at_{k}": precision_at_k(y, p, k),
        "brier": brier(y, p),
        "ece": expected_calibration_error(y, p),
        "accuracy": accuracy(y, p, threshold),
        "f1": f1(y, p, threshold),
    }
