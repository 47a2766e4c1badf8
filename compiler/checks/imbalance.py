"""Rare positives: an imbalanced binary task must gate on a metric that sees
the minority class (PR-AUC, recall at precision), never on accuracy alone."""

from __future__ import annotations

from collections.abc import Iterator

from compiler.checks.base import error, warning
from compiler.diagnostics import Diagnostic
from compiler.resolve import ResolvedSpec
from compiler.spec import Model
from compiler.spec.model import IMBALANCE_AWARE

__all__ = ["IMBALANCED_BELOW", "check"]

# A positive rate below this counts as imbalanced.
IMBALANCED_BELOW = 0.2


def check(spec: ResolvedSpec) -> Iterator[Diagnostic]:
    for node, model in spec.of_kind(Model):
        s = model.spec
        label_node = spec.get("DataSource", s.label.source)
        labels = getattr(label_node.resource.spec, "labels", None) if label_node else None
        rate = labels.expected_positive_rate if labels else None
        imbalanced = (rate is not None and rate < IMBALANCED_BELOW) or s.imbalance.strategy != "none"
        if not imbalanced:
            continue
        metrics = [g.metric for g in s.gates]
        if not IMBALANCE_AWARE.intersection(metrics):
            yield error("SO410", node, ("spec", "gates"),
                        f"imbalanced task (positive rate {rate if rate is not None else 'low'}) gates only on "
                        f"{', '.join(sorted(set(metrics)))}",
                        "add a gate on pr_auc or recall_at_precision: accuracy and ROC-AUC look good on rare positives")
        for i, gate in enumerate(s.gates):
            if gate.metric == "accuracy":
                yield warning("SO411", node, ("spec", "gates", i, "metric"),
                              "accuracy is misleading when positives are rare (predicting 'no failure' scores high)",
                              "replace it with pr_auc or recall_at_precision")
        if rate is not None and rate < IMBALANCED_BELOW and s.imbalance.strategy == "none":
            declared = "imbalance" in node.document.data.get("spec", {})
            yield warning("SO412", node, ("spec", "imbalance", "strategy") if declared else ("spec",),
                          f"positive rate {rate} but no imbalance handling",
                          "set imbalance.strategy to class_weight, scale_pos_weight or undersample", value=declared)
