"""What a change means, computed from the typed specs of both sides (never
from a text diff): thresholds and gates, canary steps, SLO objectives, data
schemas and contracts, features, risk tier, releases and policies.

Each resource is compared as its validated model (defaults filled in, so
writing a default out is not a change); list items are matched by their
key (a gate by metric, a field or objective by name, a deployment by
environment), so reordering is not a change and an edit names the item."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from compiler.change.model import SpecChange
from compiler.resolve import ResolvedSpec
from compiler.spec.base import Duration

__all__ = ["CATEGORIES", "LIST_KEYS", "diff_specs"]

# (kind, path prefix) -> what the change is about; the longest matching prefix wins.
CATEGORIES: tuple[tuple[str, str, str], ...] = (
    ("Model", "spec.gates", "gates"),
    ("Model", "spec.challenger", "gates"),
    ("Model", "spec.threshold", "decision threshold"),
    ("Model", "spec.serving.canary", "canary"),
    ("Model", "spec.serving.shadow", "canary"),
    ("Model", "spec.serving.environments", "environments"),
    ("Model", "spec.serving", "serving"),
    ("Model", "spec.risk", "risk tier"),
    ("Model", "spec.features", "features"),
    ("Model", "spec.label", "label"),
    ("Model", "spec.validation", "validation"),
    ("Model", "spec.review", "human review"),
    ("Model", "spec.retrain", "retraining"),
    ("Model", "spec.export", "export"),
    ("Model", "spec", "training"),
    ("ServiceLevel", "spec.objectives", "SLO objectives"),
    ("ServiceLevel", "spec.circuitBreaker", "circuit breaker"),
    ("ServiceLevel", "spec.drift", "drift detection"),
    ("ServiceLevel", "spec", "service level"),
    ("DataSource", "spec.fields", "schema"),
    ("DataSource", "spec.quality", "data contract"),
    ("DataSource", "spec.lateEvents", "data contract"),
    ("DataSource", "spec.quarantine", "data contract"),
    ("DataSource", "spec.freshness", "freshness"),
    ("DataSource", "spec", "data source"),
    ("FeatureSet", "spec", "features"),
    ("ModelRelease", "spec.deployments", "deployments"),
    ("ModelRelease", "spec.approvals", "approvals"),
    ("ModelRelease", "spec.metrics", "metrics"),
    ("ModelRelease", "spec", "release"),
    ("RiskPolicy", "spec.approvals", "policy approvals"),
    ("RiskPolicy", "spec.rules", "policy rules"),
    ("RiskPolicy", "spec.selector", "policy scope"),
    ("RiskPolicy", "spec", "policy"),
    ("System", "spec.environments", "environments"),
    ("System", "spec.runtime", "runtime image"),
    ("System", "spec", "system"),
    ("*", "metadata.labels", "labels"),
    ("*", "metadata", "metadata"),
)

# What a whole resource created or deleted is about.
_KIND_WORDS = {"Model": "model", "ModelRelease": "release", "DataSource": "data source", "FeatureSet": "features",
               "ServiceLevel": "service level", "RiskPolicy": "policy", "System": "system"}

# Keys that identify the items of a list of mappings, tried in order; the
# first one present on every item with distinct values is used.
LIST_KEYS: tuple[tuple[str, ...], ...] = (
    ("name",), ("id",), ("metric", "at"), ("environment",), ("approver",), ("featureSet",), ("dataSource",),
)

# Ordered values where later is stricter.
_RISK_TIERS = ("low", "medium", "high", "critical")


def _category(kind: str, path: str) -> str:
    best, best_len = kind.lower(), -1
    for k, prefix, label in CATEGORIES:
        if k in (kind, "*") and (path == prefix or path.startswith(prefix + ".") or path.startswith(prefix + "[")):
            if len(prefix) > best_len:
                best, best_len = label, len(prefix)
    return best


def _magnitude(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(Duration.parse(value).millis)
        except (ValueError, TypeError):
            return None
    return None


def _effect(path: str, before: Any, after: Any) -> str | None:
    """'tightened' or 'loosened' when the field is a limit, a count or a risk tier."""
    leaf = path.rsplit(".", 1)[-1].split("[", 1)[0]
    if leaf == "tier" and before in _RISK_TIERS and after in _RISK_TIERS:
        stricter = _RISK_TIERS.index(after) > _RISK_TIERS.index(before)
        return "tightened" if stricter else "loosened"
    b, a = _magnitude(before), _magnitude(after)
    if b is None or a is None or a == b:
        return None
    if leaf.startswith("min") or leaf in ("count", "requiredApprovals", "folds", "persistence"):
        higher_is_stricter = True
    elif leaf.startswith("max"):
        higher_is_stricter = False
    else:
        return None
    return "tightened" if (a > b) == higher_is_stricter else "loosened"


def _list_key(items: list[Any]) -> tuple[str, ...] | None:
    if not items or not all(isinstance(i, dict) for i in items):
        return None
    for key in LIST_KEYS:
        if all(key[0] in i and i[key[0]] is not None for i in items):
            values = [tuple(i.get(k) for k in key) for i in items]
            if len(set(map(repr, values))) == len(values):
                return key
    return None


def _label(item: dict, key: tuple[str, ...]) -> str:
    parts = [str(item[k]) for k in key if item.get(k) is not None]
    return "@".join(parts)


def _walk(before: Any, after: Any, path: str) -> Iterator[tuple[str, Any, Any]]:
    if before == after:
        return
    if isinstance(before, dict) and isinstance(after, dict):
        for k in sorted(before.keys() | after.keys()):
            yield from _walk(before.get(k), after.get(k), f"{path}.{k}" if path else k)
        return
    if isinstance(before, list) and isinstance(after, list):
        key = _list_key(before) or _list_key(after)
        if key is not None and _list_key(before) in (key, None) and _list_key(after) in (key, None):
            old = {_label(i, key): i for i in before}
            new = {_label(i, key): i for i in after}
            if len(old) == len(before) and len(new) == len(after):
                for label in sorted(old.keys() | new.keys()):
                    yield from _walk(old.get(label), new.get(label), f"{path}[{label}]")
                return
    yield path, before, after


def _dump(resource: Any) -> dict[str, Any]:
    data = resource.model_dump(mode="json", by_alias=True)
    meta = data.get("metadata", {})
    return {"metadata": {"labels": meta.get("labels", {}), "description": meta.get("description")},
            "spec": data.get("spec", {})}


def _traffic(spec: ResolvedSpec, rid: str, deployment: Any) -> str | None:
    """What a release's deployment means: its role, and for a canary the traffic of its step."""
    if not isinstance(deployment, dict):
        return None
    if deployment.get("role") != "canary":
        return deployment.get("role")
    node = spec.nodes.get(rid)
    model = spec.get("Model", node.resource.spec.model) if node is not None else None  # type: ignore[attr-defined]
    canary = model.resource.spec.serving.canary if model is not None else None  # type: ignore[attr-defined]
    step = deployment.get("canaryStep")
    if canary is None or step is None or step >= len(canary.steps):
        return f"canary step {step}"
    return f"canary {canary.steps[step]}%"


