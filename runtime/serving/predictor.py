"""The predictor: a ``kserve.Model``, the same class in the cluster image
and under `specops serve`.

Per prediction: the entity's online features (after its fresh event, if
the request carries one) -> the ONNX model's calibrated score -> decision by
the threshold -> the prediction rules -> action.  The answer carries what
makes it traceable: model version, release, spec hash, a hash of the exact
feature vector, request and prediction ids, and the reason (rule + message).

Circuit breakers (the ServiceLevel's ``circuitBreaker``) guard the online
store (read and apply) and the model call.  A failure while a breaker is
closed is the request's error (503 / 500); once it is open (or half-open
with its probes taken, or a probe failed, or ``RuntimeControl`` forces every
circuit open) the answer comes from the declared fallback, marked with
``breaker: {dependency, state, fallback}`` and the rule
``circuit-open:<dependency>``:

* ``human_review``: action ``human_review``, and the item goes to the review
  hand-off like any escalation;
* ``conservative_rule``: a fixed decision: failure assumed (decision true,
  action ``auto``) -- for a failure predictor the side that inspects the
  asset rather than ignores it;
* ``previous_model``: the previous release scores the same features and the
  prediction rules decide as usual; without features (the store is the open
  circuit) nothing can score, and the answer is ``abstain``.

Without a model score, ``score``, ``feature_age_seconds`` and
``feature_vector_sha256`` are null (NaN / "" in V2), and the review item's
score is set at the threshold (its "failure predicted" side).
"""

from __future__ import annotations

import json
import logging
import math
import re
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, NamedTuple

import kserve
from kserve.protocol.infer_type import InferOutput, InferRequest, InferResponse
from runtime.contracts.monitoring import PredictionRecord
from runtime.contracts.policy import ModelInfo, PolicyBundle
from runtime.contracts.steps import ServeConfig
from runtime.predlog.store import LogError, PredictionLog, journal_line
from runtime.serving.breaker import CLOSED, OPEN, CircuitBreaker
from runtime.serving.canary import CanaryController
from runtime.control.channel import ControlChannel, FileChannel, open_channel
from runtime.control.refresher import ControlRefresher
from runtime.serving.control import ControlReader
from runtime.serving.errors import BadInput, FeaturesUnavailable, ServingError, Timeout
from runtime.serving.loaded import Arms, LoadedRelease, load_release, warm
from runtime.serving.metrics import RolloutMetrics, ServingMetrics
from runtime.serving.online import FeatureRead, OnlineFeatures
from runtime.serving.policy import PolicyEngine, confidence
from runtime.serving.release import ServedRelease, resolve_challenger, resolve_previous, resolve_releases
from runtime.serving.request import PredictionInput, new_request_id, parse_v1, parse_v2
from runtime.serving.review import InMemoryReviewQueue, ReviewHandoff, ReviewItem
from runtime.serving.scoring import OnnxScorer

__all__ = ["FORCED", "MODEL", "LogUnavailable", "ModelOutputError", "Prediction", "SpecOpsPredictor", "MAX_FUTURE_S", "STORE"]

log = logging.getLogger(__name__)
US = 1_000_000
MAX_FUTURE_S = 300.0  # clock skew tolerated on a caller's `at`
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
_CRITICALITY = ("low", "medium", "high", "critical")
# The dependencies breakers guard (runtime.contracts.metrics.CIRCUIT_DEPENDENCIES),
# and the mark of a RuntimeControl that forces every circuit open.
STORE, MODEL, FORCED = "online-store", "model", "all"


class ModelOutputError(ServingError):
    """The model produced no usable score (a bug or a corrupt model): a 500."""

    status = 500
    reason = "model_error"


class LogUnavailable(ServingError):
    """The prediction log cannot record the answer: no answer leaves unlogged."""

    status = 503
    reason = "internal"


