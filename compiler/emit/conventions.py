"""Conventions every backend shares: labels, annotations, sync waves, names,
mount paths and the hardened security context."""

from __future__ import annotations

from compiler.plan import CONFIG_MOUNT, WORKSPACE
from compiler.version import __version__

__all__ = [
    "ANNOTATION_APPROVALS",
    "ANNOTATION_CANARY_PERCENT",
    "ANNOTATION_PREVIOUS_RELEASE",
    "ANNOTATION_RELEASE",
    "ANNOTATION_SHA256",
    "ANNOTATION_SOURCE",
    "ANNOTATION_SPEC_HASH",
    "CANARY_POINTER",
    "CONTAINER_SECURITY",
    "DROP_CAPABILITIES",
    "POD_SECURITY",
    "SECCOMP_PROFILE",
    "CONFIG_MOUNT",
    "LABEL_ENVIRONMENT",
    "LABEL_MANAGED_BY",
    "LABEL_MODEL",
    "LABEL_PART_OF",
    "MONITOR_ROLE",
    "MONITOR_SERVICE_ACCOUNT",
    "RUN_AS_USER",
    "SCRATCH_MOUNT",
    "SYNC_WAVE",
    "WAVES",
    "WORKSPACE",
    "labels",
    "wave",
]

LABEL_MANAGED_BY = "app.kubernetes.io/managed-by"
LABEL_PART_OF = "app.kubernetes.io/part-of"
LABEL_MODEL = "specops.dev/model"
LABEL_ENVIRONMENT = "specops.dev/environment"
ANNOTATION_SOURCE = "specops.dev/source"  # "file:line (Kind/name)" of the spec it came from
ANNOTATION_SPEC_HASH = "specops.dev/spec-hash"
ANNOTATION_RELEASE = "specops.dev/release"
ANNOTATION_PREVIOUS_RELEASE = "specops.dev/previous-release"
ANNOTATION_SHA256 = "specops.dev/artifact-sha256"
ANNOTATION_APPROVALS = "specops.dev/approvals"
# The canary step git declares.  canaryTrafficPercent itself is ignored by Argo
# CD (the runtime may set it to 0); this annotation is not, so a pull request
# that moves to the next step makes the InferenceService OutOfSync and the
# sync applies it whole, canaryTrafficPercent included.
ANNOTATION_CANARY_PERCENT = "specops.dev/canary-percent"
SYNC_WAVE = "argocd.argoproj.io/sync-wave"

# Sync waves: namespaces, then RBAC, config and policies, then workflows, then serving.
WAVES: dict[str, int] = {
    "Namespace": -2,
    "ServiceAccount": -1,
    "Role": -1,
    "RoleBinding": -1,
    "ConfigMap": -1,
    "ValidatingAdmissionPolicy": -1,
    "ValidatingAdmissionPolicyBinding": -1,
    "WorkflowTemplate": 0,
    "CronWorkflow": 1,
    "Deployment": 2,
    "InferenceService": 2,
    # Monitoring is configuration: a release's rollback alert exists before its canary takes traffic.
    "PrometheusRule": -1,
    "ServiceMonitor": -1,
    # With a WaitForFirstConsumer StorageClass a claim stays Pending (Argo CD:
    # Progressing) until its pod is scheduled: it syncs in its Deployment's wave.
    "PersistentVolumeClaim": 2,
}

# The only field the runtime may change in the cluster: an automated rollback
# sets canary traffic to 0.  Argo CD ignores exactly this path.
CANARY_POINTER = "/spec/predictor/canaryTrafficPercent"

MONITOR_SERVICE_ACCOUNT = "specops-monitor"
MONITOR_ROLE = "specops-monitor"
RUN_AS_USER = 10001
# Writable scratch space under the read-only root filesystem.
SCRATCH_MOUNT = f"{WORKSPACE}/.specops"

# The hardened pod and container settings (Pod Security Standards
# "restricted"), as data: each backend builds them with its own model types.
CONTAINER_SECURITY: dict[str, object] = {
    "run_as_non_root": True,
    "run_as_user": RUN_AS_USER,
    "run_as_group": RUN_AS_USER,
    "read_only_root_filesystem": True,
    "allow_privilege_escalation": False,
}
POD_SECURITY: dict[str, object] = {
    "run_as_non_root": True,
    "run_as_user": RUN_AS_USER,
    "run_as_group": RUN_AS_USER,
    "fs_group": RUN_AS_USER,
}
DROP_CAPABILITIES = ("ALL",)
SECCOMP_PROFILE = "RuntimeDefault"

_PART_OF = "specops"


def labels(system: str, environment: str | None = None, model: str | None = None) -> dict[str, str]:
    out = {LABEL_MANAGED_BY: "specops", LABEL_PART_OF: system}
    if environment:
        out[LABEL_ENVIRONMENT] = environment
    if model:
        out[LABEL_MODEL] = model
    return out


def wave(kind: str) -> dict[str, str]:
    return {SYNC_WAVE: str(WAVES[kind])}


COMPILER_VERSION = __version__
