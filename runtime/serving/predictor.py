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
from runtime.contracts.monitoring import PredictionRecord
from runtime.contracts.policy import ModelInfo, PolicyBundle
from runtime.contracts.steps import ServeConfig
from runtime.predlog.store import LogError, PredictionLog
from runtime.serving.errors import BadInput, ServingError
from runtime.serving.metrics import ServingMetrics
from runtime.serving.online import FeatureRead, OnlineFeatures
from runtime.serving.policy import PolicyEngine, confidence
from runtime.serving.release import ServedRelease, resolve_releases
from runtime.serving.request import PredictionInput, parse_v1, parse_v2
from runtime.serving.review import InMemoryReviewQueue, ReviewHandoff, ReviewItem
from runtime.serving.scoring import OnnxScorer

__all__ = ["LogUnavailable", "ModelOutputError", "Prediction", "SpecOpsPredictor", "MAX_FUTURE_S"]

US = 1_000_000
MAX_FUTURE_S = 300.0  # clock skew tolerated on a caller's `at`
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
_CRITICALITY = ("low", "medium", "high", "critical")


class ModelOutputError(ServingError):
    """The model produced no usable score (a bug or a corrupt model): a 500."""

    status = 500
    reason = "model_error"


class LogUnavailable(ServingError):
    """The prediction log cannot record the answer: no answer leaves unlogged."""

    status = 503
    reason = "internal"


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
    at_us: int = 0  # ``at`` in UTC microseconds (the prediction log's at_us)

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
                 review: ReviewHandoff | None = None, clock_us: Callable[[], int] | None = None,
                 prediction_log: PredictionLog | None = None) -> None:
        super().__init__(config.model)
        self.config = config
        self.review: ReviewHandoff = review if review is not None else InMemoryReviewQueue()
        self._given_features = features
        self._given_log = prediction_log
        self.prediction_log: PredictionLog | None = None
        self._compactor: Any = None
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
        self._open_log()
        self.ready = True
        return True

    # --------------------------------------------------------------- predict

    def predict(self, payload: Any, headers: dict[str, str] | None = None) -> Any:
        started = time.perf_counter()
        rid = request_id(headers)
        if isinstance(payload, InferRequest):
            results = self.predict_many(parse_v2(payload), rid)
            self._log_answered(results, started)
            return self._v2_response(results, rid)
        results = self.predict_many(parse_v1(payload), rid)
        self._log_answered(results, started)
        return {"predictions": [p.to_json() for p in results]}

    # --------------------------------------------------------- prediction log

    def _open_log(self) -> None:
        cfg = self.config.prediction_log
        log = self._given_log
        if log is None and cfg is not None:
            log = PredictionLog(cfg.path, cfg.synchronous)
        if log is not None:
            # The Parquet ``features`` struct: categories as strings, the rest as numbers.
            log.set_feature_types(self.config.model, {
                f: "float64" if codes is None else "string"
                for f, codes in zip(self.scorer.encoding.features, self.scorer.encoding.codes)})
        self.prediction_log = log
        if cfg is not None and cfg.compact_every_s is not None and self._given_log is None:
            from runtime.predlog.compactor import BackgroundCompactor

            self._compactor = BackgroundCompactor(cfg.path, cfg.root, cfg.compact_every_s).start()

    def _log_answered(self, results: list[Prediction], started: float) -> None:
        """One transaction per request, committed before the answer leaves."""
        log = self.prediction_log
        if log is None:
            return
        latency = time.perf_counter() - started
        served = self._clock_us()
        try:
            log.append([PredictionRecord(
                seq=0, prediction_id=p.prediction_id, request_id=p.request_id, served_at_us=served, at_us=p.at_us,
                entity=p.entity, model=p.model, version=p.version, release=p.release, role=p.role,
                environment=p.environment, spec_hash=p.spec_hash, score=p.score, threshold=p.threshold,
                decision=p.decision, confidence=p.confidence, action=p.action, rule=p.rule,
                feature_vector_sha256=p.feature_vector_sha256, feature_age_s=p.feature_age_seconds,
                latency_s=latency, status=200, error=None, fallback=None, features=p.features) for p in results])
        except LogError as exc:
            raise LogUnavailable(f"the prediction log cannot record this answer: {exc}") from None

    def log_failure(self, rid: str, status: int, reason: str, latency_s: float) -> None:
        """A refused or failed request (the HTTP edge calls this with its final status)."""
        log = self.prediction_log
        if log is None or not self.ready:
            return
        now = self._clock_us()
        served = self.served
        log.append([PredictionRecord(
            seq=0, prediction_id=f"{rid}/-", request_id=rid, served_at_us=now, at_us=now, entity="",
            model=self.config.model, version=served.version, release=served.release, role=self.config.role,
            environment=self.config.environment, spec_hash=self.config.spec_hash, score=None, threshold=None,
            decision=None, confidence=None, action=None, rule=None, feature_vector_sha256=None, feature_age_s=None,
            latency_s=latency_s, status=status, error=reason, fallback=None)])

    def predict_many(self, inputs: tuple[PredictionInput, ...], rid: str) -> list[Prediction]:
        now = self._clock_us()
        for i, inp in enumerate(inputs):
            if inp.at_us is not None and inp.at_us > now + MAX_FUTURE_S * US:
                raise BadInput(f"instances[{i}].at: {_iso(inp.at_us)} is in the future (server time {_iso(now)})")
        return [self.predict_one(inp, rid, i, now) for i, inp in enumerate(inputs)]

    def predict_one(self, inp: PredictionInput, rid: str, index: int, now_us: int) -> Prediction:
        if inp.event is not None:
            self.features.apply_event(inp.entity, inp.event, inp.at_us if inp.at_us is not None else now_us,
                                      f"instances[{index}].event")
        read = self.features.read(inp.entity, inp.at_us, now_us)
        row = self.scorer.vector(read.values)
        score = self.scorer.score(row)
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
            feature_age_seconds=age, features=read.values, shadow=self._shadow(row), at_us=read.at_us)
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
        if self._compactor is not None:
            self._compactor.stop()
            self._compactor = None
        if self.prediction_log is not None and self._given_log is None:
            self.prediction_log.close()
            self.prediction_log = None
        self.ready = False
