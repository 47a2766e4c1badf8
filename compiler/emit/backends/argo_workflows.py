"""Argo Workflows via hera: per model a WorkflowTemplate for the training
pipeline, a CronWorkflow that retrains on the model's schedule, and per
environment it is served in a CronWorkflow that runs the monitor.

Every step is ``python -m runtime <step> --config <path>`` with the config
mounted at the same relative path it has in the repository, so a pod runs
exactly the command of the matching DVC stage.

The export-onnx step of a model with an edge bundle signs it with the
System's edge signing key: that one Secret key is mounted read-only into that
one container at the path its cluster config names (``signing_key_file``);
no other step sees it."""

from __future__ import annotations

import posixpath
from collections.abc import Iterable, Iterator

from hera.workflows import Artifact as HeraArtifact
from hera.workflows import Container, CronWorkflow, DAG, RetryStrategy, Workflow, WorkflowTemplate
from hera.workflows import models as m

from compiler.emit.artifact import Artifact
from compiler.emit.conventions import (
    ANNOTATION_SOURCE,
    ANNOTATION_SPEC_HASH,
    CONTAINER_SECURITY,
    DROP_CAPABILITIES,
    MONITOR_SERVICE_ACCOUNT,
    POD_SECURITY,
    SECCOMP_PROFILE,
    SCRATCH_MOUNT,
    WORKSPACE,
    labels,
    wave,
)
from compiler.emit.layout import manifest_file
from compiler.emit.serialize import yaml_artifact
from compiler.plan import MonitorPlan, PipelinePlan, StepPlan, SystemPlan

__all__ = ["NAME", "artifact_name", "build_monitor", "build_retrain", "build_training", "emit"]

NAME = "argo-workflows"
CONFIG_VOLUME = "config"
SCRATCH_VOLUME = "scratch"
TMP_VOLUME = "tmp"
SIGNING_VOLUME = "edge-signing"
SIGNING_KEY_MODE = 0o440  # owner root, group fsGroup (the runtime's uid): readable by the step, by no one else
TTL_SECONDS = 7 * 86_400


def artifact_name(path: str) -> str:
    """An Argo artifact name for a work path: .specops/work/m/reports/data.json -> reports-data-json."""
    tail = path.split("/", 3)[-1] if path.startswith(".specops/work/") else path
    return "".join(ch if ch.isalnum() else "-" for ch in tail).strip("-").lower()


def _security_context() -> m.SecurityContext:
    return m.SecurityContext(**CONTAINER_SECURITY, capabilities=m.Capabilities(drop=list(DROP_CAPABILITIES)),
                             seccomp_profile=m.SeccompProfile(type=SECCOMP_PROFILE))


def _pod_security_context() -> m.PodSecurityContext:
    return m.PodSecurityContext(**POD_SECURITY, seccomp_profile=m.SeccompProfile(type=SECCOMP_PROFILE))


def _volumes(config_map: str) -> list[m.Volume]:
    return [
        m.Volume(name=CONFIG_VOLUME, config_map=m.ConfigMapVolumeSource(name=config_map)),
        m.Volume(name=SCRATCH_VOLUME, empty_dir=m.EmptyDirVolumeSource()),
        m.Volume(name=TMP_VOLUME, empty_dir=m.EmptyDirVolumeSource()),
    ]


def _env(plan: SystemPlan) -> list[m.EnvVar]:
    if plan.artifacts_secret is None:
        return []
    name, key = plan.artifacts_secret
    return [m.EnvVar(name="SPECOPS_ARTIFACTS_CREDENTIALS",
                     value_from=m.EnvVarSource(secret_key_ref=m.SecretKeySelector(name=name, key=key)))]


def _signing_key_file(step: StepPlan) -> str | None:
    """Where this step reads the edge signing key, if it signs (cluster export-onnx of an edge model)."""
    return getattr(step.cluster_config, "signing_key_file", None)


