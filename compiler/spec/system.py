"""`System`: environments, the git repository Argo CD watches, the runtime
image, artifact storage, notifiers and the review store."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from compiler.spec.base import Bool, Labels, Name, PositiveInt, Resource, SecretRef, SecretSource, SpecModel, Str
from compiler.spec.sample_data import SampleData

__all__ = [
    "ArtifactStore",
    "ClusterSelector",
    "ConfigMapRef",
    "EdgeSettings",
    "EdgeStorage",
    "Environment",
    "GitRepo",
    "KeySource",
    "Notifier",
    "OnlineFeatureStore",
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


class OnlineFeatureStore(SpecModel):
    """Where online features live: stream ingesters write them, predictors read them.

    ``url`` is for locations without credentials (``sqlite:///PATH``,
    ``redis://HOST:PORT/DB?prefix=P``); a Redis with a password is a
    ``connection`` secretRef whose value is the URL.
    """

    backend: Literal["memory", "sqlite", "redis"] = "sqlite"
    url: Annotated[Str, Field(pattern=r"^(sqlite:///[^\s?#]+|redis://[^@\s/]+(:[0-9]+)?(/[0-9]+)?(\?prefix=[A-Za-z0-9_.:-]+)?)$")] | None = None
    connection: SecretSource | None = None

    @model_validator(mode="after")
    def _location(self) -> "OnlineFeatureStore":
        if self.url is not None and self.connection is not None:
            raise ValueError("set either 'url' or 'connection' (a secretRef), not both")
        if self.backend == "memory" and (self.url or self.connection):
            raise ValueError("the memory online store lives in the process; it takes no 'url' or 'connection'")
        if self.backend == "redis" and self.url is None and self.connection is None:
            raise ValueError("the redis online store needs 'connection' as a secretRef (or a credential-free 'url')")
        if self.url is not None and not self.url.startswith("sqlite" if self.backend == "sqlite" else "redis"):
            raise ValueError(f"'url' {self.url!r} is not a {self.backend} location")
        if self.backend == "sqlite" and self.connection is not None:
            raise ValueError("the sqlite online store is a file: give 'url: sqlite:///PATH', not a connection secret")
        return self


class ConfigMapRef(SpecModel):
    """A key of a Kubernetes ConfigMap: for values that are not secret (a public key)."""

    name: Name
    key: Annotated[Str, Field(min_length=1, max_length=253, pattern=r"^[-._a-zA-Z0-9]+$")]


class KeySource(SpecModel):
    """A key file mounted from a ConfigMap or a Secret key (exactly one)."""

    config_map_ref: ConfigMapRef | None = None
    secret_ref: SecretRef | None = None

    @model_validator(mode="after")
    def _one(self) -> "KeySource":
        if (self.config_map_ref is None) == (self.secret_ref is None):
            raise ValueError("set exactly one of 'configMapRef' and 'secretRef'")
        return self


class EdgeStorage(SpecModel):
    """The edge runner's bundle store (current, previous, one fetch being checked):
    a PersistentVolumeClaim, so a replaced pod serves its verified bundle at once."""

    size: Annotated[Str, Field(pattern=r"^[1-9][0-9]*(Ki|Mi|Gi|Ti)$")] = "1Gi"
    storage_class_name: Name | None = None  # None: the gateway cluster's default StorageClass


class EdgeSettings(SpecModel):
    """Edge bundle trust and storage.  The cluster's export-onnx step signs with
    ``signingKey`` (an Ed25519 private key, a Secret); every edge runner
    verifies with ``trustedKey`` (its public key, not a secret: a ConfigMap is
    fine) and refuses anything else, throwaway-signed local bundles included."""

    trusted_key: KeySource | None = None
    signing_key: SecretSource | None = None
    bundle_storage: EdgeStorage = EdgeStorage()


class SystemSpec(SpecModel):
    owner: Annotated[Str, Field(min_length=1)]
    gitops: GitRepo
    runtime: RuntimeImage
    artifacts: ArtifactStore
    environments: Annotated[tuple[Environment, ...], Field(min_length=1)]
    notifiers: tuple[Notifier, ...] = ()
    review_store: ReviewStore = ReviewStore()
    online_store: OnlineFeatureStore = OnlineFeatureStore()
    service_account: Name = "specops-runner"
    sample_data: SampleData | None = None  # local runs only: the embedded generator's knobs
    edge: EdgeSettings = EdgeSettings()


class System(Resource):
    KIND = "System"
    kind: Literal["System"]
    spec: SystemSpec
