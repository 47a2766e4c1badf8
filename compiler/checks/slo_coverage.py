"""Every model deployed to an environment has a ServiceLevel covering it,
and every breach action can be carried out (pages have somewhere to go,
rollbacks have a canary or previous release to go back to, a previous_model
fallback has a previous release to score with)."""

from __future__ import annotations

from collections.abc import Iterator

from compiler.checks.base import error
from compiler.diagnostics import Diagnostic
from compiler.resolve import ResolvedSpec
from compiler.validate import SpecNode
from compiler.spec import Model, ServiceLevel

__all__ = ["check"]


def check(spec: ResolvedSpec) -> Iterator[Diagnostic]:
    for node, model in spec.of_kind(Model):
        levels = spec.service_levels_for(model.name)
        for env in spec.deployed_environments(model.name):
            if not any(not sl.spec.environments or env in sl.spec.environments for _, sl in levels):
                yield error("SO420", node, ("metadata", "name"),
                            f"model '{model.name}' is deployed to '{env}' but no ServiceLevel covers it",
                            "add a ServiceLevel with spec.model: " + model.name + " and at least one objective with actions")
    has_system_notifiers = bool(spec.notifiers)
    for node, sl in spec.of_kind(ServiceLevel):
        for i, obj in enumerate(sl.spec.objectives):
            if "page" in obj.actions and not sl.spec.notify:
                yield error("SO421", node, ("spec", "objectives", i, "actions"),
                            f"objective '{obj.name}' pages a human but the ServiceLevel names no notifier",
                            "add spec.notify with a notifier from the System" if has_system_notifiers
                            else "declare a notifier in the System and list it in spec.notify")
            if "open_circuit" in obj.actions and sl.spec.circuit_breaker is None:
                yield error("SO422", node, ("spec", "objectives", i, "actions"),
                            f"objective '{obj.name}' opens the circuit but no circuitBreaker (and fallback) is declared",
                            "add spec.circuitBreaker with a fallback")
        yield from _previous_model(spec, node, sl)


def _previous_model(spec: ResolvedSpec, node: SpecNode, sl: ServiceLevel) -> Iterator[Diagnostic]:
    """A previous_model fallback in a cloud environment served by a champion
    alone: the compiled config names no previous release (see
    compiler/plan/build.py ``breaker``), and the predictor would not start.
    Local runs use the registry's ``previous`` alias, which only the
    predictor can check."""
    cb = sl.spec.circuit_breaker
    if cb is None or cb.fallback != "previous_model":
        return
    roles: dict[str, set[str]] = {}
    for _, rel in spec.releases_for(sl.spec.model):
        for d in rel.spec.deployments:
            roles.setdefault(d.environment, set()).add(d.role)
    for env_name in sorted(roles):
        env = spec.environment(env_name)
        if env is None or env.kind != "cloud" or (sl.spec.environments and env_name not in sl.spec.environments):
            continue
        if "champion" in roles[env_name] and "canary" not in roles[env_name]:
            yield error("SO423", node, ("spec", "circuitBreaker", "fallback"),
                        f"the circuit breaker falls back to the previous model, but '{env_name}' serves a champion "
                        "alone: there is no previous release to score with",
                        "use conservative_rule or human_review, or limit spec.environments to environments with a "
                        "canary")