class Prediction(NamedTuple):
    """One answered instance.  Immutable; a NamedTuple rather than a frozen
    dataclass because it is built on every prediction, and a frozen
    dataclass's ``__init__`` (one ``object.__setattr__`` per field) costs
    ~1.5 µs more for these 24 fields."""

    prediction_id: str
    request_id: str
    entity: str
    at: str
    score: float | None  # None: a breaker's fallback answered without a model score
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
    feature_vector_sha256: str | None
    feature_age_seconds: float | None
    features: Mapping[str, Any]
    shadow: Mapping[str, Any] | None
    breaker: Mapping[str, Any] | None = None  # {dependency, state, fallback, ...} when a breaker chose the answer
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
        if self.breaker is not None:
            out["breaker"] = dict(self.breaker)
        return out


_SECOND: tuple[int, str] = (-1, "")  # the last second formatted: requests of one second share it


def _iso(us: int) -> str:
    """``datetime.isoformat`` of ``us`` in UTC with a ``Z`` (no fraction on a
    whole second), formatting the date and time once per second."""
    global _SECOND
    second, fraction = divmod(us, US)
    cached = _SECOND  # one reference read: another thread may replace it meanwhile
    if cached[0] == second:
        prefix = cached[1]
    else:
        prefix = datetime.fromtimestamp(second, tz=timezone.utc).isoformat()[:-6]  # without "+00:00"
        _SECOND = (second, prefix)
    return f"{prefix}.{fraction:06d}Z" if fraction else f"{prefix}Z"


def request_id(headers: Mapping[str, str] | None) -> str:
    given = (headers or {}).get("x-request-id", "")
    return given if _REQUEST_ID.match(given) else new_request_id()


GOLDEN_ROWS = 16  # recent feature rows kept to warm a reloaded release with


