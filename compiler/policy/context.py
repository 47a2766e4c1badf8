"""The variables a CEL rule sees, per target.

* ``spec``: ``resource`` (the subject), ``model`` (the selected model),
  ``system``, ``environments``, ``serviceLevels``, ``releases``,
  ``featureSets``, ``dataSources`` and ``policy`` — all as written in YAML
  (camelCase keys, durations as strings: compare with ``duration(...)``).
* ``admission``: the ValidatingAdmissionPolicy variables ``object``,
  ``oldObject``, ``request``, ``params``, ``namespaceObject`` and the
  ``variables`` compiled in by ``compiler.policy.admission``.
* ``prediction``: the fields of ``runtime.contracts.PredictionContext``.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from compiler.policy.exemplars import admission_exemplar
from compiler.resolve import ResolvedSpec
from compiler.spec import DataSource, FeatureSet, Model, Resource, RiskPolicy
from runtime.contracts import PREDICTION_VARIABLES, PredictionContext

__all__ = [
    "ADMISSION_VARIABLES",
    "SPEC_VARIABLES",
    "SpecContextBuilder",
    "declared_variables",
    "exemplar_context",
]

SPEC_VARIABLES = frozenset(
    {"resource", "model", "system", "environments", "serviceLevels", "releases", "featureSets", "dataSources", "policy"}
)
# As in Kubernetes; ``variables`` holds what compiler.policy.admission compiles in.
ADMISSION_VARIABLES = frozenset({"object", "oldObject", "request", "params", "namespaceObject", "variables"})


def declared_variables(target: str) -> frozenset[str]:
    return {"spec": SPEC_VARIABLES, "admission": ADMISSION_VARIABLES, "prediction": PREDICTION_VARIABLES}[target]


def exemplar_context(target: str, kind: str | None = None) -> dict[str, Any]:
    """A typical context for type-checking rules that lint cannot evaluate for real."""
    if target == "prediction":
        return PredictionContext.example().variables()
    if target == "admission":
        obj = admission_exemplar(kind or "InferenceService")
        return {
            "object": obj,
            "oldObject": None,
            "request": {"operation": "CREATE", "namespace": obj["metadata"]["namespace"], "userInfo": {"username": "argocd"}},
            "params": None,
            "namespaceObject": {"metadata": {"name": obj["metadata"]["namespace"], "labels": {"specops.dev/environment": "prod"}}},
            "variables": {},
        }
    raise ValueError(target)


class SpecContextBuilder:
    """Builds (and caches) the JSON view of resources for spec rules."""

    def __init__(self, spec: ResolvedSpec) -> None:
        self.spec = spec
        self._dump = lru_cache(maxsize=None)(self._dump_uncached)

    def _dump_uncached(self, node_id: str) -> dict[str, Any]:
        resource: Resource = self.spec.nodes[node_id].resource
        # Absent optional fields stay absent, so rules test them with has().
        return resource.model_dump(mode="json", by_alias=True, exclude_none=True)

    def dump(self, resource: Resource) -> dict[str, Any]:
        return self._dump(resource.id)

    def for_model(self, policy: RiskPolicy, model: Model, subject: Resource,
                  variables: frozenset[str] = SPEC_VARIABLES) -> dict[str, Any]:
        """The variables a spec rule sees; only ``variables`` are built (conversion is the cost)."""
        spec = self.spec
        builders = {
            "resource": lambda: self.dump(subject),
            "model": lambda: self.dump(model),
            "system": lambda: self.dump(spec.system.resource) if spec.system else {},
            "environments": lambda: (self.dump(spec.system.resource) if spec.system else {}).get("spec", {}).get("environments", []),
            "serviceLevels": lambda: [self.dump(sl) for _, sl in spec.service_levels_for(model.name)],
            "releases": lambda: [self.dump(r) for _, r in spec.releases_for(model.name)],
            "featureSets": lambda: [self._dump(i) for i in self._lineage(model)[0]],
            "dataSources": lambda: [self._dump(i) for i in self._lineage(model)[1]],
            "policy": lambda: self.dump(policy),
        }
        return {name: build() for name, build in builders.items() if name in variables}

    def _lineage(self, model: Model) -> tuple[list[str], list[str]]:
        fs_ids: list[str] = []
        ds_ids: list[str] = []
        todo = [f"FeatureSet/{f.feature_set}" for f in model.spec.features]
        while todo:
            node_id = todo.pop(0)
            if node_id in fs_ids or node_id not in self.spec.nodes:
                continue
            fs_ids.append(node_id)
            fs: FeatureSet = self.spec.nodes[node_id].resource  # type: ignore[assignment]
            kind, name = fs.spec.source.ref
            target = f"{kind}/{name}"
            if kind == "FeatureSet":
                todo.append(target)
            elif target in self.spec.nodes and target not in ds_ids:
                ds_ids.append(target)
        label = f"DataSource/{model.spec.label.source}"
        if label in self.spec.nodes and label not in ds_ids:
            ds_ids.append(label)
        return sorted(fs_ids), sorted(ds_ids)

    def subjects(self, kind: str, model: Model) -> list[Resource]:
        """The resources of ``kind`` that belong to ``model`` (for rule.subject)."""
        spec = self.spec
        if kind == "Model":
            return [model]
        if kind == "System":
            return [spec.system.resource] if spec.system else []
        if kind == "ServiceLevel":
            return [sl for _, sl in spec.service_levels_for(model.name)]
        if kind == "ModelRelease":
            return [r for _, r in spec.releases_for(model.name)]
        fs_ids, ds_ids = self._lineage(model)
        ids = fs_ids if kind == "FeatureSet" else ds_ids
        return [spec.nodes[i].resource for i in ids]
