"""Pure concept drift: the inputs and scores stay as they were, the outcome
stops depending on them.  Estimated quality cannot see it (it stays ok: the
method's stated limit); realized quality catches it once labels mature."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from harness import Drill, local_monitor_config
from labelled_stream import evaluate_days, stream

__all__ = ["DRILL", "run"]

DRILL = Drill(name="concept_drift", failure_mode="concept drift: P(y|x) changes, inputs and scores do not",
              detector="runtime.monitoring.performance.performance_by_window (realized, as labels mature)",
              objective="realized-quality",
              human="answer the page; the retrained model needs the new labels (estimation cannot see this)")

SIZES = {"ci": {"per_day": 1500}, "full": {"per_day": 4000}}
CHANGE_DAY, DAYS = 10, 26


def run(size: str, work: Path) -> dict[str, Any]:
    per_day = SIZES[size]["per_day"]
    config = local_monitor_config(work)
    data = stream("concept", days=DAYS, per_day=per_day, change_day=CHANGE_DAY)
    out = evaluate_days(config, data, first_day=CHANGE_DAY - 1, last_day=DAYS, change_day=CHANGE_DAY)
    real = out["days_after_change"].get("realized-quality")
    return {
        "injected": {"change": "concept", "change_day": CHANGE_DAY, "days": DAYS, "per_day": per_day,
                     "truth_after": "a permutation of the scores (outcome independent of x)",
                     "label_delay_days": [0.25, 1.0], "horizon_days": 1},
        "detected": real is not None,
        "realized_days_after_change": real,
        "estimated_breached": "estimated-quality" in out["first_breach_day"],
        "objective_breached": sorted(out["first_breach_day"]),
        "actions": out["actions"],
        "daily": out["daily"],
    }
