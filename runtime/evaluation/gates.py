"""Gate metrics on the holdout, and the pass/fail of each declared gate.

Every declared metric is measured here, including the export ones
(``onnx_parity_max_abs_diff``, ``latency_p99_ms``): the model is converted
with the same exporter and scored with onnxruntime, so no gate is deferred
or silently skipped.  A metric that is undefined on the data (e.g. PR-AUC
of a window without positives) fails its gate.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from runtime.contracts.steps import GateConfig
from runtime.export.convert import ExportError, to_onnx
from runtime.export.parity import latency, onnx_scorer
from runtime.training.metrics import METRIC_FUNCTIONS, pr_auc
from runtime.training.model_dir import ModelDir

__all__ = ["EVAL_OPSET", "LOWER_IS_BETTER", "GateResult", "HoldoutScores", "evaluate_gate", "measure", "onnx_scores"]

# The opset evaluate converts at to measure ONNX metrics; export-onnx converts
# at the declared opset and re-gates parity with parity_tolerance.
EVAL_OPSET = 15
LOWER_IS_BETTER = frozenset({"brier", "ece", "onnx_parity_max_abs_diff", "latency_p99_ms"})


@dataclass(frozen=True)
class HoldoutScores:
    model: ModelDir
    x: np.ndarray
    y: np.ndarray
    p: np.ndarray  # calibrated
    slices: tuple[object, ...] | None


@dataclass(frozen=True)
class GateResult:
    gate: GateConfig
    value: float | None
    passed: bool
    note: str = ""

    def to_json(self) -> dict[str, object]:
        return {"metric": self.gate.metric, "at": self.gate.at, "min": self.gate.min, "max": self.gate.max,
                "value": self.value, "passed": self.passed, **({"note": self.note} if self.note else {})}


def onnx_scores(h: HoldoutScores, cache: dict[str, object]) -> tuple[np.ndarray, Callable[[np.ndarray], np.ndarray]]:
    """The model's holdout scores through its ONNX graph (converted once per run)."""
    if "onnx" not in cache:
        blob = to_onnx(h.model.model, h.model.calibrator, h.model.encoding.features, opset=EVAL_OPSET,
                       metadata={"specops.encoding": json.dumps(h.model.encoding.to_json(), sort_keys=True)})
        score = onnx_scorer(blob)
        cache["onnx"] = (score(h.x), score)
    return cache["onnx"]  # type: ignore[return-value]


def measure(metric: str, h: HoldoutScores, at: float | None, cache: dict[str, object]) -> tuple[float | None, str]:
    if metric in METRIC_FUNCTIONS:
        if metric in ("recall_at_precision", "precision_at_k") and at is None:
            return None, f"{metric} needs 'at'"
        return METRIC_FUNCTIONS[metric](h.y, h.p, at, h.model.threshold.value), ""
    if metric == "slice_pr_auc_min":
        if h.slices is None:
            return None, "no slice column in the config"
        arr = np.array(["<null>" if v is None else str(v) for v in h.slices], dtype=object)
        values = {s: pr_auc(h.y[arr == s], h.p[arr == s]) for s in sorted(set(arr.tolist()))}
        defined = {s: v for s, v in values.items() if v is not None}
        if not defined:
            return None, "no slice has a positive row in the holdout"
        worst = min(defined, key=lambda s: defined[s])  # type: ignore[arg-type,return-value]
        skipped = sorted(set(values) - set(defined))
        return defined[worst], f"worst slice {worst!r}" + (f"; no positives in {', '.join(skipped)}" if skipped else "")
    if metric in ("onnx_parity_max_abs_diff", "latency_p99_ms"):
        try:
            onnx_p, score = onnx_scores(h, cache)
        except ExportError as exc:  # the gate fails with the reason; the other gates still run
            return None, str(exc)
        if metric == "onnx_parity_max_abs_diff":
            return float(np.abs(onnx_p - h.p).max()), f"opset {EVAL_OPSET}, {len(h.p)} holdout rows"
        lat = latency(score, h.x)  # type: ignore[arg-type]
        return lat.p99_ms, f"single-row onnxruntime, {lat.calls} calls, p50 {lat.p50_ms:.3f} ms"
    return None, f"unknown metric {metric!r}"


def evaluate_gate(gate: GateConfig, h: HoldoutScores, cache: dict[str, object]) -> GateResult:
    value, note = measure(gate.metric, h, gate.at, cache)
    passed = value is not None and (gate.min is None or value >= gate.min) and (gate.max is None or value <= gate.max)
    return GateResult(gate, value, passed, note if value is not None or note else "undefined on the holdout")
