"""The predictor: a ``kserve.Model``, the same class in the cluster image
and under `specops serve`.

Per prediction: the entity's online features (after its fresh event, if
the request carries one) -> the ONNX model's calibrated score -> decision by
the threshold -> the prediction rules -> action.  The answer carries what
makes it traceable: model version, release, spec hash, a hash of the exact
feature vector, request and prediction ids, and the reason (rule + message).
"""

from __future__ import annotations

import math
import re
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import kserve
from kserve.protocol.infer_type import InferOutput, InferRequest, InferResponse
from runtime.contracts.policy import ModelInfo, PolicyBundle
from runtime.contracts.steps import ServeConfig
from runtime.serving.errors import BadInput, ServingError, Timeout
from runtime.serving.metrics import ServingMetrics
from runtime.serving.online import FeatureRead, OnlineFeatures
from runtime.serving.policy import PolicyEngine, confidence
from runtime.serving.release import ServedRelease, resolve_releases
from runtime.serving.request import PredictionInput, parse_v1, parse_v2
from runtime.serving.review import InMemoryReviewQueue, ReviewHandoff, ReviewItem
from runtime.serving.scoring import OnnxScorer

__all__ = ["ModelOutputError", "Prediction", "SpecOpsPredictor", "MAX_FUTURE_S"]

US = 1_000_000
MAX_FUTURE_S = 300.0  # clock skew tolerated on a caller's `at`
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
_CRITICALITY = ("low", "medium", "high", "critical")


class ModelOutputError(ServingError):
    """The model produced no usable score (a bug or a corrupt model): a 500."""

    status = 500
    reason = "model_error"


@dataclass(frozen=True, slots=True)
class Prediction:
    prediction_id: str
    request_id: str
    entity: str
    at: str
    score: float
    threshold: float
    decision: bool
    confidence: float
    action: str
    rule: str | None
    reason: str
    model: str
    version: str
    release: str
    role: str
    environment: str
    spec_hash: str
    model_sha256: str
    feature_vector_sha256: str
    feature_age_seconds: float
    features: Mapping[str, Any]
    shadow: Mapping[str, Any] | None

    def to_json(self) -> dict[str, Any]:
        out = {
            "prediction_id": self.prediction_id, "request_id": self.request_id, "entity": self.entity, "at": self.at,
            "score": self.score, "threshold": self.threshold, "decision": self.decision,
            "confidence": self.confidence, "action": self.action,
            "reason": {"rule": self.rule, "message": self.reason},
            "model": {"name": self.model, "version": self.version, "release": self.release, "role": self.role,
                      "sha256": self.model_sha256},
            "environment": self.environment, "spec_hash": self.spec_hash,
            "feature_vector_sha256": self.feature_vector_sha256,
            "feature_age_seconds": self.feature_age_seconds, "features": dict(self.features),
        }
        if self.shadow is not None:
            out["shadow"] = dict(self.shadow)
        return out


def _iso(us: int) -> str:
    return datetime.fromtimestamp(us / US, tz=timezone.utc).isoformat().replace("+00:00", "Z")


def request_id(headers: Mapping[str, str] | None) -> str:
    given = (headers or {}).get("x-request-id", "")
    return given if _REQUEST_ID.match(given) else uuid.uuid4().hex


