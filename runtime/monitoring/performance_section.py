"""Model quality in the monitor's report: per window of predictions, realized
against matured labels or estimated from calibrated scores
(``runtime.monitoring.performance``), as a report section and as the gauges
the cluster monitor exports (``specops_realized_quality``,
``specops_estimated_quality``), so the quality objectives are judged by the
same SLO evaluator as everything else.

Labels: the labels source's files, the review export (reviewer decisions:
early labels) and any extra files (``--labels GLOB``, e.g. a replay's
scenario tickets), each read on its own (their column types may differ)."""

from __future__ import annotations

import glob
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from runtime.contracts.metrics import LABEL_ENVIRONMENT, LABEL_MODEL, LABEL_VERSION
from runtime.contracts.monitoring import PredictionRecord
from runtime.contracts.steps import MonitorConfig
from runtime.monitoring.labels import LabelError, LabelEvents, ReviewLabels, join_labels, label_events
from runtime.monitoring.log_metrics import gauge_series
from runtime.monitoring.performance import ESTIMATION_LIMIT, PerformanceError, PerformanceReport, performance_by_window
from runtime.monitoring.report import Section
from runtime.monitoring.series import Series, SeriesSet

__all__ = ["PerformanceOutcome", "label_files", "performance_outcome"]

_QUALITY = ("estimated_pr_auc", "realized_pr_auc", "realized_recall_at_precision")


@dataclass(frozen=True, slots=True)
class PerformanceOutcome:
    section: Section
    series: SeriesSet


def label_files(config: MonitorConfig, extra: Sequence[str] = ()) -> list[Path]:
    """Every labels file, once: the source's (path or glob), the review export, the extra globs."""
    patterns = [p for p in (config.label_path, config.review.labels.output if config.review else None) if p]
    out: dict[Path, None] = {}
    for pattern in (*patterns, *extra):
        p = Path(pattern)
        found = sorted(glob.glob(pattern)) if glob.has_magic(pattern) else \
            sorted(str(f) for f in p.rglob("*.parquet")) if p.is_dir() else [pattern] if p.is_file() else []
        for f in found:
            out.setdefault(Path(f).resolve(), None)
    return list(out)


def _events(config: MonitorConfig, files: list[Path]) -> tuple[LabelEvents, ReviewLabels]:
    assert config.label is not None and config.label_entity is not None
    fails, reviews = [], []
    for f in files:
        try:
            table = pq.read_table(f)
        except (OSError, pa.ArrowException) as exc:
            raise LabelError(f"{f}: unreadable labels: {exc}") from None
        try:
            one_f, one_r = label_events(table, entity=config.label_entity,
                                        timestamp=config.label.timestamp or "timestamp", outcome=config.label.outcome,
                                        positive_value=config.label.positive_value,
                                        availability_delay_s=config.label.availability_delay_s)
        except LabelError as exc:
            raise LabelError(f"{f}: {exc}") from None
        fails.append(one_f)
        reviews.append(one_r)
    return (LabelEvents(entity=pa.concat_arrays([x.entity for x in fails]),
                        event_us=np.concatenate([x.event_us for x in fails]),
                        available_us=np.concatenate([x.available_us for x in fails])),
            ReviewLabels(entity=pa.concat_arrays([x.entity for x in reviews]),
                         at_us=np.concatenate([x.at_us for x in reviews]),
                         positive=np.concatenate([x.positive for x in reviews]),
                         available_us=np.concatenate([x.available_us for x in reviews])))


def window_s(config: MonitorConfig) -> float:
    """The quality objectives' shortest window (what they judge), else the drift window."""
    return min((o.window_s for o in config.objectives if o.metric in _QUALITY), default=config.drift_window_s)


