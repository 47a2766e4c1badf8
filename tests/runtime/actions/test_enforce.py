"""Enforcement over the real store: idempotency, rate limit, hysteresis,
audit records and evidence, a restart that does not re-fire.  The effects
here record calls (their real implementations are tested in test_effects)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from actions_support import S, T0, monitor_config, result

from runtime.actions.effects import Outcome
from runtime.actions.enforce import enforce
from runtime.actions.state import ActionState
from runtime.audit.log import AuditLog


class Recorder:
    """Effects that record what was asked (and can be made to fail)."""

    def __init__(self, fail: set[str] | None = None) -> None:
        self.calls: list[tuple[str, str]] = []
        self.fail = fail or set()
        self.messages: list[dict[str, Any]] = []

    def _do(self, action: str, incident_id: str) -> Outcome:
        self.calls.append((action, incident_id))
        if action in self.fail:
            raise RuntimeError(f"{action} lever is down")
        return Outcome(True, {"did": action})

    def rollback(self, incident, result):  # type: ignore[no-untyped-def]
        return self._do("rollback", incident.id)

    def open_circuit(self, incident, result, until_us):  # type: ignore[no-untyped-def]
        return self._do("open_circuit", incident.id)

    def retrain(self, incident, result):  # type: ignore[no-untyped-def]
        return self._do("retrain", incident.id)

    def page(self, incident, message):  # type: ignore[no-untyped-def]
        self.messages.append(dict(message))
        return self._do("page", incident.id)


def test_a_breach_fires_each_declared_action_once(state: ActionState, tmp_path: Path) -> None:
    cfg = monitor_config(tmp_path)
    fx = Recorder()
    r = result(actions=("rollback", "open_circuit", "retrain", "page"))
    report = enforce([r], cfg, state, fx, T0)
    assert len(report.opened) == 1
    assert sorted(a for a, _ in fx.calls) == ["open_circuit", "page", "retrain", "rollback"]
    (inc,) = state.incidents("pump-failure", "open")
    assert sorted(inc.actions_taken) == ["open_circuit", "page", "retrain", "rollback"]
    assert inc.evidence["opened_by"]["value"] == 0.4 and len(inc.evidence["actions"]) == 4


def test_the_same_open_breach_seen_again_does_not_re_act(state: ActionState, tmp_path: Path) -> None:
    cfg = monitor_config(tmp_path)
    fx = Recorder()
    for i in range(10):  # ten monitoring runs, five minutes apart, the breach persisting
        enforce([result(actions=("rollback", "page"), at_us=T0 + i * 300 * S)], cfg, state, fx, T0 + i * 300 * S)
    assert [a for a, _ in fx.calls] == ["rollback", "page"]
    assert len(state.incidents("pump-failure")) == 1


def test_hysteresis_an_alternating_series_keeps_one_incident_and_never_re_fires(state: ActionState,
                                                                              tmp_path: Path) -> None:
    cfg = monitor_config(tmp_path, resolve_after_ok=3)
    fx = Recorder()
    for i in range(40):  # breach, ok, breach, ok, ... every 5 minutes for 200 minutes
        at = T0 + i * 300 * S
        status = "breach" if i % 2 == 0 else "ok"
        enforce([result(status=status, value=0.4 if status == "breach" else 0.2, at_us=at, actions=("rollback",))],
                cfg, state, fx, at)
    assert len(fx.calls) == 1  # 20 breaches, one rollback
    incidents = state.incidents("pump-failure")
    assert len(incidents) == 1 and incidents[0].status == "open"


def test_an_incident_resolves_after_k_ok_runs_and_a_new_breach_acts_again(state: ActionState, tmp_path: Path) -> None:
    cfg = monitor_config(tmp_path, resolve_after_ok=3, min_interval_s={"rollback": 0.0})
    fx = Recorder()
    series = ["breach", "ok", "ok", "ok", "breach"]
    reports = []
    for i, status in enumerate(series):
        at = T0 + i * 300 * S
        reports.append(enforce([result(status=status, value=0.4 if status == "breach" else 0.2, at_us=at)],
                               cfg, state, fx, at))
    assert [bool(r.resolved) for r in reports] == [False, False, False, True, False]
    assert len(fx.calls) == 2 and fx.calls[0][1] != fx.calls[1][1]  # a new incident, a new rollback
    first, second = state.incidents("pump-failure")
    assert first.status == "resolved" and first.evidence["ok_streak"] == 3 and second.status == "open"


def test_a_margin_makes_barely_ok_values_not_count_towards_resolution(state: ActionState, tmp_path: Path) -> None:
    cfg = monitor_config(tmp_path, resolve_after_ok=2, resolve_margin=0.2)  # ok must be <= 0.25 * 0.8 = 0.2
    fx = Recorder()
    enforce([result(at_us=T0)], cfg, state, fx, T0)
    for i, value in enumerate([0.24, 0.24, 0.24], start=1):  # ok, but within the margin
        enforce([result(status="ok", value=value, at_us=T0 + i * S)], cfg, state, fx, T0 + i * S)
    assert state.incidents("pump-failure", "open")
    for i, value in enumerate([0.1, 0.1], start=10):
        enforce([result(status="ok", value=value, at_us=T0 + i * S)], cfg, state, fx, T0 + i * S)
    assert not state.incidents("pump-failure", "open")


def test_rate_limit_suppresses_then_fires_when_the_interval_has_passed(state: ActionState, tmp_path: Path) -> None:
    cfg = monitor_config(tmp_path, resolve_after_ok=1, min_interval_s={"rollback": 900.0})
    fx = Recorder()
    enforce([result(at_us=T0)], cfg, state, fx, T0)                                   # rollback 1
    enforce([result(status="ok", value=0.1, at_us=T0 + 60 * S)], cfg, state, fx, T0 + 60 * S)  # resolves
    r2 = enforce([result(at_us=T0 + 120 * S)], cfg, state, fx, T0 + 120 * S)           # new breach: limited
    assert len(fx.calls) == 1 and r2.suppressed and r2.suppressed[0]["until_us"] == T0 + 900 * S
    r3 = enforce([result(at_us=T0 + 600 * S)], cfg, state, fx, T0 + 600 * S)           # still limited: silent
    assert not r3.suppressed and len(fx.calls) == 1
    enforce([result(at_us=T0 + 901 * S)], cfg, state, fx, T0 + 901 * S)               # interval over: fires
    assert len(fx.calls) == 2
    inc = state.incidents("pump-failure", "open")[0]
    assert [e.get("suppressed") for e in inc.evidence["actions"]] == ["rate_limited", None]


def test_pages_are_rate_limited_per_objective_not_across_objectives(state: ActionState, tmp_path: Path) -> None:
    cfg = monitor_config(tmp_path)
    fx = Recorder()
    enforce([result("latency", actions=("page",)), result("errors", actions=("page",))], cfg, state, fx, T0)
    assert [a for a, _ in fx.calls] == ["page", "page"]  # two problems, two pages


def test_a_failed_action_is_recorded_and_retried_next_run(state: ActionState, tmp_path: Path) -> None:
    cfg = monitor_config(tmp_path)
    fx = Recorder(fail={"retrain"})
    report = enforce([result(actions=("retrain",))], cfg, state, fx, T0)
    assert report.failed and "lever is down" in report.failed[0]["detail"]["error"]
    fx.fail.clear()
    report = enforce([result(actions=("retrain",), at_us=T0 + 300 * S)], cfg, state, fx, T0 + 300 * S)
    assert [f["ok"] for f in report.fired] == [True] and len(fx.calls) == 2


def test_every_action_is_in_the_audit_log_and_the_chain_verifies(state: ActionState, tmp_path: Path) -> None:
    cfg = monitor_config(tmp_path, resolve_after_ok=1)
    fx = Recorder()
    enforce([result(actions=("rollback", "page"))], cfg, state, fx, T0)
    enforce([result(status="ok", value=0.1, at_us=T0 + S)], cfg, state, fx, T0 + S)
    audit = AuditLog(state.db)
    actions = [(r.action, r.actor) for r in audit.records()]
    assert [a for a, _ in actions] == ["incident.opened", "action.rollback", "action.page", "incident.resolved"]
    assert {actor for _, actor in actions} == {"system:enforcer"}
    assert audit.verify().ok
    assert fx.messages[-1]["kind"] == "incident.resolved"  # whoever was paged hears it is over


def test_a_restart_does_not_re_fire(db, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    cfg = monitor_config(tmp_path)
    fx = Recorder()
    enforce([result(actions=("rollback", "page"))], cfg, ActionState(db).setup(), fx, T0)
    # A new process: a new state object over the same database, the breach still there.
    fresh = ActionState(db).setup()
    report = enforce([result(actions=("rollback", "page"), at_us=T0 + 300 * S)], cfg, fresh, Recorder(), T0 + 300 * S)
    assert not report.fired and not report.opened and len(report.open_incidents) == 1


def test_two_monitors_racing_act_once(db, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    import threading

    cfg = monitor_config(tmp_path)
    fxs = [Recorder() for _ in range(4)]
    barrier = threading.Barrier(4)

    def run(fx: Recorder) -> None:
        st = ActionState(db)
        barrier.wait()
        enforce([result(actions=("rollback", "retrain"))], cfg, st, fx, T0)

    ActionState(db).setup()
    threads = [threading.Thread(target=run, args=(fx,)) for fx in fxs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(a for fx in fxs for a, _ in fx.calls) == ["retrain", "rollback"]


def test_results_of_another_model_are_ignored_and_counted(state: ActionState, tmp_path: Path) -> None:
    report = enforce([result(model="turbine-failure")], monitor_config(tmp_path), state, Recorder(), T0)
    assert report.ignored == 1 and not report.opened


def test_the_action_tables_are_created_in_a_store_the_review_queue_set_up_first() -> None:
    """In a cluster the monitor's incidents share PostgreSQL with the review queue:
    a store already set up for the queue must still get the actions' tables."""
    import uuid

    import pytest

    from runtime.audit.database import PostgresDatabase
    from runtime.review.queue import QUEUE_DDL
    from tests.conftest import require_service

    require_service("PostgreSQL", "127.0.0.1", 5432)
    db = PostgresDatabase("host=127.0.0.1 port=5432 dbname=test user=postgres", f"t_act_{uuid.uuid4().hex[:10]}")
    try:
        db.setup(QUEUE_DDL)  # the review queue's owner set the store up first
        ActionState(db).setup()
        with db.transaction() as tx:
            [(exists,)] = tx.rows("SELECT to_regclass('action_incidents') IS NOT NULL")
        assert exists
    finally:
        db.drop_schema()
        db.close()

