"""Plain Kubernetes objects every environment folder needs around the
workflows and the InferenceServices: the Namespace, service accounts and
least-privilege RBAC, the ConfigMaps that carry the compiled step configs
(and each predictor's policy bundle), and the Deployments of the stream
ingesters and the edge runner.

Why here and like this:

* Every object is a ``kubernetes.client`` model, serialized through
  ``serialize.plain`` (camelCase wire names); nothing is a hand-written dict.
* A pod runs exactly the command of the matching DVC stage: the ConfigMap is
  mounted read-only at ``<WORKSPACE>/<dirname(config_path)>`` and the working
  directory is ``WORKSPACE``, so the relative ``--config`` path resolves.
* RBAC is what the code paths need and nothing more: the Argo executor
  writes ``workflowtaskresults``; the monitor reads and patches
  InferenceServices (canary traffic to 0 on rollback) and submits the retrain
  workflow from its WorkflowTemplate.  A monitor whose retrain pipeline lives
  in another namespace gets the workflow rights there, not locally.
* Release-specific ConfigMaps (serve, edge: the name holds the version) are
  immutable; pipeline, monitor and ingester configs change in place, and a
  ``specops.dev/config-sha256`` pod annotation rolls the pods when they do.
* Ingester and edge-runner health: ``GET /healthz`` on port 8080 for
  liveness; readiness is ``/readyz`` for both (the ingester: false while NATS
  or the online store is unreachable; the edge runner: false until a verified
  bundle serves), a runtime contract; the predictor uses KServe's V2 health
  endpoints instead.
* The edge runner verifies bundles with the System's trusted public key,
  mounted read-only at ``dirname(trusted_key_file)``, and keeps its bundle
  store (current, previous) on a PersistentVolumeClaim: a replaced pod
  re-verifies and serves the bundle on disk without reaching the artifact
  store (a gateway is often offline) and keeps its rollback target.  The claim
  syncs in the Deployment's wave: with a ``WaitForFirstConsumer`` storage class
  (k3s local-path) it stays Pending, which Argo CD counts as Progressing, until
  the pod that uses it is scheduled -- an earlier wave would never finish.
"""

from __future__ import annotations

import hashlib
import posixpath
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass

from kubernetes import client as k8s

from compiler.emit.artifact import Artifact
from compiler.emit.conventions import (
    CONTAINER_SECURITY,
    DROP_CAPABILITIES,
    POD_SECURITY,
    SECCOMP_PROFILE,
    ANNOTATION_RELEASE,
    ANNOTATION_SHA256,
    ANNOTATION_SOURCE,
    ANNOTATION_SPEC_HASH,
    MONITOR_ROLE,
    MONITOR_SERVICE_ACCOUNT,
    SCRATCH_MOUNT,
    WORKSPACE,
    labels,
    wave,
)
from compiler.emit.layout import manifest_file
from compiler.emit.serialize import to_json, yaml_artifact
from compiler.plan import (
    ONLINE_STORE_ENV,
    KeyRefPlan,
    EdgePlan,
    EnvironmentPlan,
    IngesterPlan,
    MonitorPlan,
    Origin,
    PipelinePlan,
    ResourcesPlan,
    ServingPlan,
    SystemPlan,
)

__all__ = [
    "ANNOTATION_CONFIG_SHA256",
    "ARTIFACTS_ENV",
    "EDGE_BUNDLES_VOLUME",
    "EDGE_READY_PATH",
    "EDGE_RESOURCES",
    "EDGE_TRUST_VOLUME",
    "HEALTH_PATH",
    "HTTP_PORT",
    "INGEST_READY_PATH",
    "INGEST_RESOURCES",
    "NAME",
    "POLICY_BUNDLE_KEY",
    "RETRAIN_ROLE",
    "STREAM_ENV",
    "ConfigMapSpec",
    "build_config_map",
    "build_config_maps",
    "build_container_security_context",
    "build_deployment",
    "build_edge_claim",
    "build_edge_deployment",
    "build_edge_mounts",
    "build_env",
    "build_ingester_deployment",
    "build_monitor_role",
    "build_namespace",
    "build_pod_security_context",
    "build_probe",
    "build_resources",
    "build_retrain_role",
    "build_role_binding",
    "build_runner_role",
    "build_service_account",
    "build_volume_mounts",
    "build_volumes",
    "config_digest",
    "config_dir",
    "emit",
    "serve_config_data",
]

