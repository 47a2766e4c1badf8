"""The review queue's Prometheus series (runtime.contracts.metrics):
``specops_review_backlog`` and ``specops_review_decision_seconds``.

Both are computed from the store at scrape time, not counted in memory, so
every replica (and a CLI decision made elsewhere) reports the same truth and
a restart loses nothing: the histogram is cumulative over all human
decisions, which are never deleted, so it only grows, as a histogram must.
Conservative defaults are not human decisions; they show as backlog until
the sweep resolves them, and in the audit log.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

from runtime.contracts.metrics import LABEL_ENVIRONMENT, LABEL_MODEL, metric
from runtime.review.queue import ReviewQueue

__all__ = ["ReviewCollector"]

_BACKLOG = metric("specops_review_backlog")
_DECISION = metric("specops_review_decision_seconds")


class ReviewCollector(Collector):
    def __init__(self, queue: ReviewQueue, environments: tuple[str, ...] = ()) -> None:
        self.queue = queue
        self.environments = environments  # always exported, 0 when empty (a missing series is not "no backlog")

    def collect(self) -> Iterator[GaugeMetricFamily | HistogramMetricFamily]:
        buckets = _DECISION.buckets
        model = self.queue.model
        bucket_sql = ", ".join(f"SUM(CASE WHEN decided_us - enqueued_us <= {int(b * 1e6)} THEN 1 ELSE 0 END)"
                               for b in buckets)
        with self.queue.db.transaction() as tx:
            # Every environment the model ever escalated in: a drained backlog is 0, not a vanished series.
            backlog = dict(tx.rows("SELECT environment, SUM(CASE WHEN status <> 'decided' THEN 1 ELSE 0 END) "
                                   "FROM review_items WHERE model = ? GROUP BY environment", (model,)))
            decided = tx.rows(f"SELECT environment, COUNT(*), SUM(decided_us - enqueued_us), {bucket_sql} "
                              "FROM review_items WHERE model = ? AND status = 'decided' "
                              "AND verdict <> 'conservative_default' GROUP BY environment", (model,))
        labels = [LABEL_MODEL, LABEL_ENVIRONMENT]
        gauge = GaugeMetricFamily(_BACKLOG.name, _BACKLOG.help, labels=labels)
        for env in sorted(set(backlog) | set(self.environments)):
            gauge.add_metric([model, env], float(backlog.get(env) or 0))
        yield gauge
        hist = HistogramMetricFamily(_DECISION.name, _DECISION.help, labels=labels)
        seen = set()
        for env, count, total_us, *cumulative in decided:
            seen.add(env)
            points = [(floatToGoString(b), float(c or 0)) for b, c in zip(buckets, cumulative)] + [("+Inf", float(count))]
            hist.add_metric([model, env], points, sum_value=float(total_us or 0) / 1e6)
        for env in sorted(set(self.environments) - seen):
            hist.add_metric([model, env], [(floatToGoString(b), 0.0) for b in buckets] + [("+Inf", 0.0)], sum_value=0.0)
        yield hist
