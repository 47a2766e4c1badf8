"""One loaded, warmed release: what the predictor swaps atomically.

A ``LoadedRelease`` is immutable once built: its ONNX session, the model
facts its answers carry and its metrics.  The predictor holds its current
``Arms`` (champion, optional challenger and the canary controller) in one
attribute; a request reads it once, so a reload mid-request changes nothing
for that request, and the old session lives until the last request holding
it has answered.

Warming runs the golden inputs (the rows the current release recently
served, plus an all-missing row) through the new session before the
switch: a release whose model cannot score them -- an error, NaN, a value
outside [0, 1] -- is refused and the old one keeps serving.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from runtime.contracts.policy import ModelInfo
from runtime.contracts.steps import ServeConfig
from runtime.serving.metrics import ServingMetrics
from runtime.serving.release import ServedRelease
from runtime.serving.scoring import ModelFileError, OnnxScorer

__all__ = ["Arms", "LoadedRelease", "WarmError", "load_release", "warm"]


class WarmError(ModelFileError):
    """The release loaded, but cannot score the golden inputs."""


@dataclass(frozen=True, slots=True)
class LoadedRelease:
    served: ServedRelease
    scorer: OnnxScorer
    metrics: ServingMetrics
    model_info: ModelInfo
    model_variables: dict[str, Any]  # the rules' ``model`` variable
    role: str                        # champion | canary (what its answers say)


@dataclass(frozen=True, slots=True)
class Arms:
    champion: LoadedRelease
    challenger: LoadedRelease | None = None
    shadow: LoadedRelease | None = None
    controller: Any = None           # runtime.serving.canary.CanaryController, when analysed


def load_release(config: ServeConfig, served: ServedRelease, role: str, rules: tuple[str, ...]) -> LoadedRelease:
    scorer = OnnxScorer(served.path, served.sha256)
    scorer.check_features(config.features)
    info = ModelInfo(name=config.model, version=served.version, release=served.release, risk_tier=config.risk_tier)
    return LoadedRelease(served, scorer, ServingMetrics(config.model, served.version, config.environment, rules),
                         info, info.model_dump(mode="json", by_alias=True), role)


def warm(loaded: LoadedRelease, rows: list[np.ndarray]) -> int:
    """Score every golden row; returns how many were scored, raises WarmError."""
    width = len(loaded.scorer.features)
    golden = [r for r in rows if r.shape == (1, width)] + [np.full((1, width), np.nan, dtype=np.float32)]
    for i, row in enumerate(golden):
        try:
            score = loaded.scorer.score(row)
        except Exception as exc:  # onnxruntime raises its own untyped errors
            raise WarmError(f"{loaded.served.release} {loaded.served.version}: golden input {i} failed: {exc}") from None
        if not (math.isfinite(score) and 0.0 <= score <= 1.0):
            raise WarmError(f"{loaded.served.release} {loaded.served.version}: golden input {i} scored {score!r}, "
                            "not a probability")
    return len(golden)
