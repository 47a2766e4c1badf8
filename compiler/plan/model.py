"""The plan: a typed, frozen intermediate representation between the
resolved spec and the backends.  Every node carries the spec resource it
came from (``Origin``), so a backend problem points at a spec line.

Backends read only this; they never look at specs."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from runtime.contracts import PolicyBundle, StepConfig
from runtime.contracts.steps import ReleaseRef, ReviewConfig, StepName

if TYPE_CHECKING:
    from compiler.plan.admission import AdmissionRulePlan

__all__ = [
    "CONFIG_MOUNT",
    "ONLINE_STORE_ENV",
    "WORKSPACE",
    "EdgePlan",
    "EnvironmentPlan",
    "IngesterPlan",
    "KeyRefPlan",
    "LocalServePlan",
    "MonitorPlan",
    "ObjectivePlan",
    "Origin",
    "PipelinePlan",
    "ResourcesPlan",
    "ReviewPlan",
    "SecretRefPlan",
    "ServingPlan",
    "SloPlan",
    "StepPlan",
    "SystemPlan",
]

# Pods run with this working directory; step configs are mounted at the same
# relative path they have in the repository, so the command is identical in a
# pod and in a DVC stage.
WORKSPACE = "/workspace"
CONFIG_MOUNT = "generated/runtime"
# The variable that carries the online store URL from its Secret into the
# ingester and predictor containers (step configs name it; values stay out of git).
ONLINE_STORE_ENV = "SPECOPS_ONLINE_STORE_URL"


@dataclass(frozen=True, slots=True)
class Origin:
    resource: str  # "Kind/name"
    file: str
    line: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line} ({self.resource})"


@dataclass(frozen=True, slots=True)
class ResourcesPlan:
    cpu: str
    memory: str
    cpu_limit: str
    memory_limit: str


@dataclass(frozen=True, slots=True)
class StepPlan:
    """One pipeline step: ``python -m runtime <step> --config <config_path>``."""

    name: str
    step: StepName
    model: str
    config_path: str  # relative to the repository root
    config: StepConfig  # the embedded-defaults variant (DVC, local runs)
    cluster_config: StepConfig  # the cluster variant (mounted from a ConfigMap)
    deps: tuple[str, ...]  # paths the step reads (besides its config)
    outs: tuple[str, ...]  # paths the step writes
    after: tuple[str, ...]  # steps that must finish first
    params: tuple[str, ...]  # config keys that are DVC params
    resources: ResourcesPlan
    retries: int
    deadline_s: int
    origin: Origin

    @property
    def command(self) -> tuple[str, ...]:
        return ("python", "-m", "runtime", self.step, "--config", self.config_path)


@dataclass(frozen=True, slots=True)
class PipelinePlan:
    """The training pipeline of one model: a DAG of steps, run on a schedule."""

    name: str
    model: str
    environment: str
    namespace: str
    steps: tuple[StepPlan, ...]
    schedule: str
    deadline_s: int
    config_map: str
    origin: Origin


@dataclass(frozen=True, slots=True)
class LocalServePlan:
    """The predictor `specops serve` runs on this machine: the model's local
    registry version (champion, else candidate) on the embedded defaults."""

    model: str
    config_path: str
    config: StepConfig
    origin: Origin


@dataclass(frozen=True, slots=True)
class MonitorPlan:
    name: str
    model: str
    environment: str
    namespace: str
    schedule: str
    step: StepPlan
    config_map: str
    retrain_template: str
    origin: Origin


@dataclass(frozen=True, slots=True)
class ServingPlan:
    """One InferenceService: what git says runs for a model in an environment."""

    name: str
    model: str
    environment: str
    namespace: str
    release: ReleaseRef  # what the latest revision serves
    release_name: str
    role: Literal["champion", "canary"]
    previous_release: str | None  # the champion a canary is compared with
    canary_percent: int | None
    shadow: ReleaseRef | None
    approvals: int
    config_path: str
    config: StepConfig
    config_map: str
    resources: ResourcesPlan
    min_replicas: int
    max_replicas: int
    timeout_s: int
    spec_hash: str
    origin: Origin


@dataclass(frozen=True, slots=True)
class IngesterPlan:
    """One stream data source -> the online store of every served feature set it feeds.

    One per stream (not per feature set): the durable consumer belongs to the
    DataSource, and two ingesters bound to one durable would split its events.
    """

    name: str
    environment: str
    namespace: str
    config_path: str
    config: StepConfig  # cluster variant (ConfigMap)
    config_map: str
    stream_secret: tuple[str, str] | None  # (secret name, key) for the NATS credentials
    origin: Origin
    local_config: StepConfig | None = None  # embedded-defaults variant, at config_path in the repository
    feature_sets: tuple[str, ...] = ()  # the served feature sets it fills (lineage)


@dataclass(frozen=True, slots=True)
class EdgePlan:
    name: str
    model: str
    environment: str
    namespace: str
    release: ReleaseRef
    release_name: str
    config_path: str
    config: StepConfig
    config_map: str
    origin: Origin
    # The runner's bundle store (the config's work_dir/EDGE_STORE_DIR, relative to
    # the workspace) lives on this PersistentVolumeClaim, so current and previous
    # survive pod replacement.
    store_path: str = ""
    claim_name: str = ""
    storage_size: str = "1Gi"
    storage_class: str | None = None


@dataclass(frozen=True, slots=True)
class KeyRefPlan:
    """A key file mounted from a ConfigMap or a Secret key (never its value)."""

    source: Literal["configMap", "secret"]
    name: str
    key: str


@dataclass(frozen=True, slots=True)
class ObjectivePlan:
    """One ServiceLevel objective, bound in the SLI's base unit (seconds for durations)."""

    name: str
    metric: str  # a key of runtime.contracts.metrics.OBJECTIVE_SLIS
    direction: Literal["max", "min"]  # which bound the spec sets
    bound: float
    window_ms: int
    actions: tuple[str, ...]
    severity: Literal["page", "ticket"]
    origin: Origin  # the objective's own line


