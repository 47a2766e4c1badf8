"""In a cluster, the one change the runtime may make to what git declares: an
InferenceService's canary traffic to 0 (KServe sends every request to the
previous, champion revision).

The patch is a JSON merge patch (RFC 7386) built from the kserve SDK's typed
``V1beta1PredictorSpec``; it touches exactly ``CANARY_POINTER``, the one path
the generated Argo CD Applications ignore (tests/runtime/serving/
test_rollout.py holds the two equal), so self-heal does not undo it and the
next sync of a pull request (the next canary step, or the revert) applies
its own value.  The monitor's Role may patch only its models'
InferenceServices.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["CANARY_POINTER", "KSERVE_GROUP", "KSERVE_PLURAL", "KSERVE_VERSION", "MERGE_PATCH",
           "apply_canary_rollback", "canary_rollback_patch", "merge_patch_pointers"]

KSERVE_GROUP, KSERVE_VERSION, KSERVE_PLURAL = "serving.kserve.io", "v1beta1", "inferenceservices"
CANARY_POINTER = "/spec/predictor/canaryTrafficPercent"
MERGE_PATCH = "application/merge-patch+json"


def canary_rollback_patch() -> dict[str, Any]:
    """``{"spec": {"predictor": {"canaryTrafficPercent": 0}}}``, from the typed model."""
    from kserve import V1beta1PredictorSpec

    spec = V1beta1PredictorSpec(canary_traffic_percent=0)
    # The SDK model's wire (camelCase) names are in attribute_map; its to_dict()
    # is snake_case and lists every unset field as None, so it is not used.
    predictor = {spec.attribute_map[a]: getattr(spec, a) for a in spec.openapi_types if getattr(spec, a) is not None}
    return {"spec": {"predictor": predictor}}


def merge_patch_pointers(patch: Mapping[str, Any], prefix: str = "") -> tuple[str, ...]:
    """The JSON pointers of every value a merge patch sets (its leaves)."""
    out: list[str] = []
    for key, value in sorted(patch.items()):
        pointer = f"{prefix}/{key.replace('~', '~0').replace('/', '~1')}"
        if isinstance(value, Mapping) and value:
            out.extend(merge_patch_pointers(value, pointer))
        else:
            out.append(pointer)
    return tuple(out)


def apply_canary_rollback(name: str, namespace: str, api: Any = None) -> dict[str, Any]:
    """PATCH the InferenceService (merge patch); returns the object the API server answered with.
    ``api``: a ``kubernetes.client.CustomObjectsApi`` (default: in-cluster config)."""
    if api is None:
        from kubernetes import client, config

        config.load_incluster_config()
        api = client.CustomObjectsApi()
    return api.patch_namespaced_custom_object(  # type: ignore[no-any-return]
        KSERVE_GROUP, KSERVE_VERSION, namespace, KSERVE_PLURAL, name, canary_rollback_patch(),
        _content_type=MERGE_PATCH)
