"""Degradation under covariate shift with labels delayed: estimated (CBPE)
quality flags it before the labels mature; realized quality confirms it
once they have (the spec's estimated-quality -> retrain, realized-quality ->
retrain + page)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from harness import Drill, local_monitor_config
from labelled_stream import evaluate_days, stream

__all__ = ["DRILL", "run"]

DRILL = Drill(name="degradation", failure_mode="quality loss under covariate shift, labels delayed 1-2 days",
              detector="runtime.monitoring.performance.performance_by_window (estimated CBPE, then realized)",
              objective="estimated-quality, realized-quality",
              human="answer the page once realized quality confirms; judge the retrained candidate")

SIZES = {"ci": {"per_day": 1500}, "full": {"per_day": 4000}}
CHANGE_DAY, DAYS = 10, 26


def run(size: str, work: Path) -> dict[str, Any]:
    per_day = SIZES[size]["per_day"]
    config = local_monitor_config(work)
    data = stream("covariate", days=DAYS, per_day=per_day, change_day=CHANGE_DAY)
    out = evaluate_days(config, data, first_day=CHANGE_DAY - 1, last_day=DAYS, change_day=CHANGE_DAY)
    est, real = out["days_after_change"].get("estimated-quality"), out["days_after_change"].get("realized-quality")
    return {
        "injected": {"change": "covariate", "change_day": CHANGE_DAY, "days": DAYS, "per_day": per_day,
                     "x_after": "N(0.8, 0.25) instead of N(0, 1.5)", "label_delay_days": [0.25, 1.0],
                     "horizon_days": 1},
        "detected": est is not None,
        "estimated_days_after_change": est,
        "realized_days_after_change": real,
        "estimated_before_realized": est is not None and (real is None or est < real),
        "objective_breached": sorted(out["first_breach_day"]),
        "actions": out["actions"],
        "daily": out["daily"],
    }
