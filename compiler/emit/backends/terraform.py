"""Terraform variables for the platform's root module (``terraform/``): one
``generated/terraform/<env>.auto.tfvars.json`` per cloud environment.

The root module is applied once per cloud environment (one state each, see
terraform/README.md) with that environment's file.  Edge environments get
none: edge gateways are registered in Argo CD, not provisioned here.  The
folder is outside every Argo CD Application's folder and holds no Kubernetes
manifest, so the Argo CD consistency check leaves it alone.

Only names leave the specs: the Secrets' names and keys, never their values,
which Terraform reads from a sensitive input (``secret_values``).
"""

from __future__ import annotations

from collections.abc import Iterator

from compiler.emit.artifact import Artifact
from compiler.emit.backends.argocd import ARGOCD_NAMESPACE, IN_CLUSTER, IN_CLUSTER_SERVER
from compiler.emit.backends.kubernetes import build_namespace
from compiler.emit.layout import argocd_dir, terraform_dir
from compiler.emit.serialize import json_artifact
from compiler.emit.terraform_models import (
    ArtifactBucketVars,
    GitopsVars,
    RuntimeImageVars,
    SecretVars,
    TerraformVars,
)
from compiler.plan import EnvironmentPlan, SystemPlan
from compiler.plan.build import DOCKER_CONFIG_KEY

__all__ = ["NAME", "argocd_environment", "artifact_bucket", "build_vars", "emit", "tfvars_path"]

NAME = "terraform"
S3 = "s3://"


def tfvars_path(plan: SystemPlan, env: EnvironmentPlan) -> str:
    # Passed with -var-file (terraform/README.md): the .auto.tfvars.json
    # suffix only marks it as Terraform variables in JSON.
    return f"{terraform_dir(plan)}/{env.name}.auto.tfvars.json"


def _cloud(plan: SystemPlan) -> list[EnvironmentPlan]:
    return sorted((e for e in plan.environments if e.kind == "cloud"), key=lambda e: (e.order, e.name))


def _cluster_key(env: EnvironmentPlan) -> str:
    return IN_CLUSTER if env.cluster in (None, IN_CLUSTER, IN_CLUSTER_SERVER) else str(env.cluster)


def argocd_environment(plan: SystemPlan) -> str | None:
    """The one environment whose apply installs Argo CD, its root Application
    and the shared artifact bucket: the first (by promotion order) in Argo
    CD's own cluster (``in-cluster``), else the first cloud environment."""
    cloud = _cloud(plan)
    local = [e for e in cloud if _cluster_key(e) == IN_CLUSTER]
    chosen = (local or cloud or [None])[0]
    return chosen.name if chosen else None


def artifact_bucket(uri: str) -> ArtifactBucketVars | None:
    """s3://bucket/prefix -> the bucket and prefix; None off S3."""
    if not uri.startswith(S3):
        return None
    name, _, prefix = uri[len(S3):].partition("/")
    return ArtifactBucketVars(name=name, prefix=prefix.strip("/"))


def _secrets(plan: SystemPlan, env: EnvironmentPlan) -> tuple[SecretVars, ...]:
    # The edge signing key (a private key) only where a training workflow signs
    # with it; a trusted key held in a Secret is for the edge gateways, which
    # Terraform does not provision (they are registered in Argo CD).
    signs = any(p.environment == env.name for p in plan.pipelines)
    trust = plan.edge_trusted_key
    keys: dict[str, set[str]] = {}
    for ref in plan.secret_refs:
        if (ref.name, ref.key) == plan.edge_signing_secret and not signs:
            continue
        if trust is not None and trust.source == "secret" and (ref.name, ref.key) == (trust.name, trust.key):
            continue
        keys.setdefault(ref.name, set()).add(ref.key)
    return tuple(
        SecretVars(name=name, keys=tuple(sorted(k)),
                   type="kubernetes.io/dockerconfigjson" if DOCKER_CONFIG_KEY in k else "Opaque")
        for name, k in sorted(keys.items())
    )


def build_vars(plan: SystemPlan, env: EnvironmentPlan) -> TerraformVars:
    cloud = _cloud(plan)
    first_in_cluster: dict[str, str] = {}
    for e in cloud:
        first_in_cluster.setdefault(_cluster_key(e), e.name)
    owner = argocd_environment(plan) == env.name
    bucket = artifact_bucket(plan.artifacts_uri)
    # plan.image is repository@digest or repository:tag (a tag has no "/").
    repository = plan.image.split("@", 1)[0] if "@" in plan.image else plan.image.rsplit(":", 1)[0]
    return TerraformVars(
        system=plan.name,
        environment=env.name,
        namespace=env.namespace,
        namespace_labels=dict(sorted((build_namespace(plan, env).metadata.labels or {}).items())),
        production=env.production,
        cluster=env.cluster or IN_CLUSTER,
        gitops=GitopsVars(repo_url=plan.repo_url, target_revision=plan.revision, path=plan.generated_dir,
                          argocd_path=argocd_dir(plan), argocd_namespace=ARGOCD_NAMESPACE),
        runtime_image=RuntimeImageVars(repository=repository, reference=plan.image),
        artifact_bucket=bucket,
        secrets=_secrets(plan, env),
        install_addons=first_in_cluster[_cluster_key(env)] == env.name,
        install_argocd=owner,
        manage_artifact_bucket=owner and bucket is not None,
    )


def emit(plan: SystemPlan) -> Iterator[Artifact]:
    sources = (f"System/{plan.name}", *(r for ref in plan.secret_refs for r in ref.resources))
    for env in _cloud(plan):
        # The canonical JSON serializer omits None: a missing artifact_bucket
        # is Terraform's default, null (artifacts not on S3).
        yield json_artifact(tfvars_path(plan, env), build_vars(plan, env), sources, NAME)