class SpecOpsPredictor(kserve.Model):
    def __init__(self, config: ServeConfig, *, features: OnlineFeatures | None = None,
                 review: ReviewHandoff | None = None, clock_us: Callable[[], int] | None = None) -> None:
        super().__init__(config.model)
        self.config = config
        self.review: ReviewHandoff = review if review is not None else InMemoryReviewQueue()
        self._given_features = features
        self._clock_us = clock_us or (lambda: time.time_ns() // 1000)
        self.ready = False

    # ------------------------------------------------------------------ load

    def load(self) -> bool:
        cfg = self.config
        self.served, shadow = resolve_releases(cfg)
        self.scorer = OnnxScorer(self.served.path, self.served.sha256)
        self.scorer.check_features(cfg.features)
        self.shadow_release: ServedRelease | None = shadow
        self.shadow_scorer = None
        if shadow is not None:
            self.shadow_scorer = OnnxScorer(shadow.path, shadow.sha256)
            self.shadow_scorer.check_features(cfg.features)
        bundle = PolicyBundle.model_validate_json(Path(cfg.policy_bundle).read_text(encoding="utf-8"))
        self.policy = PolicyEngine.for_model(bundle, cfg.model)
        self.features = self._given_features or OnlineFeatures.open(
            cfg.feature_sets, cfg.features, cfg.online_store, cfg.sources or ())
        self.metrics = ServingMetrics(cfg.model, self.served.version, cfg.environment,
                                      tuple(c.rule.id for c in self.policy.rules if c.rule.action == "human_review"))
        self.model_info = ModelInfo(name=cfg.model, version=self.served.version, release=self.served.release,
                                    risk_tier=cfg.risk_tier)
        self._model_variables = self.model_info.model_dump(mode="json", by_alias=True)
        self._rules_read_features = "features" in self.policy.variables
        self.ready = True
        return True

    # --------------------------------------------------------------- predict

    def predict(self, payload: Any, headers: dict[str, str] | None = None) -> Any:
        deadline = time.monotonic() + self.config.timeout_s
        rid = request_id(headers)
        if isinstance(payload, InferRequest):
            inputs = parse_v2(payload)
            results = self.predict_many(inputs, rid, deadline)
            return self._v2_response(results, rid)
        inputs = parse_v1(payload)
        return {"predictions": [p.to_json() for p in self.predict_many(inputs, rid, deadline)]}

    def predict_many(self, inputs: tuple[PredictionInput, ...], rid: str,
                     deadline: float | None = None) -> list[Prediction]:
        now = self._clock_us()
        for i, inp in enumerate(inputs):
            if inp.at_us is not None and inp.at_us > now + MAX_FUTURE_S * US:
                raise BadInput(f"instances[{i}].at: {_iso(inp.at_us)} is in the future (server time {_iso(now)})")
        return [self.predict_one(inp, rid, i, now, deadline) for i, inp in enumerate(inputs)]

    def _check_deadline(self, deadline: float | None, index: int, stage: str) -> None:
        """``timeout_s`` is enforced between the stages of each instance (predict
        runs on the server's event loop, where a running call cannot be
        interrupted): past it, the request answers 504 before any decision,
        review hand-off or decision metric is recorded for it."""
        if deadline is not None and time.monotonic() > deadline:
            over = time.monotonic() - deadline + self.config.timeout_s
            raise Timeout(f"instances[{index}]: the prediction took {over:.3f}s, beyond the model's timeout of "
                          f"{self.config.timeout_s:g}s (at the {stage}); nothing was decided, retry later "
                          "(if it persists, check the online store's latency)")

    def predict_one(self, inp: PredictionInput, rid: str, index: int, now_us: int,
                    deadline: float | None = None) -> Prediction:
        if inp.event is not None:
            self.features.apply_event(inp.entity, inp.event, inp.at_us if inp.at_us is not None else now_us,
                                      f"instances[{index}].event")
        read = self.features.read(inp.entity, inp.at_us, now_us)
        self._check_deadline(deadline, index, "online feature read")
        row = self.scorer.vector(read.values)
        score = self.scorer.score(row)
        self._check_deadline(deadline, index, "model call")
        if not (math.isfinite(score) and 0.0 <= score <= 1.0):
            raise ModelOutputError(f"the model returned {score!r} for entity {inp.entity!r}, not a probability")
        threshold = self.scorer.threshold
        decision = score >= threshold
        conf = confidence(score, threshold)
        context = self._context(inp.entity, read, score, threshold, decision, conf)
        verdict = self.policy.decide(context)
        action, rule, reason = verdict.action, verdict.rule, verdict.reason
        limit = self.config.max_feature_age_s
        age = read.age_s
        if action != "abstain" and limit is not None and age > limit:
            action, rule = "abstain", "max-feature-age"
            reason = f"features are {age:.0f}s old, beyond the model's maxFeatureAge of {limit:g}s"
        prediction = Prediction(
            prediction_id=f"{rid}/{index}", request_id=rid, entity=inp.entity, at=_iso(read.at_us), score=score,
            threshold=threshold, decision=decision, confidence=conf, action=action, rule=rule, reason=reason,
            model=self.config.model, version=self.served.version, release=self.served.release,
            role=self.config.role, environment=self.config.environment, spec_hash=self.config.spec_hash,
            model_sha256=self.served.sha256, feature_vector_sha256=OnnxScorer.vector_hash(row),
            feature_age_seconds=age, features=read.values, shadow=self._shadow(row))
        self.metrics.decision(action, rule)
        for fs_name, age in read.ages_s:
            self.metrics.feature_age(fs_name, age)
        if action == "human_review":
            self.review.submit(ReviewItem(
                prediction_id=prediction.prediction_id, request_id=rid, model=prediction.model,
                version=prediction.version, release=prediction.release, environment=prediction.environment,
                entity=inp.entity, score=score, threshold=threshold, rule=rule, reason=reason,
                feature_vector_sha256=prediction.feature_vector_sha256, at=prediction.at))
        return prediction

    def _context(self, entity: str, read: FeatureRead, score: float, threshold: float, decision: bool,
                 conf: float) -> dict[str, Any]:
        """The prediction rules' variables: ``PredictionContext.variables()``
        built directly (a validated model per request costs more than the rules;
        tests/runtime/serving/test_policy.py keeps the two identical)."""
        values = read.values
        criticality = values.get("criticality")
        kind = next((v for k, v in values.items() if (k == "type" or k.endswith("_type")) and isinstance(v, str)), "")
        out = {
            "score": score, "threshold": threshold, "decision": decision, "confidence": conf,
            "model": self._model_variables,
            "entity": {"id": entity, "type": kind, "criticality": criticality if criticality in _CRITICALITY else "medium"},
            "featureAgeSeconds": read.age_s, "environment": self.config.environment,
        }
        if self._rules_read_features:  # the largest variable: built only when a rule reads it
            out["features"] = {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in values.items()}
        return out

    def _shadow(self, row: Any) -> dict[str, Any] | None:
        if self.shadow_scorer is None or self.shadow_release is None:
            return None
        score = self.shadow_scorer.score(row)
        return {"version": self.shadow_release.version, "release": self.shadow_release.release, "score": score,
                "decision": score >= self.shadow_scorer.threshold}

    def _v2_response(self, results: list[Prediction], rid: str) -> InferResponse:
        n = [len(results)]

        def out(name: str, datatype: str, data: list[Any]) -> InferOutput:
            return InferOutput(name=name, shape=n, datatype=datatype, data=data)

        return InferResponse(
            response_id=rid, model_name=self.name, model_version=self.served.version,
            parameters={"release": self.served.release, "spec_hash": self.config.spec_hash,
                        "environment": self.config.environment},
            infer_outputs=[
                out("score", "FP64", [p.score for p in results]),
                out("decision", "BOOL", [p.decision for p in results]),
                out("action", "BYTES", [p.action for p in results]),
                out("rule", "BYTES", [p.rule or "" for p in results]),
                out("reason", "BYTES", [p.reason for p in results]),
                out("feature_vector_sha256", "BYTES", [p.feature_vector_sha256 for p in results]),
                out("prediction_id", "BYTES", [p.prediction_id for p in results]),
                out("feature_age_seconds", "FP64", [p.feature_age_seconds for p in results]),
            ])

    def unload(self) -> None:
        features = getattr(self, "features", None)
        if features is not None and self._given_features is None:
            features.close()
        self.ready = False
