"""What the runtime reads locally: the compiled step configs of every
training pipeline and stream ingester (embedded-defaults variant), each
model's policy bundle, local serve config (`specops serve`) and review
config, under generated/runtime/ -- outside every folder Argo CD syncs.
The cluster variants of the same files travel in ConfigMaps."""

from __future__ import annotations

import posixpath
from collections.abc import Iterator

from compiler.emit.artifact import Artifact
from compiler.emit.serialize import json_artifact
from compiler.plan import SystemPlan

__all__ = ["NAME", "emit"]

NAME = "runtime-configs"


def emit(plan: SystemPlan) -> Iterator[Artifact]:
    for step in plan.data_steps:
        # generate-data writes into the sample sources: their specs shape the file too.
        written = tuple(f"DataSource/{s.name}" for s in (getattr(step.config, "events", None),
                                                          getattr(step.config, "labels", None)) if s is not None)
        yield json_artifact(step.config_path, step.config, (step.origin.resource, *written), NAME)
    for pipeline in plan.pipelines:
        for step in pipeline.steps:
            yield json_artifact(step.config_path, step.config, (pipeline.origin.resource,), NAME)
        bundle = plan.policy_bundle.only(pipeline.model)
        path = posixpath.join(posixpath.dirname(pipeline.steps[0].config_path), "policy-bundle.json")
        yield json_artifact(path, bundle, (pipeline.origin.resource, *(f"RiskPolicy/{r.policy}" for r in bundle.rules)), NAME)
    # One local config per stream ingester (the plan has one ingester per environment; the local variant is the same).
    seen: set[str] = set()
    for ingester in plan.ingesters:
        if ingester.local_config is not None and ingester.config_path not in seen:
            seen.add(ingester.config_path)
            sources = (ingester.origin.resource, f"System/{plan.name}", *(f"FeatureSet/{n}" for n in ingester.feature_sets))
            yield json_artifact(ingester.config_path, ingester.local_config, sources, NAME)
    # `specops serve`: the local predictor of each locally trained model.
    for local in plan.local_servings:
        yield json_artifact(local.config_path, local.config, (local.origin.resource, f"System/{plan.name}"), NAME)
    for local in plan.local_monitors:
        yield json_artifact(local.config_path, local.config, (local.origin.resource, f"System/{plan.name}"), NAME)
    for review in plan.reviews:
        yield json_artifact(review.config_path, review.config, (review.origin.resource, f"System/{plan.name}"), NAME)
