"""Two compiles (the base revision and the working tree) -> a ChangePlan.
Pure: both sides are compiled already; nothing here reads git or disk."""

from __future__ import annotations

from compiler.change.approvals import approvals_for
from compiler.change.model import ChangePlan, SideReport
from compiler.change.resources import diff_artifacts
from compiler.change.semantic import diff_specs
from compiler.compile import CompileResult
from compiler.resolve import ResolvedSpec, resolve

__all__ = ["build_change_plan", "side_report", "specs_complete"]

# Stages whose errors leave the typed spec incomplete (load, validate, resolve):
# comparing such a spec would report the missing resources as deleted.
_INCOMPLETE_STAGES = frozenset("123")


def specs_complete(result: CompileResult) -> bool:
    return not any(d.is_error and d.code[2] in _INCOMPLETE_STAGES for d in result.diagnostics)


def side_report(label: str, result: CompileResult | None) -> SideReport:
    if result is None:  # the base revision has no specs yet: everything is created
        return SideReport(label, True, 0, 0, ())
    return SideReport(label, result.ok, len(result.lint.loaded.files), len(result.lint.spec.nodes), result.diagnostics)


def _spec(result: CompileResult | None) -> ResolvedSpec:
    return resolve(()).spec if result is None else result.lint.spec


def build_change_plan(base: CompileResult | None, head: CompileResult, base_label: str,
                      head_label: str = "working tree") -> ChangePlan:
    """``base`` is None when the base revision has no spec files at the given paths."""
    base_side, head_side = side_report(base_label, base), side_report(head_label, head)
    resources_compared = base_side.ok and head_side.ok and head.plan is not None
    resources = ()
    if resources_compared:
        base_artifacts = base.artifacts if base is not None else ()
        resources = diff_artifacts(base_artifacts, head.artifacts, head.plan.generated_dir)  # type: ignore[union-attr]
    specs_compared = (base is None or specs_complete(base)) and specs_complete(head)
    specs = diff_specs(_spec(base), _spec(head)) if specs_compared else ()
    approvals = approvals_for(specs, _spec(base), _spec(head)) if specs_compared else ()
    return ChangePlan(base_side, head_side, resources, resources_compared, specs, specs_compared, approvals)
