"""Offline checks of emitted PrometheusRules: what Prometheus would reject at
load time (names) and what it would silently get wrong (an alert reading a
recording that no earlier rule of its group writes: stale or empty by one
evaluation, or forever).  A problem is a compiler bug (SO610)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

import yaml

from compiler.diagnostics import Diagnostic, Location, Severity
from compiler.emit.artifact import Artifact
from compiler.emit.conventions import ANNOTATION_SOURCE
from compiler.plan import SystemPlan

__all__ = ["REQUIRED_ALERT_LABELS", "check_rules", "slo_rules_check"]

# Labels every generated alert carries (routing and the runtime's enforcer rely on them).
REQUIRED_ALERT_LABELS: Mapping[str, frozenset[str] | None] = {
    "specops_action": frozenset({"rollback", "open_circuit", "retrain", "page"}),
    "severity": frozenset({"page", "ticket"}),
    "model": None,
    "environment": None,
    "objective": None,
    "service_level": None,
}
_METRIC_NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
_LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
_RECORDED = re.compile(r"\b(specops:[a-zA-Z0-9_:]+)")


def _group_problems(where: str, group: Mapping[str, Any]) -> Iterator[str]:
    recorded: set[str] = set()
    alerts: set[str] = set()
    for rule in group.get("rules") or ():
        name = rule.get("record") or rule.get("alert")
        if bool(rule.get("record")) == bool(rule.get("alert")):
            yield f"{where}: a rule must have exactly one of record or alert ({name})"
            continue
        if not _METRIC_NAME.match(name):
            yield f"{where}: {name!r} is not a valid Prometheus name"
        for key in (*(rule.get("labels") or {}), *(rule.get("annotations") or {})):
            if not _LABEL_NAME.match(key):
                yield f"{where}: {name}: {key!r} is not a valid label or annotation name"
        for used in _RECORDED.findall(rule.get("expr", "")):
            if used not in recorded:
                yield f"{where}: {name} reads {used}, which no earlier rule of the group records"
        if rule.get("record"):
            recorded.add(name)
            continue
        if name in alerts:
            yield f"{where}: alert {name} is defined twice"
        alerts.add(name)
        labels = rule.get("labels") or {}
        for label, allowed in REQUIRED_ALERT_LABELS.items():
            value = labels.get(label)
            if not value or (allowed is not None and value not in allowed):
                expected = f"one of {sorted(allowed)}" if allowed else "a value"
                yield f"{where}: alert {name} has {label}={value!r}, expected {expected}"


def check_rules(docs: Iterable[Mapping[str, Any]]) -> list[tuple[str, str]]:
    """(problem, the ``specops.dev/source`` of the PrometheusRule) for every problem found."""
    out: list[tuple[str, str]] = []
    for doc in docs:
        if not isinstance(doc, Mapping) or doc.get("kind") != "PrometheusRule":
            continue
        meta = doc.get("metadata") or {}
        source = (meta.get("annotations") or {}).get(ANNOTATION_SOURCE, "")
        for group in (doc.get("spec") or {}).get("groups") or ():
            where = f"PrometheusRule/{meta.get('name')} group {group.get('name')}"
            out += [(problem, source) for problem in _group_problems(where, group)]
    return out


def slo_rules_check(plan: SystemPlan, artifacts: Sequence[Artifact]) -> list[Diagnostic]:
    """The output check (SO610) over a compile's PrometheusRules, each problem
    located at the ServiceLevel the rules came from."""
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    docs = [a.document if a.document is not None else yaml.load(a.content, Loader=loader)  # noqa: S506
            for a in artifacts if a.path.endswith(".yaml") and a.backend == "prometheus"]
    fallback = Location(plan.origin.file, plan.origin.line, 1) if plan.origin else Location("specs")
    out = []
    for problem, source in check_rules(docs):
        found = re.match(r"^(\S+):(\d+) ", source)  # "file:line (Kind/name)"
        at = Location(found.group(1), int(found.group(2)), 1) if found else fallback
        out.append(Diagnostic("SO610", Severity.ERROR, f"generated SLO rules are inconsistent: {problem}", at,
                              hint="this is a compiler bug; please report it with the specs"))
    return out