NAME = "kubernetes"

ANNOTATION_CONFIG_SHA256 = "specops.dev/config-sha256"  # on pod templates: a config change rolls the pods
ARTIFACTS_ENV = "SPECOPS_ARTIFACTS_CREDENTIALS"
STREAM_ENV = "NATS_CREDENTIALS"
POLICY_BUNDLE_KEY = "policy-bundle.json"
RETRAIN_ROLE = "specops-monitor-retrain"
HTTP_PORT = 8080
HEALTH_PATH = "/healthz"
# The ingester is alive while its loop turns but ready only while NATS and the
# online store are both reachable: one path for both would restart it during an outage.
INGEST_READY_PATH = "/readyz"
# The plan carries no resources for these long-running pods yet; small, fixed budgets.
INGEST_RESOURCES = ResourcesPlan("100m", "256Mi", "500m", "512Mi")
EDGE_RESOURCES = ResourcesPlan("100m", "128Mi", "500m", "256Mi")
# The edge runner is ready only once a verified bundle serves (runtime.edge.http).
EDGE_READY_PATH = "/readyz"
EDGE_TRUST_VOLUME = "edge-trust"
EDGE_BUNDLES_VOLUME = "edge-bundles"

CONFIG_VOLUME = "config"
SCRATCH_VOLUME = "scratch"
TMP_VOLUME = "tmp"

_KSERVE_GROUP = "serving.kserve.io"
_ARGO_GROUP = "argoproj.io"
# Pod Security Admission: baseline is enforced (the Argo executor's own
# containers are not "restricted"-hardened by default); restricted is warned
# about and audited, and every pod we generate meets it.
_POD_SECURITY = {
    "pod-security.kubernetes.io/enforce": "baseline",
    "pod-security.kubernetes.io/warn": "restricted",
    "pod-security.kubernetes.io/audit": "restricted",
}


@dataclass(frozen=True, slots=True)
class ConfigMapSpec:
    """One ConfigMap to emit: where it goes, what it holds, where it came from."""

    environment: str
    namespace: str
    name: str
    data: Mapping[str, str]
    model: str | None
    immutable: bool
    spec_hash: str
    origin: Origin
    sources: tuple[str, ...]


# ------------------------------------------------------------------ helpers


def config_dir(config_path: str) -> str:
    """Where a config's ConfigMap is mounted: the config's folder under the working directory."""
    return f"{WORKSPACE}/{posixpath.dirname(config_path)}"


def config_digest(data: Mapping[str, str]) -> str:
    """sha256 over a ConfigMap's data, stable across key order."""
    text = "".join(f"{key}\0{data[key]}\0" for key in sorted(data))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def serve_config_data(plan: SystemPlan, serving: ServingPlan) -> dict[str, str]:
    """The predictor's files: its serve config and the prediction rules selecting its model."""
    bundle_path = serving.config.policy_bundle  # type: ignore[attr-defined]
    if posixpath.dirname(bundle_path) != posixpath.dirname(serving.config_path):
        raise ValueError(f"{serving.name}/{serving.environment}: policy bundle {bundle_path} is not beside "
                         f"{serving.config_path}; one ConfigMap mount cannot hold both")
    bundle = plan.policy_bundle.only(serving.model)
    return {
        posixpath.basename(serving.config_path): to_json(serving.config, compact=True),
        posixpath.basename(bundle_path): to_json(bundle, compact=True),
    }


SYNC_OPTIONS_ANNOTATION = "argocd.argoproj.io/sync-options"


def _metadata(plan: SystemPlan, kind: str, name: str, namespace: str | None, env: str, model: str | None,
              origin: Origin, extra: Mapping[str, str] | None = None) -> k8s.V1ObjectMeta:
    annotations = {ANNOTATION_SOURCE: str(origin), **wave(kind), **(extra or {})}
    return k8s.V1ObjectMeta(name=name, namespace=namespace, labels=labels(plan.name, env, model),
                            annotations=annotations)


def _sources(plan: SystemPlan, *ids: str | None) -> tuple[str, ...]:
    return tuple(sorted({i for i in (*ids, f"System/{plan.name}") if i}))


# ---------------------------------------------------------- namespace + RBAC


def build_namespace(plan: SystemPlan, env: EnvironmentPlan) -> k8s.V1Namespace:
    meta = _metadata(plan, "Namespace", env.namespace, None, env.name, None, env.origin)
    meta.labels = {**meta.labels, **_POD_SECURITY}
    return k8s.V1Namespace(api_version="v1", kind="Namespace", metadata=meta)


