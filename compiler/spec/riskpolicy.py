"""`RiskPolicy`: governance as code.  Selects models, requires approvals per
environment and carries CEL rules with a target: ``spec`` (lint, over the
resolved spec), ``admission`` (ValidatingAdmissionPolicy over cluster
objects) or ``prediction`` (per request in the serving path)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from compiler.spec.base import Labels, Name, PositiveInt, Resource, SpecModel, Str

__all__ = [
    "Approval",
    "PolicyRule",
    "PolicySelector",
    "RiskPolicy",
    "RiskPolicySpec",
    "RULE_TARGETS",
]

RuleTarget = Literal["spec", "admission", "prediction"]
RULE_TARGETS: tuple[str, ...] = ("spec", "admission", "prediction")
SpecSubject = Literal["Model", "System", "DataSource", "FeatureSet", "ServiceLevel", "ModelRelease"]
AdmissionKind = Literal[
    "InferenceService", "WorkflowTemplate", "CronWorkflow", "Deployment", "Application",
]


class PolicySelector(SpecModel):
    """Selects models; an empty selector selects every model."""

    risk_tiers: tuple[Literal["low", "medium", "high", "critical"], ...] = ()
    models: tuple[Name, ...] = ()
    match_labels: Labels = Field(default_factory=dict)


class Approval(SpecModel):
    environment: Name
    count: PositiveInt
    roles: tuple[Name, ...] = ()


class PolicyRule(SpecModel):
    id: Annotated[Str, Field(pattern=r"^[A-Z][A-Z0-9]{1,9}-[0-9]{3}$")]
    target: RuleTarget
    severity: Literal["error", "warning", "info"] = "error"
    message: Annotated[Str, Field(min_length=1, max_length=500)]
    # spec/admission: an assertion that must hold.  prediction: the condition
    # that triggers ``action``.
    expression: Annotated[Str, Field(min_length=1, max_length=4000)]
    # Optional precondition; the rule applies only where it is true.
    when: Annotated[Str, Field(min_length=1, max_length=4000)] | None = None
    # spec: which resource the rule is about (default: each selected Model).
    subject: SpecSubject = "Model"
    # admission: which kinds of cluster object it checks, in which environments.
    kinds: tuple[AdmissionKind, ...] = ()
    environments: tuple[Name, ...] = ()
    # prediction: what happens when the expression is true.
    action: Literal["human_review", "abstain"] | None = None

    @model_validator(mode="after")
    def _per_target(self) -> "PolicyRule":
        if self.target == "prediction" and self.action is None:
            raise ValueError("a 'prediction' rule needs 'action' (human_review or abstain)")
        if self.target != "prediction" and self.action is not None:
            raise ValueError("'action' applies only to 'prediction' rules")
        if self.target == "admission" and not self.kinds:
            raise ValueError("an 'admission' rule lists the 'kinds' of object it checks")
        if self.target != "admission" and self.kinds:
            raise ValueError("'kinds' applies only to 'admission' rules")
        if self.target != "spec" and self.subject != "Model":
            raise ValueError("'subject' applies only to 'spec' rules")
        return self


class RiskPolicySpec(SpecModel):
    selector: PolicySelector = PolicySelector()
    approvals: tuple[Approval, ...] = ()
    # The largest canary step a selected model may take in one pull request.
    max_canary_percent: Annotated[int, Field(ge=1, le=100, strict=True)] | None = None
    # Environments where a selected model's changes are synced by hand (Argo CD
    # manual sync), whatever the environment's own sync policy says.
    manual_sync: tuple[Name, ...] = ()
    rules: tuple[PolicyRule, ...] = ()

    @model_validator(mode="after")
    def _something(self) -> "RiskPolicySpec":
        if not (self.rules or self.approvals or self.max_canary_percent or self.manual_sync):
            raise ValueError("a risk policy needs at least one rule, approval, maxCanaryPercent or manualSync")
        ids = [r.id for r in self.rules]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ValueError(f"rule id '{dupes[0]}' is used twice")
        return self


class RiskPolicy(Resource):
    KIND = "RiskPolicy"
    kind: Literal["RiskPolicy"]
    spec: RiskPolicySpec
