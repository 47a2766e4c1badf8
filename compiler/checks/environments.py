"""Environments: a clear promotion order, approvals for production, edge
deployment only for models that export an edge bundle, and edge trust: a
served edge environment needs the key its runners verify with, the key the
cluster signs with, and room for the bundles they keep."""

from __future__ import annotations

from collections.abc import Iterator

from compiler.checks.base import error, warning
from compiler.diagnostics import Diagnostic
from compiler.resolve import ResolvedSpec
from compiler.spec import Model

__all__ = ["EDGE_BUNDLES_KEPT", "RESERVED_ENVIRONMENT_NAMES", "check"]

# The runner's store holds the current bundle, the previous one and one fetch
# being checked, each up to the model's export.edge.maxSizeBytes.
EDGE_BUNDLES_KEPT = 3
_BINARY = {"Ki": 1 << 10, "Mi": 1 << 20, "Gi": 1 << 30, "Ti": 1 << 40}

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
    yield from _edge_trust(spec)


def _edge_trust(spec: ResolvedSpec) -> Iterator[Diagnostic]:
    system = spec.system
    assert system is not None
    s = system.resource.spec  # type: ignore[attr-defined]
    bundles: dict[str, list[tuple[str, int]]] = {}  # edge environment -> (model, max bundle bytes)
    for _, model in spec.of_kind(Model):
        if model.spec.export.edge.enabled:
            for env in model.spec.serving.environments:
                bundles.setdefault(env, []).append((model.name, model.spec.export.edge.max_size_bytes))
    for i, env in enumerate(s.environments):
        if env.kind != "edge" or env.name not in bundles:
            continue
        at = ("spec", "environments", i, "kind")
        if s.edge.trusted_key is None:
            yield error("SO474", system, at,
                        f"edge environment '{env.name}' serves signed bundles but the System names no trusted key; "
                        "its runners would refuse every bundle",
                        "set spec.edge.trustedKey: {configMapRef: {name, key}} (the Ed25519 public key) on the System")
        if s.edge.signing_key is None:
            yield error("SO475", system, at,
                        f"edge environment '{env.name}' serves bundles but the System names no signing key; the "
                        "cluster would sign with a throwaway key that edge runners refuse",
                        "set spec.edge.signingKey: {secretRef: {name, key}} (the Ed25519 private key) on the System")
        model, largest = max(bundles[env.name], key=lambda b: b[1])
        size = s.edge.bundle_storage.size
        if int(size[:-2]) * _BINARY[size[-2:]] < EDGE_BUNDLES_KEPT * largest:
            yield error("SO476", system, ("spec", "edge", "bundleStorage", "size")
                        if "size" in s.edge.bundle_storage.model_fields_set else at,
                        f"edge bundle storage {size} cannot hold {EDGE_BUNDLES_KEPT} bundles of '{model}' "
                        f"(export.edge.maxSizeBytes {largest}) in environment '{env.name}'",
                        f"set spec.edge.bundleStorage.size to at least {EDGE_BUNDLES_KEPT} x {largest} bytes")
