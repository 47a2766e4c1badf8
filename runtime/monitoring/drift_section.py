"""Drift in the monitor's report: the logged predictions against the
training reference profile, per window (``runtime.monitoring.drift``), as a
report section and as the gauges the cluster monitor exports
(``specops_feature_drift_share``, ``specops_prediction_drift_psi``), so the
drift objectives are judged by the same SLO evaluator as everything else."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa

from runtime.contracts.metrics import LABEL_ENVIRONMENT, LABEL_MODEL
from runtime.contracts.monitoring import PredictionRecord
from runtime.contracts.steps import MonitorConfig
from runtime.monitoring.drift import DriftError, DriftReport, DriftThresholds, drift_by_window
from runtime.monitoring.log_metrics import gauge_series
from runtime.monitoring.report import Section
from runtime.monitoring.series import SeriesSet
from runtime.monitoring.sources import DRIFT_COLUMNS, SourceError, read_profile

__all__ = ["DriftOutcome", "drift_outcome", "reference_path"]


@dataclass(frozen=True, slots=True)
class DriftOutcome:
    section: Section
    series: SeriesSet


def reference_path(config: MonitorConfig) -> Path | None:
    """The configured reference, else the local registry's champion (or candidate) entry directory."""
    if config.reference:
        return Path(config.reference)
    if "://" in config.artifacts.uri and not config.artifacts.uri.startswith("file://"):
        return None
    from runtime.registry import Registry, RegistryError

    registry = Registry(config.artifacts.uri)
    for alias in ("champion", "candidate"):
        try:
            return Path(registry.resolve(config.model, alias).uri.removeprefix("file://"))
        except RegistryError:
            continue
    return None


def _table(records: Sequence[PredictionRecord]) -> pa.Table:
    return pa.Table.from_pylist([{c: getattr(r, c) for c in DRIFT_COLUMNS if c != "features"}
                                 | {"features": dict(r.features)} for r in records])


def drift_outcome(config: MonitorConfig, records: Sequence[PredictionRecord], *, at_ms: int,
                  since_ms: int) -> DriftOutcome:
    empty = SeriesSet(())
    if not records:
        return DriftOutcome(Section(False, "no prediction log yet: serve traffic first"), empty)
    where = reference_path(config)
    if where is None:
        return DriftOutcome(Section(False, "no training reference profile: no local champion or candidate in the "
                                           "registry (run `specops run`), and the config names none"), empty)
    try:
        profile = read_profile(where)
        report = drift_by_window(profile, [_table(records)], window_s=config.drift_window_s,
                                 thresholds=DriftThresholds.from_config(config))
    except (SourceError, DriftError) as exc:
        return DriftOutcome(Section(False, f"drift not measured: {exc}"), empty)
    return DriftOutcome(_section(report, at_ms), _gauges(config, report, at_ms=at_ms, since_ms=since_ms))


def _closed(report: DriftReport, at_ms: int) -> list:  # type: ignore[type-arg]
    # Only windows that have ended by the evaluation time: a half-full window is not judged.
    return [w for w in report.windows if w.end_us // 1000 <= at_ms]


def _section(report: DriftReport, at_ms: int) -> Section:
    windows = _closed(report, at_ms)
    if not windows:
        return Section(False, f"no complete {report.window_s:g}s drift window in the log yet")
    last = windows[-1]
    return Section(True, data={
        "windows": len(windows), "window_s": report.window_s, "last_window_end_us": last.end_us,
        "last_rows": last.rows, "drifted_features": list(last.drifted), "drifted_share": last.drifted_share,
        "prediction_psi": last.prediction_psi, "prediction_level": last.prediction_level,
        "flagged_features": [f.feature for f in last.features if f.flagged],
        "share_over_time": [[w.end_us // 1000, w.drifted_share] for w in windows if w.drifted_share is not None],
        "psi_over_time": [[w.end_us // 1000, w.prediction_psi] for w in windows if w.prediction_psi is not None],
    })


def _gauges(config: MonitorConfig, report: DriftReport, *, at_ms: int, since_ms: int) -> SeriesSet:
    windows = _closed(report, at_ms)
    labels = {LABEL_MODEL: config.model, LABEL_ENVIRONMENT: config.environment}
    share = gauge_series("specops_feature_drift_share", labels,
                         [(w.end_us // 1000, w.drifted_share) for w in windows], since_ms=since_ms, at_ms=at_ms)
    psi = gauge_series("specops_prediction_drift_psi", labels,
                       [(w.end_us // 1000, w.prediction_psi) for w in windows], since_ms=since_ms, at_ms=at_ms)
    return SeriesSet((share, psi))
