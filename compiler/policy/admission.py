"""What an ``admission`` rule means in a cluster, shared by lint (type-check
on a typical object), the plan (ValidatingAdmissionPolicies) and the
offline admission dry run, so the three cannot drift apart:

* which API resource each admission kind is (``ADMISSION_RESOURCES``);
* the ``variables`` a rule may use besides the Kubernetes ones.  They are
  compiled into the policy's ``spec.variables``, so the numbers come from
  the specs, never from a copy in the rule:

  ``variables.containers``
      every container of the object's pod templates, whatever the kind
      (predictor containers, Deployment containers and init containers,
      Argo ``container`` and ``script`` templates);
  ``variables.model``
      the object's ``specops.dev/model`` label ('' when it has none);
  ``variables.requiredApprovals``
      the approvals a release of that model needs in this environment,
      computed by ``required_approvals`` exactly as lint's release check does
      (the largest requirement of the environment when the model is unknown);
  ``variables.maxCanaryPercent``
      the policy's ``maxCanaryPercent`` (only when the policy sets it).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from compiler.policy.select import required_approvals, selects
from compiler.resolve import ResolvedSpec
from compiler.spec import Model, RiskPolicy
from compiler.spec.riskpolicy import PolicyRule
from runtime.contracts import CelError, compile_cel, prepare_context

__all__ = [
    "ADMISSION_RESOURCES",
    "ADMISSION_VARIABLE_NAMES",
    "AdmissionResource",
    "AdmissionVariable",
    "MODEL_LABEL",
    "available_variables",
    "evaluate_variables",
    "referenced_variables",
    "rule_environments",
    "rule_variables",
]


# The label every generated object of a model carries; the same string as
# compiler.emit.conventions.LABEL_MODEL (policy cannot import emit; a test
# keeps the two equal).
MODEL_LABEL = "specops.dev/model"


@dataclass(frozen=True, slots=True)
class AdmissionResource:
    """The API resource of a kind, as admission rules (``resourceRules``) name it."""

    group: str
    version: str
    resource: str

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version


ADMISSION_RESOURCES: Mapping[str, AdmissionResource] = {
    "InferenceService": AdmissionResource("serving.kserve.io", "v1beta1", "inferenceservices"),
    "Deployment": AdmissionResource("apps", "v1", "deployments"),
    "WorkflowTemplate": AdmissionResource("argoproj.io", "v1alpha1", "workflowtemplates"),
    "CronWorkflow": AdmissionResource("argoproj.io", "v1alpha1", "cronworkflows"),
    "Application": AdmissionResource("argoproj.io", "v1alpha1", "applications"),
}


@dataclass(frozen=True, slots=True)
class AdmissionVariable:
    """One entry of a ValidatingAdmissionPolicy's ``spec.variables``."""

    name: str
    expression: str


def _opt(path: str) -> str:
    """A list field that may be absent, as a list."""
    parent, _, leaf = path.rpartition(".")
    return f"(has({parent}.{leaf}) ? {path} : [])" if parent else path


def _argo(spec: str) -> str:
    templates = _opt(f"{spec}.templates")
    # map(x, filter, transform): one pass, and cheaper than filter().map() in the offline evaluator.
    return (f"{templates}.map(t, has(t.container), t.container) + "
            f"{templates}.map(t, has(t.script), t.script)")


# Where each kind keeps its containers (CEL over ``object``).
_CONTAINERS: Mapping[str, str] = {
    "InferenceService": f"{_opt('object.spec.predictor.containers')} + {_opt('object.spec.predictor.initContainers')}",
    "Deployment": f"object.spec.template.spec.containers + {_opt('object.spec.template.spec.initContainers')}",
    "WorkflowTemplate": _argo("object.spec"),
    "CronWorkflow": _argo("object.spec.workflowSpec"),
    "Application": "[]",
}

ADMISSION_VARIABLE_NAMES: tuple[str, ...] = ("containers", "model", "approvalsByModel", "requiredApprovals",
                                             "maxCanaryPercent")