def build_service_account(plan: SystemPlan, env: EnvironmentPlan, name: str) -> k8s.V1ServiceAccount:
    pull = [k8s.V1LocalObjectReference(name=plan.image_pull_secret)] if plan.image_pull_secret else None
    return k8s.V1ServiceAccount(
        api_version="v1", kind="ServiceAccount",
        metadata=_metadata(plan, "ServiceAccount", name, env.namespace, env.name, None, env.origin),
        image_pull_secrets=pull,
    )


def build_runner_role(plan: SystemPlan, env: EnvironmentPlan) -> k8s.V1Role:
    """What the Argo executor (the `wait` container) of a workflow pod needs: report task results."""
    rules = [k8s.V1PolicyRule(api_groups=[_ARGO_GROUP], resources=["workflowtaskresults"], verbs=["create", "patch"])]
    return k8s.V1Role(api_version="rbac.authorization.k8s.io/v1", kind="Role",
                      metadata=_metadata(plan, "Role", plan.service_account, env.namespace, env.name, None, env.origin),
                      rules=rules)


def _retrain_rules(templates: Iterable[str]) -> list[k8s.V1PolicyRule]:
    names = sorted(set(templates))
    if not names:
        return []
    return [
        k8s.V1PolicyRule(api_groups=[_ARGO_GROUP], resources=["workflows"], verbs=["create"]),
        k8s.V1PolicyRule(api_groups=[_ARGO_GROUP], resources=["workflowtemplates"], verbs=["get"], resource_names=names),
    ]


def build_monitor_role(plan: SystemPlan, env: EnvironmentPlan, monitors: list[MonitorPlan],
                       pipelines: Mapping[str, PipelinePlan]) -> k8s.V1Role:
    """Exactly what the monitor does: read InferenceServices, patch its models' (canary traffic to 0)
    and, when the retrain pipeline lives in this namespace, submit it from its WorkflowTemplate."""
    served = sorted({m.model for m in monitors})
    local = [m.retrain_template for m in monitors
             if m.retrain_template in pipelines and pipelines[m.retrain_template].namespace == env.namespace]
    rules = [
        k8s.V1PolicyRule(api_groups=[_KSERVE_GROUP], resources=["inferenceservices"], verbs=["get", "list"]),
        k8s.V1PolicyRule(api_groups=[_KSERVE_GROUP], resources=["inferenceservices"], verbs=["patch"],
                         resource_names=served),
        *_retrain_rules(local),
    ]
    return k8s.V1Role(api_version="rbac.authorization.k8s.io/v1", kind="Role",
                      metadata=_metadata(plan, "Role", MONITOR_ROLE, env.namespace, env.name, None, env.origin),
                      rules=rules)


def build_retrain_role(plan: SystemPlan, env: EnvironmentPlan, templates: Iterable[str]) -> k8s.V1Role:
    """In a pipeline's namespace: what monitors of other namespaces need to submit its retrain workflow."""
    return k8s.V1Role(api_version="rbac.authorization.k8s.io/v1", kind="Role",
                      metadata=_metadata(plan, "Role", RETRAIN_ROLE, env.namespace, env.name, None, env.origin),
                      rules=_retrain_rules(templates))


def build_role_binding(plan: SystemPlan, env: EnvironmentPlan, role: str,
                       subjects: Iterable[tuple[str, str]]) -> k8s.V1RoleBinding:
    """Binds ``role`` to service accounts given as (namespace, name)."""
    return k8s.V1RoleBinding(
        api_version="rbac.authorization.k8s.io/v1", kind="RoleBinding",
        metadata=_metadata(plan, "RoleBinding", role, env.namespace, env.name, None, env.origin),
        role_ref=k8s.V1RoleRef(api_group="rbac.authorization.k8s.io", kind="Role", name=role),
        subjects=[k8s.RbacV1Subject(kind="ServiceAccount", name=name, namespace=ns) for ns, name in sorted(set(subjects))],
    )


# --------------------------------------------------------------- ConfigMaps


