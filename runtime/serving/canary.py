"""Champion and challenger in one predictor: who answers, how each arm does,
and the automatic rollback when the challenger is worse.

Split (canary): a request goes to the challenger when its request id hashes
below the current percent, so a retried request (same ``x-request-id``)
lands on the same arm.  Shadow: the challenger scores every request and
never answers.  Each arm's window collects requests, server errors, latency
and scores; ``judge`` (pure) compares them with the spec's analysis
(``spec.serving.canary.analysis``) once the challenger has ``min_requests``:

* error rate of the challenger  <= ``max_error_rate``
* latency p99 of the challenger <= ``max_latency_p99_ms``
* PSI of its scores against the champion's <= ``max_score_psi``

A failure is acted on as soon as it is judged (checked at most once a
second): traffic goes back to the champion at once (percent -> 0 in this
process), the decision is made durable in the runtime-control file (a
restart does not resume the canary, nor starts another challenger, until
the file is cleared or git changes the release), an Incident with the evidence is
recorded under the work dir, and an audit record is appended when the
predictor has a review store.  A window that ends without failure records a
pass (or "pending": too few requests); the next step is a pull request.
"""

from __future__ import annotations

import hashlib
import math
import random
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from runtime.contracts.monitoring import Incident, control_path
from runtime.contracts.steps import CanaryConfig
from runtime.monitoring.incidents import incident_id, record_incident
from runtime.monitoring.psi import psi
from runtime.control.channel import ControlChannel, FileChannel
from runtime.serving.control import ControlReader

if TYPE_CHECKING:
    from runtime.audit.log import AuditLog
    from runtime.control.refresher import ControlRefresher
    from runtime.serving.metrics import RolloutMetrics

__all__ = ["ArmSample", "ArmWindow", "CanaryController", "Mode", "Verdict", "judge", "p99", "routes_to_challenger"]

Mode = Literal["split", "shadow"]
RESERVOIR = 20_000  # latencies and scores kept per arm and window (counts are exact)
CHECK_EVERY_S = 1.0
PENDING_RECHECK_S = 0.05


def routes_to_challenger(request_id: str, percent: float) -> bool:
    """Deterministic per request id: the same id always takes the same arm."""
    if percent <= 0.0:
        return False
    if percent >= 100.0:
        return True
    bucket = int.from_bytes(hashlib.sha256(request_id.encode()).digest()[:4], "big") % 10_000
    return bucket < round(percent * 100)


def p99(values: tuple[float, ...] | list[float]) -> float:
    """Nearest-rank 99th percentile (an observed value, never interpolated)."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.99 * len(ordered)) - 1)]


@dataclass(frozen=True, slots=True)
class ArmSample:
    """What one arm did in a window (latencies and scores may be a uniform sample)."""

    version: str
    requests: int
    errors: int
    latencies_s: tuple[float, ...]
    scores: tuple[float, ...]

    @property
    def error_rate(self) -> float:
        return self.errors / self.requests if self.requests else 0.0

    def to_json(self) -> dict[str, Any]:
        return {"version": self.version, "requests": self.requests, "errors": self.errors,
                "error_rate": round(self.error_rate, 6),
                "latency_p99_ms": round(p99(self.latencies_s) * 1000, 3) if self.latencies_s else None,
                "scores": len(self.scores)}


@dataclass(frozen=True, slots=True)
class Verdict:
    status: Literal["pass", "fail", "pending"]
    failures: tuple[str, ...]  # one sentence per failed criterion, with its numbers
    evidence: Mapping[str, Any]


def judge(champion: ArmSample, challenger: ArmSample, config: CanaryConfig) -> Verdict:
    """The analysis of one window: pure, over the two arms' samples."""
    evidence: dict[str, Any] = {
        "champion": champion.to_json(), "challenger": challenger.to_json(),
        "thresholds": {"max_error_rate": config.max_error_rate, "max_latency_p99_ms": config.max_latency_p99_ms,
                       "max_score_psi": config.max_score_psi, "min_requests": config.min_requests},
    }
    if challenger.requests < config.min_requests:
        evidence["pending"] = f"{challenger.requests} of {config.min_requests} challenger requests"
        return Verdict("pending", (), evidence)
    failures: list[str] = []
    judged = 0
    rate = challenger.error_rate
    judged += 1
    if rate > config.max_error_rate:
        failures.append(f"error rate {rate:.4f} ({challenger.errors}/{challenger.requests}) "
                        f"> maxErrorRate {config.max_error_rate}")
    if challenger.latencies_s:
        judged += 1
        latency_ms = p99(challenger.latencies_s) * 1000
        if latency_ms > config.max_latency_p99_ms:
            failures.append(f"latency p99 {latency_ms:.1f} ms > maxLatencyP99Ms {config.max_latency_p99_ms:g}")
    enough_scores = min(len(champion.scores), len(challenger.scores)) >= config.min_requests
    if enough_scores:
        judged += 1
        result = psi(champion.scores, challenger.scores)
        evidence["score_psi"] = result.to_json()
        if result.value > config.max_score_psi:
            failures.append(f"score PSI {result.value:.3f} against the champion > maxScorePsi {config.max_score_psi:g}")
    else:
        evidence["score_psi"] = (f"not judged: {len(champion.scores)} champion and {len(challenger.scores)} "
                                 f"challenger scores, {config.min_requests} needed on each side")
    if failures:
        return Verdict("fail", tuple(failures), evidence)
    return Verdict("pass" if judged == 3 else "pending", (), evidence)


