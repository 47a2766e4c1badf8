"""What the review queue holds: an escalated prediction (the predictor's
hand-off, field for field) and its state as reviewers work it."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any, Literal

from runtime.serving.review import ReviewItem

__all__ = ["Claim", "EscalatedPrediction", "QueueItem", "Status", "Verdict"]

Status = Literal["pending", "claimed", "decided"]
# approve: the model's decision stands; override: the reviewer reverses it;
# conservative_default: nobody decided in time, the policy's action applies.
Verdict = Literal["approve", "override", "conservative_default"]


@dataclass(frozen=True, slots=True)
class EscalatedPrediction(ReviewItem):
    """The predictor's hand-off record (``runtime.serving.review.ReviewItem``,
    the one definition of its fields) as the queue stores it; ``from_item``
    also takes a mapping (the HTTP enqueue body) or any object with the fields."""

    @classmethod
    def from_item(cls, item: Any) -> "EscalatedPrediction":
        if isinstance(item, cls):
            return item
        if isinstance(item, dict):
            return cls(**{f.name: item[f.name] if f.name != "rule" else item.get("rule") for f in fields(cls)})
        return cls(**{f.name: getattr(item, f.name) for f in fields(cls)})

    @property
    def decision(self) -> bool:
        """What the model said: failure predicted (score at or above the threshold)."""
        return self.score >= self.threshold

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class QueueItem:
    prediction: EscalatedPrediction
    status: Status
    level: int  # 1: first reviewer; 2: after an escalation
    enqueued_us: int
    due_us: int  # the policy's timeout from enqueue (or from the last escalation)
    claimed_by: str | None
    lease_until_us: int | None
    verdict: Verdict | None
    outcome: bool | None  # the final decision: failure predicted / confirmed by the reviewer
    decided_by: str | None
    decision_reason: str | None
    decided_us: int | None
    escalations: int

    @property
    def id(self) -> str:
        return self.prediction.prediction_id

    @property
    def time_to_decision_s(self) -> float | None:
        return None if self.decided_us is None else (self.decided_us - self.enqueued_us) / 1e6

    def to_json(self) -> dict[str, Any]:
        out = {k: v for k, v in asdict(self).items() if k != "prediction"}
        out["id"] = self.id
        out["prediction"] = self.prediction.to_json()
        out["model_decision"] = self.prediction.decision
        out["time_to_decision_s"] = self.time_to_decision_s
        return out


@dataclass(frozen=True, slots=True)
class Claim:
    item: QueueItem
    token: str  # proves the lease when deciding
    lease_until_us: int

    def to_json(self) -> dict[str, Any]:
        return {"token": self.token, "lease_until_us": self.lease_until_us, "item": self.item.to_json()}
