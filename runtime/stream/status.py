"""What the ingester reports: counters, readiness and liveness.

The asyncio loop writes; the HTTP thread reads a consistent snapshot under a
lock.  Readiness means "events flow into the online store": NATS connected,
the consumer bound, the store answering, not shutting down.  Liveness means
the loop still turns (a stuck loop stops updating the heartbeat).
"""

from __future__ import annotations

import threading
import time
from dataclasses import asdict, dataclass, field, replace

__all__ = ["COUNTERS", "IngestSnapshot", "IngestStatus", "render_metrics"]

# Counter name -> help text; exported as specops_ingest_<name>_total.
COUNTERS = {
    "consumed": "Messages received from the stream (redeliveries included).",
    "applied": "Events applied to the online store for the first time.",
    "duplicates": "Events already applied before (redelivery or duplicate publish), acked without effect.",
    "dead_lettered": "Poison messages moved to the dead-letter subject and terminated.",
    "redelivered": "Messages JetStream delivered more than once.",
    "store_errors": "Online store operations that failed and were retried (message not acked).",
}


@dataclass(frozen=True, slots=True)
class IngestSnapshot:
    consumed: int = 0
    applied: int = 0
    duplicates: int = 0
    dead_lettered: int = 0
    redelivered: int = 0
    store_errors: int = 0
    lag: int = 0  # messages in the stream not yet acked by this consumer
    nats_connected: bool = False
    subscribed: bool = False
    store_ok: bool = False
    stopping: bool = False
    heartbeat: float = field(default_factory=time.monotonic)

    @property
    def ready(self) -> bool:
        return self.nats_connected and self.subscribed and self.store_ok and not self.stopping

    def not_ready_reasons(self) -> list[str]:
        reasons = []
        if not self.nats_connected:
            reasons.append("NATS disconnected")
        if not self.subscribed:
            reasons.append("consumer not bound")
        if not self.store_ok:
            reasons.append("online store unavailable")
        if self.stopping:
            reasons.append("shutting down")
        return reasons


class IngestStatus:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._snap = IngestSnapshot()

    def snapshot(self) -> IngestSnapshot:
        with self._lock:
            return self._snap

    def count(self, name: str, n: int = 1) -> None:
        with self._lock:
            self._snap = replace(self._snap, **{name: getattr(self._snap, name) + n})

    def set(self, **values: object) -> None:
        with self._lock:
            self._snap = replace(self._snap, **values)  # type: ignore[arg-type]

    def beat(self) -> None:
        self.set(heartbeat=time.monotonic())


def render_metrics(snap: IngestSnapshot, source: str) -> str:
    """Prometheus text exposition format."""
    label = f'{{source="{source}"}}'
    lines: list[str] = []
    values = asdict(snap)
    for name, help_text in COUNTERS.items():
        metric = f"specops_ingest_{name}_total"
        lines += [f"# HELP {metric} {help_text}", f"# TYPE {metric} counter", f"{metric}{label} {values[name]}"]
    lines += ["# HELP specops_ingest_lag_messages Messages in the stream not yet acknowledged by the consumer.",
              "# TYPE specops_ingest_lag_messages gauge", f"specops_ingest_lag_messages{label} {snap.lag}",
              "# HELP specops_ingest_ready 1 while events flow from NATS into the online store.",
              "# TYPE specops_ingest_ready gauge", f"specops_ingest_ready{label} {int(snap.ready)}"]
    return "\n".join(lines) + "\n"
