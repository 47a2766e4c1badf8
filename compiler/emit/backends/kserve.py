"""KServe: one ``InferenceService`` per model per environment, for exactly
the release its ``ModelRelease`` pins (what git says is what runs).

Why it looks like this:

* Serverless mode, so canaries are KServe's: the latest revision serves the
  canary release at ``canaryTrafficPercent`` and the previous rolled-out
  revision keeps the champion.  Git holds the current step; moving to the next
  step is a pull request; the runtime's only permitted change in the cluster
  is setting it to 0 on an automated rollback (``CANARY_POINTER``, which
  Argo CD ignores).  A champion-only environment has no canary field at all.
* The predictor is our runtime image running ``python -m runtime serve
  --config <path>``, the same command as locally: the serve ConfigMap (config
  + policy bundle) is mounted read-only at the config's folder under the
  working directory, so the relative path resolves.
* Knative rules shape the pod: no pod-level securityContext (Knative rejects
  most of it by default), so the hardened context sits on the container; no
  ``/tmp`` mount (a Knative reserved path), so ``TMPDIR`` points at scratch.
* Lineage lives in annotations: release, previous release, artifact sha256,
  approvals, spec hash, source.  A ``config-sha256`` annotation on the
  predictor makes any config change a new revision.
"""

from __future__ import annotations

from collections.abc import Iterator

from kserve import V1beta1InferenceService, V1beta1InferenceServiceSpec, V1beta1PredictorSpec
from kubernetes import client as k8s

from compiler.emit.artifact import Artifact
from compiler.emit.backends.kubernetes import (
    ANNOTATION_CONFIG_SHA256,
    HTTP_PORT,
    build_container_security_context,
    build_env,
    build_probe,
    build_resources,
    build_volume_mounts,
    build_volumes,
    config_digest,
    serve_config_data,
)
from compiler.emit.conventions import (
    ANNOTATION_APPROVALS,
    ANNOTATION_CANARY_PERCENT,
    ANNOTATION_PREVIOUS_RELEASE,
    ANNOTATION_RELEASE,
    ANNOTATION_SHA256,
    ANNOTATION_SOURCE,
    ANNOTATION_SPEC_HASH,
    SCRATCH_MOUNT,
    WORKSPACE,
    labels,
    wave,
)
from compiler.emit.layout import manifest_file
from compiler.emit.serialize import yaml_artifact
from compiler.plan import ServingPlan, SystemPlan

__all__ = [
    "API_VERSION",
    "CONTAINER_NAME",
    "DEPLOYMENT_MODE",
    "LIVE_PATH",
    "NAME",
    "READY_PATH",
    "build_inference_service",
    "build_predictor",
    "build_predictor_container",
    "build_service_annotations",
    "emit",
]

NAME = "kserve"
API_VERSION = "serving.kserve.io/v1beta1"
CONTAINER_NAME = "kserve-container"  # the name KServe gives (and expects for) a custom predictor container
DEPLOYMENT_MODE = {"serving.kserve.io/deploymentMode": "Serverless"}
READY_PATH = "/v2/health/ready"
LIVE_PATH = "/v2/health/live"


def build_predictor_container(plan: SystemPlan, serving: ServingPlan) -> k8s.V1Container:
    """``python -m runtime serve --config <path>``, hardened, with the config mounted where the path resolves."""
    env = [k8s.V1EnvVar(name="TMPDIR", value=SCRATCH_MOUNT), *build_env(plan, online_store=True)]
    review = getattr(serving.config, "review", None)
    if review is not None and review.store.dsn_env and review.store.dsn_secret:
        # The review store's DSN: the predictor commits escalations there before it answers.
        secret, key = review.store.dsn_secret.split("/", 1)
        env.append(k8s.V1EnvVar(name=review.store.dsn_env, value_from=k8s.V1EnvVarSource(
            secret_key_ref=k8s.V1SecretKeySelector(name=secret, key=key))))
    for notifier in review.policy.notifier_configs if review is not None else ():
        if notifier.url_env and notifier.url_ref:
            # A review page's webhook URL: from its Secret, never in git.
            secret, key = notifier.url_ref.split("/", 1)
            env.append(k8s.V1EnvVar(name=notifier.url_env, value_from=k8s.V1EnvVarSource(
                secret_key_ref=k8s.V1SecretKeySelector(name=secret, key=key))))
    return k8s.V1Container(
        name=CONTAINER_NAME,
        image=plan.image,
        command=["python", "-m", "runtime"],
        args=["serve", "--config", serving.config_path],
        working_dir=WORKSPACE,
        env=env,
        ports=[k8s.V1ContainerPort(container_port=HTTP_PORT, protocol="TCP")],
        resources=build_resources(serving.resources),
        volume_mounts=build_volume_mounts(serving.config_path, tmp=False),
        readiness_probe=build_probe(READY_PATH),
        liveness_probe=build_probe(LIVE_PATH, initial_delay_s=10, period_s=20),
        security_context=build_container_security_context(),
    )


def build_predictor(plan: SystemPlan, serving: ServingPlan) -> V1beta1PredictorSpec:
    data = serve_config_data(plan, serving)
    return V1beta1PredictorSpec(
        annotations={ANNOTATION_CONFIG_SHA256: config_digest(data)},
        service_account_name=plan.service_account,
        automount_service_account_token=False,  # the predictor never calls the Kubernetes API
        containers=[build_predictor_container(plan, serving)],
        volumes=build_volumes(serving.config_map, tmp=False),
        min_replicas=serving.min_replicas,
        max_replicas=serving.max_replicas,
        timeout=serving.timeout_s,
        canary_traffic_percent=serving.canary_percent,
    )


def build_service_annotations(serving: ServingPlan) -> dict[str, str]:
    out = {
        **DEPLOYMENT_MODE,
        ANNOTATION_RELEASE: serving.release_name,
        ANNOTATION_SHA256: serving.release.sha256,
        ANNOTATION_APPROVALS: str(serving.approvals),
        ANNOTATION_SPEC_HASH: serving.spec_hash,
        ANNOTATION_SOURCE: str(serving.origin),
        **wave("InferenceService"),
    }
    if serving.canary_percent is not None and serving.previous_release:
        out[ANNOTATION_PREVIOUS_RELEASE] = serving.previous_release
    if serving.canary_percent is not None:
        out[ANNOTATION_CANARY_PERCENT] = str(serving.canary_percent)
    return out


def build_inference_service(plan: SystemPlan, serving: ServingPlan) -> V1beta1InferenceService:
    meta = k8s.V1ObjectMeta(name=serving.name, namespace=serving.namespace,
                            labels=labels(plan.name, serving.environment, serving.model),
                            annotations=build_service_annotations(serving))
    return V1beta1InferenceService(api_version=API_VERSION, kind="InferenceService", metadata=meta,
                                   spec=V1beta1InferenceServiceSpec(predictor=build_predictor(plan, serving)))


def _sources(plan: SystemPlan, serving: ServingPlan) -> tuple[str, ...]:
    ids = {serving.origin.resource, f"System/{plan.name}", f"ModelRelease/{serving.release_name}"}
    if serving.previous_release:
        ids.add(f"ModelRelease/{serving.previous_release}")
    return tuple(sorted(ids))


def emit(plan: SystemPlan) -> Iterator[Artifact]:
    for serving in plan.servings:
        yield yaml_artifact(manifest_file(plan, serving.environment, "InferenceService", serving.name),
                            build_inference_service(plan, serving), _sources(plan, serving), NAME)
