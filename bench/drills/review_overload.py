"""Review-queue overload: escalations arrive faster than the reviewers
decide.  The backlog is read the way Prometheus scrapes it (the queue's
ReviewCollector gauge) every 5 minutes; the spec's review-backlog objective
(max 50 over 1 h: beyond the bound at every sample of the window) breaches
and its page goes through a real webhook notifier to a local HTTP receiver."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any

import numpy as np

from harness import REPO, Drill, act, local_monitor_config, objective, objective_result
from runtime.audit.database import SqliteDatabase
from runtime.contracts.steps import NotifierConfig, ReviewPolicyConfig
from runtime.review.item import EscalatedPrediction
from runtime.review.metrics import ReviewCollector
from runtime.review.queue import ReviewQueue

__all__ = ["DRILL", "run"]

DRILL = Drill(name="review_overload", failure_mode="review queue overload: escalations outpace reviewers",
              detector="runtime.review.metrics.ReviewCollector (specops_review_backlog gauge)",
              objective="review-backlog", human="answer the page: add reviewers or relax the escalation rule")

T0 = 1_800_000_000_000_000
MIN_US = 60_000_000
SAMPLE_MIN = 5
SIZES = {"ci": {"minutes": 150}, "full": {"minutes": 240}}
ARRIVALS_PER_MIN, DECISIONS_PER_MIN = 1.5, 1.0


def _receiver() -> Any:
    path = REPO / "tests" / "runtime" / "actions" / "http_receiver.py"
    spec = importlib.util.spec_from_file_location("drills_http_receiver", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module.Receiver()


def _backlog(collector: ReviewCollector) -> float:
    gauge = next(iter(collector.collect()))
    return sum(s.value for s in gauge.samples if s.labels.get("environment") == "prod")


def run(size: str, work: Path) -> dict[str, Any]:
    minutes = SIZES[size]["minutes"]
    notifier = NotifierConfig(name="oncall", type="webhook", url_env="SPECOPS_NOTIFIER_ONCALL_URL")
    config = local_monitor_config(work, notifier)
    o = objective(config, "review-backlog")
    samples_per_window = int(o.window_s // (SAMPLE_MIN * 60))
    db = SqliteDatabase(work / "review.db")
    now = [T0]
    queue = ReviewQueue(db, config.model, ReviewPolicyConfig(timeout_s=4 * 3600, escalation="conservative_default",
                                                             conservative_action="hold", lease_s=300),
                        clock_us=lambda: now[0]).setup()
    collector = ReviewCollector(queue, ("prod",))
    rng = np.random.default_rng(5)
    series: list[float] = []
    breach_min, fired, enqueued, decided = None, [], 0, 0
    with _receiver() as rx:
        env = {"SPECOPS_NOTIFIER_ONCALL_URL": rx.url + "/page"}
        for minute in range(1, minutes + 1):
            now[0] = T0 + minute * MIN_US
            for _ in range(rng.poisson(ARRIVALS_PER_MIN)):
                enqueued += 1
                queue.enqueue(EscalatedPrediction(
                    prediction_id=f"r{enqueued}/0", request_id=f"r{enqueued}", model=config.model, version="1.4.0",
                    release="pump-failure-1-4-0", environment="prod", entity=f"A{enqueued % 40:05d}", score=0.8,
                    threshold=0.5, rule="critical-asset", reason="critical asset", feature_vector_sha256="f" * 64,
                    at="2027-01-15T08:00:00Z"))
            for _ in range(rng.poisson(DECISIONS_PER_MIN)):
                claim = queue.claim("reviewer-1")
                if claim is None:
                    break
                queue.decide(claim.item.id, claim.token, "reviewer-1", "approve", "checked")
                decided += 1
            if minute % SAMPLE_MIN:
                continue
            series.append(_backlog(collector))
            if len(series) < samples_per_window:
                continue
            window = series[-samples_per_window:]
            # A gauge objective with a max bound: its value over the window is the minimum sample.
            r = objective_result(config, "review-backlog", min(window), now[0],
                                 evidence={"samples": len(window), "last": window[-1], "max": max(window)})
            report = act(config, [r], now[0], environ=env)
            if r.status == "breach" and breach_min is None:
                breach_min = minute
            fired += [{"minute": minute, "action": f["action"], "incident": f["incident"], "ok": f["ok"],
                       "deliveries": f["detail"].get("deliveries")} for f in report.fired]
        received = [{"path": q.path, "kind": q.body.get("kind"), "id": q.body.get("id"),
                     "objective": q.body.get("objective"), "value": q.body.get("value")} for q in rx.requests]
    db.close()
    first_over = next((i for i, v in enumerate(series) if v > o.max), None)  # type: ignore[operator]
    return {
        "injected": {"arrivals_per_min": ARRIVALS_PER_MIN, "decisions_per_min": DECISIONS_PER_MIN,
                     "minutes": minutes, "reviewers": 1, "seed": 5},
        "detected": breach_min is not None,
        "minutes_backlog_first_over_bound": None if first_over is None else (first_over + 1) * SAMPLE_MIN,
        "minutes_to_breach": breach_min,
        "pending_at_breach": None if breach_min is None else series[breach_min // SAMPLE_MIN - 1],
        "bound": o.max, "window_s": o.window_s, "sample_every_s": SAMPLE_MIN * 60,
        "objective_breached": ["review-backlog"] if breach_min is not None else [],
        "actions": fired,
        "webhook_received": received,
        "enqueued": enqueued, "decided": decided, "backlog_series": series,
    }
