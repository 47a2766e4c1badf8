"""The golden-input health check a bundle passes before it serves.

Every golden row goes through the request path's encoding
(``OnnxScorer.vector``) and one single-row ``session.run``; the score must
match the one export recorded within ``tolerance`` and the single-row p99
latency must stay within the edge budget.  A pure function of the scorer and
the golden set (plus the clock).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from runtime.export.golden import GoldenSet
from runtime.serving.scoring import OnnxScorer

__all__ = ["HealthReport", "check_health"]

# Timed single-row calls: enough for a p99 without delaying a switch by much.
LATENCY_CALLS = 200
WARMUP_CALLS = 10
# A busy gateway can deschedule us mid-round; a slow model is slow every round.
# So the best of a few rounds' p99 is judged (a model over budget still fails).
LATENCY_ROUNDS = 3


@dataclass(frozen=True)
class HealthReport:
    rows: int
    max_abs_diff: float
    tolerance: float
    p99_ms: float
    budget_ms: float
    problem: str | None  # None: healthy

    @property
    def ok(self) -> bool:
        return self.problem is None

    def to_json(self) -> dict[str, Any]:
        return {"rows": self.rows, "max_abs_diff": self.max_abs_diff, "tolerance": self.tolerance,
                "p99_ms": round(self.p99_ms, 4), "budget_ms": self.budget_ms, "problem": self.problem}


def check_health(scorer: OnnxScorer, golden: GoldenSet, tolerance: float, budget_ms: float) -> HealthReport:
    unknown = sorted({k for row in golden.rows for k in row} - set(scorer.features))
    if unknown:
        return HealthReport(len(golden.rows), math.inf, tolerance, math.nan, budget_ms,
                            f"golden rows name features the model does not take: {', '.join(unknown)}")
    vectors = [scorer.vector(row) for row in golden.rows]
    scores = np.array([scorer.score(v) for v in vectors])
    diff = np.abs(scores - np.array(golden.scores))
    diff = np.where(np.isnan(diff), np.inf, diff)  # a NaN score is never healthy
    worst = float(diff.max())
    for i in range(WARMUP_CALLS):
        scorer.score(vectors[i % len(vectors)])
    p99 = math.inf
    for _ in range(LATENCY_ROUNDS):
        times = np.empty(LATENCY_CALLS)
        for i in range(LATENCY_CALLS):
            t0 = time.perf_counter()
            scorer.score(vectors[i % len(vectors)])
            times[i] = time.perf_counter() - t0
        p99 = min(p99, float(np.percentile(times, 99)) * 1000.0)
        if p99 <= budget_ms:
            break
    problem = None
    if not worst <= tolerance:
        i = int(np.argmax(diff))
        problem = (f"golden row {i}: score {scores[i]:.6g} differs from the exported {golden.scores[i]:.6g} by "
                   f"{worst:.3g}, above the tolerance {tolerance:g}")
    elif p99 > budget_ms:
        problem = f"single-row p99 latency {p99:.3f} ms above the edge budget {budget_ms:g} ms"
    return HealthReport(len(golden.rows), worst, tolerance, p99, budget_ms, problem)
