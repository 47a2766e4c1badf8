"""Risk policies: every rule compiles against its target's variables; spec
rules are evaluated over the resolved spec; admission and prediction rules
are type-checked against a typical object, so a broken rule fails in CI."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from compiler.diagnostics import Diagnostic, Severity
from compiler.policy.admission import (
    available_variables,
    evaluate_variables,
    referenced_variables,
    rule_environments,
    rule_variables,
)
from compiler.policy.context import SPEC_VARIABLES, SpecContextBuilder, declared_variables, exemplar_context
from compiler.policy.select import selects
from compiler.resolve import ResolvedSpec
from compiler.spec import Model, RiskPolicy
from compiler.spec.riskpolicy import PolicyRule
from compiler.validate import SpecNode
from runtime.contracts import CelError, CelProgram, compile_cel, prepare_context

__all__ = ["check"]

_SEVERITY = {"error": Severity.ERROR, "warning": Severity.WARNING, "info": Severity.INFO}


def check(spec: ResolvedSpec) -> Iterator[Diagnostic]:
    models = list(spec.of_kind(Model))
    builder = SpecContextBuilder(spec)
    contexts: dict[tuple, Any] = {}
    for pnode, policy in spec.of_kind(RiskPolicy):
        selected = [(n, m) for n, m in models if selects(policy, m)]
        if not selected:
            yield Diagnostic("SO504", Severity.WARNING, f"risk policy '{policy.name}' selects no model",
                             pnode.location("spec", "selector"), hint="check the selector, or delete the policy",
                             resource=pnode.id)
        for i, rule in enumerate(policy.spec.rules):
            programs: dict[str, CelProgram] = {}
            broken = False
            for field in ("expression", "when"):
                source = getattr(rule, field)
                if source is None:
                    continue
                try:
                    programs[field] = compile_cel(source, declared_variables(rule.target))
                except CelError as exc:
                    broken = True
                    code = "SO502" if exc.kind == "syntax" else "SO503"
                    yield Diagnostic(code, Severity.ERROR, f"rule {rule.id}: {field} does not compile: {exc.message}",
                                     pnode.location("spec", "rules", i, field, value=True),
                                     hint=_hint(rule.target, code), resource=pnode.id)
            if broken:
                continue
            if rule.target == "spec":
                yield from _evaluate_spec_rule(pnode, policy, i, programs, selected, builder, contexts)
            elif rule.target == "admission" and (refused := _admission_problem(pnode, policy, i)):
                yield refused
            else:
                kinds = rule.kinds or (None,)
                for kind in kinds:
                    problem = _typecheck_rule(spec, policy, rule, programs, kind)
                    if problem:
                        field, message = problem
                        yield Diagnostic("SO503", Severity.ERROR,
                                         f"rule {rule.id}: {field}: {message}" + (f" (on a typical {kind})" if kind else ""),
                                         pnode.location("spec", "rules", i, field, value=True),
                                         hint=_hint(rule.target, "SO503"), resource=pnode.id)
                        break


def _admission_problem(pnode: SpecNode, policy: RiskPolicy, index: int) -> Diagnostic | None:
    """What stops an admission rule from being compiled into a cluster policy."""
    rule = policy.spec.rules[index]
    if "Application" in rule.kinds:
        return Diagnostic("SO481", Severity.ERROR,
                          f"rule {rule.id}: Argo CD Applications live in the Argo CD namespace, outside every "
                          "environment's namespace, so no admission binding can check them",
                          pnode.location("spec", "rules", index, "kinds", rule.kinds.index("Application"), value=True),
                          hint="check the System's gitops settings with a 'spec' rule (subject: System) instead",
                          resource=pnode.id)
    if rule.when and "variables" in compile_cel(rule.when).variables:
        return Diagnostic("SO480", Severity.ERROR,
                          f"rule {rule.id}: 'when' cannot read variables: it becomes the policy's matchCondition, "
                          "which Kubernetes evaluates before (and without) variables",
                          pnode.location("spec", "rules", index, "when", value=True),
                          hint="move the condition into the expression: `!(condition) || (assertion)`",
                          resource=pnode.id)
    available = available_variables(policy)
    unknown = [v for v in referenced_variables(rule) if v not in available]
    if unknown:
        extra = " (set spec.maxCanaryPercent on the policy)" if unknown[0] == "maxCanaryPercent" else ""
        return Diagnostic("SO480", Severity.ERROR,
                          f"rule {rule.id}: variables.{unknown[0]} is not provided to this policy's admission rules{extra}",
                          pnode.location("spec", "rules", index, "expression", value=True),
                          hint=f"admission rules of '{policy.name}' may read: "
                               + ", ".join(f"variables.{v}" for v in available),
                          resource=pnode.id)
    return None


def _typecheck_rule(spec: ResolvedSpec, policy: RiskPolicy, rule: PolicyRule, programs: dict[str, CelProgram],
                    kind: str | None) -> tuple[str, str] | None:
    """Evaluates an admission or prediction rule on a typical object; an
    admission rule also gets its compiled ``variables``, evaluated over that
    object as the cluster would."""
    context = exemplar_context(rule.target, kind)
    if rule.target == "admission":
        envs = rule_environments(spec, rule)
        try:
            context["variables"] = evaluate_variables(rule_variables(spec, policy, rule, envs[0] if envs else ""), context)
        except CelError as exc:
            return "expression", exc.message
    return _typecheck(programs, context)


def _hint(target: str, code: str) -> str:
    if code == "SO502":
        return "fix the CEL syntax (operators: && || ! == != < <= in; functions: has(), size(), exists(), all()); see `specops explain SO502`"
    names = ", ".join(sorted(declared_variables(target)))
    return f"'{target}' rules may use: {names}; see `specops explain SO503`"


def _typecheck(programs: dict[str, CelProgram], context: dict) -> tuple[str, str] | None:
    for field, program in programs.items():
        try:
            program.evaluate_bool(context)
        except CelError as exc:
            return field, exc.message
    return None


def _evaluate_spec_rule(pnode: SpecNode, policy: RiskPolicy, index: int, programs: dict[str, CelProgram],
                        selected: list[tuple[SpecNode, Model]], builder: SpecContextBuilder,
                        contexts: dict[tuple, Any]) -> Iterator[Diagnostic]:
    rule = policy.spec.rules[index]
    used = frozenset(v for p in programs.values() for v in p.variables) & SPEC_VARIABLES
    reported_error = False
    seen_subjects: set[str] = set()
    for mnode, model in selected:
        for subject in builder.subjects(rule.subject, model):
            # A System-level rule is evaluated once, not once per model.
            key = subject.id if rule.subject != "Model" else model.id
            if key in seen_subjects:
                continue
            seen_subjects.add(key)
            # One converted context per (model, subject, variables), shared by every rule that needs it.
            ckey = (model.id, subject.id, policy.id if "policy" in used else None, used)
            context = contexts.get(ckey)
            if context is None:
                context = contexts[ckey] = prepare_context(builder.for_model(policy, model, subject, used))
            field = "when"
            try:
                if "when" in programs and not programs["when"].evaluate_bool(context):
                    continue
                field = "expression"
                ok = programs["expression"].evaluate_bool(context)
            except CelError as exc:
                if not reported_error:
                    reported_error = True
                    yield Diagnostic("SO503", Severity.ERROR, f"rule {rule.id}: {field} failed on {subject.id}: {exc.message}",
                                     pnode.location("spec", "rules", index, field, value=True),
                                     hint="guard optional fields with has(...) and compare like types", resource=pnode.id)
                continue
            if not ok:
                subject_node = builder.spec.nodes[subject.id]
                yield Diagnostic("SO501", _SEVERITY[rule.severity], f"[{rule.id}] {rule.message}",
                                 subject_node.location("metadata", "name", value=True),
                                 hint=f"required by risk policy '{policy.name}' ({pnode.document.file}); "
                                      f"rule: {rule.expression}",
                                 resource=subject.id,
                                 related=((pnode.location("spec", "rules", index, "id", value=True), "rule defined here"),))
