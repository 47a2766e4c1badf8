"""Who must approve a change: the risk policies' and environments'
approvals (``compiler.policy.select``) for every (model, environment) the
change affects, and whether the release records in the change carry them.

The rules (docs/architecture.md, "specops plan"):

* A change affects a model in the environments it is deployed to (its
  serving environments plus where releases deploy it), on either side:
  a Model or ServiceLevel change affects that model; a DataSource or
  FeatureSet change every model that reads it, directly or through other
  feature sets; a RiskPolicy change every model it selects on either side;
  a System change every model.  A ModelRelease change affects its model
  only in the environments whose deployment it changes (all of its
  environments when the artifact, metrics or approvals change).
* The stricter of the base's and the head's requirement applies (more
  approvals wins), so a pull request cannot lower the bar it is reviewed
  against: weakening a policy needs the approvals the old policy demanded.
* Release records carry approvals for releases only.  A requirement that
  only release changes trigger is ``met`` or ``missing`` from the approvals
  recorded on each release that deploys there (a release they replace needs
  none of its own); one that a spec change triggers (a lowered gate, a new
  canary step), or a release taken out with nothing in its place (a
  rollback), is ``review``: reviewers of the pull request with those roles
  must approve it, because no release record covers it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

import networkx as nx

from compiler.change.model import ApprovalCheck, SpecChange
from compiler.policy.select import ApprovalRequirement, required_approvals, selects
from compiler.resolve import ResolvedSpec
from compiler.spec import Model, ModelRelease, RiskPolicy

__all__ = ["approvals_for", "affected"]


def _models(spec: ResolvedSpec) -> dict[str, Model]:
    return {m.name: m for _, m in spec.of_kind(Model)}


def _readers(spec: ResolvedSpec, rid: str) -> set[str]:
    """Models that use ``rid`` directly or through other resources (edges point to what is used)."""
    if rid not in spec.graph:
        return set()
    return {n.split("/", 1)[1] for n in nx.ancestors(spec.graph, rid) if n.startswith("Model/")}


def _deployments(spec: ResolvedSpec, rid: str) -> dict[str, tuple]:
    node = spec.nodes.get(rid)
    if node is None:
        return {}
    out: dict[str, list] = defaultdict(list)
    for d in node.resource.spec.deployments:  # type: ignore[attr-defined]
        out[d.environment].append((d.role, d.canary_step))
    return {env: tuple(sorted(v, key=repr)) for env, v in out.items()}


def _release_model(base: ResolvedSpec, head: ResolvedSpec, rid: str) -> str | None:
    node = head.nodes.get(rid) or base.nodes.get(rid)
    return node.resource.spec.model if node is not None else None  # type: ignore[attr-defined]


def affected(change: SpecChange, base: ResolvedSpec, head: ResolvedSpec) -> set[tuple[str, str]]:
    """(model, environment) pairs a change affects (see the module docstring)."""
    kind, name = change.resource.split("/", 1)
    sides = (base, head)
    if kind == "ModelRelease":
        model = _release_model(base, head, change.resource)
        if model is None:
            return set()
        old, new = _deployments(base, change.resource), _deployments(head, change.resource)
        if change.path.startswith("spec.deployments"):
            envs = {e for e in old.keys() | new.keys() if old.get(e) != new.get(e)}
        else:
            envs = set(old) | set(new)
        return {(model, e) for e in envs}
    models: set[str] = set()
    if kind == "Model":
        models = {name}
    elif kind == "ServiceLevel":
        for spec in sides:
            node = spec.nodes.get(change.resource)
            if node is not None:
                models.add(node.resource.spec.model)  # type: ignore[attr-defined]
    elif kind in ("DataSource", "FeatureSet"):
        for spec in sides:
            models |= _readers(spec, change.resource)
    elif kind == "RiskPolicy":
        for spec in sides:
            node = spec.nodes.get(change.resource)
            if node is not None:
                policy: RiskPolicy = node.resource  # type: ignore[assignment]
                models |= {m.name for m in _models(spec).values() if selects(policy, m)}
    elif kind == "System":
        for spec in sides:
            models |= set(_models(spec))
    return {(m, e) for m in models for spec in sides for e in spec.deployed_environments(m)}


def _requirement(spec: ResolvedSpec, model: str, environment: str) -> ApprovalRequirement | None:
    m = _models(spec).get(model)
    if m is None:
        return None
    return required_approvals(spec, m, environment)


def _stricter(a: ApprovalRequirement | None, b: ApprovalRequirement | None) -> ApprovalRequirement | None:
    """The requirement with more approvals; on a tie the head's (``b``), with both sides' sources."""
    if a is None or b is None:
        return b or a
    winner = a if a.count > b.count else b
    return ApprovalRequirement(winner.count, winner.roles, tuple(sorted(set(a.sources) | set(b.sources))))


def _approvers(head: ResolvedSpec, rid: str, need: ApprovalRequirement) -> tuple[str, ...]:
    """Distinct approvers on one release whose role counts for ``need`` (as lint counts them)."""
    rel: ModelRelease = head.nodes[rid].resource  # type: ignore[assignment]
    return tuple(sorted({a.approver for a in rel.spec.approvals if not need.roles or a.role in need.roles}))


def _deploys(spec: ResolvedSpec, rid: str, environment: str) -> bool:
    return environment in _deployments(spec, rid)


def approvals_for(changes: Iterable[SpecChange], base: ResolvedSpec, head: ResolvedSpec) -> tuple[ApprovalCheck, ...]:
    reasons: dict[tuple[str, str], set[str]] = defaultdict(set)
    for change in changes:
        for pair in affected(change, base, head):
            reasons[pair].add(f"{change.resource}:{change.path}" if change.path else change.resource)
    out: list[ApprovalCheck] = []
    for (model, env) in sorted(reasons):
        need = _stricter(_requirement(base, model, env), _requirement(head, model, env))
        if need is None or need.count == 0:
            continue
        why = tuple(sorted(reasons[(model, env)]))
        releases = sorted({r.split(":", 1)[0] for r in why if r.startswith("ModelRelease/")})
        deploying = [rid for rid in releases if _deploys(head, rid, env)]
        per_release = [_approvers(head, rid, need) for rid in deploying]
        weakest = min(per_release, key=len, default=())
        spec_change = any(not r.startswith("ModelRelease/") for r in why)
        if per_release and len(weakest) < need.count:
            status, recorded = "missing", weakest
        elif spec_change or not deploying:
            # A spec change, or a release taken out with nothing approved in its place
            # (a rollback): no release record covers it, so the pull request's reviewers approve it.
            status, recorded = "review", tuple(sorted({a for r in per_release for a in r}))
        else:
            # Releases that deploy here carry the approvals; one they replace needs none of its own.
            status, recorded = "met", weakest
        out.append(ApprovalCheck(model, env, need, why, recorded, status))
    return tuple(out)
