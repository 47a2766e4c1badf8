"""Model quality per window: realized where labels have matured, estimated
(confidence-based, in the manner of NannyML's CBPE) where they have not.

*Realized*: a window whose every label is determined (its end plus the
horizon plus the availability delay has passed) is scored against its
labels: PR-AUC, recall at the gate's precision, expected calibration error
(the same functions the training gates use, ``runtime.training.metrics``).

*Estimated*: with calibrated scores, each prediction's label is a Bernoulli
draw with probability = its score.  Drawing every label ``draws`` times and
scoring each draw gives the distribution of the metric the window *would*
realize if the model were still calibrated on it: the mean is the estimate,
the ``band`` quantiles its uncertainty (wide for few rows or few expected
positives, as it should be).

The method's limit, stated once and carried in every report: it sees a
quality change caused by a change of the inputs (covariate shift: scores
move to where the model is less sure), never a change of P(y | x) itself
(concept drift: the scores look the same, their meaning changed).  That one
shows in realized quality once labels arrive, and earlier in reviewer
overrides.  Calibration error cannot be estimated this way (the method
assumes it is zero), so an estimated window's ECE is None.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from runtime.monitoring.labels import JoinedLabels
from runtime.training.metrics import expected_calibration_error, pr_auc, recall_at_precision

__all__ = [
    "DEFAULT_BAND",
    "DEFAULT_DRAWS",
    "ESTIMATION_LIMIT",
    "Estimate",
    "PerformanceError",
    "PerformanceReport",
    "WindowPerformance",
    "confusion",
    "estimate_quality",
    "performance_by_window",
    "tied_average_precision",
]

DEFAULT_DRAWS = 200
DEFAULT_BAND = (0.05, 0.95)
ESTIMATION_LIMIT = ("estimated from calibrated scores (CBPE-style): detects quality loss from covariate shift, "
                    "not from a change of P(y|x) (concept drift), which only realized quality (and reviewer "
                    "overrides) can show; assumes the model is calibrated on the window")
_US = 1_000_000
# Labels drawn per block of the simulation (bounds memory: draws x rows floats otherwise).
_BLOCK_CELLS = 4_000_000


class PerformanceError(Exception):
    """The inputs cannot be scored; the message says what is wrong."""


@dataclass(frozen=True, slots=True)
class Estimate:
    value: float | None
    low: float | None = None
    high: float | None = None


@dataclass(frozen=True, slots=True)
class WindowPerformance:
    start_us: int
    end_us: int
    basis: Literal["realized", "estimated"]
    rows: int
    labeled: int                      # predictions with a known label as of the report
    positives: int | None             # realized: positives; estimated: None (see expected_positives)
    expected_positives: float         # sum of the scores
    pr_auc: Estimate
    recall_at_precision: Estimate
    ece: float | None                 # realized only
    matures_at_us: int                # when every label of the window is determined
    # At the model's decision threshold: counts (realized) or their expectation
    # under calibration (estimated: E[TP] = sum of scores at or above it, ...).
    confusion: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class PerformanceReport:
    as_of_us: int
    window_s: float
    precision_at: float               # the precision of recall_at_precision (the model gate's ``at``)
    windows: tuple[WindowPerformance, ...]
    method: str = ESTIMATION_LIMIT

    @property
    def realized(self) -> tuple[WindowPerformance, ...]:
        return tuple(w for w in self.windows if w.basis == "realized")

    @property
    def estimated(self) -> tuple[WindowPerformance, ...]:
        return tuple(w for w in self.windows if w.basis == "estimated")


def _curves(scores_desc: np.ndarray, y_sorted: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Precision and recall at each distinct threshold (rows: draws), ties as one threshold."""
    last = np.flatnonzero(np.append(scores_desc[1:] != scores_desc[:-1], True))
    tp = np.cumsum(y_sorted, axis=-1, dtype=np.int32)[..., last]  # a window holds < 2**31 rows
    total = tp[..., -1:]
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = tp / (last + 1)
        recall = np.where(total > 0, tp / np.maximum(total, 1), np.nan)
    return precision, recall


def tied_average_precision(y: np.ndarray, p: np.ndarray) -> float | None:
    """Average precision with tied scores as one threshold (sklearn's definition)."""
    order = np.argsort(-p, kind="stable")
    precision, recall = _curves(p[order], y[order].astype(np.int8))
    if np.isnan(recall[-1]):
        return None
    return float(np.sum(np.diff(recall, prepend=0.0) * precision))