def build_config_map(plan: SystemPlan, spec: ConfigMapSpec) -> k8s.V1ConfigMap:
    extra = {ANNOTATION_SPEC_HASH: spec.spec_hash}
    if spec.immutable:
        # Content-addressed and never pruned: a KServe revision (or an edge
        # rollback) keeps mounting the config it was created with after git
        # has moved on to the next release.
        extra[SYNC_OPTIONS_ANNOTATION] = "Prune=false"
    meta = _metadata(plan, "ConfigMap", spec.name, spec.namespace, spec.environment, spec.model, spec.origin, extra)
    return k8s.V1ConfigMap(api_version="v1", kind="ConfigMap", metadata=meta, data=dict(spec.data),
                           immutable=True if spec.immutable else None)


def _pipeline_config_map(plan: SystemPlan, p: PipelinePlan) -> ConfigMapSpec:
    data = {posixpath.basename(s.config_path): to_json(s.cluster_config, compact=True) for s in p.steps}
    return ConfigMapSpec(p.environment, p.namespace, p.config_map, data, p.model, False,
                         p.steps[0].cluster_config.spec_hash, p.origin, _sources(plan, p.origin.resource))


def _monitor_config_map(plan: SystemPlan, m: MonitorPlan) -> ConfigMapSpec:
    data = {posixpath.basename(m.step.config_path): to_json(m.step.cluster_config, compact=True)}
    return ConfigMapSpec(m.environment, m.namespace, m.config_map, data, m.model, False,
                         m.step.cluster_config.spec_hash, m.origin, _sources(plan, m.origin.resource))


def _serve_config_map(plan: SystemPlan, s: ServingPlan) -> ConfigMapSpec:
    policies = {f"RiskPolicy/{r.policy}" for r in plan.policy_bundle.for_model(s.model)}
    return ConfigMapSpec(s.environment, s.namespace, s.config_map, serve_config_data(plan, s), s.model, True,
                         s.spec_hash, s.origin,
                         _sources(plan, s.origin.resource, f"ModelRelease/{s.release_name}", *policies))


def _ingester_config_map(plan: SystemPlan, i: IngesterPlan) -> ConfigMapSpec:
    data = {posixpath.basename(i.config_path): to_json(i.config, compact=True)}
    return ConfigMapSpec(i.environment, i.namespace, i.config_map, data, None, False, i.config.spec_hash, i.origin,
                         _sources(plan, i.origin.resource, *(f"FeatureSet/{n}" for n in i.feature_sets)))


def _edge_config_map(plan: SystemPlan, e: EdgePlan) -> ConfigMapSpec:
    data = {posixpath.basename(e.config_path): to_json(e.config, compact=True)}
    return ConfigMapSpec(e.environment, e.namespace, e.config_map, data, e.model, True, e.config.spec_hash, e.origin,
                         _sources(plan, e.origin.resource, f"ModelRelease/{e.release_name}"))


def build_config_maps(plan: SystemPlan) -> list[ConfigMapSpec]:
    """Every ConfigMap of the system, one per pipeline, monitor, serving, ingester and edge plan."""
    return [
        *(_pipeline_config_map(plan, p) for p in plan.pipelines),
        *(_monitor_config_map(plan, m) for m in plan.monitors),
        *(_serve_config_map(plan, s) for s in plan.servings),
        *(_ingester_config_map(plan, i) for i in plan.ingesters),
        *(_edge_config_map(plan, e) for e in plan.edges),
    ]


# ------------------------------------------------------------ pod building


def build_container_security_context() -> k8s.V1SecurityContext:
    """The hardened container context (Pod Security Standards "restricted")."""
    return k8s.V1SecurityContext(**CONTAINER_SECURITY, capabilities=k8s.V1Capabilities(drop=list(DROP_CAPABILITIES)),
                                 seccomp_profile=k8s.V1SeccompProfile(type=SECCOMP_PROFILE))


def build_pod_security_context() -> k8s.V1PodSecurityContext:
    return k8s.V1PodSecurityContext(**POD_SECURITY, seccomp_profile=k8s.V1SeccompProfile(type=SECCOMP_PROFILE))


def build_resources(r: ResourcesPlan) -> k8s.V1ResourceRequirements:
    """Quantities as strings: CRDs reject ``cpu: 0.5``."""
    return k8s.V1ResourceRequirements(requests={"cpu": str(r.cpu), "memory": str(r.memory)},
                                      limits={"cpu": str(r.cpu_limit), "memory": str(r.memory_limit)})


