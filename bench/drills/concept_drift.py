"""Pure concept drift: the inputs and scores stay as they were, the outcome
stops depending on them.  Estimated quality cannot see it (it stays ok: the
method's stated limit); realized quality catches it once labels mature."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from harness import Drill, local_monitor_config
from labelled_stream import DAY_US, DELAY_S, HORIZON_S, evaluate_days, stream
from runtime.monitoring.labels import ReviewLabels, join_labels

__all__ = ["DRILL", "run"]

DRILL = Drill(name="concept_drift", failure_mode="concept drift: P(y|x) changes, inputs and scores do not",
              detector="runtime.monitoring.performance.performance_by_window (realized, as labels mature)",
              objective="realized-quality",
              human="answer the page; the retrained model needs the new labels (estimation cannot see this)")

SIZES = {"ci": {"per_day": 1500}, "full": {"per_day": 4000}}
CHANGE_DAY, DAYS = 10, 26
THRESHOLD = 0.3  # predictions at or above it are escalated to a reviewer
REVIEW_DELAY_H = (1.0, 8.0)  # a reviewer inspects the asset and decides within hours
OVERRIDE_RISE = 0.2  # an override rate this far above its pre-change level is the early signal


def _reviewer_overrides(data: tuple, change_day: int, last_day: int) -> dict[str, Any]:  # type: ignore[type-arg]
    """Reviewers' verdicts as early labels (join_labels with ReviewLabels): each day, the share of the reviewed
    escalations (model said failure) that the reviewer overrode (no failure), known within hours, not days."""
    t, score, entity, failures, y = data
    rng = np.random.default_rng(17)
    esc = score >= THRESHOLD
    decided = t[esc] + (rng.uniform(*REVIEW_DELAY_H, int(esc.sum())) * 3.6e9).astype(np.int64)
    reviews = ReviewLabels(entity.filter(pa.array(esc)), t[esc], y[esc], decided)
    daily, base, first = [], None, None
    for day in range(1, last_day + 1):
        as_of = day * DAY_US
        rows = (t >= as_of - DAY_US) & (t < as_of)
        joined = join_labels(entity.filter(pa.array(rows)), t[rows], failures, reviews, horizon_s=HORIZON_S,
                             availability_delay_s=DELAY_S, as_of_us=as_of)
        reviewed = esc[rows] & joined.known
        rate = float((joined.label[reviewed] == 0).mean()) if reviewed.any() else None
        daily.append({"day": day, "override_rate": None if rate is None else round(rate, 4),
                      "reviewed": int(reviewed.sum())})
        if day == change_day:
            base = float(np.mean([d["override_rate"] for d in daily[:-1] if d["override_rate"] is not None]))
        if base is not None and day > change_day and first is None and rate is not None \
                and rate > base + OVERRIDE_RISE:
            first = day
    return {"baseline_override_rate": None if base is None else round(base, 4), "first_day": first,
            "days_after_change": None if first is None else first - change_day, "daily": daily}


def run(size: str, work: Path) -> dict[str, Any]:
    per_day = SIZES[size]["per_day"]
    config = local_monitor_config(work)
    data = stream("concept", days=DAYS, per_day=per_day, change_day=CHANGE_DAY)
    out = evaluate_days(config, data, first_day=CHANGE_DAY - 1, last_day=DAYS, change_day=CHANGE_DAY)
    real = out["days_after_change"].get("realized-quality")
    overrides = _reviewer_overrides(data, CHANGE_DAY, DAYS)
    return {
        "injected": {"change": "concept", "change_day": CHANGE_DAY, "days": DAYS, "per_day": per_day,
                     "truth_after": "a permutation of the scores (outcome independent of x)",
                     "label_delay_days": [0.25, 1.0], "horizon_days": 1},
        "detected": real is not None,
        "realized_days_after_change": real,
        "estimated_breached": "estimated-quality" in out["first_breach_day"],
        "reviewer_override_days_after_change": overrides["days_after_change"],
        "reviewer_overrides": overrides,
        "reviewer_overrides_note": "no ServiceLevel objective bounds the override rate: an earlier signal a human "
                                   "sees (review metrics), not an action",
        "objective_breached": sorted(out["first_breach_day"]),
        "actions": out["actions"],
        "daily": out["daily"],
    }
