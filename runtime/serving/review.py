"""The human-review hand-off: where a ``human_review`` prediction goes.

A Protocol, so the durable review queue (PostgreSQL, a later issue) plugs in
without touching the predictor; the default keeps the latest items in
memory (bounded), which is what a local `specops serve` needs.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass
from typing import Protocol

__all__ = ["InMemoryReviewQueue", "ReviewHandoff", "ReviewItem"]


@dataclass(frozen=True, slots=True)
class ReviewItem:
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
    at: str  # prediction time, ISO 8601 UTC


class ReviewHandoff(Protocol):
    def submit(self, item: ReviewItem) -> None:
        """Hand one prediction to a human; must not block the request for long."""
        ...


class InMemoryReviewQueue:
    """The last ``capacity`` items, oldest dropped first (counted in ``dropped``)."""

    def __init__(self, capacity: int = 10_000) -> None:
        self._items: deque[ReviewItem] = deque(maxlen=capacity)
        self._lock = threading.Lock()
        self.dropped = 0

    def submit(self, item: ReviewItem) -> None:
        with self._lock:
            if len(self._items) == self._items.maxlen:
                self.dropped += 1
            self._items.append(item)

    def items(self) -> tuple[ReviewItem, ...]:
        with self._lock:
            return tuple(self._items)
