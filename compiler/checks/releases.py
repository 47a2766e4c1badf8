"""Model releases: immutable artifact URIs, coherent deployments (one
champion per environment, canary steps that exist), enough approvals for
the environments they deploy to, one release per version."""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterator

from compiler.checks.base import error
from compiler.diagnostics import Diagnostic
from compiler.policy.select import counted_approvals, policies_for, required_approvals
from compiler.resolve import ResolvedSpec
from compiler.spec import Model, ModelRelease

__all__ = ["check"]

_MUTABLE = re.compile(r"(?i)(^|[/:_.-])(latest|current|stable|head)([/._-]|$)")


def check(spec: ResolvedSpec) -> Iterator[Diagnostic]:
    versions: dict[tuple[str, str], str] = {}
    roles: dict[tuple[str, str, str], list[tuple]] = defaultdict(list)
    for node, rel in spec.of_kind(ModelRelease):
        s = rel.spec
        key = (s.model, s.version)
        if key in versions:
            yield error("SO446", node, ("spec", "version"),
                        f"version '{s.version}' of model '{s.model}' is already released by '{versions[key]}'",
                        "a version is released once; bump the version")
        versions.setdefault(key, rel.name)
        uri = s.artifact.uri
        if _MUTABLE.search(uri) or (s.version not in uri and s.artifact.sha256[:12] not in uri):
            yield error("SO440", node, ("spec", "artifact", "uri"),
                        f"artifact URI '{uri}' is not immutable: it names neither the version nor the sha256",
                        f"use a versioned path such as .../{s.model}/{s.version}/model.onnx")
        for i, a in enumerate(s.approvals):
            if a.date < s.training_data.end:
                yield error("SO445", node, ("spec", "approvals", i, "date"),
                            f"approval by {a.approver} on {a.date} predates the end of the training data ({s.training_data.end})",
                            "an approval must come after the model was trained")
        model_node = spec.get("Model", s.model)
        if model_node is None:
            continue
        model: Model = model_node.resource  # type: ignore[assignment]
        canary = model.spec.serving.canary
        for i, d in enumerate(s.deployments):
            path = ("spec", "deployments", i)
            roles[(s.model, d.environment, d.role)].append((node, path))
            served = model.spec.serving.environments
            if d.environment not in served:
                yield error("SO444", node, path + ("environment",),
                            f"model '{s.model}' is not served in '{d.environment}' (serving.environments: "
                            f"{', '.join(served) if served else 'none declared'})",
                            "add the environment to the model's serving.environments first")
            if d.role == "canary":
                if canary is None:
                    yield error("SO441", node, path + ("role",),
                                f"model '{s.model}' declares no canary steps",
                                "add spec.serving.canary.steps to the model, or deploy as champion")
                elif d.canary_step is not None and d.canary_step >= len(canary.steps):
                    yield error("SO441", node, path + ("canaryStep",),
                                f"canary step {d.canary_step} does not exist; the model has {len(canary.steps)} steps "
                                f"({', '.join(f'{p}%' for p in canary.steps)})",
                                f"use a step index from 0 to {len(canary.steps) - 1}")
                else:
                    percent = canary.steps[d.canary_step or 0]
                    for policy in policies_for(spec, model):
                        cap = policy.spec.max_canary_percent
                        if cap is not None and percent > cap:
                            yield error("SO447", node, path + ("canaryStep",),
                                        f"canary at {percent}% exceeds {policy.id}'s maximum of {cap}%",
                                        "take a smaller step, or promote to champion after the analysis passes")
            need = required_approvals(spec, model, d.environment)
            counted = counted_approvals(s.approvals, need)
            if counted < need.count:
                roles_text = f" with role {' or '.join(need.roles)}" if need.roles else ""
                yield error("SO443", node, path + ("environment",),
                            f"deploying '{s.model}' {s.version} to '{d.environment}' needs {need.count} distinct "
                            f"approval(s){roles_text} (required by {', '.join(need.sources)}), has {counted}",
                            "add approvals (approver, role, date, reason) in a reviewed pull request")
    for (model_name, env, role), places in sorted(roles.items(), key=lambda kv: kv[0]):
        if len(places) > 1 or (role != "champion" and (model_name, env, "champion") not in roles):
            node, path = places[-1]
            if len(places) > 1:
                yield error("SO442", node, path + ("role",),
                            f"model '{model_name}' has {len(places)} releases with role '{role}' in '{env}'",
                            "one champion (and at most one canary or shadow) per environment")
            else:
                yield error("SO442", node, path + ("role",),
                            f"a {role} of '{model_name}' in '{env}' needs a champion release to compare against",
                            "deploy a champion first, or make this release the champion")
