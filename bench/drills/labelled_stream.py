"""The fault hook of the delayed-label drills: a prediction stream with a
known truth.  Before the change the model is the true, calibrated
probability sigmoid(A + B x); after it either the inputs move to where the
model cannot separate (covariate shift) or the outcome stops depending on x
(concept drift: same inputs, same scores).  A positive is a failure within
the 1 d horizon, its ticket arriving 0.25-1 d later.  The measurement is the
monitoring library's (label_events -> join_labels -> performance_by_window);
each day's values go through the spec's objectives to enforce()."""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa

from harness import act, objective, objective_result
from runtime.contracts.steps import MonitorConfig
from runtime.monitoring.labels import LabelEvents, join_labels
from runtime.monitoring.performance import performance_by_window

__all__ = ["AT", "DAY_US", "DELAY_S", "HORIZON_S", "evaluate_days", "stream"]

DAY_US = 86_400 * 1_000_000
HORIZON_S = DELAY_S = 86_400.0
A, B = -4.0, 1.6
AT = 0.5  # the model gate's recall_at_precision `at` (specs/models/pump-failure.yaml)


def stream(change: str, *, days: int, per_day: int, change_day: int, seed: int = 3) -> tuple[Any, ...]:
    rng = np.random.default_rng(seed)
    n = days * per_day
    t = np.sort(rng.integers(0, days * DAY_US, n))
    after = t >= change_day * DAY_US
    x = rng.normal(0.0, 1.5, n)
    if change == "covariate":
        x[after] = rng.normal(0.8, 0.25, int(after.sum()))
    score = 1 / (1 + np.exp(-(A + B * x)))
    truth = score.copy()
    if change == "concept":
        truth[after] = rng.permutation(score[after])
    y = rng.random(n) < truth
    entity = pa.array([f"E{i}" for i in range(n)])
    fail_t = t[y] + rng.integers(1, int(HORIZON_S * 1e6), int(y.sum()))
    avail = fail_t + (rng.uniform(0.25, 1.0, int(y.sum())) * DELAY_S * 1e6).astype(np.int64)
    return t, score, entity, LabelEvents(entity.filter(pa.array(y)), fail_t, avail), y


def _latest(t, score, entity, failures, as_of_us: int, window_s: float, basis: str):  # type: ignore[no-untyped-def]
    served = t < as_of_us
    labels = join_labels(entity.filter(pa.array(served)), t[served], failures, None, horizon_s=HORIZON_S,
                         availability_delay_s=DELAY_S, as_of_us=as_of_us)
    report = performance_by_window(t[served], score[served], labels, window_s=window_s, horizon_s=HORIZON_S,
                                   availability_delay_s=DELAY_S, precision_at=AT, draws=200, seed=1)
    window_us = int(window_s * 1e6)
    done = [w for w in report.windows if w.basis == basis and w.end_us <= as_of_us and w.end_us - w.start_us
            == window_us]
    return done[-1] if done else None


def evaluate_days(config: MonitorConfig, data: tuple[Any, ...], *, first_day: int, last_day: int,
                  change_day: int) -> dict[str, Any]:
    """Each day end: the latest complete estimated 24 h window and the latest realized (matured) window of the
    realized objective's length, as ObjectiveResults, enforced.  Returns the first breach day of each and the
    actions fired."""
    t, score, entity, failures = data[:4]
    first: dict[str, int] = {}
    actions: list[dict[str, Any]] = []
    values: dict[str, list[Any]] = {"estimated-quality": [], "realized-quality": []}
    for day in range(first_day, last_day + 1):
        now = day * DAY_US
        results = []
        for name, basis in (("estimated-quality", "estimated"), ("realized-quality", "realized")):
            w = _latest(t, score, entity, failures, now, objective(config, name).window_s, basis)
            value = None if w is None else w.pr_auc.value
            ev = {} if w is None else {"window_start_day": w.start_us / DAY_US, "rows": w.rows,
                                       "band": [w.pr_auc.low, w.pr_auc.high]}
            r = objective_result(config, name, value, now, basis=basis, evidence=ev)
            values[name].append({"day": day, "value": None if value is None else round(value, 4),
                                 "status": r.status})
            results.append(r)
            if r.status == "breach" and name not in first:
                first[name] = day
        report = act(config, results, now)
        actions += [{"day": day, "action": f["action"], "incident": f["incident"], "ok": f["ok"]}
                    for f in report.fired]
    return {"first_breach_day": first, "actions": actions, "daily": values,
            "days_after_change": {k: v - change_day for k, v in first.items()}}
