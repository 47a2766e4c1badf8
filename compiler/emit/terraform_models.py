"""The Terraform variables the compiler hands the platform's root module
(``terraform/``), one file per cloud environment.  Field names are the
variable names of ``terraform/variables.tf`` and field types mirror their
Terraform types; a test holds the two in step.  Secret *values* have no
field here: only names and keys leave the specs."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

__all__ = [
    "ArtifactBucketVars",
    "GitopsVars",
    "RuntimeImageVars",
    "SecretVars",
    "TerraformVars",
]


class _Vars(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class GitopsVars(_Vars):
    repo_url: str
    target_revision: str
    path: str  # generated/
    argocd_path: str  # generated/argocd: what the root Application syncs
    argocd_namespace: str  # where Argo CD runs and the generated Applications live


class RuntimeImageVars(_Vars):
    repository: str
    reference: str  # repository@digest, or repository:tag


class ArtifactBucketVars(_Vars):
    name: str  # the bucket of artifacts.uri (s3://<name>/<prefix>)
    prefix: str


class SecretVars(_Vars):
    name: str  # a Kubernetes Secret in the environment's namespace
    keys: tuple[str, ...]  # its keys the specs reference, sorted
    type: str  # Opaque, or kubernetes.io/dockerconfigjson for the image pull Secret


class TerraformVars(_Vars):
    system: str
    environment: str
    namespace: str
    namespace_labels: dict[str, str]  # the generated Namespace's labels (Pod Security included)
    production: bool
    cluster: str  # the Argo CD destination: in-cluster, an API server URL or a cluster name
    gitops: GitopsVars
    runtime_image: RuntimeImageVars
    artifact_bucket: ArtifactBucketVars | None  # None: artifacts are not on S3
    secrets: tuple[SecretVars, ...]
    # Add-ons (Argo Workflows, Knative Serving, KServe, cert-manager) are
    # installed once per cluster: by the first cloud environment in it.
    install_addons: bool
    # Argo CD, its root Application and the shared artifact bucket belong to
    # exactly one environment: the first one in Argo CD's own cluster.
    install_argocd: bool
    manage_artifact_bucket: bool