def build_env(plan: SystemPlan, stream_secret: tuple[str, str] | None = None,
              online_store: bool = False) -> list[k8s.V1EnvVar]:
    """Secret references become ``secretKeyRef``s; values never appear in git.
    ``online_store``: the container reads or writes online features (ingester, predictor)."""
    refs = [(ARTIFACTS_ENV, plan.artifacts_secret), (STREAM_ENV, stream_secret),
            (ONLINE_STORE_ENV, plan.online_store_secret if online_store else None)]
    return [
        k8s.V1EnvVar(name=var, value_from=k8s.V1EnvVarSource(secret_key_ref=k8s.V1SecretKeySelector(name=ref[0], key=ref[1])))
        for var, ref in refs if ref is not None
    ]


def build_volumes(config_map: str, tmp: bool = True) -> list[k8s.V1Volume]:
    """The config ConfigMap, scratch space and (unless the platform reserves it) /tmp."""
    volumes = [
        k8s.V1Volume(name=CONFIG_VOLUME, config_map=k8s.V1ConfigMapVolumeSource(name=config_map)),
        k8s.V1Volume(name=SCRATCH_VOLUME, empty_dir=k8s.V1EmptyDirVolumeSource()),
    ]
    if tmp:
        volumes.append(k8s.V1Volume(name=TMP_VOLUME, empty_dir=k8s.V1EmptyDirVolumeSource()))
    return volumes


def build_volume_mounts(config_path: str, tmp: bool = True) -> list[k8s.V1VolumeMount]:
    mounts = [
        k8s.V1VolumeMount(name=CONFIG_VOLUME, mount_path=config_dir(config_path), read_only=True),
        k8s.V1VolumeMount(name=SCRATCH_VOLUME, mount_path=SCRATCH_MOUNT),
    ]
    if tmp:
        mounts.append(k8s.V1VolumeMount(name=TMP_VOLUME, mount_path="/tmp"))
    return mounts


def build_probe(path: str, port: int = HTTP_PORT, initial_delay_s: int = 5, period_s: int = 10) -> k8s.V1Probe:
    return k8s.V1Probe(http_get=k8s.V1HTTPGetAction(path=path, port=port), initial_delay_seconds=initial_delay_s,
                       period_seconds=period_s, timeout_seconds=2, failure_threshold=3)


def _runtime_container(plan: SystemPlan, step: str, config_path: str, env: list[k8s.V1EnvVar],
                       resources: ResourcesPlan, ready_path: str = HEALTH_PATH,
                       extra_mounts: Sequence[k8s.V1VolumeMount] = ()) -> k8s.V1Container:
    return k8s.V1Container(
        name=step,
        image=plan.image,
        command=["python", "-m", "runtime"],
        args=[step, "--config", config_path],
        working_dir=WORKSPACE,
        env=env or None,
        ports=[k8s.V1ContainerPort(container_port=HTTP_PORT, name="http", protocol="TCP")],
        resources=build_resources(resources),
        volume_mounts=[*build_volume_mounts(config_path), *extra_mounts],
        liveness_probe=build_probe(HEALTH_PATH, initial_delay_s=10, period_s=20),
        readiness_probe=build_probe(ready_path),
        security_context=build_container_security_context(),
    )


def build_deployment(plan: SystemPlan, *, name: str, namespace: str, env: str, model: str | None, step: str,
                     config_path: str, config: ConfigMapSpec, container_env: list[k8s.V1EnvVar],
                     resources: ResourcesPlan, origin: Origin, annotations: Mapping[str, str],
                     strategy: str, ready_path: str = HEALTH_PATH,
                     extra_volumes: Sequence[k8s.V1Volume] = (),
                     extra_mounts: Sequence[k8s.V1VolumeMount] = ()) -> k8s.V1Deployment:
    selector = {"app.kubernetes.io/name": name, "app.kubernetes.io/part-of": plan.name}
    pod_labels = {**labels(plan.name, env, model), **selector}
    pod = k8s.V1PodSpec(
        service_account_name=plan.service_account,
        automount_service_account_token=False,  # neither the ingester nor the edge runner calls the Kubernetes API
        security_context=build_pod_security_context(),
        containers=[_runtime_container(plan, step, config_path, container_env, resources, ready_path, extra_mounts)],
        volumes=[*build_volumes(config.name), *extra_volumes],
    )
    template = k8s.V1PodTemplateSpec(
        metadata=k8s.V1ObjectMeta(labels=pod_labels, annotations={ANNOTATION_CONFIG_SHA256: config_digest(config.data)}),
        spec=pod,
    )
    meta = _metadata(plan, "Deployment", name, namespace, env, model, origin, annotations)
    return k8s.V1Deployment(
        api_version="apps/v1", kind="Deployment", metadata=meta,
        spec=k8s.V1DeploymentSpec(replicas=1, revision_history_limit=3,
                                  selector=k8s.V1LabelSelector(match_labels=selector),
                                  strategy=k8s.V1DeploymentStrategy(type=strategy), template=template),
    )