def _canary_note(rid: str, path: str, before: Any, after: Any, base: ResolvedSpec, head: ResolvedSpec) -> str | None:
    """A release's canaryStep is an index and its role a word; say what traffic they mean."""
    if not rid.startswith("ModelRelease/") or not path.startswith("spec.deployments["):
        return None
    env = path[len("spec.deployments["):].split("]", 1)[0]
    whole = path == f"spec.deployments[{env}]"
    old = _traffic(base, rid, before if whole else _item(base, rid, env))
    new = _traffic(head, rid, after if whole else _item(head, rid, env))
    if old == new:
        return None
    return f"{env}: {old or 'not deployed'} -> {new or 'not deployed'}"


def _item(spec: ResolvedSpec, rid: str, env: str) -> Any:
    node = spec.nodes.get(rid)
    if node is None:
        return None
    for d in _dump(node.resource)["spec"].get("deployments", []):
        if d.get("environment") == env:
            return d
    return None


def _release_summary(spec: ResolvedSpec, rid: str) -> str | None:
    """A whole release in one line: version, where it deploys in which role, approvals."""
    node = spec.nodes.get(rid)
    if node is None or node.kind != "ModelRelease":
        return None
    rel = node.resource.spec  # type: ignore[attr-defined]
    places = ", ".join(f"{d.environment} {_traffic(spec, rid, _item(spec, rid, d.environment))}"
                       for d in rel.deployments) or "no deployments"
    return f"{rel.model} {rel.version}: {places}; {len(rel.approvals)} approval(s)"


def diff_specs(base: ResolvedSpec, head: ResolvedSpec) -> tuple[SpecChange, ...]:
    out: list[SpecChange] = []
    old_nodes: Mapping[str, Any] = base.nodes
    new_nodes: Mapping[str, Any] = head.nodes
    for rid in sorted(old_nodes.keys() | new_nodes.keys()):
        kind = rid.split("/", 1)[0]
        if rid not in old_nodes:
            out.append(SpecChange(rid, "created", _KIND_WORDS.get(kind, kind.lower()), "",
                                  note=_release_summary(head, rid)))
            continue
        if rid not in new_nodes:
            out.append(SpecChange(rid, "deleted", _KIND_WORDS.get(kind, kind.lower()), "",
                                  note=_release_summary(base, rid)))
            continue
        noted: set[str] = set()
        for path, before, after in _walk(_dump(old_nodes[rid].resource), _dump(new_nodes[rid].resource), ""):
            action = "created" if before is None else "deleted" if after is None else "updated"
            note = _canary_note(rid, path, before, after, base, head)
            if note in noted:
                note = None  # role and canaryStep of one deployment: say it once
            noted.add(note or "")
            out.append(SpecChange(rid, action, _category(kind, path), path, before, after, _effect(path, before, after),
                                  note))
    return tuple(out)
