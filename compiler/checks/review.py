"""Human review needs a store every predictor replica shares and that
outlives a pod: a model with ``spec.review`` served in a cloud environment
needs the System's ``reviewStore`` on PostgreSQL.  SQLite is the embedded
default for one machine (`specops review` locally); in a pod it would be a
file per replica, lost on restart, so escalations would silently vanish."""

from __future__ import annotations

from collections.abc import Iterator

from compiler.checks.base import error
from compiler.diagnostics import Diagnostic
from compiler.resolve import ResolvedSpec
from compiler.spec import Model

__all__ = ["check"]


def check(spec: ResolvedSpec) -> Iterator[Diagnostic]:
    system = spec.system
    if system is None or system.resource.spec.review_store.backend == "postgres":  # type: ignore[attr-defined]
        return
    cloud = {e.name for e in system.resource.spec.environments if e.kind == "cloud"}  # type: ignore[attr-defined]
    for node, model in spec.of_kind(Model):
        if model.spec.review is None:
            continue
        served = set(model.spec.serving.environments) | {
            d.environment for _, rel in spec.releases_for(model.name) for d in rel.spec.deployments}
        envs = sorted(served & cloud)
        if envs:
            yield error("SO650", node, ("spec", "review"),
                        f"model '{model.name}' sends predictions to human review in {', '.join(envs)}, but the "
                        f"System '{system.resource.name}' keeps the review queue in SQLite: in a pod that is a file "
                        "per replica, lost on restart",
                        "set spec.reviewStore of the System to {backend: postgres, connection: {secretRef: ...}}",
                        value=False)