def build_ingester_deployment(plan: SystemPlan, ingester: IngesterPlan, config: ConfigMapSpec) -> k8s.V1Deployment:
    """Stream -> online store: `python -m runtime ingest --config <path>`."""
    return build_deployment(
        plan, name=ingester.name, namespace=ingester.namespace, env=ingester.environment, model=None, step="ingest",
        config_path=ingester.config_path, config=config,
        container_env=build_env(plan, ingester.stream_secret, online_store=True), resources=INGEST_RESOURCES,
        origin=ingester.origin, annotations={ANNOTATION_SPEC_HASH: ingester.config.spec_hash}, strategy="RollingUpdate",
        ready_path=INGEST_READY_PATH,
    )


def _key_volume(name: str, ref: KeyRefPlan, file_name: str, mode: int) -> k8s.V1Volume:
    """One key of a ConfigMap or Secret as ``file_name``; nothing else of that object is mounted."""
    items = [k8s.V1KeyToPath(key=ref.key, path=file_name)]
    if ref.source == "configMap":
        return k8s.V1Volume(name=name, config_map=k8s.V1ConfigMapVolumeSource(name=ref.name, items=items,
                                                                               default_mode=mode))
    return k8s.V1Volume(name=name, secret=k8s.V1SecretVolumeSource(secret_name=ref.name, items=items, default_mode=mode))


def build_edge_mounts(plan: SystemPlan, edge: EdgePlan) -> tuple[list[k8s.V1Volume], list[k8s.V1VolumeMount]]:
    """The trusted public key (read-only, at the path the runner's config names)
    and the bundle store's claim (at the runner's store root under the workspace)."""
    if plan.edge_trusted_key is None:
        raise ValueError(f"{edge.name}/{edge.environment}: the System sets no spec.edge.trustedKey; an edge runner "
                         "without a trusted key refuses every bundle")
    key_file: str = edge.config.trusted_key_file  # type: ignore[attr-defined]
    # 0444: a public key, and the runner's uid reads it whatever group the volume gets.
    volumes = [
        _key_volume(EDGE_TRUST_VOLUME, plan.edge_trusted_key, posixpath.basename(key_file), 0o444),
        k8s.V1Volume(name=EDGE_BUNDLES_VOLUME,
                     persistent_volume_claim=k8s.V1PersistentVolumeClaimVolumeSource(claim_name=edge.claim_name)),
    ]
    mounts = [
        k8s.V1VolumeMount(name=EDGE_TRUST_VOLUME, mount_path=posixpath.dirname(key_file), read_only=True),
        k8s.V1VolumeMount(name=EDGE_BUNDLES_VOLUME, mount_path=f"{WORKSPACE}/{edge.store_path}"),
    ]
    return volumes, mounts


def build_edge_claim(plan: SystemPlan, edge: EdgePlan) -> k8s.V1PersistentVolumeClaim:
    """The edge runner's bundle store: ReadWriteOnce (one runner, strategy Recreate), on the
    gateway's default StorageClass unless the System names one."""
    return k8s.V1PersistentVolumeClaim(
        api_version="v1", kind="PersistentVolumeClaim",
        metadata=_metadata(plan, "PersistentVolumeClaim", edge.claim_name, edge.namespace, edge.environment,
                           edge.model, edge.origin),
        spec=k8s.V1PersistentVolumeClaimSpec(
            access_modes=["ReadWriteOnce"], storage_class_name=edge.storage_class,
            resources=k8s.V1VolumeResourceRequirements(requests={"storage": edge.storage_size})),
    )


