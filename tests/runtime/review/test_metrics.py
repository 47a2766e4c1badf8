"""The review series the SLO rules read (runtime.contracts.metrics), computed
from the store: backlog by environment, time to a human decision as a
cumulative histogram with the catalog's buckets."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families
from review_support import prediction

from runtime.contracts.metrics import metric
from runtime.review.metrics import ReviewCollector


def scrape(queue, environments=()) -> dict[tuple[str, tuple], float]:  # type: ignore[no-untyped-def]
    registry = CollectorRegistry(auto_describe=False)
    registry.register(ReviewCollector(queue, environments))
    out = {}
    for family in text_string_to_metric_families(generate_latest(registry).decode()):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def test_backlog_and_decision_time_come_from_the_store(make_queue, clock) -> None:
    queue = make_queue(escalation="conservative_default", lease_s=900.0)
    for n in range(3):
        queue.submit(prediction(n))
    claim = queue.claim("alice")
    clock.advance(400)  # decided after 400 s: in the 600 s bucket, not the 300 s one
    queue.decide(claim.item.id, claim.token, "alice", "approve", "ok")
    got = scrape(queue, environments=("prod", "staging"))
    env = (("environment", "prod"), ("model", "pump-failure"))
    assert got[("specops_review_backlog", env)] == 2.0
    assert got[("specops_review_backlog", (("environment", "staging"), ("model", "pump-failure")))] == 0.0
    assert got[("specops_review_decision_seconds_bucket", (*env[:1], ("le", "300.0"), env[1]))] == 0.0
    assert got[("specops_review_decision_seconds_bucket", (*env[:1], ("le", "600.0"), env[1]))] == 1.0
    assert got[("specops_review_decision_seconds_count", env)] == 1.0
    assert got[("specops_review_decision_seconds_sum", env)] == 400.0
    buckets = [k for k in got if k[0] == "specops_review_decision_seconds_bucket" and ("environment", "prod") in k[1]]
    assert len(buckets) == len(metric("specops_review_decision_seconds").buckets) + 1  # + Inf
    clock.advance(1800)
    queue.sweep()  # the rest time out: conservative defaults are not human decisions
    after = scrape(queue)
    assert after[("specops_review_backlog", env)] == 0.0
    assert after[("specops_review_decision_seconds_count", env)] == 1.0
