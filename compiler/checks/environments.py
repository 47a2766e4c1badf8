"""Environments: a clear promotion order, approvals for production, and edge
deployment only for models that export an edge bundle."""

from __future__ import annotations

from collections.abc import Iterator

from compiler.checks.base import error, warning
from compiler.diagnostics import Diagnostic
from compiler.resolve import ResolvedSpec
from compiler.spec import Model

__all__ = ["RESERVED_ENVIRONMENT_NAMES", "check"]

# generated/<environment>/ is an Argo CD Application's folder; these names are taken.
RESERVED_ENVIRONMENT_NAMES = {
    "argocd": "the AppProject and Applications",
    "runtime": "the runtime's step configs",
    "terraform": "the Terraform variables",
}


def check(spec: ResolvedSpec) -> Iterator[Diagnostic]:
    system = spec.system
    if system is None:
        return
    envs = system.resource.spec.environments  # type: ignore[attr-defined]
    orders: dict[int, str] = {}
    for i, env in enumerate(envs):
        if env.promotion_order in orders:
            yield error("SO470", system, ("spec", "environments", i, "promotionOrder"),
                        f"environments '{orders[env.promotion_order]}' and '{env.name}' share promotion order {env.promotion_order}",
                        "give each environment a distinct promotionOrder")
        orders.setdefault(env.promotion_order, env.name)
    for i, env in enumerate(envs):
        if env.name in RESERVED_ENVIRONMENT_NAMES:
            yield error("SO473", system, ("spec", "environments", i, "name"),
                        f"environment name '{env.name}' is reserved: generated/{env.name}/ holds "
                        f"{RESERVED_ENVIRONMENT_NAMES[env.name]}",
                        "rename the environment, e.g. 'prod-eu' or 'staging'")
    edge_envs = {e.name for e in envs if e.kind == "edge"}
    for node, model in spec.of_kind(Model):
        edge_enabled = model.spec.export.edge.enabled
        for i, env in enumerate(model.spec.serving.environments):
            if env in edge_envs and not edge_enabled:
                yield error("SO471", node, ("spec", "serving", "environments", i),
                            f"'{env}' is an edge environment but the model does not export an edge bundle",
                            "set spec.export.edge.enabled: true (with a size budget)")
        if edge_enabled and not edge_envs.intersection(model.spec.serving.environments):
            yield warning("SO472", node, ("spec", "export", "edge", "enabled"),
                          "an edge bundle is exported but the model is served in no edge environment",
                          "add an edge environment to serving.environments, or disable edge export")