def build_edge_deployment(plan: SystemPlan, edge: EdgePlan, config: ConfigMapSpec) -> k8s.V1Deployment:
    """The edge runner: `python -m runtime edge-run --config <path>`; one per gateway, replaced, never
    doubled (Recreate: the ReadWriteOnce claim has one writer)."""
    annotations = {ANNOTATION_SPEC_HASH: edge.config.spec_hash, ANNOTATION_RELEASE: edge.release_name,
                   ANNOTATION_SHA256: edge.release.sha256}
    volumes, mounts = build_edge_mounts(plan, edge)
    return build_deployment(
        plan, name=edge.name, namespace=edge.namespace, env=edge.environment, model=edge.model, step="edge-run",
        config_path=edge.config_path, config=config, container_env=build_env(plan), resources=EDGE_RESOURCES, origin=edge.origin,
        annotations=annotations, strategy="Recreate", ready_path=EDGE_READY_PATH,
        extra_volumes=volumes, extra_mounts=mounts,
    )


# --------------------------------------------------------------------- emit


def _rbac(plan: SystemPlan, env: EnvironmentPlan) -> Iterator[tuple[str, object, tuple[str, ...]]]:
    """(kind, object, sources) of the service accounts, Roles and RoleBindings of one environment."""
    sources = _sources(plan)
    yield "ServiceAccount", build_service_account(plan, env, plan.service_account), sources
    if env.kind != "cloud":
        return
    monitors = [m for m in plan.monitors if m.environment == env.name]
    pipelines = {p.name: p for p in plan.pipelines}
    has_pipeline = any(p.environment == env.name for p in plan.pipelines)
    if monitors:
        mon_sources = _sources(plan, *(m.origin.resource for m in monitors))
        yield "ServiceAccount", build_service_account(plan, env, MONITOR_SERVICE_ACCOUNT), sources
        yield "Role", build_monitor_role(plan, env, monitors, pipelines), mon_sources
        yield "RoleBinding", build_role_binding(plan, env, MONITOR_ROLE, [(env.namespace, MONITOR_SERVICE_ACCOUNT)]), mon_sources
    if monitors or has_pipeline:
        # Workflow pods run as the runner (pipelines) or the monitor account (monitor CronWorkflows).
        runners = [(env.namespace, plan.service_account)] + ([(env.namespace, MONITOR_SERVICE_ACCOUNT)] if monitors else [])
        yield "Role", build_runner_role(plan, env), sources
        yield "RoleBinding", build_role_binding(plan, env, plan.service_account, runners), sources
    foreign = [m for m in plan.monitors if m.retrain_template in pipelines and m.namespace != env.namespace
               and pipelines[m.retrain_template].namespace == env.namespace]
    if foreign:
        f_sources = _sources(plan, *(m.origin.resource for m in foreign))
        yield "Role", build_retrain_role(plan, env, (m.retrain_template for m in foreign)), f_sources
        yield "RoleBinding", build_role_binding(plan, env, RETRAIN_ROLE,
                                                [(m.namespace, MONITOR_SERVICE_ACCOUNT) for m in foreign]), f_sources


def _check_names(plan: SystemPlan) -> None:
    if plan.service_account == MONITOR_SERVICE_ACCOUNT:
        raise ValueError(f"System service account {plan.service_account!r} collides with the monitor's; rename it")


def emit(plan: SystemPlan) -> Iterator[Artifact]:
    _check_names(plan)
    for env in plan.environments:
        yield yaml_artifact(manifest_file(plan, env.name, "Namespace", env.namespace), build_namespace(plan, env),
                            _sources(plan), NAME)
        for kind, obj, sources in _rbac(plan, env):
            yield yaml_artifact(manifest_file(plan, env.name, kind, obj.metadata.name), obj, sources, NAME)  # type: ignore[attr-defined]
    configs = build_config_maps(plan)
    for spec in configs:
        yield yaml_artifact(manifest_file(plan, spec.environment, "ConfigMap", spec.name), build_config_map(plan, spec),
                            spec.sources, NAME)
    by_key = {(c.environment, c.name): c for c in configs}
    for ingester in plan.ingesters:
        cm = by_key[(ingester.environment, ingester.config_map)]
        yield yaml_artifact(manifest_file(plan, ingester.environment, "Deployment", ingester.name),
                            build_ingester_deployment(plan, ingester, cm), cm.sources, NAME)
    for edge in plan.edges:
        cm = by_key[(edge.environment, edge.config_map)]
        yield yaml_artifact(manifest_file(plan, edge.environment, "PersistentVolumeClaim", edge.claim_name),
                            build_edge_claim(plan, edge), cm.sources, NAME)
        yield yaml_artifact(manifest_file(plan, edge.environment, "Deployment", edge.name),
                            build_edge_deployment(plan, edge, cm), cm.sources, NAME)
