"""Which risk policies apply to which model, and what approvals they require."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from compiler.resolve import ResolvedSpec
from compiler.spec import Model, RiskPolicy
from compiler.spec.release import Approval as ReleaseApproval

__all__ = ["ApprovalRequirement", "counted_approvals", "policies_for", "required_approvals", "selects"]


def selects(policy: RiskPolicy, model: Model) -> bool:
    sel = policy.spec.selector
    if sel.models and model.name not in sel.models:
        return False
    if sel.risk_tiers and model.spec.risk.tier not in sel.risk_tiers:
        return False
    labels = model.metadata.labels
    return all(labels.get(k) == v for k, v in sel.match_labels.items())


def policies_for(spec: ResolvedSpec, model: Model) -> list[RiskPolicy]:
    return [p for _, p in spec.of_kind(RiskPolicy) if selects(p, model)]


@dataclass(frozen=True, slots=True)
class ApprovalRequirement:
    """The approvals a release needs to deploy a model to an environment."""

    count: int
    roles: tuple[str, ...]
    sources: tuple[str, ...]  # "Kind/name" of every resource that demands approvals


def required_approvals(spec: ResolvedSpec, model: Model, environment: str) -> ApprovalRequirement:
    count = 0
    roles: set[str] = set()
    sources: list[str] = []
    env = spec.environment(environment)
    if env is not None and env.required_approvals:
        count = env.required_approvals
        sources.append(f"System/{spec.system.name}:{environment}" if spec.system else environment)
    for policy in policies_for(spec, model):
        for a in policy.spec.approvals:
            if a.environment == environment:
                count = max(count, a.count)
                roles.update(a.roles)
                sources.append(policy.id)
    return ApprovalRequirement(count, tuple(sorted(roles)), tuple(sources))


def counted_approvals(approvals: Iterable[ReleaseApproval], need: ApprovalRequirement) -> int:
    """The approvals that count towards ``need``: distinct approvers, with one
    of its roles when it names roles.  Lint (SO443), the release annotation on
    the InferenceService and the admission policy all use this number."""
    return len({a.approver for a in approvals if not need.roles or a.role in need.roles})