def _signing_volume(plan: SystemPlan, pipeline: PipelinePlan) -> list[m.Volume]:
    files = {f for f in map(_signing_key_file, pipeline.steps) if f}
    if not files:
        return []
    if plan.edge_signing_secret is None:
        raise ValueError(f"{pipeline.name}: export-onnx signs with {sorted(files)} but the System's "
                         "spec.edge.signingKey is not set; set it (a secretRef)")
    if len(files) != 1:  # one volume, one key file: steps cannot disagree on where it is
        raise ValueError(f"{pipeline.name}: steps read the signing key from different files {sorted(files)}")
    name, key = plan.edge_signing_secret
    return [m.Volume(name=SIGNING_VOLUME, secret=m.SecretVolumeSource(
        secret_name=name, items=[m.KeyToPath(key=key, path=posixpath.basename(files.pop()))],
        default_mode=SIGNING_KEY_MODE))]


def _signing_mounts(step: StepPlan) -> list[m.VolumeMount]:
    path = _signing_key_file(step)
    return [m.VolumeMount(name=SIGNING_VOLUME, mount_path=posixpath.dirname(path), read_only=True)] if path else []


def _container(plan: SystemPlan, step: StepPlan, producers: dict[str, str]) -> Container:
    config_dir = posixpath.dirname(step.config_path)
    inputs = [HeraArtifact(name=artifact_name(p), path=f"{WORKSPACE}/{p}") for p in step.deps if p in producers]
    outputs = [HeraArtifact(name=artifact_name(p), path=f"{WORKSPACE}/{p}") for p in step.outs]
    r = step.resources
    return Container(
        name=step.name,
        image=plan.image,
        command=list(step.command[:3]),
        args=list(step.command[3:]),
        working_dir=WORKSPACE,
        env=_env(plan),
        resources=m.ResourceRequirements(requests={"cpu": r.cpu, "memory": r.memory},
                                         limits={"cpu": r.cpu_limit, "memory": r.memory_limit}),
        volume_mounts=[
            m.VolumeMount(name=CONFIG_VOLUME, mount_path=f"{WORKSPACE}/{config_dir}", read_only=True),
            m.VolumeMount(name=SCRATCH_VOLUME, mount_path=SCRATCH_MOUNT),
            m.VolumeMount(name=TMP_VOLUME, mount_path="/tmp"),
            *_signing_mounts(step),
        ],
        security_context=_security_context(),
        retry_strategy=RetryStrategy(limit=step.retries, retry_policy="OnError",
                                     backoff=m.Backoff(duration="30s", factor=2, max_duration="10m"))
        if step.retries else None,
        active_deadline_seconds=step.deadline_s,
        inputs=inputs or None,
        outputs=outputs or None,
    )


def _metadata(plan: SystemPlan, env: str, model: str, origin: str, spec_hash: str, kind: str) -> dict:
    return {
        "labels": labels(plan.name, env, model),
        "annotations": {ANNOTATION_SOURCE: origin, ANNOTATION_SPEC_HASH: spec_hash, **wave(kind)},
    }


def _common_workflow_fields(plan: SystemPlan, service_account: str, config_map: str, deadline: int) -> dict:
    return {
        "service_account_name": service_account,
        "active_deadline_seconds": deadline,
        "pod_gc": m.PodGC(strategy="OnPodSuccess"),
        "ttl_strategy": m.TTLStrategy(seconds_after_completion=TTL_SECONDS),
        "security_context": _pod_security_context(),
        "volumes": _volumes(config_map),
        "image_pull_secrets": [m.LocalObjectReference(name=plan.image_pull_secret)] if plan.image_pull_secret else None,
    }


def build_training(plan: SystemPlan, pipeline: PipelinePlan) -> WorkflowTemplate:
    spec_hash = pipeline.steps[0].config.spec_hash
    meta = _metadata(plan, pipeline.environment, pipeline.model, str(pipeline.origin), spec_hash, "WorkflowTemplate")
    producers = {out: step.name for step in pipeline.steps for out in step.outs}
    fields = _common_workflow_fields(plan, plan.service_account, pipeline.config_map, pipeline.deadline_s)
    fields["volumes"] = [*fields["volumes"], *_signing_volume(plan, pipeline)]
    with WorkflowTemplate(
        name=pipeline.name,
        namespace=pipeline.namespace,
        entrypoint="pipeline",
        labels=meta["labels"],
        annotations=meta["annotations"],
        **fields,
    ) as template:
        containers = {step.name: _container(plan, step, producers) for step in pipeline.steps}
        with DAG(name="pipeline"):
            tasks = {}
            for step in pipeline.steps:
                arguments = [
                    m.Artifact(name=artifact_name(dep), from_=f"{{{{tasks.{producers[dep]}.outputs.artifacts.{artifact_name(dep)}}}}}")
                    for dep in step.deps if dep in producers
                ]
                call = {"arguments": arguments} if arguments else {}
                tasks[step.name] = containers[step.name](name=step.name, **call)
            for step in pipeline.steps:
                for before in step.after:
                    tasks[before] >> tasks[step.name]
    return template


