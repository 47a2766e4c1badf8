"""Native model vs onnxruntime on the same rows: the largest probability gap,
and single-row latency of both (what a request pays)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import onnxruntime as ort

__all__ = ["LatencyReport", "ParityReport", "latency", "onnx_scorer", "parity"]


def onnx_scorer(onnx_bytes: bytes) -> Callable[[np.ndarray], np.ndarray]:
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    opts.log_severity_level = 3
    session = ort.InferenceSession(onnx_bytes, sess_options=opts, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name

    def score(x: np.ndarray) -> np.ndarray:
        return np.asarray(session.run(None, {name: x.astype(np.float32)})[0], dtype=np.float64).reshape(-1)

    return score


@dataclass(frozen=True)
class ParityReport:
    rows: int
    max_abs_diff: float
    mean_abs_diff: float
    tolerance: float

    @property
    def ok(self) -> bool:
        return self.rows > 0 and self.max_abs_diff <= self.tolerance

    def to_json(self) -> dict[str, object]:
        return {"rows": self.rows, "max_abs_diff": self.max_abs_diff, "mean_abs_diff": self.mean_abs_diff,
                "tolerance": self.tolerance, "passed": self.ok}


def parity(native: np.ndarray, onnx: np.ndarray, tolerance: float) -> ParityReport:
    d = np.abs(np.asarray(native, dtype=np.float64) - np.asarray(onnx, dtype=np.float64))
    return ParityReport(rows=int(len(d)), max_abs_diff=float(d.max()) if len(d) else float("inf"),
                        mean_abs_diff=float(d.mean()) if len(d) else float("inf"), tolerance=tolerance)


@dataclass(frozen=True)
class LatencyReport:
    calls: int
    p50_ms: float
    p99_ms: float

    def to_json(self) -> dict[str, object]:
        return {"calls": self.calls, "p50_ms": self.p50_ms, "p99_ms": self.p99_ms}


def latency(score: Callable[[np.ndarray], object], x: np.ndarray, calls: int = 300, warmup: int = 20) -> LatencyReport:
    """Single-row calls cycling over the rows of ``x``."""
    rows = [x[i % len(x): i % len(x) + 1] for i in range(calls + warmup)]
    for r in rows[:warmup]:
        score(r)
    times = []
    for r in rows[warmup:]:
        t0 = time.perf_counter()
        score(r)
        times.append((time.perf_counter() - t0) * 1000)
    return LatencyReport(calls=calls, p50_ms=float(np.percentile(times, 50)), p99_ms=float(np.percentile(times, 99)))
