"""Canary analysis in-process: deterministic routing, the judged criteria
(error rate, latency p99, score PSI against the champion, only after
minRequests), and the rollback's durable effects (incident once per key,
runtime-control file, audit record on a real SQLite audit log)."""

from __future__ import annotations

import json
import random
import uuid
from dataclasses import replace
from pathlib import Path

import pytest

from runtime.audit.database import SqliteDatabase
from runtime.audit.log import AuditLog
from runtime.contracts.monitoring import Incident, RuntimeControl, control_path
from runtime.contracts.steps import CanaryConfig
from runtime.monitoring.incidents import incident_path, read_incident, record_incident
from runtime.monitoring.psi import psi
from runtime.serving.canary import ArmSample, CanaryController, judge, p99, routes_to_challenger
from runtime.control.channel import FileChannel
from runtime.serving.control import ControlReader

CFG = CanaryConfig(steps=(10, 25, 50, 100), percent=25.0, interval_s=900, max_error_rate=0.01,
                   max_latency_p99_ms=200, max_score_psi=0.2, min_requests=300)


def sample(version: str, n: int, *, errors: int = 0, latency_s: float = 0.002, shift: float = 0.0,
           seed: int = 0) -> ArmSample:
    rng = random.Random(seed)
    scores = tuple(min(1.0, max(0.0, rng.betavariate(2, 5) + shift)) for _ in range(n - errors))
    return ArmSample(version, n, errors, tuple(latency_s * (1 + rng.random() * 0.1) for _ in range(n)), scores)


def test_routing_is_deterministic_per_request_id_and_matches_the_percent() -> None:
    ids = [uuid.UUID(int=i).hex for i in range(20_000)]
    chosen = [routes_to_challenger(i, 25.0) for i in ids]
    assert chosen == [routes_to_challenger(i, 25.0) for i in ids]  # a retry takes the same arm
    share = sum(chosen) / len(ids)
    assert abs(share - 0.25) < 0.01, share
    # raising the percent only adds requests to the challenger (a step forward never moves one back)
    assert all(routes_to_challenger(i, 50.0) for i, c in zip(ids, chosen) if c)
    assert not any(routes_to_challenger(i, 0.0) for i in ids[:1000])
    assert all(routes_to_challenger(i, 100.0) for i in ids[:1000])


def test_psi_is_near_zero_for_the_same_distribution_and_large_for_a_shift() -> None:
    same = psi(sample("a", 5000, seed=1).scores, sample("b", 5000, seed=2).scores)
    shifted = psi(sample("a", 5000, seed=1).scores, sample("b", 5000, shift=0.2, seed=2).scores)
    assert same.value < 0.02 and shifted.value > 0.5, (same.value, shifted.value)
    assert abs(sum(shifted.reference) - 1) < 1e-2 and len(shifted.edges) == 9
    constant = psi([0.3] * 100, [0.3] * 50 + [0.9] * 50)  # a constant reference still detects the move up
    assert constant.value > 1.0
    with pytest.raises(ValueError, match="at least one finite current value"):
        psi([0.1, 0.2], [float("nan")])


def test_judged_only_after_min_requests_then_each_criterion_fails_with_its_numbers() -> None:
    champion = sample("1.0.0", 3000, seed=1)
    assert judge(champion, sample("1.1.0", 299, errors=299, seed=2), CFG).status == "pending"
    ok = judge(champion, sample("1.1.0", 400, seed=2), CFG)
    assert ok.status == "pass" and ok.evidence["score_psi"]["psi"] < 0.1

    errors = judge(champion, sample("1.1.0", 400, errors=40, seed=2), CFG)
    assert errors.status == "fail"
    assert errors.failures[0] == "error rate 0.1000 (40/400) > maxErrorRate 0.01"
    assert errors.evidence["challenger"]["errors"] == 40

    slow = judge(champion, sample("1.1.0", 400, latency_s=0.5, seed=2), CFG)
    assert slow.status == "fail" and slow.failures[0].startswith("latency p99 5")

    shifted = judge(champion, sample("1.1.0", 400, shift=0.3, seed=2), CFG)
    assert shifted.status == "fail" and "score PSI" in shifted.failures[0]
    assert shifted.evidence["score_psi"]["psi"] > CFG.max_score_psi

    # too few champion scores to compare: error rate and latency judged, PSI not (never a silent pass)
    thin = judge(sample("1.0.0", 100, seed=1), sample("1.1.0", 400, seed=2), CFG)
    assert thin.status == "pending" and thin.evidence["score_psi"].startswith("not judged")
    assert p99([float(i) for i in range(1, 101)]) == 99.0


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def controller(tmp_path: Path, clock: Clock, audit: AuditLog | None = None, **cfg: object) -> CanaryController:
    config = CFG.model_copy(update={"min_requests": 50, **cfg})
    return CanaryController(config, mode="split", model="pump-failure", environment="local", work_dir=str(tmp_path),
                            champion="1.0.0", challenger="1.1.0", challenger_release="registry:candidate",
                            audit=audit, clock_us=lambda: 1_700_000_000_000_000, monotonic=clock)