@dataclass(frozen=True, slots=True)
class SloPlan:
    """A ServiceLevel in one cloud environment where its model is served: what
    the Prometheus rules enforce and which predictor exports the metrics."""

    name: str  # the ServiceLevel's name
    model: str
    environment: str
    namespace: str
    predictor: str  # the InferenceService serving the model there
    objectives: tuple[ObjectivePlan, ...]
    origin: Origin
    notify: tuple[str, ...] = ()  # the ServiceLevel's notifiers (who can be paged)
    min_replicas: int = 0  # of the predictor: 0 means it may scale to zero and export nothing


@dataclass(frozen=True, slots=True)
class ReviewPlan:
    """A model's review config (local variant) for `specops review` / `specops audit`."""

    model: str
    config_path: str
    config: ReviewConfig
    origin: Origin


@dataclass(frozen=True, slots=True)
class EnvironmentPlan:
    name: str
    kind: Literal["cloud", "edge"]
    namespace: str
    order: int
    production: bool
    cluster: str | None
    cluster_selector: tuple[tuple[str, str], ...]
    automated: bool
    prune: bool
    self_heal: bool
    origin: Origin


@dataclass(frozen=True, slots=True)
class SecretRefPlan:
    """A Kubernetes Secret key some spec references (never its value); the
    platform's Terraform creates it in every cloud environment's namespace."""

    name: str
    key: str
    resources: tuple[str, ...]  # "Kind/name" of the specs that reference it, sorted


@dataclass(frozen=True)
class SystemPlan:
    name: str
    repo_url: str
    revision: str
    generated_dir: str
    image: str
    image_pull_secret: str | None
    service_account: str
    artifacts_uri: str
    artifacts_secret: tuple[str, str] | None
    environments: tuple[EnvironmentPlan, ...]
    pipelines: tuple[PipelinePlan, ...]
    monitors: tuple[MonitorPlan, ...]
    servings: tuple[ServingPlan, ...]
    ingesters: tuple[IngesterPlan, ...]
    edges: tuple[EdgePlan, ...]
    policy_bundle: PolicyBundle
    # Local-only steps (DVC, never Argo): generate-data for the embedded sample data.
    data_steps: tuple[StepPlan, ...] = ()
    online_store_secret: tuple[str, str] | None = None  # (secret name, key) holding the online store URL
    # sha256 of every spec resource's canonical form, for lineage and the manifest.
    resource_hashes: tuple[tuple[str, str, str], ...] = field(default=())  # (id, file, sha256)
    origin: Origin | None = None
    # Every secretRef in the specs (and the image pull Secret), by (name, key).
    secret_refs: tuple[SecretRefPlan, ...] = ()
    # ValidatingAdmissionPolicies compiled from the admission rules of policies/.
    admission: tuple[AdmissionRulePlan, ...] = ()
    slos: tuple[SloPlan, ...] = ()  # sorted by (environment, name)
    # `specops serve`: one local predictor config per locally trained model.
    local_servings: tuple[LocalServePlan, ...] = ()
    local_monitors: tuple[LocalServePlan, ...] = ()  # `specops monitor`: generated/runtime/<model>/monitor.json
    # Review configs of the models that escalate predictions to humans.
    reviews: tuple[ReviewPlan, ...] = ()
    # Edge trust: the public key every edge runner verifies bundles with, and
    # the (secret name, key) of the private key cluster export-onnx signs with.
    edge_trusted_key: KeyRefPlan | None = None
    edge_signing_secret: tuple[str, str] | None = None

    def environment(self, name: str) -> EnvironmentPlan:
        return next(e for e in self.environments if e.name == name)
