"""Typical cluster objects per admission kind, used to type-check admission
rules at lint time (compile later dry-runs them against the real output)."""

from __future__ import annotations

import copy
from typing import Any

__all__ = ["admission_exemplar"]

_META = {
    "name": "pump-failure",
    "namespace": "pm-prod",
    "labels": {"app.kubernetes.io/managed-by": "specops", "specops.dev/model": "pump-failure", "specops.dev/environment": "prod"},
    "annotations": {"specops.dev/release": "pump-failure-1-4-0", "specops.dev/approvals": "2", "specops.dev/spec-hash": "0" * 64},
}
_CONTAINER = {
    "name": "kserve-container",
    "image": "ghcr.io/acme/specops-runtime@sha256:" + "0" * 64,
    "args": ["serve"],
    "resources": {"requests": {"cpu": "500m", "memory": "512Mi"}, "limits": {"cpu": "1", "memory": "1Gi"}},
}
_EXEMPLARS: dict[str, dict[str, Any]] = {
    "InferenceService": {
        "apiVersion": "serving.kserve.io/v1beta1",
        "kind": "InferenceService",
        "metadata": _META,
        "spec": {"predictor": {"minReplicas": 1, "maxReplicas": 3, "canaryTrafficPercent": 10, "containers": [_CONTAINER]}},
    },
    "Deployment": {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": _META,
        "spec": {"replicas": 1, "template": {"spec": {"containers": [_CONTAINER]}}},
    },
    "WorkflowTemplate": {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "WorkflowTemplate",
        "metadata": _META,
        "spec": {"entrypoint": "pipeline", "templates": [{"name": "train", "container": _CONTAINER}]},
    },
    "CronWorkflow": {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "CronWorkflow",
        "metadata": _META,
        "spec": {"schedules": ["0 3 * * 1"], "workflowSpec": {"entrypoint": "pipeline", "templates": [{"name": "train", "container": _CONTAINER}]}},
    },
    "Application": {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Application",
        "metadata": _META,
        "spec": {"project": "specops", "source": {"repoURL": "https://example.com/repo.git", "path": "generated/prod"},
                 "destination": {"server": "https://kubernetes.default.svc", "namespace": "pm-prod"},
                 "syncPolicy": {"automated": {"prune": True, "selfHeal": True}}},
    },
}


def admission_exemplar(kind: str) -> dict[str, Any]:
    return copy.deepcopy(_EXEMPLARS[kind])