def _cron_fields(plan: SystemPlan, name: str, namespace: str, schedule: str, environment: str, model: str,
                 origin: str, spec_hash: str) -> dict:
    """What every CronWorkflow shares: identity, one UTC schedule, lineage metadata, failure history."""
    meta = _metadata(plan, environment, model, origin, spec_hash, "CronWorkflow")
    return {"name": name, "namespace": namespace, "schedules": [schedule], "timezone": "UTC",
            "failed_jobs_history_limit": 3, "labels": meta["labels"], "annotations": meta["annotations"]}


def build_retrain(plan: SystemPlan, pipeline: PipelinePlan) -> CronWorkflow:
    return CronWorkflow(
        **_cron_fields(plan, f"{pipeline.model}-retrain", pipeline.namespace, pipeline.schedule, pipeline.environment,
                       pipeline.model, str(pipeline.origin), pipeline.steps[0].config.spec_hash),
        concurrency_policy="Forbid",
        starting_deadline_seconds=3600,
        successful_jobs_history_limit=3,
        workflow_template_ref=m.WorkflowTemplateRef(name=pipeline.name),
    )


def build_monitor(plan: SystemPlan, monitor: MonitorPlan) -> CronWorkflow:
    step = monitor.step
    with CronWorkflow(
        **_cron_fields(plan, f"{monitor.model}-monitor", monitor.namespace, monitor.schedule, monitor.environment,
                       monitor.model, str(monitor.origin), step.config.spec_hash),
        concurrency_policy="Replace",
        successful_jobs_history_limit=1,
        entrypoint="monitor",
        **_common_workflow_fields(plan, MONITOR_SERVICE_ACCOUNT, monitor.config_map, 900),
    ) as cron:
        container = _container(plan, step, {})
        container.env = [*(container.env or []), *_monitor_env(step.config)]
    return cron


def _monitor_env(config: object) -> list[m.EnvVar]:
    """The monitor acts: its notifiers' URLs and the incident store's DSN, from their Secrets."""
    refs = [(n.url_env, n.url_ref) for n in getattr(config, "notifier_configs", ())]
    store = getattr(getattr(config, "enforcement", None), "store", None)
    if store is not None:
        refs.append((store.dsn_env, store.dsn_secret))
    return [m.EnvVar(name=var, value_from=m.EnvVarSource(secret_key_ref=m.SecretKeySelector(
        name=ref.split("/", 1)[0], key=ref.split("/", 1)[1])))
        for var, ref in refs if var and ref]


def _sources(*origins: str) -> tuple[str, ...]:
    return tuple(o for o in origins if o)


def emit(plan: SystemPlan) -> Iterator[Artifact]:
    for pipeline in plan.pipelines:
        source = (pipeline.origin.resource, f"System/{plan.name}")
        wt = build_training(plan, pipeline)
        yield yaml_artifact(manifest_file(plan, pipeline.environment, "WorkflowTemplate", pipeline.name), wt.to_dict(),
                            source, NAME)
        cron = build_retrain(plan, pipeline)
        yield yaml_artifact(manifest_file(plan, pipeline.environment, "CronWorkflow", f"{pipeline.model}-retrain"),
                            cron.to_dict(), source, NAME)
    for monitor in plan.monitors:
        cron = build_monitor(plan, monitor)
        yield yaml_artifact(manifest_file(plan, monitor.environment, "CronWorkflow", f"{monitor.model}-monitor"),
                            cron.to_dict(), (monitor.origin.resource, f"System/{plan.name}"), NAME)


def workflows_of(artifacts: Iterable[Artifact]) -> list[Artifact]:
    return [a for a in artifacts if a.backend == NAME]
