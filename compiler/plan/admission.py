"""The admission part of the plan: one ``AdmissionRulePlan`` per
``admission`` rule per environment it binds in.

One policy per rule (rather than one per RiskPolicy) because a rule's
kinds, environments and ``when`` are its own: they map one to one onto the
policy's ``matchConstraints``, the binding's ``matchResources`` and
``matchConditions``, and a denial names exactly one rule id."""

from __future__ import annotations

from dataclasses import dataclass

from compiler.policy.admission import AdmissionVariable, rule_environments, rule_variables
from compiler.policy.select import selects
from compiler.resolve import ResolvedSpec
from compiler.spec import Model, RiskPolicy
from compiler.spec.riskpolicy import PolicyRule
from compiler.validate import SpecNode

__all__ = ["AdmissionRulePlan", "build_admission", "rule_origin_line"]


@dataclass(frozen=True, slots=True)
class AdmissionRulePlan:
    """One ValidatingAdmissionPolicy and its binding."""

    name: str  # of both objects: <system>-<environment>-<rule id>, unique in a cluster
    rule_id: str
    policy: str  # "RiskPolicy/<name>"
    message: str
    expression: str
    when: str | None
    kinds: tuple[str, ...]
    environment: str
    namespace: str
    # The models whose objects it checks (specops.dev/model); () = every object in the namespace.
    models: tuple[str, ...]
    variables: tuple[AdmissionVariable, ...]
    file: str  # the policy file and the line of the rule's id
    line: int

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}"


def rule_origin_line(node: SpecNode, index: int) -> int:
    return node.location("spec", "rules", index, "id", value=True).line


def _plan(spec: ResolvedSpec, node: SpecNode, policy: RiskPolicy, index: int, rule: PolicyRule,
          environment: str, namespace: str, models: tuple[str, ...]) -> AdmissionRulePlan:
    system = spec.system.name if spec.system else "specops"
    return AdmissionRulePlan(
        name=f"{system}-{environment}-{rule.id.lower()}", rule_id=rule.id, policy=policy.id, message=rule.message,
        expression=rule.expression, when=rule.when, kinds=tuple(sorted(set(rule.kinds))), environment=environment,
        namespace=namespace, models=models, variables=rule_variables(spec, policy, rule, environment),
        file=node.document.file, line=rule_origin_line(node, index),
    )


def build_admission(spec: ResolvedSpec) -> tuple[AdmissionRulePlan, ...]:
    """Every admission rule, in every environment it names (all when it names none), sorted by name."""
    if spec.system is None:
        return ()
    namespaces = {e.name: e.namespace for e in spec.system.resource.spec.environments}  # type: ignore[attr-defined]
    all_models = [m for _, m in spec.of_kind(Model)]
    out: list[AdmissionRulePlan] = []
    for node, policy in spec.of_kind(RiskPolicy):
        selector = policy.spec.selector
        selected = tuple(sorted(m.name for m in all_models if selects(policy, m)))
        everything = not (selector.models or selector.risk_tiers or selector.match_labels)
        if not everything and not selected:
            continue  # selects nothing: lint warns (SO504); a binding would match nothing
        for index, rule in enumerate(policy.spec.rules):
            if rule.target != "admission":
                continue
            for env in rule_environments(spec, rule):
                out.append(_plan(spec, node, policy, index, rule, env, namespaces[env], () if everything else selected))
    return tuple(sorted(out, key=lambda p: p.name))
