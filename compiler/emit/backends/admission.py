"""Admission: a ``ValidatingAdmissionPolicy`` and its
``ValidatingAdmissionPolicyBinding`` (admissionregistration.k8s.io/v1) per
``admission`` rule of policies/ per environment it binds in, in
``generated/<env>/`` so the environment's Argo CD Application applies them
(sync wave -1: before every workload they check).

Why it looks like this:

* One policy per rule: ``matchConstraints`` are the rule's kinds (exact
  group, version and resource), the binding's ``namespaceSelector`` is the
  environment's namespace (``kubernetes.io/metadata.name``, which the API
  server sets on every namespace), its ``objectSelector`` the models the
  RiskPolicy selects (none when it selects every model), the rule's
  ``when`` is a ``matchCondition``, and the single validation's message names
  the rule id and the policy file:line, so a denial says which rule to read.
* Objects a controller owns (``ownerReferences`` with ``controller: true``)
  are not checked: the rules are about what git declares (see
  ``TOP_LEVEL_EXPRESSION``).
* ``failurePolicy: Fail`` and ``validationActions: [Deny]``: an expression
  that errors denies, as the offline dry run (``admission_dry_run``) assumes.
* The objects are cluster-scoped; their names carry the system and the
  environment, so environments sharing a cluster never collide.
* Built from the kubernetes client's V1 models, serialized through their
  ``attribute_map`` (camelCase).
"""

from __future__ import annotations

from collections.abc import Iterator

from kubernetes import client as k8s

from compiler.emit.artifact import Artifact
from compiler.emit.conventions import ANNOTATION_SOURCE, LABEL_MODEL, labels, wave
from compiler.emit.layout import manifest_file
from compiler.emit.serialize import yaml_artifact
from compiler.plan import AdmissionRulePlan, SystemPlan
from compiler.policy.admission import ADMISSION_RESOURCES

__all__ = [
    "API_VERSION",
    "NAME",
    "NAMESPACE_NAME_LABEL",
    "OPERATIONS",
    "TOP_LEVEL_CONDITION",
    "TOP_LEVEL_EXPRESSION",
    "build_binding",
    "build_policy",
    "emit",
    "rule_message",
]

NAME = "admission"
API_VERSION = "admissionregistration.k8s.io/v1"
# Set by the API server on every Namespace (immutable), so it selects by name.
NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"
# Deletes are never checked (a rollback by deletion must stay possible).
OPERATIONS = ("CREATE", "UPDATE")
# The rules judge what git declares, not what controllers derive from it: a
# Knative revision's Deployment (owned by its Revision) carries Knative's
# queue-proxy sidecar, which sets no CPU limit by default, so checking it
# would keep every InferenceService from ever becoming ready.
TOP_LEVEL_CONDITION = "not-controller-owned"
TOP_LEVEL_EXPRESSION = ("!has(object.metadata.ownerReferences) || "
                        "!object.metadata.ownerReferences.exists(r, has(r.controller) && r.controller)")


def rule_message(rule: AdmissionRulePlan) -> str:
    return f"[{rule.rule_id}] {rule.message} ({rule.policy}, {rule.where})"


def _metadata(plan: SystemPlan, rule: AdmissionRulePlan, kind: str) -> k8s.V1ObjectMeta:
    return k8s.V1ObjectMeta(
        name=rule.name, labels=labels(plan.name, rule.environment),
        annotations={ANNOTATION_SOURCE: f"{rule.where} ({rule.policy})", **wave(kind)},
    )


def build_policy(plan: SystemPlan, rule: AdmissionRulePlan) -> k8s.V1ValidatingAdmissionPolicy:
    resource_rules = [
        k8s.V1NamedRuleWithOperations(api_groups=[r.group], api_versions=[r.version], resources=[r.resource],
                                      operations=list(OPERATIONS), scope="Namespaced")
        for r in (ADMISSION_RESOURCES[kind] for kind in rule.kinds)
    ]
    conditions = [k8s.V1MatchCondition(name=TOP_LEVEL_CONDITION, expression=TOP_LEVEL_EXPRESSION)]
    if rule.when:
        conditions.append(k8s.V1MatchCondition(name="when", expression=rule.when))
    variables = [k8s.V1Variable(name=v.name, expression=v.expression) for v in rule.variables] or None
    spec = k8s.V1ValidatingAdmissionPolicySpec(
        failure_policy="Fail",
        match_constraints=k8s.V1MatchResources(resource_rules=resource_rules, match_policy="Equivalent"),
        match_conditions=conditions,
        variables=variables,
        validations=[k8s.V1Validation(expression=rule.expression, message=rule_message(rule), reason="Forbidden")],
    )
    return k8s.V1ValidatingAdmissionPolicy(api_version=API_VERSION, kind="ValidatingAdmissionPolicy",
                                           metadata=_metadata(plan, rule, "ValidatingAdmissionPolicy"), spec=spec)


def build_binding(plan: SystemPlan, rule: AdmissionRulePlan) -> k8s.V1ValidatingAdmissionPolicyBinding:
    namespaces = k8s.V1LabelSelector(match_expressions=[
        k8s.V1LabelSelectorRequirement(key=NAMESPACE_NAME_LABEL, operator="In", values=[rule.namespace])])
    objects = k8s.V1LabelSelector(match_expressions=[
        k8s.V1LabelSelectorRequirement(key=LABEL_MODEL, operator="In", values=list(rule.models))]) if rule.models else None
    spec = k8s.V1ValidatingAdmissionPolicyBindingSpec(
        policy_name=rule.name, validation_actions=["Deny"],
        match_resources=k8s.V1MatchResources(namespace_selector=namespaces, object_selector=objects),
    )
    return k8s.V1ValidatingAdmissionPolicyBinding(api_version=API_VERSION, kind="ValidatingAdmissionPolicyBinding",
                                                  metadata=_metadata(plan, rule, "ValidatingAdmissionPolicyBinding"),
                                                  spec=spec)


def emit(plan: SystemPlan) -> Iterator[Artifact]:
    envs = {e.name for e in plan.environments}
    for rule in plan.admission:
        if rule.environment not in envs:
            continue
        sources = (rule.policy, f"System/{plan.name}")
        yield yaml_artifact(manifest_file(plan, rule.environment, "ValidatingAdmissionPolicy", rule.name),
                            build_policy(plan, rule), sources, NAME)
        yield yaml_artifact(manifest_file(plan, rule.environment, "ValidatingAdmissionPolicyBinding", rule.name),
                            build_binding(plan, rule), sources, NAME)
