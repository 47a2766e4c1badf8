"""The durable review queue: escalated predictions wait here for a human.

One implementation over the shared database interface, so SQLite and
PostgreSQL behave the same.  Every state change commits in one transaction
with its audit record.  Two reviewers never decide the same item: a decision
is a guarded UPDATE (status, claim token and a live lease), so the database,
not the caller, arbitrates.  Nothing leaves the queue undecided: an item past
its timeout escalates as the model's policy says, and a second timeout
applies the conservative default.
"""

from __future__ import annotations

import logging
import math
import secrets
import statistics
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any

from runtime.audit.database import Database, Tx
from runtime.audit.log import AUDIT_DDL, AuditLog
from runtime.contracts.steps import ReviewPolicyConfig
from runtime.review.item import Claim, EscalatedPrediction, QueueItem, Verdict

__all__ = ["QUEUE_DDL", "ReviewError", "ReviewQueue", "SWEEPER"]

log = logging.getLogger("runtime.review")

SWEEPER = "system:review-sweeper"  # the actor of timeouts and conservative defaults

_PREDICTION = ("id", "request_id", "model", "version", "release", "environment", "entity", "score", "threshold",
               "rule", "reason", "feature_vector_sha256", "predicted_at")
_STATE = ("status", "level", "enqueued_us", "due_us", "claimed_by", "lease_until_us", "verdict", "outcome",
          "decided_by", "decision_reason", "decided_us", "escalations")
_COLUMNS = ", ".join(_PREDICTION + _STATE)


def _ddl(real: str, big: str, boolean: str) -> str:
    return f"""CREATE TABLE IF NOT EXISTS review_items (
        id TEXT PRIMARY KEY, request_id TEXT NOT NULL, model TEXT NOT NULL, version TEXT NOT NULL,
        release TEXT NOT NULL, environment TEXT NOT NULL, entity TEXT NOT NULL, score {real} NOT NULL,
        threshold {real} NOT NULL, rule TEXT, reason TEXT NOT NULL, feature_vector_sha256 TEXT NOT NULL,
        predicted_at TEXT NOT NULL,
        status TEXT NOT NULL CHECK (status IN ('pending', 'claimed', 'decided')),
        level INTEGER NOT NULL, enqueued_us {big} NOT NULL, due_us {big} NOT NULL,
        claimed_by TEXT, claim_token TEXT, lease_until_us {big}, excluded_reviewer TEXT,
        verdict TEXT, outcome {boolean}, decided_by TEXT, decision_reason TEXT, decided_us {big},
        escalations INTEGER NOT NULL DEFAULT 0)"""


QUEUE_DDL: dict[str, tuple[str, ...]] = {
    "sqlite": (*AUDIT_DDL["sqlite"], _ddl("REAL", "INTEGER", "INTEGER"),
               "CREATE INDEX IF NOT EXISTS review_items_open ON review_items (model, status, due_us)"),
    "postgres": (*AUDIT_DDL["postgres"], _ddl("DOUBLE PRECISION", "BIGINT", "BOOLEAN"),
                 "CREATE INDEX IF NOT EXISTS review_items_open ON review_items (model, status, due_us)"),
}


class ReviewError(Exception):
    """A review action was refused; the message says why and what to do."""


def _item(row: tuple[Any, ...]) -> QueueItem:
    p = dict(zip(_PREDICTION, row[:len(_PREDICTION)]))
    s = dict(zip(_STATE, row[len(_PREDICTION):]))
    prediction = EscalatedPrediction(
        prediction_id=p["id"], request_id=p["request_id"], model=p["model"], version=p["version"],
        release=p["release"], environment=p["environment"], entity=p["entity"], score=float(p["score"]),
        threshold=float(p["threshold"]), rule=p["rule"], reason=p["reason"],
        feature_vector_sha256=p["feature_vector_sha256"], at=p["predicted_at"])
    return QueueItem(prediction=prediction, status=s["status"], level=int(s["level"]),
                     enqueued_us=int(s["enqueued_us"]), due_us=int(s["due_us"]), claimed_by=s["claimed_by"],
                     lease_until_us=s["lease_until_us"], verdict=s["verdict"],
                     outcome=None if s["outcome"] is None else bool(s["outcome"]), decided_by=s["decided_by"],
                     decision_reason=s["decision_reason"], decided_us=s["decided_us"],
                     escalations=int(s["escalations"]))


def _now_us() -> int:
    return time.time_ns() // 1000


