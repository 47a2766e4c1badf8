"""Semantic checks, listed as data: a new check is one module and one line."""

from __future__ import annotations

from collections.abc import Iterable

from compiler.checks import (
    datasources,
    environments,
    features,
    imbalance,
    platform,
    point_in_time,
    policies,
    releases,
    review,
    sample_data,
    secrets,
    slo_coverage,
    slo_rules,
)
from compiler.checks.base import Check
from compiler.diagnostics import Diagnostic
from compiler.resolve import ResolvedSpec

__all__ = ["CHECKS", "Check", "run_checks"]

CHECKS: tuple[tuple[str, Check], ...] = (
    ("datasources", datasources.check),
    ("sample-data", sample_data.check),
    ("features", features.check),
    ("point-in-time", point_in_time.check),
    ("imbalance", imbalance.check),
    ("environments", environments.check),
    ("slo-coverage", slo_coverage.check),
    ("releases", releases.check),
    ("secrets", secrets.check),
    ("policies", policies.check),
    ("platform", platform.check),
    ("slo-rules", slo_rules.check),
    ("review", review.check),
)


def run_checks(spec: ResolvedSpec, checks: Iterable[tuple[str, Check]] = CHECKS) -> tuple[Diagnostic, ...]:
    out: list[Diagnostic] = []
    for _, check in checks:
        out.extend(check(spec))
    return tuple(out)
