"""The metric series the predictor and the review queue would have exported,
rebuilt from what they recorded: the prediction log and the review store.

Locally there is no Prometheus; the monitor scrapes the past instead.  Every
``SCRAPE_INTERVAL_S`` from the start of the longest window up to the
evaluation time, each counter and histogram bucket holds the cumulative count
of what the log holds up to then, exactly as ``/metrics`` would have shown
it, so the SLO evaluator applies the rules' own arithmetic (rate
extrapolation, bucket interpolation) and local results mean what the alerts
mean.  Counters start at 0 (the exporters initialise them at start-up).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from runtime.contracts.metrics import (
    CLIENT_ERROR_REASONS,
    LABEL_ENVIRONMENT,
    LABEL_MODEL,
    LABEL_VERSION,
    SCRAPE_INTERVAL_S,
    metric,
)
from runtime.contracts.monitoring import PredictionRecord
from runtime.monitoring.series import Labels, Series, SeriesSet

__all__ = [
    "LOG_FEATURE_SET", "MONITOR_EVERY_MS", "ReviewEvent", "counter_series", "gauge_series", "scrape_times",
    "series_from_log",
    "series_from_reviews",
]

SCRAPE_MS = SCRAPE_INTERVAL_S * 1000
# The log keeps a prediction's oldest feature age, not which feature set it came from.
LOG_FEATURE_SET = "all"


@dataclass(frozen=True, slots=True)
class ReviewEvent:
    """One review item: when it was escalated and, once decided, when."""

    environment: str
    enqueued_us: int
    decided_us: int | None
    conservative: bool = False  # decided by the timeout's conservative default, not a human
    prediction_id: str = ""  # the escalated prediction (maps the item onto the event clock)


def scrape_times(start_ms: int, at_ms: int) -> np.ndarray:
    """Scrape instants aligned to the interval, from ``start_ms`` to ``at_ms`` inclusive."""
    first = start_ms - start_ms % SCRAPE_MS
    return np.arange(first, at_ms + 1, SCRAPE_MS, dtype=np.int64)


def _counter(name: str, labels: Mapping[str, str], event_ms: Sequence[int] | np.ndarray, scrapes: np.ndarray) -> Series:
    times = np.sort(np.asarray(event_ms, dtype=np.int64))
    counts = np.searchsorted(times, scrapes, side="right")
    return Series(name, tuple(sorted(labels.items())), tuple(zip(scrapes.tolist(), counts.astype(float).tolist())))


def _histogram(name: str, labels: Mapping[str, str], observations: Sequence[tuple[int, float]],
               buckets: Sequence[float], scrapes: np.ndarray) -> list[Series]:
    times = np.array([t for t, _ in observations], dtype=np.int64)
    values = np.array([v for _, v in observations], dtype=np.float64)
    out = []
    for le in (*buckets, float("inf")):
        text = "+Inf" if le == float("inf") else format(le, "g")
        out.append(_counter(f"{name}_bucket", {**labels, "le": text}, times[values <= le], scrapes))
    return out


def series_from_log(records: Iterable[PredictionRecord], *, model: str, at_ms: int, since_ms: int) -> SeriesSet:
    """The predictor's request, error, latency and feature-age series over [since, at]."""
    per_request: dict[tuple[str, str, str], PredictionRecord] = {}
    ages: dict[tuple[str, str], list[tuple[int, float]]] = {}
    for r in records:
        if r.model != model or r.served_at_us // 1000 > at_ms:
            continue
        key = (r.environment, r.version, r.request_id)
        kept = per_request.get(key)
        # A batch request is one request: its slowest row's latency, its failure if any row failed.
        if kept is None or (r.status, r.latency_s) > (kept.status, kept.latency_s):
            per_request[key] = r
        if r.feature_age_s is not None:
            ages.setdefault((r.environment, r.version), []).append((r.served_at_us // 1000, r.feature_age_s))
    groups: dict[tuple[str, str], list[PredictionRecord]] = {}
    for (env, version, _), r in per_request.items():
        groups.setdefault((env, version), []).append(r)
    scrapes = scrape_times(since_ms, at_ms)
    duration = metric("specops_request_duration_seconds")
    age = metric("specops_feature_age_seconds")
    out: list[Series] = []
    for (env, version), rows in sorted(groups.items()):
        labels = {LABEL_MODEL: model, LABEL_VERSION: version, LABEL_ENVIRONMENT: env}
        out.append(_counter("specops_requests_total", labels, [r.served_at_us // 1000 for r in rows], scrapes))
        failed: dict[str, list[int]] = {}
        for r in rows:
            if r.status >= 400:
                reason = r.error or ("invalid_input" if r.status < 500 else "internal")
                failed.setdefault(reason, []).append(r.served_at_us // 1000)
        # Initialised at 0 like the exporter's, so a clean run reads "0 errors", not "no data".
        for reason in sorted(set(failed) | {"internal", *CLIENT_ERROR_REASONS}):
            out.append(_counter("specops_request_errors_total", {**labels, "reason": reason}, failed.get(reason, []),
                                scrapes))
        out += _histogram(duration.name, labels, [(r.served_at_us // 1000, r.latency_s) for r in rows],
                          duration.buckets, scrapes)
    for (env, version), observed in sorted(ages.items()):
        labels = {LABEL_MODEL: model, LABEL_VERSION: version, LABEL_ENVIRONMENT: env, "feature_set": LOG_FEATURE_SET}
        out += _histogram(age.name, labels, observed, age.buckets, scrapes)
    return SeriesSet(tuple(out))


def series_from_reviews(events: Iterable[ReviewEvent], *, model: str, at_ms: int, since_ms: int) -> SeriesSet:
    """The review queue's backlog gauge and time-to-decision histogram over [since, at]."""
    by_env: dict[str, list[ReviewEvent]] = {}
    for e in events:
        by_env.setdefault(e.environment, []).append(e)
    scrapes = scrape_times(since_ms, at_ms)
    decision = metric("specops_review_decision_seconds")
    out: list[Series] = []
    for env, items in sorted(by_env.items()):
        labels: dict[str, str] = {LABEL_MODEL: model, LABEL_ENVIRONMENT: env}
        enq = np.sort(np.array([e.enqueued_us // 1000 for e in items], dtype=np.int64))
        dec = np.sort(np.array([e.decided_us // 1000 for e in items if e.decided_us is not None], dtype=np.int64))
        backlog = np.searchsorted(enq, scrapes, side="right") - np.searchsorted(dec, scrapes, side="right")
        key: Labels = tuple(sorted(labels.items()))
        out.append(Series("specops_review_backlog", key, tuple(zip(scrapes.tolist(), backlog.astype(float).tolist()))))
        humans = [(e.decided_us // 1000, (e.decided_us - e.enqueued_us) / 1e6) for e in items
                  if e.decided_us is not None and not e.conservative]
        out += _histogram(decision.name, labels, humans, decision.buckets, scrapes)
    return SeriesSet(tuple(out))


# The cluster's monitor CronWorkflow runs every 5 minutes and exports the
# latest complete window's drift and quality gauges each time.
MONITOR_EVERY_MS = 5 * 60_000


def gauge_series(name: str, labels: Mapping[str, str], windows: Iterable[tuple[int, float | None]], *,
                 since_ms: int, at_ms: int, every_ms: int = MONITOR_EVERY_MS) -> Series:
    """A monitor-exported gauge as Prometheus would have stored it: at every
    monitor run in [since, at], the value of the latest window ended by then
    (``windows``: (end ms, value); None = that window had no answer, no sample)."""
    ends = sorted((end, value) for end, value in windows)
    samples, i, current = [], 0, None
    first = since_ms - since_ms % every_ms
    for t in range(first, at_ms + 1, every_ms):
        while i < len(ends) and ends[i][0] <= t:
            current = ends[i][1]
            i += 1
        if current is not None:
            samples.append((t, float(current)))
    return Series(name, tuple(sorted(labels.items())), tuple(samples))


def counter_series(name: str, labels: Mapping[str, str], event_ms: Sequence[int], *, since_ms: int,
                   at_ms: int) -> Series:
    """A counter of ``event_ms`` as scraped every interval over [since, at] (starts at 0, like the exporter's)."""
    return _counter(name, labels, event_ms, scrape_times(since_ms, at_ms))
