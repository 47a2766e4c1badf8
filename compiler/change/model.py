"""The typed values of `specops plan`: what a change does to the generated
resources, what it means in spec terms, and who must approve it.  All
frozen; collections are tuples in a deterministic order."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from compiler.diagnostics import Diagnostic
from compiler.policy.select import ApprovalRequirement

__all__ = [
    "ApprovalCheck",
    "ChangePlan",
    "FieldChange",
    "ResourceChange",
    "SideReport",
    "SpecChange",
]

Action = Literal["created", "updated", "deleted"]


@dataclass(frozen=True, slots=True)
class FieldChange:
    """One value that differs inside a generated document (a JSON pointer)."""

    pointer: str
    before: Any
    after: Any


@dataclass(frozen=True, slots=True)
class ResourceChange:
    """A generated Kubernetes object (or file) created, updated or deleted."""

    action: Action
    environment: str  # the generated/<environment>/ folder, or "argocd", "runtime", "local"
    kind: str
    namespace: str
    name: str
    path: str
    fields: tuple[FieldChange, ...] = ()  # updates only; at most a few, see fields_total
    fields_total: int = 0  # changed fields other than derived ones
    # Hashes and content-addressed names that follow from other changes (spec-hash, config-sha256).
    derived: int = 0

    @property
    def ref(self) -> str:
        return f"{self.namespace}/{self.name}" if self.namespace else self.name


@dataclass(frozen=True, slots=True)
class SpecChange:
    """What a change means: one typed spec value created, deleted or changed."""

    resource: str  # "Kind/name"
    action: Action
    category: str  # gates, canary, SLO objectives, schema, approvals, ...
    path: str  # dotted spec path with list items named by their key: spec.gates[pr_auc].min
    before: Any = None
    after: Any = None
    # "loosened" / "tightened" for limits, counts and risk tiers; None when a change has no direction.
    effect: str | None = None
    note: str | None = None  # a translation of the raw value, e.g. "canary 10% -> 25%"


@dataclass(frozen=True, slots=True)
class ApprovalCheck:
    """The approvals one (model, environment) needs because of this change."""

    model: str
    environment: str
    requirement: ApprovalRequirement
    reasons: tuple[str, ...]  # the SpecChange resources/paths that make it necessary
    recorded: tuple[str, ...]  # distinct qualifying approvers on the releases changed in this PR
    # met: release records carry enough approvals; missing: a release change lacks them;
    # review: a spec change no release record covers, so reviewers of the pull request must give them.
    status: Literal["met", "missing", "review"]


@dataclass(frozen=True, slots=True)
class SideReport:
    """One side of the comparison (the base revision or the working tree)."""

    label: str  # "base (HEAD~1, 1a2b3c4d)" / "working tree"
    ok: bool
    files: int
    resources: int
    diagnostics: tuple[Diagnostic, ...]


@dataclass(frozen=True, slots=True)
class ChangePlan:
    base: SideReport
    head: SideReport
    resources: tuple[ResourceChange, ...]
    # False when a side failed to compile: its generated resources are unknown.
    resources_compared: bool
    specs: tuple[SpecChange, ...]
    # False when a side's specs did not load, validate or resolve completely.
    specs_compared: bool
    approvals: tuple[ApprovalCheck, ...]

    @property
    def ok(self) -> bool:
        return self.base.ok and self.head.ok

    @property
    def empty(self) -> bool:
        return not (self.resources or self.specs)

    def counts(self) -> dict[str, int]:
        out = {"created": 0, "updated": 0, "deleted": 0}
        for r in self.resources:
            out[r.action] += 1
        return out
