"""The review queue on SQLite and on PostgreSQL: enqueue with its audit
record, claims and leases, decisions, timeouts escalating as the policy says."""

from __future__ import annotations

import pytest
from review_support import prediction

from runtime.review import ReviewError
from runtime.review.queue import SWEEPER


def actions(queue) -> list[tuple[str, str, str]]:  # type: ignore[no-untyped-def]
    return [(r.actor, r.action, r.subject) for r in queue.audit.records()]


def test_enqueue_is_durable_audited_and_idempotent(make_queue, clock) -> None:
    queue = make_queue()
    item = queue.submit(prediction(1))
    assert item.status == "pending" and item.level == 1
    assert item.due_us == clock.us + 1800 * 1_000_000
    queue.submit(prediction(1))  # the predictor retried the same hand-off
    assert len(queue.items()) == 1
    assert actions(queue) == [("predictor:pump-failure", "review.enqueued", "req-00001/0")]
    record = next(queue.audit.records())
    assert record.payload["prediction"]["score"] == 0.9 and record.payload["timeout_s"] == 1800.0
    assert queue.audit.verify().ok


def test_claim_then_decide_records_who_why_and_time_to_decision(make_queue, clock) -> None:
    queue = make_queue()
    queue.submit(prediction(1, score=0.9))
    claim = queue.claim("alice")
    assert claim is not None and claim.item.claimed_by == "alice"
    assert queue.claim("bob") is None  # the only item is leased
    clock.advance(120)
    done = queue.decide(claim.item.id, claim.token, "alice", "override", "vibration spike was a recalibration")
    assert (done.verdict, done.outcome, done.decided_by) == ("override", False, "alice")
    assert done.time_to_decision_s == pytest.approx(120.0)
    decided = queue.audit.records()
    last = list(decided)[-1]
    assert last.action == "review.decided" and last.actor == "reviewer:alice"
    assert last.payload["reason"] == "vibration spike was a recalibration"
    assert last.payload["within_timeout"] is True and last.payload["model_decision"] is True
    stats = queue.stats()
    assert stats["decided"] == 1 and stats["median_time_to_decision_s"] == pytest.approx(120.0)
    assert stats["decided_within_timeout"] == 1.0


def test_approve_keeps_the_model_decision(make_queue) -> None:
    queue = make_queue()
    queue.submit(prediction(1, score=0.9))
    claim = queue.claim("alice")
    assert claim is not None
    assert queue.decide(claim.item.id, claim.token, "alice", "approve", "bearing noise confirmed").outcome is True


def test_a_decided_item_cannot_be_decided_again(make_queue) -> None:
    queue = make_queue()
    queue.submit(prediction(1))
    claim = queue.claim("alice")
    assert claim is not None
    queue.decide(claim.item.id, claim.token, "alice", "approve", "ok")
    with pytest.raises(ReviewError, match="already decided \\(approve by alice\\)"):
        queue.decide(claim.item.id, claim.token, "alice", "override", "changed my mind")
    with pytest.raises(ReviewError, match="already decided"):
        queue.claim("bob", claim.item.id)


def test_decisions_need_a_reason_a_reviewer_and_a_valid_verdict(make_queue) -> None:
    queue = make_queue()
    queue.submit(prediction(1))
    claim = queue.claim("alice")
    assert claim is not None
    with pytest.raises(ReviewError, match="needs a reason"):
        queue.decide(claim.item.id, claim.token, "alice", "approve", "  ")
    with pytest.raises(ReviewError, match="approves or overrides"):
        queue.decide(claim.item.id, claim.token, "alice", "conservative_default", "x")  # type: ignore[arg-type]
    with pytest.raises(ReviewError, match="claimed by alice, not bob"):
        queue.decide(claim.item.id, claim.token, "bob", "approve", "x")
    with pytest.raises(ReviewError, match="reviewer's identity"):
        queue.claim(" ")
    assert queue.get(claim.item.id).status == "claimed"


def test_an_expired_lease_returns_the_item_and_voids_the_old_claim(make_queue, clock) -> None:
    queue = make_queue(lease_s=300.0)
    queue.submit(prediction(1))
    first = queue.claim("alice")
    assert first is not None
    clock.advance(301)
    second = queue.claim("bob")
    assert second is not None and second.item.id == first.item.id
    with pytest.raises(ReviewError, match="claimed by bob, not alice"):
        queue.decide(first.item.id, first.token, "alice", "approve", "late")
    queue.decide(second.item.id, second.token, "bob", "approve", "checked")
    claimed = [r for r in queue.audit.records() if r.action == "review.claimed"]
    assert claimed[1].payload["previous_claim_expired"]["reviewer"] == "alice"


def test_own_expired_lease_is_refused(make_queue, clock) -> None:
    queue = make_queue(lease_s=300.0)
    queue.submit(prediction(1))
    claim = queue.claim("alice")
    assert claim is not None
    clock.advance(300)
    with pytest.raises(ReviewError, match="your lease on 'req-00001/0' expired"):
        queue.decide(claim.item.id, claim.token, "alice", "approve", "late")