class SpecOpsPredictor(kserve.Model):
    def __init__(self, config: ServeConfig, *, features: OnlineFeatures | None = None,
                 review: ReviewHandoff | None = None, clock_us: Callable[[], int] | None = None,
                 breaker_clock: Callable[[], float] | None = None, control: ControlReader | None = None,
                 prediction_log: PredictionLog | None = None) -> None:
        super().__init__(config.model)
        self.config = config
        self.review: ReviewHandoff = review if review is not None else InMemoryReviewQueue()
        self._given_features = features
        self._given_control = control
        self._given_log = prediction_log
        self.prediction_log: PredictionLog | None = None
        self._compactor: Any = None
        self._clock_us = clock_us or (lambda: time.time_ns() // 1000)
        self._breaker_clock = breaker_clock or time.monotonic
        self.ready = False
        self._recent: deque[Any] = deque(maxlen=GOLDEN_ROWS)
        self._reload_lock = threading.Lock()

    # ------------------------------------------------------------------ load

    def load(self) -> bool:
        cfg = self.config
        bundle = PolicyBundle.model_validate_json(Path(cfg.policy_bundle).read_text(encoding="utf-8"))
        self.policy = PolicyEngine.for_model(bundle, cfg.model)
        self._review_rules = tuple(c.rule.id for c in self.policy.rules if c.rule.action == "human_review")
        self.rollout = RolloutMetrics(cfg.model, cfg.environment)
        self.control, self.control_channel = self._open_control()
        self._arms = self._build_arms(None)
        self.features = self._given_features or OnlineFeatures.open(
            cfg.feature_sets, cfg.features, cfg.online_store, cfg.sources or ())
        self._rules_read_features = "features" in self.policy.variables
        # The entity's type for the rules: the first of these (model order) holding a string.
        self._type_features = tuple(k for k in self.features.features if k == "type" or k.endswith("_type"))
        self.previous: LoadedRelease | None = None
        if cfg.breaker is not None and cfg.breaker.fallback == "previous_model":  # refused here, not in an outage
            self.previous = load_release(cfg, resolve_previous(cfg), cfg.role, self._review_rules)
        self._forced = False
        self._load_breakers()
        self._open_log()
        self.ready = True
        return True

    def _open_control(self) -> tuple[ControlReader | ControlRefresher, ControlChannel]:
        """The RuntimeControl reader and channel the config names: the file
        (stat on the request path, at most once a second) or the review
        store's row (a background refresher; requests read its snapshot)."""
        cfg = self.config
        channel = open_channel(cfg.control, cfg.work_dir, cfg.model, cfg.environment)
        if self._given_control is not None:
            return self._given_control, channel
        if isinstance(channel, FileChannel):
            return ControlReader(channel.path), channel
        rollout = self.rollout
        refresher = ControlRefresher(channel, interval_s=cfg.control.refresh_s if cfg.control else 1.0,
                                     on_refresh=lambda r: rollout.control_staleness(r.staleness_s()))
        return refresher.start(), channel

    def _load_breakers(self) -> None:
        cfg = self.config
        self.breakers: dict[str, CircuitBreaker] = {}
        if cfg.breaker is None:
            return
        for dep in (STORE, MODEL):
            self.breakers[dep] = CircuitBreaker(dep, cfg.breaker, clock=self._breaker_clock,
                                                on_change=lambda state, dep=dep: self._circuit_changed(dep, state))
            self.metrics.circuit(dep, CLOSED)

    def _circuit_changed(self, dependency: str, state: str) -> None:
        if not self._forced:  # while forced open the gauge says open
            self.metrics.circuit(dependency, state)
        log.warning("circuit breaker %s of %s: %s", dependency, self.config.model, state)

    # The current arms' parts under their pre-reload names (read by `serve`, tests and the guard's metrics).
    served = property(lambda self: self._arms.champion.served)
    scorer = property(lambda self: self._arms.champion.scorer)
    metrics = property(lambda self: self._arms.champion.metrics)
    model_info = property(lambda self: self._arms.champion.model_info)
    shadow_release = property(lambda self: self._arms.shadow.served if self._arms.shadow else None)
    shadow_scorer = property(lambda self: self._arms.shadow.scorer if self._arms.shadow else None)
    challenger = property(lambda self: self._arms.challenger)
    canary = property(lambda self: self._arms.controller)

    def _build_arms(self, current: Arms | None) -> Arms:
        """Resolve what the config serves now and load it, reusing what
        ``current`` already has loaded (same sha256); new releases are warmed
        on ``current``'s recent rows before they are returned."""
        cfg = self.config
        served, shadow = resolve_releases(cfg)
        challenger = resolve_challenger(cfg, served)
        if challenger is not None and shadow is not None:
            shadow = None  # a canary answers; shadow-scoring the same challenger again would double its cost
        have = {} if current is None else {
            (a.served.sha256, a.role): a for a in (current.champion, current.challenger, current.shadow) if a}
        rows = list(self._recent)

        def get(release: ServedRelease | None, role: str) -> LoadedRelease | None:
            if release is None:
                return None
            found = have.get((release.sha256, role))
            if found is not None and found.served == release:
                return found
            loaded = load_release(cfg, release, role, self._review_rules)
            if current is not None:
                warm(loaded, rows)
            return loaded

        champion = get(served, cfg.role)
        assert champion is not None
        arms = Arms(champion, get(challenger, "canary"), get(shadow, "shadow"))
        other = arms.challenger or arms.shadow
        if cfg.canary is None or other is None:
            return arms
        same = (current is not None and current.controller is not None
                and (current.champion.served, (current.challenger or current.shadow).served)  # type: ignore[union-attr]
                == (arms.champion.served, other.served))
        controller = current.controller if same else CanaryController(  # type: ignore[union-attr]
            cfg.canary, mode="split" if arms.challenger else "shadow", model=cfg.model, environment=cfg.environment,
            work_dir=cfg.work_dir, champion=champion.served.version, challenger=other.served.version,
            challenger_release=other.served.release, audit=getattr(self.review, "audit", None), metrics=self.rollout,
            clock_us=self._clock_us, control=self.control, channel=self.control_channel)
        return Arms(arms.champion, arms.challenger, arms.shadow, controller)

    def reload(self) -> bool:
        """Load and warm what the config names now, then switch atomically.
        Returns whether the served releases changed; a release that fails to
        load or warm is refused (logged, counted) and the current one keeps serving."""
        with self._reload_lock:  # one reload at a time; requests never wait for it
            current = self._arms
            try:
                arms = self._build_arms(current)
            except Exception as exc:  # noqa: BLE001 - whatever the new release does, the old one keeps serving
                self.rollout.reload(False)
                print(f"reload {self.config.model}: refused, still serving {current.champion.served.version}: {exc}",
                      file=sys.stderr, flush=True)
                return False
            if arms == current:
                return False
            self._arms = arms  # the switch: one reference assignment; in-flight requests keep their snapshot
            self.rollout.reload(True)
            extra = f", challenger {arms.challenger.served.version}" if arms.challenger else ""
            print(f"reload {self.config.model}: now serving {arms.champion.served.version} "
                  f"({arms.champion.served.release}{extra})", file=sys.stderr, flush=True)
            return True

    # --------------------------------------------------------------- predict

    def predict(self, payload: Any, headers: dict[str, str] | None = None) -> Any:
        started = time.perf_counter()
        results, rid = self._predictions(payload, headers)
        self._log_answered(results, started)
        return self._response(payload, results, rid)

    def _predictions(self, payload: Any, headers: dict[str, str] | None) -> tuple[list[Prediction], str]:
        deadline = time.monotonic() + self.config.timeout_s
        rid = request_id(headers)
        arms = self._arms  # one snapshot per request: a reload mid-request changes nothing for it
        inputs = parse_v2(payload) if isinstance(payload, InferRequest) else parse_v1(payload)
        return self._analysed(inputs, rid, arms, deadline), rid

    def _response(self, payload: Any, results: list[Prediction], rid: str) -> Any:
        if isinstance(payload, InferRequest):
            return self._v2_response(results, rid)
        return {"predictions": [p.to_json() for p in results]}

    # --------------------------------------------------------- prediction log

    def _open_log(self) -> None:
        cfg = self.config.prediction_log
        log = self._given_log
        if log is None and cfg is not None:
            log = PredictionLog(cfg.path, cfg.synchronous)
        if log is not None:
            # The Parquet ``features`` struct: categories as strings, the rest as numbers.
            encoding = self.scorer.encoding
            log.set_feature_types(self.config.model, {
                f: "float64" if codes is None else "string" for f, codes in zip(encoding.features, encoding.codes)})
        self.prediction_log = log
        if cfg is not None and cfg.compact_every_s is not None and self._given_log is None:
            from runtime.predlog.compactor import BackgroundCompactor

            self._compactor = BackgroundCompactor(cfg.path, cfg.root, cfg.compact_every_s).start()

    def _log_answered(self, results: list[Prediction], started: float) -> None:
        """The request's rows into this process's journal before the answer
        leaves (one write; ingested into the log's table in the background).
        The lines are made straight from the predictions: a ``PredictionRecord``
        per answer cost ~3 µs more (bench/serve)."""
        log = self.prediction_log
        if log is None:
            return
        latency = time.perf_counter() - started
        served = self._clock_us()
        lines = b"".join([journal_line(
            p.prediction_id, p.request_id, served, p.at_us, p.entity, p.model, p.version, p.release, p.role,
            p.environment, p.spec_hash, p.score, p.threshold, p.decision, p.confidence, p.action, p.rule,
            p.feature_vector_sha256, p.feature_age_seconds, latency, 200, None,
            p.breaker.get("fallback") if p.breaker else None, p.features) for p in results])
        try:
            log.record_lines(lines)
        except LogError as exc:
            raise LogUnavailable(f"the prediction log cannot record this answer: {exc}") from None

    def log_failure(self, rid: str, status: int, reason: str, latency_s: float) -> None:
        """A refused or failed request (the HTTP edge calls this with its final status)."""
        log = self.prediction_log
        if log is None or not self.ready:
            return
        now = self._clock_us()
        served = self.served
        log.record([PredictionRecord(
            seq=0, prediction_id=f"{rid}/-", request_id=rid, served_at_us=now, at_us=now, entity="",
            model=self.config.model, version=served.version, release=served.release, role=self.config.role,
            environment=self.config.environment, spec_hash=self.config.spec_hash, score=None, threshold=None,
            decision=None, confidence=None, action=None, rule=None, feature_vector_sha256=None, feature_age_s=None,
            latency_s=latency_s, status=status, error=reason, fallback=None)])

    def _analysed(self, inputs: tuple[PredictionInput, ...], rid: str, arms: Arms,
                  deadline: float | None = None) -> list[Prediction]:
        """predict_many on the request's arm, its outcome observed by the canary analysis."""
        controller: CanaryController | None = arms.controller
        if controller is None or not controller.active:
            return self.predict_many(inputs, rid, arms.champion, arms, deadline)
        arm = "challenger" if arms.challenger is not None and controller.to_challenger(rid) else "champion"
        start = time.perf_counter()
        try:
            results = self.predict_many(inputs, rid, arms.challenger if arm == "challenger" else arms.champion, arms,
                                        deadline)
        except ServingError as exc:
            if exc.status >= 500:
                controller.observe(arm, time.perf_counter() - start, (), True)
            raise
        except Exception:
            controller.observe(arm, time.perf_counter() - start, (), True)
            raise
        controller.observe(arm, time.perf_counter() - start, [p.score for p in results if p.score is not None], False)
        return results

    def predict_many(self, inputs: tuple[PredictionInput, ...], rid: str, loaded: LoadedRelease | None = None,
                     arms: Arms | None = None, deadline: float | None = None) -> list[Prediction]:
        now = self._clock_us()
        for i, inp in enumerate(inputs):
            if inp.at_us is not None and inp.at_us > now + MAX_FUTURE_S * US:
                raise BadInput(f"instances[{i}].at: {_iso(inp.at_us)} is in the future (server time {_iso(now)})")
        arms = arms or self._arms
        loaded = loaded or arms.champion
        return [self.predict_one(inp, rid, i, now, loaded, arms, deadline) for i, inp in enumerate(inputs)]

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
                    loaded: LoadedRelease | None = None, arms: Arms | None = None,
                    deadline: float | None = None) -> Prediction:
        arms = arms or self._arms
        loaded = loaded or arms.champion
        forced = self._forced_open(now_us)
        fallback = self.config.breaker.fallback if self.config.breaker is not None else None
        if forced is not None and fallback != "previous_model":
            return self._fallback(inp, rid, index, now_us, self._forced_mark(forced), None, None, loaded)

        def features() -> FeatureRead:
            if inp.event is not None:
                self.features.apply_event(inp.entity, inp.event, inp.at_us if inp.at_us is not None else now_us,
                                          f"instances[{index}].event")
            return self.features.read(inp.entity, inp.at_us, now_us)

        read, mark = self._guarded(STORE, features, FeaturesUnavailable)
        if read is None:
            return self._fallback(inp, rid, index, now_us, mark, None, None, loaded)
        self._check_deadline(deadline, index, "online feature read")
        row = loaded.scorer.vector(read.values)
        if forced is not None:
            return self._fallback(inp, rid, index, now_us, self._forced_mark(forced), read, row, loaded)
        if loaded is not arms.champion:
            # An in-process challenger is guarded by its canary analysis, not a breaker: its failures
            # must reach the analysis (and roll it back), and must never open the champion's circuit.
            score = self._score(loaded.scorer, row, inp.entity)
            self._check_deadline(deadline, index, "model call")
            return self._decide(inp, rid, index, read, row, score, loaded, arms, None)
        score, mark = self._guarded(MODEL, lambda: self._score(loaded.scorer, row, inp.entity), ModelOutputError)
        if score is None:
            return self._fallback(inp, rid, index, now_us, mark, read, row, loaded)
        self._check_deadline(deadline, index, "model call")
        self._recent.append(row)  # golden inputs for warming a reloaded release
        return self._decide(inp, rid, index, read, row, score, loaded, arms, None)

    def _decide(self, inp: PredictionInput, rid: str, index: int, read: FeatureRead, row: Any, score: float,
                loaded: LoadedRelease, arms: Arms | None, breaker: dict[str, Any] | None) -> Prediction:
        threshold = loaded.scorer.threshold
        decision = score >= threshold
        conf = confidence(score, threshold)
        age = read.age_s
        context = self._context(inp.entity, read, score, threshold, decision, conf, loaded, age)
        verdict = self.policy.decide(context)
        action, rule, reason = verdict.action, verdict.rule, verdict.reason
        limit = self.config.max_feature_age_s
        if action != "abstain" and limit is not None and age > limit:
            action, rule = "abstain", "max-feature-age"
            reason = f"features are {age:.0f}s old, beyond the model's maxFeatureAge of {limit:g}s"
        if breaker is not None:
            reason = f"{reason} [{breaker['reason']}]"
        prediction = Prediction(
            prediction_id=f"{rid}/{index}", request_id=rid, entity=inp.entity, at=_iso(read.at_us), score=score,
            threshold=threshold, decision=decision, confidence=conf, action=action, rule=rule, reason=reason,
            model=self.config.model, version=loaded.served.version, release=loaded.served.release,
            role=loaded.role, environment=self.config.environment, spec_hash=self.config.spec_hash,
            model_sha256=loaded.served.sha256, feature_vector_sha256=OnnxScorer.vector_hash(row),
            feature_age_seconds=age, features=read.values,
            shadow=self._shadow(row, arms) if breaker is None else None, breaker=breaker, at_us=read.at_us)
        for fs_name, fs_age in read.ages_s:
            loaded.metrics.feature_age(fs_name, fs_age)
        return self._answered(prediction, loaded)

    def _answered(self, prediction: Prediction, loaded: LoadedRelease) -> Prediction:
        loaded.metrics.decision(prediction.action, prediction.rule)
        if prediction.action == "human_review":
            # No score (a fallback): the threshold, the "failure predicted" side a reviewer checks.
            score = prediction.score if prediction.score is not None else prediction.threshold
            self.review.submit(ReviewItem(
                prediction_id=prediction.prediction_id, request_id=prediction.request_id, model=prediction.model,
                version=prediction.version, release=prediction.release, environment=prediction.environment,
                entity=prediction.entity, score=score, threshold=prediction.threshold, rule=prediction.rule,
                reason=prediction.reason, feature_vector_sha256=prediction.feature_vector_sha256 or "",
                at=prediction.at))
        return prediction

    # -------------------------------------------------------------- breakers

    @staticmethod
    def _score(scorer: OnnxScorer, row: Any, entity: str) -> float:
        try:
            score = scorer.score(row)
        except Exception as exc:  # onnxruntime raises its own untyped errors at run time
            raise ModelOutputError(f"the model failed for entity {entity!r}: {type(exc).__name__}: {exc}") from None
        if not (math.isfinite(score) and 0.0 <= score <= 1.0):
            raise ModelOutputError(f"the model returned {score!r} for entity {entity!r}, not a probability")
        return score

    def _guarded(self, dependency: str, call: Callable[[], Any], failure: type[ServingError]
                 ) -> tuple[Any, dict[str, Any] | None]:
        """(result, None), or (None, the breaker mark) when the fallback answers.
        A failure while the circuit stays closed is raised (the request fails);
        any other error is the caller's, and the dependency answered."""
        breaker = self.breakers.get(dependency)
        if breaker is None:
            return call(), None
        ticket = breaker.admit()
        if ticket is None:
            return None, self._mark(breaker, breaker.state, f"circuit {breaker.state.replace('_', '-')} on "
                                                             f"{dependency}")
        try:
            out = call()
        except failure as exc:
            state = breaker.record(ticket, ok=False)
            if state == CLOSED:
                raise
            return None, self._mark(breaker, state, f"circuit open on {dependency}: {exc.message}")
        except BaseException:
            breaker.record(ticket, ok=True)
            raise
        breaker.record(ticket, ok=True)
        return out, None

    def _mark(self, breaker: CircuitBreaker, state: str, reason: str) -> dict[str, Any]:
        return {"dependency": breaker.dependency, "state": state, "fallback": breaker.config.fallback,
                "reason": reason}

    def _forced_open(self, now_us: int) -> Any:
        if not self.breakers:
            return None
        forced = self.control.forced_open(now_us)
        if (forced is not None) != self._forced:
            self._forced = forced is not None
            for dep, breaker in self.breakers.items():
                self.metrics.circuit(dep, OPEN if self._forced else breaker.state)
            log.warning("runtime control %s: every circuit %s (%s)", self.control.path,
                        "forced open" if self._forced else "released",
                        (forced.circuit_reason or "no reason given") if forced else "its time is over")
        return forced

    def _forced_mark(self, forced: Any) -> dict[str, Any]:
        assert self.config.breaker is not None
        until = _iso(forced.circuit_forced_open_until_us)
        return {"dependency": FORCED, "state": "forced_open", "fallback": self.config.breaker.fallback,
                "reason": f"every circuit forced open until {until}: {forced.circuit_reason or 'no reason given'}",
                "incident": forced.incident}

    def _fallback(self, inp: PredictionInput, rid: str, index: int, now_us: int, mark: dict[str, Any] | None,
                  read: FeatureRead | None, row: Any, loaded: LoadedRelease) -> Prediction:
        """The declared fallback's answer (see the module docstring)."""
        assert mark is not None and self.config.breaker is not None
        fallback = self.config.breaker.fallback
        if fallback == "previous_model" and read is not None and self.previous is not None:
            previous = self.previous
            score = self._score(previous.scorer, row, inp.entity)  # a failing previous model is a 500 too
            return self._decide(inp, rid, index, read, row, score, previous, None,
                                {**mark, "version": previous.served.version})
        rule = f"circuit-open:{mark['dependency']}"
        decision = True
        if fallback == "human_review":
            action, reason = "human_review", f"{mark['reason']}; routed to a human (declared fallback)"
        elif fallback == "conservative_rule":
            action, reason = "auto", f"{mark['reason']}; conservative rule: failure assumed (declared fallback)"
        else:  # previous_model without features: nothing can score
            action, decision = "abstain", False
            reason = f"{mark['reason']}; no features, so the previous model cannot score either"
        at = inp.at_us if inp.at_us is not None else now_us
        return self._answered(Prediction(
            prediction_id=f"{rid}/{index}", request_id=rid, entity=inp.entity,
            at=_iso(read.at_us if read is not None else at), score=None, threshold=loaded.scorer.threshold,
            decision=decision, confidence=0.0, action=action, rule=rule, reason=reason, model=self.config.model,
            version=loaded.served.version, release=loaded.served.release, role=loaded.role,
            environment=self.config.environment, spec_hash=self.config.spec_hash, model_sha256=loaded.served.sha256,
            feature_vector_sha256=OnnxScorer.vector_hash(row) if row is not None else None,
            feature_age_seconds=read.age_s if read is not None else None,
            features=read.values if read is not None else {}, shadow=None, breaker=mark,
            at_us=read.at_us if read is not None else at), loaded)

    def _context(self, entity: str, read: FeatureRead, score: float, threshold: float, decision: bool,
                 conf: float, loaded: LoadedRelease | None = None, age_s: float | None = None) -> dict[str, Any]:
        """The prediction rules' variables: ``PredictionContext.variables()``
        built directly (a validated model per request costs more than the rules;
        tests/runtime/serving/test_policy.py keeps the two identical)."""
        values = read.values
        criticality = values.get("criticality")
        kind = next((v for k in self._type_features if isinstance(v := values.get(k), str)), "")
        out = {
            "score": score, "threshold": threshold, "decision": decision, "confidence": conf,
            "model": (loaded or self._arms.champion).model_variables,
            "entity": {"id": entity, "type": kind, "criticality": criticality if criticality in _CRITICALITY else "medium"},
            "featureAgeSeconds": read.age_s if age_s is None else age_s, "environment": self.config.environment,
        }
        if self._rules_read_features:  # the largest variable: built only when a rule reads it
            out["features"] = {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in values.items()}
        return out

    def _shadow(self, row: Any, arms: Arms | None = None) -> dict[str, Any] | None:
        """The shadow's score for the same row: provenance only, never the answer.
        A failing shadow is recorded (and analysed), never the request's failure."""
        shadow = (arms or self._arms).shadow
        controller: CanaryController | None = (arms or self._arms).controller
        if shadow is None or (controller is not None and not controller.active):
            return None
        start = time.perf_counter()
        try:
            score = shadow.scorer.score(row)
            ok = math.isfinite(score) and 0.0 <= score <= 1.0
        except Exception as exc:  # noqa: BLE001 - onnxruntime's untyped errors; the champion still answers
            score, ok = math.nan, False
            error = str(exc)
        else:
            error = None if ok else f"not a probability: {score!r}"
        if controller is not None:
            controller.observe("challenger", time.perf_counter() - start, (score,) if ok else (), not ok)
        out = {"version": shadow.served.version, "release": shadow.served.release,
               "score": score if ok else None, "decision": (score >= shadow.scorer.threshold) if ok else None}
        if error is not None:
            out["error"] = error
        return out

    def _v2_response(self, results: list[Prediction], rid: str) -> InferResponse:
        n = [len(results)]

        def out(name: str, datatype: str, data: list[Any]) -> InferOutput:
            return InferOutput(name=name, shape=n, datatype=datatype, data=data)

        nan = math.nan
        first = results[0] if results else None
        parameters = {"release": first.release if first else self.served.release, "spec_hash": self.config.spec_hash,
                      "environment": self.config.environment}
        marks = [p.breaker for p in results if p.breaker is not None]
        if marks:  # the V1 "breaker" object, per row in the "breaker" output (JSON, "" when none)
            parameters["breaker"] = json.dumps(marks[0], sort_keys=True)
        return InferResponse(
            response_id=rid, model_name=self.name, model_version=first.version if first else self.served.version,
            parameters=parameters,
            infer_outputs=[
                out("score", "FP64", [p.score if p.score is not None else nan for p in results]),
                out("decision", "BOOL", [p.decision for p in results]),
                out("action", "BYTES", [p.action for p in results]),
                out("rule", "BYTES", [p.rule or "" for p in results]),
                out("reason", "BYTES", [p.reason for p in results]),
                out("feature_vector_sha256", "BYTES", [p.feature_vector_sha256 or "" for p in results]),
                out("prediction_id", "BYTES", [p.prediction_id for p in results]),
                out("feature_age_seconds", "FP64",
                    [p.feature_age_seconds if p.feature_age_seconds is not None else nan for p in results]),
                *([out("breaker", "BYTES", [json.dumps(p.breaker, sort_keys=True) if p.breaker else ""
                                            for p in results])] if marks else []),
            ])

    def unload(self) -> None:
        control = getattr(self, "control", None)
        if isinstance(control, ControlRefresher) and self._given_control is None:
            control.stop()  # its thread would read the channel after it is closed
        channel = getattr(self, "control_channel", None)
        if channel is not None:
            channel.close()  # opened by load() whoever reads it: a review store's connection
            self.control_channel = None
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
