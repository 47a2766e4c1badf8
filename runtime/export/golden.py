"""Golden inputs: a few holdout feature vectors and the scores the exported
graph gave them, shipped (signed) in the edge bundle so an edge runner can
prove a bundle answers as it did at export before serving it.

Rows are raw feature values (category names, numbers, ``null`` for missing),
exactly what ``POST /v1/predict`` takes, so the check goes through the same
encoding as a request.  The rows are the highest-scoring holdout rows plus
evenly spaced ones: both sides of the threshold, deterministic.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["GOLDEN", "GoldenError", "GoldenSet", "golden_json", "read_golden"]

GOLDEN = "golden.json"
GOLDEN_ROWS = 8


class GoldenError(Exception):
    """golden.json is missing a field or does not fit the model."""


@dataclass(frozen=True)
class GoldenSet:
    rows: tuple[Mapping[str, Any], ...]
    scores: tuple[float, ...]
    max_latency_ms: float  # the model's edge latency budget at export


def _raw(x: np.ndarray, features: tuple[str, ...], vocab: Mapping[str, tuple[str, ...]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for f, v in zip(features, x.tolist()):
        if math.isnan(v):
            out[f] = None
        elif f in vocab:
            out[f] = vocab[f][int(v)]
        else:
            out[f] = v  # float32-exact: re-encoding gives the same bits
    return out


def golden_json(x: np.ndarray, features: tuple[str, ...], vocab: Mapping[str, tuple[str, ...]],
                score: Callable[[np.ndarray], np.ndarray], max_latency_ms: float) -> bytes:
    """golden.json for the holdout matrix ``x`` (encoded, float32-exact) and the bundle's scorer."""
    if len(x) == 0:
        raise GoldenError("no holdout rows to take golden inputs from")
    all_scores = score(x)
    top = np.argsort(-all_scores, kind="stable")[: GOLDEN_ROWS // 2]
    spread = np.linspace(0, len(x) - 1, GOLDEN_ROWS - len(top)).round().astype(int)
    picked = sorted(set(top.tolist()) | set(spread.tolist()))
    rows = x[picked]
    scores = score(rows)  # scored as the batch the runner re-scores row by row
    body = {"rows": [_raw(r, features, vocab) for r in rows], "scores": [float(s) for s in scores],
            "max_latency_ms": max_latency_ms}
    return (json.dumps(body, indent=1, sort_keys=True) + "\n").encode()


def read_golden(data: bytes) -> GoldenSet:
    try:
        raw = json.loads(data)
        rows = tuple(dict(r) for r in raw["rows"])
        scores = tuple(float(s) for s in raw["scores"])
        budget = float(raw["max_latency_ms"])
    except (ValueError, KeyError, TypeError) as exc:
        raise GoldenError(f"unreadable {GOLDEN}: {exc!r}") from None
    if not rows or len(rows) != len(scores):
        raise GoldenError(f"{GOLDEN} has {len(rows)} rows and {len(scores)} scores; need as many of each, at least one")
    return GoldenSet(rows, scores, budget)
