"""The compile pipeline: lint -> plan -> emit -> offline checks of the output.

Pure: specs in, artifacts and diagnostics out.  ``compiler.write`` puts the
artifacts on disk."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import yaml

from compiler.diagnostics import Diagnostic, Location, Severity, sort_diagnostics
from compiler.emit import Artifact, emit
from compiler.emit.admission_dry_run import admission_dry_run
from compiler.emit.argo_lint import check_workflows
from compiler.emit.rules_lint import slo_rules_check
from compiler.lint import LintResult, lint_sources
from compiler.load import SourceFile
from compiler.plan import SystemPlan, build_plan

__all__ = ["OUTPUT_CHECKS", "CompileResult", "OutputCheck", "compile_sources", "output_checks"]


@dataclass(frozen=True, slots=True)
class CompileResult:
    lint: LintResult
    plan: SystemPlan | None
    artifacts: tuple[Artifact, ...]
    diagnostics: tuple[Diagnostic, ...]

    @property
    def ok(self) -> bool:
        return self.plan is not None and not any(d.is_error for d in self.diagnostics)


OutputCheck = Callable[[SystemPlan, Sequence[Artifact]], list[Diagnostic]]


def _argo_lint(plan: SystemPlan, artifacts: Sequence[Artifact]) -> list[Diagnostic]:
    """What `argo lint` would catch.  A problem here is a compiler bug; it is
    reported at the system spec."""
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    docs = [a.document if a.document is not None else yaml.load(a.content, Loader=loader)  # noqa: S506
            for a in artifacts if a.path.endswith(".yaml") and a.backend == "argo-workflows"]
    origin = plan.origin
    where = Location(origin.file, origin.line, 1) if origin else Location("specs")
    return [
        Diagnostic("SO601", Severity.ERROR, f"generated workflow is inconsistent: {problem}", where,
                   hint="this is a compiler bug; please report it with the specs")
        for problem in check_workflows(docs)
    ]


# Offline checks of what was emitted, in order; a new one is one function and one line.
OUTPUT_CHECKS: tuple[OutputCheck, ...] = (
    _argo_lint,
    admission_dry_run,  # what the cluster's own admission policies would deny
    slo_rules_check,  # PrometheusRules Prometheus would load and evaluate as intended
)


def output_checks(plan: SystemPlan, artifacts: Iterable[Artifact]) -> list[Diagnostic]:
    """Every output check over the emitted artifacts."""
    emitted = tuple(artifacts)
    return [d for check in OUTPUT_CHECKS for d in check(plan, emitted)]


def compile_sources(files: Iterable[SourceFile], extra: Iterable[Diagnostic] = ()) -> CompileResult:
    lint = lint_sources(files, extra)
    if not lint.ok:
        return CompileResult(lint, None, (), lint.diagnostics)
    plan = build_plan(lint.spec)
    artifacts = emit(plan)
    diagnostics = sort_diagnostics((*lint.diagnostics, *output_checks(plan, artifacts)))
    return CompileResult(lint, plan, artifacts, diagnostics)