def performance_outcome(config: MonitorConfig, records: Sequence[PredictionRecord], *, at_ms: int, since_ms: int,
                        extra_labels: Sequence[str] = ()) -> PerformanceOutcome:
    empty = SeriesSet(())
    if not records:
        return PerformanceOutcome(Section(False, "no prediction log yet: serve traffic first"), empty)
    if config.label is None or not config.label_entity:
        return PerformanceOutcome(Section(False, "no label definition in this monitor config (recompile the specs)"),
                                  empty)
    files = label_files(config, extra_labels)
    if not files:
        where = ", ".join(p for p in (config.label_path, *extra_labels) if p)
        return PerformanceOutcome(Section(False, f"no labels at {where or '(not configured)'}: generate data or "
                                                 "pass --labels GLOB"), empty)
    as_of_us = at_ms * 1000
    scored = [r for r in records if r.status == 200 and r.score is not None and r.served_at_us <= as_of_us]
    if not scored:
        return PerformanceOutcome(Section(False, "no answered prediction with a score in the log yet"), empty)
    span = window_s(config)
    try:
        failures, reviews = _events(config, files)
        reports: dict[str, PerformanceReport] = {}
        for version in sorted({r.version for r in scored}):
            rows = [r for r in scored if r.version == version]
            t = np.array([r.at_us for r in rows], dtype=np.int64)
            joined = join_labels(pa.array([r.entity for r in rows], pa.string()), t, failures, reviews,
                                 horizon_s=config.label.horizon_s,
                                 availability_delay_s=config.label.availability_delay_s, as_of_us=as_of_us)
            reports[version] = performance_by_window(
                t, np.array([r.score for r in rows], dtype=np.float64), joined, window_s=span,
                horizon_s=config.label.horizon_s, availability_delay_s=config.label.availability_delay_s,
                precision_at=config.precision_at if config.precision_at is not None else 0.5)
    except (LabelError, PerformanceError) as exc:
        return PerformanceOutcome(Section(False, f"performance not measured: {exc}"), empty)
    windows = []
    for version, report in reports.items():
        for w in report.windows:
            if w.end_us > as_of_us:
                continue  # a window still filling is not judged
            recall = w.recall_at_precision if config.precision_at is not None else None
            windows.append({
                "version": version, "start_us": w.start_us, "end_us": w.end_us, "basis": w.basis, "rows": w.rows,
                "labeled": w.labeled, "positives": w.positives, "expected_positives": w.expected_positives,
                "pr_auc": w.pr_auc.value, "pr_auc_low": w.pr_auc.low, "pr_auc_high": w.pr_auc.high,
                "recall_at_precision": recall.value if recall else None,
                "recall_low": recall.low if recall else None, "recall_high": recall.high if recall else None,
                "ece": w.ece, "matures_at_us": w.matures_at_us, "value": w.pr_auc.value})
    windows.sort(key=lambda w: (w["start_us"], w["version"]))
    if not windows:
        return PerformanceOutcome(Section(False, f"no complete {span:g}s performance window in the log yet "
                                                 f"({len(files)} label file(s) found)"), empty)
    data = {"window_s": span, "precision_at": config.precision_at, "method": ESTIMATION_LIMIT,
            "label_files": [str(f) for f in files],
            "realized": sum(w["basis"] == "realized" for w in windows),
            "estimated": sum(w["basis"] == "estimated" for w in windows), "windows": windows}
    if config.precision_at is None:
        data["note"] = "the model has no recall_at_precision gate: recall at precision is not reported"
    return PerformanceOutcome(Section(True, data=data), _gauges(config, windows, at_ms=at_ms, since_ms=since_ms))


def _gauges(config: MonitorConfig, windows: list[dict], *, at_ms: int, since_ms: int) -> SeriesSet:  # type: ignore[type-arg]
    out: list[Series] = []
    for version in sorted({w["version"] for w in windows}):
        mine = [w for w in windows if w["version"] == version]
        labels = {LABEL_MODEL: config.model, LABEL_VERSION: version, LABEL_ENVIRONMENT: config.environment}
        est = [(w["end_us"] // 1000, w["pr_auc"]) for w in mine if w["basis"] == "estimated"]
        # A realized value exists only once every label of its window is known.
        real = [w for w in mine if w["basis"] == "realized"]
        out.append(gauge_series("specops_estimated_quality", {**labels, "metric": "pr_auc"}, est,
                                since_ms=since_ms, at_ms=at_ms))
        out.append(gauge_series("specops_realized_quality", {**labels, "metric": "pr_auc"},
                                [(w["matures_at_us"] // 1000, w["pr_auc"]) for w in real], since_ms=since_ms, at_ms=at_ms))
        if config.precision_at is not None:
            out.append(gauge_series("specops_realized_quality", {**labels, "metric": "recall_at_precision"},
                                    [(w["matures_at_us"] // 1000, w["recall_at_precision"]) for w in real],
                                    since_ms=since_ms, at_ms=at_ms))
    return SeriesSet(tuple(out))
