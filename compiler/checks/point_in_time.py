"""Point-in-time safety: no feature is computed from labels, the backtest gap
covers the label horizon, labels have matured before they are used for
training or for realized-quality objectives, and windows fit the history."""

from __future__ import annotations

from collections.abc import Iterator

from compiler.checks.base import error, warning
from compiler.cron import approximate_interval
from compiler.diagnostics import Diagnostic
from compiler.resolve import ResolvedSpec
from compiler.spec import DataSource, FeatureSet, Model, ServiceLevel
from compiler.spec.servicelevel import REALIZED_METRICS

__all__ = ["check", "root_data_source"]


def root_data_source(spec: ResolvedSpec, feature_set: str, _seen: frozenset[str] = frozenset()) -> str | None:
    """The DataSource a feature set is ultimately computed from (None on a cycle or dangling ref)."""
    node = spec.get("FeatureSet", feature_set)
    if node is None or feature_set in _seen:
        return None
    kind, name = node.resource.spec.source.ref  # type: ignore[attr-defined]
    if kind == "DataSource":
        return name
    return root_data_source(spec, name, _seen | {feature_set})


def check(spec: ResolvedSpec) -> Iterator[Diagnostic]:
    for node, fs in spec.of_kind(FeatureSet):
        kind, name = fs.spec.source.ref
        src = spec.get("DataSource", name) if kind == "DataSource" else None
        if src is not None and src.resource.spec.type == "labels":  # type: ignore[attr-defined]
            yield error("SO401", node, ("spec", "source", "dataSource"),
                        f"feature set '{fs.name}' is computed from the label source '{name}'",
                        "features built from labels leak the outcome into training; use event data")

    reported: set[str] = set()
    for node, model in spec.of_kind(Model):
        s = model.spec
        label_node = spec.get("DataSource", s.label.source)
        label_src: DataSource | None = label_node.resource if label_node else None  # type: ignore[assignment]
        if label_src is not None and label_src.spec.type != "labels":
            yield error("SO402", node, ("spec", "label", "source"),
                        f"label source '{s.label.source}' is a '{label_src.spec.type}' data source, not 'labels'",
                        "point spec.label.source at a DataSource with type: labels")
            label_src = None
        for i, ref in enumerate(s.features):
            root = root_data_source(spec, ref.feature_set)
            if root is not None and root == s.label.source:
                yield error("SO401", node, ("spec", "features", i, "featureSet"),
                            f"feature set '{ref.feature_set}' is computed from this model's label source '{root}'",
                            "features built from labels leak the outcome into training")
        if s.validation.gap < s.label.horizon:
            yield error("SO403", node, ("spec", "validation", "gap"),
                        f"validation gap {s.validation.gap} is shorter than the label horizon {s.label.horizon}: "
                        "training rows' labels overlap the test window",
                        f"set validation.gap to at least {s.label.horizon}")
        delay = label_src.spec.labels.availability_delay if label_src and label_src.spec.labels else None
        needed = s.validation.min_train_window + s.validation.gap
        needed_ms = needed.millis + s.validation.folds * s.validation.test_window.millis
        if delay is not None:
            needed_ms += s.label.horizon.millis + delay.millis
        if s.retrain.training_window.millis < needed_ms:
            yield error("SO404", node, ("spec", "retrain", "trainingWindow"),
                        f"training window {s.retrain.training_window} cannot hold the backtest: minTrainWindow + gap + "
                        f"{s.validation.folds} x testWindow + horizon + label delay = {needed_ms / 86_400_000:.1f}d",
                        "lengthen retrain.trainingWindow or shrink the validation windows")
        interval = approximate_interval(s.retrain.schedule)
        if delay is not None and interval is not None and interval < delay.millis:
            yield warning("SO406", node, ("spec", "retrain", "schedule"),
                          f"retraining every ~{interval / 3_600_000:g}h but labels take {delay} to arrive: "
                          "most runs see no newly matured labels",
                          "retrain at most as often as labels mature, or trigger on drift")
        for i, ref in enumerate(s.features):
            fs_node = spec.get("FeatureSet", ref.feature_set)
            root = root_data_source(spec, ref.feature_set)
            src_node = spec.get("DataSource", root) if root else None
            if fs_node is None or src_node is None:
                continue
            retention = src_node.resource.spec.retention  # type: ignore[attr-defined]
            if retention is None or fs_node.id in reported:
                continue
            reported.add(fs_node.id)
            for a, agg in enumerate(fs_node.resource.spec.aggregations):  # type: ignore[attr-defined]
                for w, window in enumerate(agg.windows):
                    if window > retention:
                        yield error("SO407", fs_node, ("spec", "aggregations", a, "windows", w),
                                    f"a {window} window needs more history than '{root}' retains ({retention})",
                                    "shorten the window or extend the data source's retention")

    for node, sl in spec.of_kind(ServiceLevel):
        model_node = spec.get("Model", sl.spec.model)
        if model_node is None:
            continue
        m = model_node.resource.spec  # type: ignore[attr-defined]
        label_node = spec.get("DataSource", m.label.source)
        labels = getattr(label_node.resource.spec, "labels", None) if label_node else None
        if labels is None:
            continue
        matured = m.label.horizon + labels.availability_delay
        for i, obj in enumerate(sl.spec.objectives):
            if obj.metric in REALIZED_METRICS and obj.window < matured:
                yield error("SO405", node, ("spec", "objectives", i, "window"),
                            f"'{obj.metric}' over {obj.window} cannot be measured: labels mature only after "
                            f"horizon {m.label.horizon} + availability delay {labels.availability_delay}",
                            f"use a window of at least {matured.millis // 3_600_000}h, or an 'estimated_*' metric")