def estimate_quality(scores: np.ndarray, precision_at: float, *, draws: int = DEFAULT_DRAWS, seed: int = 0,
                     band: tuple[float, float] = DEFAULT_BAND) -> tuple[Estimate, Estimate]:
    """Expected PR-AUC and recall at ``precision_at`` of calibrated ``scores``, with a band."""
    p = np.asarray(scores, dtype=np.float64)
    if p.size == 0:
        return Estimate(None), Estimate(None)
    if np.isnan(p).any() or (p < 0).any() or (p > 1).any():
        raise PerformanceError("scores must be probabilities in [0, 1] without nulls to estimate quality")
    order = np.argsort(-p, kind="stable")
    ps = p[order]
    rng = np.random.default_rng(seed)
    ps32 = ps.astype(np.float32)  # float32 draws: half the memory traffic, probabilities to ~1e-7
    aps, recs = [], []
    block = max(1, min(draws, _BLOCK_CELLS // p.size))
    done = 0
    while done < draws:
        b = min(block, draws - done)
        y = (rng.random((b, p.size), dtype=np.float32) < ps32).astype(np.int8)
        precision, recall = _curves(ps, y)
        ok = ~np.isnan(recall[:, -1])  # a draw without positives has no PR curve
        r = np.nan_to_num(recall[ok])
        aps.append(np.sum(np.diff(r, prepend=0.0, axis=1) * precision[ok], axis=1))
        recs.append(np.where(precision[ok] >= precision_at, r, 0.0).max(axis=1))
        done += b
    ap, rec = np.concatenate(aps), np.concatenate(recs)
    if ap.size < draws / 2:  # mostly no positive at all: the metric is undefined, not a number
        return Estimate(None), Estimate(None)
    lo, hi = band
    return (Estimate(float(ap.mean()), float(np.quantile(ap, lo)), float(np.quantile(ap, hi))),
            Estimate(float(rec.mean()), float(np.quantile(rec, lo)), float(np.quantile(rec, hi))))


def confusion(scores: np.ndarray, threshold: float, y: np.ndarray | None = None) -> dict[str, float]:
    """TP/FP/FN/TN at ``threshold``: counted against ``y``, or expected from calibrated scores (CBPE)."""
    p = np.asarray(scores, dtype=np.float64)
    hit = p >= threshold
    if y is None:
        tp, fp = float(p[hit].sum()), float((1 - p[hit]).sum())
        fn, tn = float(p[~hit].sum()), float((1 - p[~hit]).sum())
    else:
        yy = np.asarray(y) == 1
        tp, fp = float((hit & yy).sum()), float((hit & ~yy).sum())
        fn, tn = float((~hit & yy).sum()), float((~hit & ~yy).sum())
    out = {"tp": tp, "fp": fp, "fn": fn, "tn": tn}
    if tp + fp > 0:
        out["precision"] = tp / (tp + fp)
    if tp + fn > 0:
        out["recall"] = tp / (tp + fn)
    return out


def performance_by_window(times_us: np.ndarray, scores: np.ndarray, labels: JoinedLabels, *, window_s: float,
                          horizon_s: float, availability_delay_s: float, precision_at: float,
                          threshold: float | None = None, draws: int = DEFAULT_DRAWS,
                          seed: int = 0) -> PerformanceReport:
    """Realized or estimated quality of each window of predictions (by prediction time)."""
    t = np.asarray(times_us, dtype=np.int64)
    p = np.asarray(scores, dtype=np.float64)
    if not (t.size == p.size == labels.label.size):
        raise PerformanceError(f"times ({t.size}), scores ({p.size}) and labels ({labels.label.size}) differ in length")
    if window_s <= 0:
        raise PerformanceError(f"window_s must be positive, got {window_s}")
    window_us = int(round(window_s * _US))
    lag_us = int(round((horizon_s + availability_delay_s) * _US))
    wid = t // window_us
    order = np.argsort(wid, kind="stable")
    bounds = np.flatnonzero(np.diff(wid[order])) + 1
    out = []
    for rows in np.split(order, bounds) if t.size else []:
        w = int(wid[rows[0]])
        start, end = w * window_us, (w + 1) * window_us
        ys, ps = labels.label[rows], p[rows]
        matures = end + lag_us
        if matures <= labels.as_of_us and (ys >= 0).all():
            y = ys.astype(np.int8)
            ap = pr_auc(y, ps)
            rec = recall_at_precision(y, ps, precision_at)
            out.append(WindowPerformance(start, end, "realized", int(rows.size), int(rows.size), int(y.sum()),
                                         float(ps.sum()), Estimate(ap), Estimate(rec),
                                         expected_calibration_error(y, ps), matures,
                                         confusion(ps, threshold, y) if threshold is not None else {}))
        else:
            ap_e, rec_e = estimate_quality(ps, precision_at, draws=draws, seed=seed + w % 2**31)
            out.append(WindowPerformance(start, end, "estimated", int(rows.size), int((ys >= 0).sum()), None,
                                         float(ps.sum()), ap_e, rec_e, None, matures,
                                         confusion(ps, threshold) if threshold is not None else {}))
    return PerformanceReport(as_of_us=labels.as_of_us, window_s=window_s, precision_at=precision_at,
                             windows=tuple(out))