def test_timeout_escalates_to_a_second_reviewer_then_the_conservative_default(make_queue, clock) -> None:
    queue = make_queue(escalation="second_reviewer", conservative_action="hold")
    queue.submit(prediction(1))
    assert queue.claim("alice") is not None
    clock.advance(1799)
    assert queue.sweep() == ()
    clock.advance(1)
    (escalated,) = queue.sweep()
    assert (escalated.level, escalated.status, escalated.claimed_by) == (2, "pending", None)
    assert queue.claim("alice") is None  # the first reviewer cannot take the second look
    clock.advance(1800)
    (final,) = queue.sweep()
    assert (final.verdict, final.outcome, final.decided_by) == ("conservative_default", False, SWEEPER)
    assert [a for _, a, _ in actions(queue)] == ["review.enqueued", "review.claimed",
                                                 "review.escalated.second_reviewer", "review.conservative_default"]
    assert queue.audit.verify().ok and queue.stats()["overdue"] == 0


def test_page_escalation_pages_the_notifiers_and_is_audited(make_queue, clock) -> None:
    pages: list[dict] = []
    queue = make_queue(escalation="page", notify=("oncall",), pager=pages.append)
    queue.submit(prediction(1))
    clock.advance(1801)
    (item,) = queue.sweep()
    assert item.level == 2 and item.status == "pending"
    assert pages == [{"model": "pump-failure", "item": "req-00001/0", "notify": ["oncall"],
                      "reason": "review overdue by 1s"}]
    record = list(queue.audit.records())[-1]
    assert record.action == "review.escalated.page" and record.payload["notify"] == ["oncall"]
    assert queue.claim("alice") is not None  # after a page, anyone may decide


def test_conservative_default_escalation_acts_when_the_policy_says_act(make_queue, clock) -> None:
    queue = make_queue(escalation="conservative_default", conservative_action="act")
    queue.submit(prediction(1))
    clock.advance(3600)
    (item,) = queue.sweep()
    assert (item.verdict, item.outcome) == ("conservative_default", True)
    assert list(queue.audit.records())[-1].payload["overdue_s"] == pytest.approx(1800.0)


def test_nothing_is_dropped_a_backlog_of_overdue_items_is_all_escalated(make_queue, clock) -> None:
    queue = make_queue(escalation="conservative_default")
    for n in range(25):
        queue.submit(prediction(n))
    clock.advance(1800)
    assert len(queue.sweep()) == 25
    assert queue.stats()["decided"] == 25 and queue.items("open") == ()
    assert sum(r.action == "review.conservative_default" for r in queue.audit.records()) == 25


def test_queues_of_two_models_share_a_store_but_not_items(db, clock) -> None:
    from review_support import policy

    from runtime.review import ReviewQueue

    a = ReviewQueue(db, "pump-failure", policy(), clock_us=clock).setup()
    b = ReviewQueue(db, "turbine-failure", policy(), clock_us=clock).setup()
    a.submit(prediction(1))
    b.submit(prediction(2, model="turbine-failure"))
    assert [i.id for i in a.items()] == ["req-00001/0"]
    assert b.claim("alice").item.id == "req-00002/0"  # type: ignore[union-attr]
    with pytest.raises(ReviewError, match="belongs to model 'pump-failure'"):
        b.claim("alice", "req-00001/0")
    assert a.audit.verify().ok and a.audit.verify().records == 3  # one chain for the store


def test_racing_sweepers_escalate_each_item_once(db, clock) -> None:
    """Every predictor replica sweeps: two sweepers at the same moment never double-escalate."""
    import threading

    from review_support import policy

    from runtime.review import ReviewQueue

    queues = [ReviewQueue(db, "pump-failure", policy(escalation="conservative_default"), clock_us=clock).setup()
              for _ in range(4)]
    for n in range(30):
        queues[0].submit(prediction(n))
    clock.advance(1800)
    results: list[int] = []
    threads = [threading.Thread(target=lambda q=q: results.append(len(q.sweep()))) for q in queues]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(results) == 30
    records = [r for r in queues[0].audit.records() if r.action == "review.conservative_default"]
    assert len(records) == 30 and len({r.subject for r in records}) == 30
    assert queues[0].audit.verify().ok


def test_a_store_that_cannot_be_reached_is_a_clear_error() -> None:
    from review_support import policy

    from runtime.audit.database import DatabaseError, PostgresDatabase
    from runtime.review import ReviewQueue

    db = PostgresDatabase("host=127.0.0.1 port=1 dbname=test user=postgres connect_timeout=1")
    with pytest.raises(DatabaseError, match="review store postgres 127.0.0.1:1/test: cannot connect"):
        ReviewQueue(db, "pump-failure", policy()).setup()


def test_submit_takes_the_predictors_review_item_by_its_fields(make_queue) -> None:
    """The predictor hands over its own frozen ``ReviewItem`` (runtime.serving.review,
    same field names); the queue reads it by attribute, no conversion at the call site."""
    from dataclasses import asdict, dataclass

    @dataclass(frozen=True, slots=True)
    class ReviewItem:  # the predictor's hand-off type, field for field
        prediction_id: str
        request_id: str
        model: str
        version: str
        release: str
        environment: str
        entity: str
        score: float
        threshold: float
        rule: str | None
        reason: str
        feature_vector_sha256: str
        at: str

    queue = make_queue()
    item = ReviewItem(**asdict(prediction(3)))
    assert queue.submit(item).prediction == prediction(3)


def test_a_non_finite_score_is_refused_not_stored(make_queue) -> None:
    from dataclasses import replace

    queue = make_queue()
    with pytest.raises(ReviewError, match="must be finite numbers"):
        queue.submit(replace(prediction(1), score=float("nan")))
    assert queue.items() == () and queue.audit.verify().records == 0
