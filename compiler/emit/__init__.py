"""Stage 6: plan -> artifacts.  Backends are listed as data: a new backend is
one module in ``compiler/emit/backends`` and one line here.  Emitting is
pure; only ``compiler.write`` touches the disk."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable

from compiler.emit.artifact import HEADER, Artifact
from compiler.emit.backends import index as _index
from compiler.plan import SystemPlan

__all__ = ["BUILTIN_BACKENDS", "HEADER", "Artifact", "Backend", "DuplicateArtifactError", "backends", "emit"]

Backend = Callable[[SystemPlan], Iterable[Artifact]]

# The backends, by module name in compiler/emit/backends; each module has NAME and emit().
BUILTIN_BACKENDS: tuple[str, ...] = ("admission", "argo_workflows", "argocd", "dvc", "kserve", "kubernetes", "prometheus",
                                    "runtime_configs", "terraform")


def backends() -> dict[str, Backend]:
    """The registry: backend name -> emit function (imported on first use)."""
    out: dict[str, Backend] = {}
    for module_name in BUILTIN_BACKENDS:
        module = importlib.import_module(f"compiler.emit.backends.{module_name}")
        out[module.NAME] = module.emit
    return out


class DuplicateArtifactError(ValueError):
    """Two backends wrote the same path: a compiler bug, never a user error."""


def emit(plan: SystemPlan, chosen: dict[str, Backend] | None = None) -> tuple[Artifact, ...]:
    """Every artifact of every backend, sorted by path, plus the manifest index."""
    chosen = backends() if chosen is None else chosen
    out: dict[str, Artifact] = {}
    for name in sorted(chosen):
        for artifact in chosen[name](plan):
            if artifact.path in out:
                raise DuplicateArtifactError(f"{artifact.path} emitted by {out[artifact.path].backend} and {name}")
            out[artifact.path] = Artifact(artifact.path, artifact.content, artifact.sources, name, artifact.document)
    artifacts = tuple(out[p] for p in sorted(out))
    return (*artifacts, _index.manifest(plan, artifacts))
