"""Probability calibration fitted on a time-later window than the model.

A calibrator maps the model's probability to a calibrated one.  It is plain
data (breakpoints or two coefficients) so the same mapping is applied by
numpy here and by the ONNX graph the exporter appends (``runtime.export``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression

__all__ = ["ISOTONIC_MIN_GAP", "LOGIT_EPS", "Calibrator", "fit_calibrator", "logit"]

# Probabilities are clipped before the logit so 0 and 1 stay finite (float32-safe).
LOGIT_EPS = 1e-6
# Isotonic breakpoints closer than this are merged (bounds the slope; see _thin).
ISOTONIC_MIN_GAP = 1e-3


def logit(p: np.ndarray) -> np.ndarray:
    q = np.clip(p, LOGIT_EPS, 1 - LOGIT_EPS)
    return np.log(q) - np.log1p(-q)


@dataclass(frozen=True)
class Calibrator:
    method: str  # "none" | "isotonic" | "sigmoid"
    x: tuple[float, ...] = ()  # isotonic breakpoints (ascending)
    y: tuple[float, ...] = ()
    a: float = 1.0  # sigmoid: 1 / (1 + exp(-(a * logit(p) + b)))
    b: float = 0.0

    def apply(self, p: np.ndarray) -> np.ndarray:
        if self.method == "isotonic":
            return np.interp(p, np.asarray(self.x), np.asarray(self.y))
        if self.method == "sigmoid":
            return 1.0 / (1.0 + np.exp(-(self.a * logit(p) + self.b)))
        return np.asarray(p, dtype=np.float64)

    def to_json(self) -> dict[str, object]:
        if self.method == "isotonic":
            return {"method": "isotonic", "x": list(self.x), "y": list(self.y)}
        if self.method == "sigmoid":
            return {"method": "sigmoid", "a": self.a, "b": self.b}
        return {"method": "none"}

    @classmethod
    def from_json(cls, data: dict[str, object]) -> Calibrator:
        return cls(method=str(data["method"]), x=tuple(data.get("x", ())), y=tuple(data.get("y", ())),  # type: ignore[arg-type]
                   a=float(data.get("a", 1.0)), b=float(data.get("b", 0.0)))  # type: ignore[arg-type]


def _thin(x: np.ndarray, y: np.ndarray, min_gap: float) -> tuple[np.ndarray, np.ndarray]:
    """Merge breakpoints closer than ``min_gap`` (mean x, mean y; y stays monotone).

    Isotonic regression puts the end of one block and the start of the next
    as close as two adjacent scores, so an interpolated segment can be
    arbitrarily steep: a 1e-9 change of the model's score would move the
    calibrated probability by 1e-4.  With breakpoints at least ``min_gap``
    apart the slope is bounded by 1 / min_gap.
    """
    xs, ys, group_x, group_y = [], [], [x[0]], [y[0]]
    for xi, yi in zip(x[1:], y[1:], strict=True):
        if xi - group_x[0] < min_gap:
            group_x.append(xi)
            group_y.append(yi)
            continue
        xs.append(float(np.mean(group_x)))
        ys.append(float(np.mean(group_y)))
        group_x, group_y = [xi], [yi]
    xs.append(float(np.mean(group_x)))
    ys.append(float(np.mean(group_y)))
    return np.asarray(xs), np.asarray(ys)


def fit_calibrator(method: str, p: np.ndarray, y: np.ndarray) -> Calibrator:
    if method == "isotonic":
        iso = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(p, y)
        x, yy = _thin(np.asarray(iso.X_thresholds_, dtype=np.float64), np.asarray(iso.y_thresholds_, dtype=np.float64),
                      ISOTONIC_MIN_GAP)
        return Calibrator("isotonic", x=tuple(x.tolist()), y=tuple(yy.tolist()))
    if method == "sigmoid":
        lr = LogisticRegression(C=1e6, max_iter=1000).fit(logit(p).reshape(-1, 1), y)
        return Calibrator("sigmoid", a=float(lr.coef_[0, 0]), b=float(lr.intercept_[0]))
    return Calibrator("none")
