"""Training-serving skew in the monitor's report: a deterministic sample of
the logged predictions recomputed by the batch engine over the validated
snapshot (``runtime.skew.live``), as a report section (consistency rate,
the mismatches listed up to a cap, with their count) and as the counters the
predictor's skew check exports (``specops_skew_checks_total``,
``specops_skew_mismatches_total``), so ``skew_mismatch_rate`` is judged by
the same SLO evaluator as everything else."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pyarrow.parquet as pq

from runtime.contracts.metrics import LABEL_ENVIRONMENT, LABEL_MODEL
from runtime.contracts.monitoring import PredictionRecord
from runtime.contracts.steps import MonitorConfig
from runtime.monitoring.log_metrics import counter_series
from runtime.monitoring.report import Section
from runtime.monitoring.series import SeriesSet
from runtime.skew.live import check_live_skew

__all__ = ["MAX_LISTED", "SkewOutcome", "skew_outcome"]

MAX_LISTED = 50  # mismatching values listed in the report; the count says how many there are


@dataclass(frozen=True, slots=True)
class SkewOutcome:
    section: Section
    series: SeriesSet


def skew_outcome(config: MonitorConfig, records: Sequence[PredictionRecord], *, at_ms: int,
                 since_ms: int, extra_events: Sequence[str] = ()) -> SkewOutcome:
    """``extra_events``: Parquet files of events the online path applied that the validated
    snapshot does not hold yet (a replay's stream events), added to every source's events."""
    empty = SeriesSet(())
    if not records:
        return SkewOutcome(Section(False, "no prediction log yet: serve traffic first"), empty)
    if not config.feature_sets or not config.validated:
        return SkewOutcome(Section(False, "no validated snapshot configured for this monitor: run "
                                          "`python -m runtime predlog --config serve.json skew --events DIR`"), empty)
    events = {}
    for source in sorted({fs.source for fs in config.feature_sets}):
        path = Path(config.validated) / f"{source}.parquet"
        if not path.is_file():
            return SkewOutcome(Section(False, f"no validated data for source {source!r} at {path}: run the "
                                              "pipeline's validate-data step (`specops run`)"), empty)
        try:
            events[source] = pq.read_table(path)
        except OSError as exc:
            return SkewOutcome(Section(False, f"{path}: unreadable validated data: {exc}"), empty)
    if extra_events:
        import pyarrow as pa

        try:
            extra = [pq.read_table(p) for p in sorted(set(extra_events))]
        except OSError as exc:
            return SkewOutcome(Section(False, f"unreadable extra events: {exc}"), empty)
        for source, table in events.items():
            names = table.column_names
            parts = [table] + [t.select([c for c in names if c in t.column_names]) for t in extra]
            events[source] = pa.concat_tables(parts, promote_options="permissive")
    seen = [r for r in records if r.served_at_us // 1000 <= at_ms]
    report = check_live_skew(config.model, seen, config.feature_sets, events, sample_rate=config.skew_sample_rate)
    data = report.as_json()
    data.pop("checked_ids", None)
    data["mismatches"] = data["mismatches"][:MAX_LISTED]
    data["mismatches_listed"] = len(data["mismatches"])
    data["mismatching_predictions"] = len({m.prediction_id for m in report.mismatches})
    served = {r.prediction_id: r.served_at_us // 1000 for r in seen}
    bad = {m.prediction_id for m in report.mismatches}
    labels = {LABEL_MODEL: config.model, LABEL_ENVIRONMENT: config.environment}
    checks = counter_series("specops_skew_checks_total", labels, [served[i] for i in report.checked_ids],
                            since_ms=since_ms, at_ms=at_ms)
    mismatches = counter_series("specops_skew_mismatches_total", labels,
                                [served[i] for i in report.checked_ids if i in bad], since_ms=since_ms, at_ms=at_ms)
    return SkewOutcome(Section(True, data=data), SeriesSet((checks, mismatches)))