# Which variables each one reads (Kubernetes evaluates them in list order).
_DEPENDS: Mapping[str, tuple[str, ...]] = {"requiredApprovals": ("model", "approvalsByModel")}
_REFERENCE = re.compile(r"\bvariables\s*\.\s*([A-Za-z_][A-Za-z0-9_]*)")


def referenced_variables(rule: PolicyRule) -> tuple[str, ...]:
    """The ``variables.<name>`` a rule's expression and ``when`` read, sorted."""
    text = f"{rule.expression}\n{rule.when or ''}"
    return tuple(sorted(set(_REFERENCE.findall(text))))


def rule_environments(spec: ResolvedSpec, rule: PolicyRule) -> tuple[str, ...]:
    """The System's environments an admission rule binds in (all of them when it names none)."""
    declared = [e.name for e in spec.system.resource.spec.environments] if spec.system else []  # type: ignore[attr-defined]
    if not rule.environments:
        return tuple(declared)
    return tuple(e for e in declared if e in rule.environments)


def _containers(kinds: Iterable[str]) -> str:
    kinds = sorted(set(kinds))
    if len(kinds) == 1:
        return _CONTAINERS[kinds[0]]
    expression = "[]"
    for kind in reversed(kinds):
        expression = f"object.kind == '{kind}' ? {_CONTAINERS[kind]} : ({expression})"
    return expression


def _cel_map(values: Mapping[str, int]) -> str:
    # Model names are DNS-1123 labels, so they need no escaping inside quotes.
    return "{" + ", ".join(f"'{k}': {values[k]}" for k in sorted(values)) + "}"


def rule_variables(spec: ResolvedSpec, policy: RiskPolicy, rule: PolicyRule,
                   environment: str) -> tuple[AdmissionVariable, ...]:
    """The variables a rule reads (and those they depend on), in evaluation order.
    Names the rule reads that do not exist here are left out (lint reports them)."""
    wanted: set[str] = set()
    todo = list(referenced_variables(rule))
    while todo:
        name = todo.pop()
        if name not in wanted:
            wanted.add(name)
            todo.extend(_DEPENDS.get(name, ()))
    out: list[AdmissionVariable] = []
    for name in ADMISSION_VARIABLE_NAMES:
        if name not in wanted:
            continue
        if name == "containers":
            out.append(AdmissionVariable(name, _containers(rule.kinds)))
        elif name == "model":
            out.append(AdmissionVariable(name, f"has(object.metadata.labels) && '{MODEL_LABEL}' in object.metadata.labels"
                                               f" ? object.metadata.labels['{MODEL_LABEL}'] : ''"))
        elif name == "approvalsByModel":
            models = [m for _, m in spec.of_kind(Model)]
            counts = {m.name: required_approvals(spec, m, environment).count for m in models if selects(policy, m)}
            out.append(AdmissionVariable(name, _cel_map(counts)))
        elif name == "requiredApprovals":
            models = [m for _, m in spec.of_kind(Model)]
            fallback = max((required_approvals(spec, m, environment).count for m in models), default=0)
            out.append(AdmissionVariable(name, "variables.model in variables.approvalsByModel ? "
                                               f"variables.approvalsByModel[variables.model] : {fallback}"))
        elif name == "maxCanaryPercent" and policy.spec.max_canary_percent is not None:
            out.append(AdmissionVariable(name, str(policy.spec.max_canary_percent)))
    return tuple(out)


def available_variables(policy: RiskPolicy) -> tuple[str, ...]:
    names = [n for n in ADMISSION_VARIABLE_NAMES if n != "approvalsByModel"]
    if policy.spec.max_canary_percent is None:
        names.remove("maxCanaryPercent")
    return tuple(names)


def evaluate_variables(variables: Iterable[AdmissionVariable], context: Mapping[str, Any]) -> dict[str, Any]:
    """The ``variables`` map, evaluated in order as Kubernetes does (each may
    read the ones before it).  Raises ``CelError`` naming the variable."""
    values: dict[str, Any] = {}
    for var in variables:
        program = compile_cel(var.expression)
        try:
            values[var.name] = program.evaluate(prepare_context({**context, "variables": values}))
        except CelError as exc:
            raise CelError(exc.kind, f"variables.{var.name}: {exc.message}") from None
    return values