class ArmWindow:
    """One arm's running counts, plus reservoir samples of latency and score."""

    def __init__(self, version: str, seed: int) -> None:
        self.version = version
        self.requests = 0
        self.errors = 0
        self._latencies: list[float] = []
        self._scores: list[float] = []
        self._rng = random.Random(seed)
        self._scored = 0

    def _keep(self, sample: list[float], seen: int, value: float) -> None:
        if len(sample) < RESERVOIR:
            sample.append(value)
        else:
            slot = self._rng.randrange(seen)
            if slot < RESERVOIR:
                sample[slot] = value

    def observe(self, latency_s: float, scores: Sequence[float], error: bool) -> None:
        self.requests += 1
        self.errors += error
        self._keep(self._latencies, self.requests, latency_s)
        for score in scores:
            if math.isfinite(score):
                self._scored += 1
                self._keep(self._scores, self._scored, score)

    def sample(self) -> ArmSample:
        return ArmSample(self.version, self.requests, self.errors, tuple(self._latencies), tuple(self._scores))


def _now_us() -> int:
    return time.time_ns() // 1000


class CanaryController:
    """The challenger's share of traffic and its analysis, in one predictor."""

    def __init__(self, config: CanaryConfig, *, mode: Mode, model: str, environment: str, work_dir: str,
                 champion: str, challenger: str, challenger_release: str,
                 audit: AuditLog | None = None, metrics: RolloutMetrics | None = None,
                 clock_us: Callable[[], int] = _now_us, monotonic: Callable[[], float] = time.monotonic,
                 control: ControlReader | ControlRefresher | None = None,
                 channel: ControlChannel | None = None) -> None:
        self.config = config
        self.mode = mode
        self.model, self.environment, self.work_dir = model, environment, work_dir
        self.champion_version, self.challenger_version = champion, challenger
        self.challenger_release = challenger_release
        self._audit, self._metrics = audit, metrics
        self._clock_us, self._monotonic = clock_us, monotonic
        # The predictor's reader and channel (shared with its breakers); by default the control file.
        self.control = control or ControlReader(control_path(work_dir, model, environment), clock=monotonic)
        self.channel: ControlChannel = channel or FileChannel.of(work_dir, model, environment)
        self._lock = threading.Lock()
        self._rolled_back = False
        self.rollback_incident: Incident | None = None
        self.verdicts: list[Verdict] = []
        self._new_window()
        self._publish()

    # ------------------------------------------------------------ routing

    @property
    def percent(self) -> float:
        """The challenger's share now: the config's, lowered by the control file, 0 once rolled back."""
        if self._rolled_back:
            return 0.0
        override = self.control.current().canary_percent
        configured = self.config.percent if self.mode == "split" else 0.0
        return configured if override is None else min(configured, override)

    @property
    def active(self) -> bool:
        """Whether the challenger still scores: not after a rollback, nor while the control file says 0."""
        return not self._rolled_back and self.control.current().canary_percent != 0

    def to_challenger(self, request_id: str) -> bool:
        return self.mode == "split" and routes_to_challenger(request_id, self.percent)

    # ------------------------------------------------------------ analysis

    def _new_window(self) -> None:
        self._window_start = self._monotonic()
        self._window_index = getattr(self, "_window_index", -1) + 1
        self._arms = {"champion": ArmWindow(self.champion_version, 2 * self._window_index),
                      "challenger": ArmWindow(self.challenger_version, 2 * self._window_index + 1)}
        self._next_check = self._window_start

    def observe(self, arm: Literal["champion", "challenger"], latency_s: float, scores: Sequence[float],
                error: bool) -> Verdict | None:
        """Record one request's outcome on an arm; returns the failing verdict
        when this observation triggered the rollback."""
        if self._rolled_back:
            return None
        if self._metrics is not None:
            version = self.champion_version if arm == "champion" else self.challenger_version
            role = "champion" if arm == "champion" else ("shadow" if self.mode == "shadow" else "canary")
            self._metrics.arm(version, role, not error)
        with self._lock:
            self._arms[arm].observe(latency_s, scores, error)
            now = self._monotonic()
            window_over = now - self._window_start >= self.config.interval_s
            due = self._arms["challenger"].requests >= self.config.min_requests and now >= self._next_check
            if not (due or window_over):
                return None
            verdict = judge(self._arms["champion"].sample(), self._arms["challenger"].sample(), self.config)
            # pending (e.g. the champion's scores one short in shadow mode): look again very soon
            self._next_check = now + (PENDING_RECHECK_S if verdict.status == "pending" else CHECK_EVERY_S)
            if verdict.status != "fail" and window_over:
                self.verdicts.append(verdict)
                self._log(f"window {self._window_index} ({self.config.interval_s:g}s) {verdict.status}: "
                          f"{dict(verdict.evidence['challenger'])}")
                self._new_window()
                return None
            if verdict.status != "fail":
                return None
            self.verdicts.append(verdict)
            self._rolled_back = True  # before any I/O: the next request already goes to the champion
        self._publish()
        self.rollback_incident = self._record_rollback(verdict)
        return verdict

    def samples(self) -> dict[str, ArmSample]:
        with self._lock:
            return {name: arm.sample() for name, arm in self._arms.items()}

    # ------------------------------------------------------------ rollback

    def _publish(self) -> None:
        if self._metrics is not None:
            self._metrics.percent(self.challenger_version, self.percent)

    def _record_rollback(self, verdict: Verdict) -> Incident | None:
        at = self._clock_us()
        step = f"{self.config.percent:g}%" if self.mode == "split" else "shadow"
        key = f"{self.challenger_release}@{self.challenger_version}:{step}"
        summary = (f"{'canary' if self.mode == 'split' else 'shadow'} {self.challenger_version} "
                   f"({self.challenger_release}) at {step} failed its analysis: {'; '.join(verdict.failures)}. "
                   f"All traffic is back on the champion {self.champion_version}. The runtime changes nothing "
                   "else: the next step forward is a pull request (revert the canary release, or propose a fixed one).")
        evidence = {**verdict.evidence, "failures": list(verdict.failures), "mode": self.mode,
                    "percent_before": self.config.percent, "percent_after": 0,
                    "cluster": "InferenceService spec.predictor.canaryTrafficPercent -> 0 "
                               "(runtime.serving.rollout.canary_rollback_patch; Argo CD ignores that path)"}
        iid = incident_id("canary_rollback", self.model, self.environment, key)
        incident = Incident(id=iid, kind="canary_rollback", key=key, model=self.model, environment=self.environment,
                            opened_at_us=at, summary=summary, actions_taken=("rollback",), evidence=evidence)
        self._log(f"ROLLBACK: {summary}")
        try:
            path, created = record_incident(self.work_dir, incident)
            self._log(f"incident {iid} {'recorded' if created else 'already recorded'} at {path}")
        except OSError as exc:  # the rollback itself already happened in memory; say loudly what is missing
            self._log(f"error: the rollback is in effect but its incident could not be recorded: {exc}")
        try:
            self.channel.update(actor=f"predictor:{self.model}", at_us=at, canary_percent=0.0, canary_reason=summary,
                                incident=iid)
        except Exception as exc:  # noqa: BLE001 - the channel (file or database) being down must not undo it
            self._log(f"error: the rollback is in effect but could not be made durable in {self.channel.where}: {exc}")
        if self._audit is not None:
            try:
                self._audit.record(actor=f"predictor:{self.model}", action="canary.rolled_back", subject=iid,
                                   payload={"incident": iid, "environment": self.environment,
                                            "champion": self.champion_version, "challenger": self.challenger_version,
                                            "release": self.challenger_release, "failures": list(verdict.failures)},
                                   at_us=at)
            except Exception as exc:  # noqa: BLE001 - the audit store being down must not undo the rollback
                self._log(f"error: the rollback's audit record could not be written: {exc}")
        return incident

    def _log(self, message: str) -> None:
        print(f"canary {self.model}/{self.environment}: {message}", file=sys.stderr, flush=True)

    def status(self) -> dict[str, Any]:
        return {"mode": self.mode, "percent": self.percent, "rolled_back": self._rolled_back,
                "champion": self.champion_version, "challenger": self.challenger_version,
                "arms": {k: v.to_json() for k, v in self.samples().items()},
                "incident": self.rollback_incident.id if self.rollback_incident else None}

