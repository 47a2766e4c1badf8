"""`System`: environments, the git repository Argo CD watches, the runtime
image, artifact storage, notifiers and the review store."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from compiler.spec.base import Bool, Labels, Name, PositiveInt, Resource, SecretSource, SpecModel, Str
from compiler.spec.sample_data import SampleData

__all__ = [
    "ArtifactStore",
    "ClusterSelector",
    "Environment",
    "GitRepo",
    "Notifier",
    "ReviewStore",
    "RuntimeImage",
    "SyncPolicy",
    "System",
    "SystemSpec",
]


class GitRepo(SpecModel):
    repo_url: Annotated[Str, Field(pattern=r"^(https://|ssh://|git@)\S+$")]
    target_revision: Str = "main"
    path: Annotated[Str, Field(pattern=r"^[A-Za-z0-9_.][A-Za-z0-9_./-]*$")] = "generated"


class RuntimeImage(SpecModel):
    """The one container image every step, the predictor and the edge runner use."""

    repository: Annotated[Str, Field(pattern=r"^[a-z0-9.-]+(:[0-9]+)?(/[a-z0-9._-]+)+$")]
    tag: Annotated[Str, Field(pattern=r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")] | None = None
    digest: Annotated[Str, Field(pattern=r"^sha256:[0-9a-f]{64}$")] | None = None
    # The name of the image pull Secret (a reference, never credentials).
    pull_secret_name: Name | None = None

    @model_validator(mode="after")
    def _tag_or_digest(self) -> "RuntimeImage":
        if self.tag is None and self.digest is None:
            raise ValueError("set 'tag' or 'digest' (production requires a digest)")
        return self

    @property
    def reference(self) -> str:
        if self.digest:
            return f"{self.repository}@{self.digest}"
        return f"{self.repository}:{self.tag}"


class ArtifactStore(SpecModel):
    uri: Annotated[Str, Field(pattern=r"^(s3|gs|az|abfs|file)://\S+$|^[A-Za-z0-9_.][A-Za-z0-9_./-]*$")]
    credentials: SecretSource | None = None


class SyncPolicy(SpecModel):
    automated: Bool = True
    prune: Bool = True
    self_heal: Bool = True


class ClusterSelector(SpecModel):
    match_labels: Labels


class Environment(SpecModel):
    name: Name
    kind: Literal["cloud", "edge"] = "cloud"
    namespace: Name
    promotion_order: Annotated[int, Field(ge=0, le=100, strict=True)]
    production: Bool = False
    # A cloud environment names one cluster; edge environments select many by label.
    cluster: Annotated[Str, Field(pattern=r"^(https://\S+|in-cluster|[a-z0-9][-a-z0-9.]*)$")] | None = None
    cluster_selector: ClusterSelector | None = None
    sync: SyncPolicy = SyncPolicy()
    required_approvals: Annotated[int, Field(ge=0, le=10, strict=True)] = 0

    @model_validator(mode="after")
    def _placement(self) -> "Environment":
        if self.kind == "edge" and self.cluster_selector is None:
            raise ValueError("an edge environment needs 'clusterSelector' (edge clusters are selected by label)")
        if self.kind == "cloud" and self.cluster_selector is not None:
            raise ValueError("'clusterSelector' is only for edge environments; use 'cluster' for a cloud environment")
        return self


class Notifier(SpecModel):
    name: Name
    type: Literal["webhook", "stdout", "slack", "pagerduty"]
    url: SecretSource | None = None

    @model_validator(mode="after")
    def _url(self) -> "Notifier":
        if self.type != "stdout" and self.url is None:
            raise ValueError(f"a '{self.type}' notifier needs 'url' as a secretRef")
        return self


class ReviewStore(SpecModel):
    backend: Literal["sqlite", "postgres"] = "sqlite"
    connection: SecretSource | None = None

    @model_validator(mode="after")
    def _connection(self) -> "ReviewStore":
        if self.backend == "postgres" and self.connection is None:
            raise ValueError("the postgres review store needs 'connection' as a secretRef")
        return self


class SystemSpec(SpecModel):
    owner: Annotated[Str, Field(min_length=1)]
    gitops: GitRepo
    runtime: RuntimeImage
    artifacts: ArtifactStore
    environments: Annotated[tuple[Environment, ...], Field(min_length=1)]
    notifiers: tuple[Notifier, ...] = ()
    review_store: ReviewStore = ReviewStore()
    service_account: Name = "specops-runner"
    sample_data: SampleData | None = None  # local runs only: the embedded generator's knobs


class System(Resource):
    KIND = "System"
    kind: Literal["System"]
    spec: SystemSpec