def test_a_failing_challenger_is_rolled_back_with_an_incident_control_file_and_audit_record(tmp_path: Path) -> None:
    clock = Clock()
    db = SqliteDatabase(tmp_path / "review.db")
    audit = AuditLog(db)
    audit.setup()
    c = controller(tmp_path, clock, audit)
    assert c.percent == 25.0 and c.active
    for _ in range(500):
        c.observe("champion", 0.002, [0.2], False)
    verdict = None
    n = 0
    while verdict is None:
        n += 1
        verdict = c.observe("challenger", 0.002, (), True) if n % 2 else c.observe("challenger", 0.002, [0.2], False)
    assert n == 50  # judged at minRequests, failed at once
    assert verdict.status == "fail" and "error rate 0.5000 (25/50)" in verdict.failures[0]
    assert c.percent == 0.0 and not c.active and not c.to_challenger("any")
    assert c.observe("challenger", 0.002, (), True) is None  # nothing more after the rollback

    incident = c.rollback_incident
    assert incident is not None
    stored = read_incident(incident_path(tmp_path, incident.id))
    assert stored == incident and stored.kind == "canary_rollback" and stored.actions_taken == ("rollback",)
    assert "pull request" in stored.summary and stored.evidence["challenger"]["errors"] == 25
    control = json.loads(Path(control_path(str(tmp_path), "pump-failure", "local")).read_text())
    assert control["canary_percent"] == 0.0 and control["incident"] == incident.id
    [record] = list(audit.records())
    assert (record.action, record.subject, record.payload["challenger"]) == ("canary.rolled_back", incident.id, "1.1.0")
    assert audit.verify().ok

    # A restart (a new controller on the same work dir) does not resume the canary.
    clock.t += 5
    again = controller(tmp_path, clock)
    assert again.percent == 0.0 and not again.active


def test_incidents_are_recorded_once_per_key(tmp_path: Path) -> None:
    incident = Incident(id="abc", kind="canary_rollback", key="k", model="m", environment="e", opened_at_us=1,
                        summary="s", actions_taken=("rollback",), evidence={"n": 1})
    path, created = record_incident(tmp_path, incident)
    assert created
    retry = replace(incident, opened_at_us=2, summary="other", evidence={"n": 2})  # the same key seen again
    assert record_incident(tmp_path, retry) == (path, False)
    assert read_incident(path) == incident and list(path.parent.iterdir()) == [path]
    with pytest.raises(ValueError, match="unknown incident kind"):
        record_incident(tmp_path, replace(incident, id="def", kind="oops"))


def test_a_passing_window_is_recorded_and_a_new_one_starts(tmp_path: Path) -> None:
    clock = Clock()
    c = controller(tmp_path, clock, interval_s=60)
    for i in range(600):
        c.observe("champion", 0.002, [0.1 + (i % 10) / 20], False)
        if i % 4 == 0:
            c.observe("challenger", 0.002, [0.1 + (i // 4 % 10) / 20], False)
    clock.t += 61
    c.observe("champion", 0.002, [0.3], False)
    assert [v.status for v in c.verdicts] == ["pass"] and c.percent == 25.0
    assert c.samples()["challenger"].requests == 0  # a fresh window


def test_the_control_file_lowers_the_canary_and_is_reread_at_most_once_a_second(tmp_path: Path) -> None:
    clock = Clock()
    c = controller(tmp_path, clock)
    path = control_path(str(tmp_path), "pump-failure", "local")
    assert c.percent == 25.0  # no control file: no override
    FileChannel(path).update(actor="test", at_us=1, canary_percent=10.0, canary_reason="objective breach")
    assert c.percent == 25.0  # read a moment ago: not re-read yet
    clock.t += 1.0
    assert c.percent == 10.0
    FileChannel(path).update(actor="test", at_us=2, canary_percent=0.0, incident="x")
    clock.t += 1.0
    assert c.percent == 0.0 and not c.active  # 0: all traffic to the champion, the challenger idle
    Path(path).write_text("{not json")
    clock.t += 1.0
    assert ControlReader(path).current() == RuntimeControl()  # unreadable from the start: no override
    assert c.percent == 0.0  # unreadable later: the last good value stays