class ReviewQueue:
    """The predictor's ``ReviewHandoff`` (``submit``) and the reviewers' queue.

    ``model`` scopes listing, claiming and sweeping to one model's items (its
    policy applies to them); the store itself may hold every model's.
    """

    def __init__(self, db: Database, model: str, policy: ReviewPolicyConfig, *,
                 clock_us: Callable[[], int] = _now_us, actor: str | None = None,
                 pager: Callable[[dict[str, Any]], Any] | None = None) -> None:
        self.db = db
        self.model = model
        self.policy = policy
        self.clock_us = clock_us
        self.actor = actor or f"predictor:{model}"
        self.audit = AuditLog(db)
        self._pager = pager or (lambda page: log.warning("PAGE %s", page))

    def setup(self) -> "ReviewQueue":
        self.db.setup(QUEUE_DDL)
        return self

    # ------------------------------------------------------------ hand-off

    def submit(self, item: Any) -> QueueItem:
        """The predictor's hand-off: durable (committed with its audit
        record) before it returns, so the response never outruns the queue."""
        return self.enqueue(EscalatedPrediction.from_item(item))

    def enqueue(self, p: EscalatedPrediction) -> QueueItem:
        if not (math.isfinite(p.score) and math.isfinite(p.threshold)):
            raise ReviewError(f"prediction {p.prediction_id!r}: score {p.score!r} / threshold {p.threshold!r} "
                              "must be finite numbers")
        now = self.clock_us()
        due = now + int(self.policy.timeout_s * 1e6)
        with self.db.transaction() as tx:
            added = tx.execute(
                f"INSERT INTO review_items ({_COLUMNS}) VALUES ({', '.join('?' * (len(_PREDICTION) + len(_STATE)))}) "
                "ON CONFLICT (id) DO NOTHING",
                (p.prediction_id, p.request_id, p.model, p.version, p.release, p.environment, p.entity, p.score,
                 p.threshold, p.rule, p.reason, p.feature_vector_sha256, p.at,
                 "pending", 1, now, due, None, None, None, None, None, None, None, 0))
            if added:  # a retried hand-off of the same prediction is recorded once
                self.audit.append(tx, actor=self.actor, action="review.enqueued", subject=p.prediction_id,
                                  payload={"prediction": p.to_json(), "due_us": due,
                                           "timeout_s": self.policy.timeout_s}, at_us=now)
            return self._get(tx, p.prediction_id)

    # ------------------------------------------------------------- reading

    @staticmethod
    def _get(tx: Tx, item_id: str) -> QueueItem:
        rows = tx.rows(f"SELECT {_COLUMNS} FROM review_items WHERE id = ?", (item_id,))
        if not rows:
            raise ReviewError(f"no review item {item_id!r}")
        return _item(rows[0])

    def get(self, item_id: str) -> QueueItem:
        with self.db.transaction() as tx:
            return self._get(tx, item_id)

    def items(self, status: str | None = None, limit: int = 100) -> tuple[QueueItem, ...]:
        sql = f"SELECT {_COLUMNS} FROM review_items WHERE model = ?"
        args: list[Any] = [self.model]
        if status == "open":
            sql += " AND status <> 'decided'"
        elif status:
            sql += " AND status = ?"
            args.append(status)
        sql += " ORDER BY enqueued_us, id LIMIT ?"
        with self.db.transaction() as tx:
            return tuple(_item(r) for r in tx.rows(sql, (*args, limit)))

    def decided(self) -> Iterator[QueueItem]:
        """Every decided item of this model, oldest decision first (stable order for exports)."""
        with self.db.transaction() as tx:
            rows = tx.rows(f"SELECT {_COLUMNS} FROM review_items WHERE model = ? AND status = 'decided' "
                           "ORDER BY decided_us, id", (self.model,))
        return (_item(r) for r in rows)

    # ------------------------------------------------------------- working

    def claim(self, reviewer: str, item_id: str | None = None) -> Claim | None:
        """Lease the oldest open item (or ``item_id``) to ``reviewer``; None when
        nothing is claimable.  An expired lease makes the item claimable again."""
        if not reviewer.strip():
            raise ReviewError("a claim needs the reviewer's identity (--reviewer)")
        now = self.clock_us()
        free = "(status = 'pending' OR (status = 'claimed' AND lease_until_us <= ?))"
        with self.db.transaction() as tx:
            sql = (f"SELECT id, claimed_by, lease_until_us FROM review_items WHERE model = ? AND {free} "
                   "AND (excluded_reviewer IS NULL OR excluded_reviewer <> ?)")
            args: list[Any] = [self.model, now, reviewer]
            if item_id is not None:
                sql += " AND id = ?"
                args.append(item_id)
            sql += " ORDER BY level DESC, enqueued_us, id LIMIT 1"
            if tx.dialect == "postgres":
                sql += " FOR UPDATE SKIP LOCKED"
            rows = tx.rows(sql, args)
            if not rows:
                if item_id is not None:
                    self._why_not_claimable(tx, item_id, reviewer, now)
                return None
            found, previous, expired_at = rows[0]
            token = secrets.token_hex(16)
            lease = now + int(self.policy.lease_s * 1e6)
            changed = tx.execute(f"UPDATE review_items SET status = 'claimed', claimed_by = ?, claim_token = ?, "
                                 f"lease_until_us = ? WHERE id = ? AND {free}", (reviewer, token, lease, found, now))
            if changed != 1:  # pragma: no cover - the row lock / write lock makes this unreachable
                return None
            payload: dict[str, Any] = {"reviewer": reviewer, "lease_until_us": lease}
            if previous is not None:
                payload["previous_claim_expired"] = {"reviewer": previous, "lease_until_us": expired_at}
            self.audit.append(tx, actor=f"reviewer:{reviewer}", action="review.claimed", subject=found,
                              payload=payload, at_us=now)
            return Claim(self._get(tx, found), token, lease)

    def _why_not_claimable(self, tx: Tx, item_id: str, reviewer: str, now: int) -> None:
        item = self._get(tx, item_id)
        if item.prediction.model != self.model:
            raise ReviewError(f"item {item_id!r} belongs to model {item.prediction.model!r}, not {self.model!r}")
        if item.status == "decided":
            raise ReviewError(f"item {item_id!r} was already decided ({item.verdict} by {item.decided_by})")
        if item.status == "claimed":
            left = ((item.lease_until_us or now) - now) / 1e6
            raise ReviewError(f"item {item_id!r} is claimed by {item.claimed_by} for another {left:.0f}s")
        raise ReviewError(f"item {item_id!r} was escalated away from {reviewer}: a second reviewer must decide it")

    def decide(self, item_id: str, token: str, reviewer: str, verdict: Verdict, reason: str) -> QueueItem:
        """Approve (the model's decision stands) or override (reverse it), under a live claim."""
        if verdict not in ("approve", "override"):
            raise ReviewError(f"verdict {verdict!r}: a reviewer approves or overrides")
        if not reason.strip():
            raise ReviewError("a decision needs a reason (--reason)")
        now = self.clock_us()
        with self.db.transaction() as tx:
            item = self._get(tx, item_id)
            outcome = item.prediction.decision if verdict == "approve" else not item.prediction.decision
            changed = tx.execute(
                "UPDATE review_items SET status = 'decided', verdict = ?, outcome = ?, decided_by = ?, "
                "decision_reason = ?, decided_us = ?, claim_token = NULL, lease_until_us = NULL "
                "WHERE id = ? AND status = 'claimed' AND claim_token = ? AND claimed_by = ? AND lease_until_us > ?",
                (verdict, outcome, reviewer, reason, now, item_id, token, reviewer, now))
            if changed != 1:
                raise ReviewError(self._refusal(item, reviewer, now))
            decided = replace(item, status="decided", verdict=verdict, outcome=outcome, decided_by=reviewer,
                              decision_reason=reason, decided_us=now, lease_until_us=None)
            self.audit.append(tx, actor=f"reviewer:{reviewer}", action="review.decided", subject=item_id,
                              payload={"verdict": verdict, "outcome": outcome, "reason": reason,
                                       "model_decision": item.prediction.decision, "level": item.level,
                                       "time_to_decision_s": decided.time_to_decision_s,
                                       "within_timeout": now <= item.due_us}, at_us=now)
            return decided

    @staticmethod
    def _refusal(item: QueueItem, reviewer: str, now: int) -> str:
        if item.status == "decided":
            return f"item {item.id!r} was already decided ({item.verdict} by {item.decided_by}); nothing changed"
        if item.status == "pending":
            return f"item {item.id!r} is not claimed (its lease expired or it was escalated): claim it again"
        if item.claimed_by != reviewer:
            return f"item {item.id!r} is claimed by {item.claimed_by}, not {reviewer}"
        if (item.lease_until_us or 0) <= now:
            return f"your lease on {item.id!r} expired: claim it again"
        return f"the claim token for {item.id!r} does not match your current claim: claim it again"

    # ------------------------------------------------------------- timeouts

    def sweep(self) -> tuple[QueueItem, ...]:
        """Escalate every open item past its timeout, as the policy says; each
        escalation is audited.  Returns the items it changed."""
        now = self.clock_us()
        with self.db.transaction() as tx:
            due = [r[0] for r in tx.rows("SELECT id FROM review_items WHERE model = ? AND status <> 'decided' "
                                         "AND due_us <= ? ORDER BY due_us, id", (self.model, now))]
        changed = []
        for item_id in due:
            pages: list[dict[str, Any]] = []
            with self.db.transaction() as tx:
                item = self._get(tx, item_id)
                if item.status == "decided" or item.due_us > now:
                    continue  # decided or escalated meanwhile
                done = self._escalate(tx, item, now, pages)
            # Paged after the commit: a slow or retried webhook never holds the
            # write lock, and a page goes out only for an escalation that stuck.
            for page in pages:
                self._pager(page)
            if done is not None:
                changed.append(done)
        return tuple(changed)

    def _escalate(self, tx: Tx, item: QueueItem, now: int, pages: list[dict[str, Any]]) -> QueueItem | None:
        policy = self.policy
        step = policy.escalation if item.level == 1 else "conservative_default"
        overdue_s = (now - item.due_us) / 1e6
        base = {"level": item.level, "due_us": item.due_us, "overdue_s": overdue_s, "timeout_s": policy.timeout_s,
                "claimed_by": item.claimed_by}
        # Guarded on the due time read: of two sweepers (replicas) racing, one escalates, once.
        guard = "WHERE id = ? AND status <> 'decided' AND due_us = ?"
        if step == "conservative_default":
            outcome = policy.conservative_action == "act"
            if not tx.execute("UPDATE review_items SET status = 'decided', verdict = 'conservative_default', "
                              "outcome = ?, decided_by = ?, decision_reason = ?, decided_us = ?, claim_token = NULL, "
                              f"lease_until_us = NULL, escalations = escalations + 1 {guard}",
                              (outcome, SWEEPER,
                               f"no decision within {policy.timeout_s:g}s: {policy.conservative_action}", now,
                               item.id, item.due_us)):
                return None
            self.audit.append(tx, actor=SWEEPER, action="review.conservative_default", subject=item.id,
                              payload={**base, "action": policy.conservative_action, "outcome": outcome}, at_us=now)
            return self._get(tx, item.id)
        new_due = now + int(policy.timeout_s * 1e6)
        if not tx.execute("UPDATE review_items SET status = 'pending', level = 2, due_us = ?, claimed_by = NULL, "
                          "claim_token = NULL, lease_until_us = NULL, excluded_reviewer = ?, "
                          f"escalations = escalations + 1 {guard}",
                          (new_due, item.claimed_by if step == "second_reviewer" else None, item.id, item.due_us)):
            return None
        payload = {**base, "to": step, "new_due_us": new_due}
        if step == "page":
            payload["notify"] = list(policy.notify)
        self.audit.append(tx, actor=SWEEPER, action=f"review.escalated.{step}", subject=item.id, payload=payload,
                          at_us=now)
        if step == "page":
            pages.append({"model": self.model, "item": item.id, "notify": list(policy.notify),
                          "reason": f"review overdue by {overdue_s:.0f}s"})
        return self._get(tx, item.id)

    # ---------------------------------------------------------------- stats

    def stats(self) -> dict[str, Any]:
        """Backlog and time-to-decision against the policy's timeout."""
        now = self.clock_us()
        with self.db.transaction() as tx:
            counts = dict(tx.rows("SELECT status, COUNT(*) FROM review_items WHERE model = ? GROUP BY status",
                                  (self.model,)))
            overdue = tx.rows("SELECT COUNT(*) FROM review_items WHERE model = ? AND status <> 'decided' "
                              "AND due_us <= ?", (self.model, now))[0][0]
            oldest = tx.rows("SELECT MIN(enqueued_us) FROM review_items WHERE model = ? AND status <> 'decided'",
                             (self.model,))[0][0]
            human = tx.rows("SELECT decided_us - enqueued_us FROM review_items WHERE model = ? AND status = 'decided' "
                            "AND verdict <> 'conservative_default'", (self.model,))
        times = sorted(r[0] / 1e6 for r in human)
        limit = self.policy.timeout_s
        return {
            "model": self.model, "timeout_s": limit,
            "pending": int(counts.get("pending", 0)), "claimed": int(counts.get("claimed", 0)),
            "decided": int(counts.get("decided", 0)), "overdue": int(overdue),
            "oldest_open_age_s": None if oldest is None else (now - int(oldest)) / 1e6,
            "human_decisions": len(times),
            "median_time_to_decision_s": statistics.median(times) if times else None,
            "decided_within_timeout": (sum(t <= limit for t in times) / len(times)) if times else None,
        }
