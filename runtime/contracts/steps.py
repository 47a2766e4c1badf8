"""Step names and the typed, compiled configuration each step reads.

Every pipeline step is ``python -m runtime <step> --config FILE``: the same
command in an Argo Workflow pod, a DVC stage and a local run.  The compiler
writes one config file per step and model; the runtime reads nothing else
(no specs, no hidden globals).  Durations are seconds; locations are either
relative paths (resolved against the working directory) or URLs.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

__all__ = [
    "CONFIG_API_VERSION",
    "STEPS",
    "AggregationConfig",
    "ArtifactStoreConfig",
    "BreakerConfig",
    "BuildFeaturesConfig",
    "CanaryConfig",
    "ControlChannelConfig",
    "DataSourceConfig",
    "EdgeRunConfig",
    "EDGE_TRUST_KEY_FILE",
    "EDGE_SIGNING_KEY_FILE",
    "EDGE_STORE_DIR",
    "EnforcementConfig",
    "EvaluateConfig",
    "ExportOnnxConfig",
    "FeatureSetConfig",
    "FieldConfig",
    "GateConfig",
    "IngestConfig",
    "LabelConfig",
    "MaterializeOnlineConfig",
    "MonitorConfig",
    "NotifierConfig",
    "ObjectiveConfig",
    "OnlineStoreConfig",
    "ParityConfig",
    "ProposeReleaseConfig",
    "RegisterConfig",
    "ReleaseRef",
    "ReviewConfig",
    "ReviewLabelsConfig",
    "ReviewPolicyConfig",
    "ReviewStoreConfig",
    "ServeConfig",
    "StepConfig",
    "StepName",
    "StreamConsumerConfig",
    "TrainConfig",
    "TransformConfig",
    "ValidateDataConfig",
    "STEP_CONFIGS",
    "GenerateDataConfig",
    "GeneratorConfig",
    "PredictionLogConfig",
    "SAMPLE_EVENT_FIELDS",
    "SAMPLE_LABEL_FIELDS",
    "SAMPLE_ASSET_TYPES",
    "SAMPLE_CRITICALITY",
]

CONFIG_API_VERSION = "runtime.specops.dev/v1alpha1"

StepName = Literal[
    "validate-data",
    "build-features",
    "train",
    "evaluate",
    "export-onnx",
    "register",
    "propose-release",
    "monitor",
    "ingest",
    "serve",
    "edge-run",
    "generate-data",
    "parity",
    "materialize-online",
]
STEPS: tuple[str, ...] = StepName.__args__  # type: ignore[attr-defined]

Seconds = Annotated[float, Field(gt=0)]
# A point in time: always UTC (a naive value is read as UTC).
UtcTime = Annotated[datetime, AfterValidator(lambda t: t.replace(tzinfo=timezone.utc) if t.tzinfo is None
                                             else t.astimezone(timezone.utc))]


class _Config(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class ArtifactStoreConfig(_Config):
    uri: str  # a local directory or an object-store URL
    credentials_secret: str | None = None  # "secret-name/key", mounted by the pod


class FieldConfig(_Config):
    name: str
    type: Literal["string", "int", "float", "bool", "timestamp", "category"]
    nullable: bool = False
    min: float | None = None
    max: float | None = None
    values: tuple[str, ...] = ()
    pii: bool = False


class DataSourceConfig(_Config):
    """A data contract: where the data is and what it must look like."""

    name: str
    type: Literal["file", "stream", "labels"]
    path: str | None = None
    format: Literal["parquet", "csv"] | None = None
    stream_url: str | None = None
    subject: str | None = None
    stream: str | None = None
    durable: str | None = None
    entity: str
    timestamp: str
    fields: tuple[FieldConfig, ...]
    max_null_fraction: float
    max_duplicate_fraction: float
    max_out_of_range_fraction: float
    min_rows: int
    freshness_max_age_s: float | None = None
    allowed_lateness_s: float | None = None
    late_policy: Literal["drop", "quarantine", "reprocess"] | None = None
    quarantine_action: Literal["quarantine", "drop", "fail"]
    max_bad_fraction: float
    freshness_severity: Literal["warning", "error"] = "error"
    # Labels only: how long after its timestamp a label becomes known (when
    # a row carries no _arrival_time of its own).
    availability_delay_s: float | None = None


class LabelConfig(_Config):
    source: str
    outcome: str
    positive_value: str | bool | float
    horizon_s: Seconds
    availability_delay_s: Seconds
    timestamp: str | None = None  # the label source's event-time column (the failure time)


class TransformConfig(_Config):
    name: str
    expression: str
    inputs: tuple[str, ...]
    type: Literal["float", "int", "bool", "string"]


class AggregationConfig(_Config):
    name: str  # the feature name: <column>_<function>_<window>
    column: str | None = None  # None: over events (count, time_since_last)
    function: Literal["count", "sum", "mean", "min", "max", "std", "last", "time_since_last"]
    window_s: Seconds


class FeatureSetConfig(_Config):
    name: str
    source: str  # data source or feature set name
    entity: str
    timestamp: str
    attributes: tuple[str, ...]
    transforms: tuple[TransformConfig, ...]
    aggregations: tuple[AggregationConfig, ...]
    online_ttl_s: float | None = None
    online_stream: str | None = None
    # The late-event policy of the feature set's source: both feature engines
    # apply it identically (an event is late when it arrived more than
    # allowed_lateness_s after its event time).
    allowed_lateness_s: float | None = None
    late_policy: Literal["drop", "quarantine", "reprocess"] | None = None


class StepConfig(_Config):
    """Fields every step config carries."""

    api_version: Literal["runtime.specops.dev/v1alpha1"] = CONFIG_API_VERSION
    step: StepName
    model: str
    # sha256 of the spec resources this config was compiled from (lineage).
    spec_hash: str
    artifacts: ArtifactStoreConfig
    work_dir: str  # where the step reads its inputs and writes its outputs


class ValidateDataConfig(StepConfig):
    step: Literal["validate-data"] = "validate-data"
    sources: tuple[DataSourceConfig, ...]
    output: str  # validated snapshot directory
    report: str
    # The reference time of the freshness check.  None (production): the
    # wall clock.  The local variant over the embedded sample data sets it to
    # the end of the generated period, so a local run is reproducible.
    as_of: UtcTime | None = None


class BuildFeaturesConfig(StepConfig):
    step: Literal["build-features"] = "build-features"
    entity: str
    feature_sets: tuple[FeatureSetConfig, ...]
    features: tuple[str, ...]  # the model's feature vector, in order
    label: LabelConfig
    input: str
    output: str  # point-in-time training table
    # Training rows are cut every sample_every_s per entity (aligned to the epoch).
    sample_every_s: Seconds = 3600.0


class GateConfig(_Config):
    metric: str
    min: float | None = None
    max: float | None = None
    at: float | None = None


class TrainConfig(StepConfig):
    step: Literal["train"] = "train"
    features: tuple[str, ...]
    algorithm: Literal["lightgbm", "logistic_regression"]
    params: dict[str, int | float | str | bool]
    seed: int
    baseline: Literal["lightgbm", "logistic_regression"] | None = None
    baseline_params: dict[str, int | float | str | bool] = Field(default_factory=dict)
    imbalance: Literal["none", "class_weight", "scale_pos_weight", "undersample"]
    negative_ratio: float | None = None
    folds: int
    test_window_s: Seconds
    gap_s: Seconds
    min_train_window_s: Seconds
    early_stopping_rounds: int | None = None
    calibration: Literal["none", "isotonic", "sigmoid"]
    threshold_strategy: Literal["cost", "target_precision", "fixed"]
    false_negative_cost: float | None = None
    false_positive_cost: float | None = None
    target_precision: float | None = None
    threshold_value: float | None = None
    input: str
    output: str  # model directory
    slice_column: str | None = None  # per-slice metrics (an attribute column of the training table)


class ReleaseRef(_Config):
    name: str
    version: str
    uri: str
    sha256: str


class EvaluateConfig(StepConfig):
    step: Literal["evaluate"] = "evaluate"
    gates: tuple[GateConfig, ...]
    challenger_metric: str
    challenger_tolerance: float
    champion: ReleaseRef | None = None
    # Without a champion release: compare with this alias of the registry at
    # artifacts.uri (local runs: the local registry's champion), if it exists.
    champion_alias: str | None = None
    slice_column: str | None = None
    input: str
    model_dir: str
    output: str  # evaluation report (gates pass/fail)


class ExportOnnxConfig(StepConfig):
    step: Literal["export-onnx"] = "export-onnx"
    opset: int
    parity_tolerance: float
    edge_enabled: bool
    edge_max_size_bytes: int
    edge_max_latency_ms: float
    allow_tree_truncation: bool
    model_dir: str
    input: str
    output: str  # onnx model + edge bundle directory
    # The Ed25519 private key that signs the edge bundle: a file mounted from a
    # secret.  None: a throwaway key, recorded as such in the bundle manifest.
    signing_key_file: str | None = None
    # When trees are dropped to meet edge_max_size_bytes, the holdout PR-AUC may
    # fall by at most this much (compiled from the model's challenger tolerance).
    truncation_max_pr_auc_loss: float = 0.01


class RegisterConfig(StepConfig):
    step: Literal["register"] = "register"
    model_dir: str
    onnx_dir: str
    report: str
    output: str  # registry entry
    # Aliases a registered version also takes.  Local runs: "champion" (it
    # passed its gates and beat or tied the local champion); in a cluster none:
    # promotion there is a ModelRelease pull request.
    promote_to: tuple[Literal["champion", "edge"], ...] = ()


class ProposeReleaseConfig(StepConfig):
    step: Literal["propose-release"] = "propose-release"
    entry: str
    releases_dir: str  # where the ModelRelease proposal is written (for a pull request)
    output: str


class NotifierConfig(_Config):
    """One of the System's notifiers, as the runtime delivers to it.

    A webhook URL is a credential: the pod maps the Secret ``url_ref``
    ("name/key") to the environment variable ``url_env`` and the runtime reads
    it there; no URL is ever written into a generated file."""

    name: str
    type: Literal["webhook", "stdout", "slack", "pagerduty"]
    url_env: str | None = None
    url_ref: str | None = None  # the Secret "name/key" holding the URL (a reference, not the URL)
    timeout_s: Seconds = 5.0  # per attempt
    max_attempts: Annotated[int, Field(ge=1, le=10)] = 3  # bounded retries on 5xx / 429 / network errors

    @model_validator(mode="after")
    def _url(self) -> "NotifierConfig":
        if self.type != "stdout" and not self.url_env:
            raise ValueError(f"notifier {self.name!r}: a {self.type} notifier needs url_env")
        return self


class EnforcementConfig(_Config):
    """How the monitor acts on breached objectives (idempotent, rate-limited,
    with hysteresis).  The defaults are the compiled ones; the spec has no
    knobs for them yet."""

    # An open incident resolves (and its actions may fire again on a new
    # breach) only after this many consecutive ok evaluations...
    resolve_after_ok: Annotated[int, Field(ge=1)] = 3
    # ...each clearing the bound by this fraction of it (0: merely ok).
    resolve_margin: Annotated[float, Field(ge=0, lt=1)] = 0.0
    # An action fires at most once per this many seconds per model and
    # environment, whichever incident asks (a suppressed one fires later while
    # its incident stays open).
    min_interval_s: dict[Literal["rollback", "open_circuit", "retrain", "page"], Annotated[float, Field(ge=0)]] = Field(
        default_factory=lambda: {"rollback": 900.0, "open_circuit": 300.0, "retrain": 6 * 3600.0, "page": 900.0})
    # open_circuit forces the circuit open for this long (serving uses its fallback).
    circuit_open_s: Seconds = 600.0
    # Where incident state and the audit log live (None: SQLite under work_dir).
    store: ReviewStoreConfig | None = None
    # cluster: rollback patches the InferenceService (canaryTrafficPercent 0)
    # and retrain submits the WorkflowTemplate to the Argo Server; local:
    # rollback moves the local registry's champion alias back, and retrain
    # runs retrain_command under a lock.  Both write the RuntimeControl file.
    mode: Literal["cluster", "local"] = "cluster"
    retrain_command: tuple[str, ...] = ("specops", "run")
    argo_server: str = "https://argo-server.argo:2746"  # the Argo Server the monitor's ServiceAccount calls
    releases_dir: str = "specs/releases"  # where a rollback's ready-to-commit revert points


class ObjectiveConfig(_Config):
    name: str
    metric: str
    min: float | None = None
    max: float | None = None
    window_s: Seconds
    actions: tuple[Literal["rollback", "open_circuit", "retrain", "page"], ...]
    severity: Literal["page", "ticket"]
    service_level: str | None = None  # the ServiceLevel it belongs to (the rules' `service_level` label)


class MonitorConfig(StepConfig):
    step: Literal["monitor"] = "monitor"
    environment: str
    namespace: str
    objectives: tuple[ObjectiveConfig, ...]
    psi_warning: float
    psi_alert: float
    p_value: float
    correction: Literal["bonferroni", "benjamini_hochberg", "none"]
    persistence: int
    drift_window_s: Seconds
    notifiers: tuple[str, ...]
    retrain_workflow: str  # the WorkflowTemplate a retrain action submits...
    retrain_namespace: str  # ...in the namespace where the training pipeline lives
    output: str
    # The predictor never scales to zero: its silence is an outage (the rules' absence alert).
    min_replicas: int = 1
    # Local runs: the prediction log's Parquet root (LOG_COLUMNS layout) and the review store.
    prediction_log: str | None = None
    review: "ReviewConfig | None" = None
    # The training reference profile drift is measured against (reference.json, a model or registry entry
    # directory); None: the local registry's champion (else candidate) entry.
    reference: str | None = None
    notifier_configs: tuple[NotifierConfig, ...] = ()  # the notifiers above, resolved from the System
    enforcement: EnforcementConfig = Field(default_factory=lambda: EnforcementConfig())
    # How open_circuit and rollback reach the predictors (None: the file under work_dir).
    control: ControlChannelConfig | None = None
    # The prediction log exactly as the predictor writes it (write-ahead store + compacted Parquet root), read
    # through runtime.predlog.reader so rows not yet compacted count; None: ``prediction_log`` (Parquet only).
    predictions: "PredictionLogConfig | None" = None
    # Live skew: the feature sets the predictor serves and the validated snapshot folder (<source>.parquet) the
    # batch engine recomputes them from; None: the skew section says so.
    feature_sets: tuple[FeatureSetConfig, ...] = ()
    validated: str | None = None
    skew_sample_rate: Annotated[float, Field(gt=0, le=1)] = 0.1
    # Realized/estimated quality: the label definition, the labels source's files (a path or glob; the review
    # export is ``review.labels.output``), its entity column, and the precision of the model's recall gate.
    label: LabelConfig | None = None
    label_path: str | None = None
    label_entity: str | None = None
    precision_at: float | None = None


class OnlineStoreConfig(_Config):
    """Where online features live; the ingester writes them, the predictor reads them.

    The store URL is ``runtime.features.store.open_store``'s (``memory://``,
    ``sqlite:///PATH``, ``redis://HOST:PORT/DB?prefix=P``).  In a cluster it
    comes from a Secret through the environment variable ``url_env`` (a
    password never appears in git); ``url`` is for credential-free locations.
    """

    backend: Literal["memory", "sqlite", "redis"]
    url: str | None = None
    url_env: str | None = None


class StreamConsumerConfig(_Config):
    """How the ingester's durable JetStream consumer redelivers and gives up."""

    ack_wait_s: Seconds = 30.0  # unacked for this long (no apply) -> redelivered
    max_deliver: Annotated[int, Field(ge=1)] = 10
    backoff_s: tuple[Seconds, ...] = ()  # redelivery delays; overrides ack_wait when set
    max_ack_pending: Annotated[int, Field(ge=1)] = 1000
    batch: Annotated[int, Field(ge=1)] = 100  # messages per pull
    dead_letter_subject: str  # poison messages go here, with the reason
    dead_letter_stream: str  # the JetStream stream that keeps them


class IngestConfig(StepConfig):
    step: Literal["ingest"] = "ingest"
    source: DataSourceConfig
    feature_sets: tuple[FeatureSetConfig, ...]
    online_store: OnlineStoreConfig
    consumer: StreamConsumerConfig
    port: Annotated[int, Field(ge=1, le=65535)] = 8080  # /healthz, /readyz, /metrics



class ReviewStoreConfig(_Config):
    """The review queue and audit log's database (one per system)."""

    backend: Literal["sqlite", "postgres"]
    path: str | None = None  # sqlite: the database file
    dsn_env: str | None = None  # postgres: the environment variable holding the DSN...
    dsn_secret: str | None = None  # ...mapped from this Secret ("name/key") by the pod
    schema_name: str | None = None  # postgres: the schema (None: the connection's search_path)


class ControlChannelConfig(_Config):
    """Where the RuntimeControl levers travel between the monitor (and a
    canary's rollback) and the predictors (``runtime.control``).  ``file``:
    the JSON file under work_dir (one machine).  ``database``: one row of
    ``runtime_control`` in the review store, which the monitor pod and every
    predictor replica reach; the predictor refreshes it in the background."""

    backend: Literal["file", "database"] = "file"
    store: ReviewStoreConfig | None = None  # database: the review store holding the row
    refresh_s: Seconds = 1.0  # database: how often a predictor reads the row

    @model_validator(mode="after")
    def _store_for_database(self) -> "ControlChannelConfig":
        if (self.backend == "database") != (self.store is not None):
            raise ValueError("the database control channel needs its store, and only it has one")
        return self


class ReviewPolicyConfig(_Config):
    """What happens to an escalated prediction (the Model's spec.review)."""

    timeout_s: Seconds  # a reviewer must decide within this
    escalation: Literal["second_reviewer", "page", "conservative_default"]
    conservative_action: Literal["act", "hold"]
    notify: tuple[str, ...] = ()  # notifier names a page goes to
    lease_s: Seconds  # how long a claim holds an item before it returns to the queue
    notifier_configs: tuple[NotifierConfig, ...] = ()  # the notifiers of ``notify``, resolved from the System


class ReviewLabelsConfig(_Config):
    """Reviewer decisions exported as rows of the model's labels source."""

    source: str
    entity: str
    timestamp: str
    outcome: str
    positive_value: str | bool | float
    fields: tuple[FieldConfig, ...]
    output: str  # parquet file, inside the labels source's folder so training reads it


class ReviewConfig(_Config):
    """``python -m runtime review|audit ... --config FILE``: one model's review
    policy and the system's review store.  Not a pipeline step."""

    api_version: Literal["runtime.specops.dev/v1alpha1"] = CONFIG_API_VERSION
    kind: Literal["review"] = "review"
    model: str
    spec_hash: str
    store: ReviewStoreConfig
    policy: ReviewPolicyConfig
    labels: ReviewLabelsConfig


class CanaryConfig(_Config):
    """A challenger beside the champion: its traffic share, and the analysis
    that rolls it back (``spec.serving.canary``).

    In a cluster KServe splits traffic between revisions (canaryTrafficPercent)
    and each revision knows its role; ``challenger`` / ``challenger_alias``
    name an in-process challenger instead (`specops serve --canary/--shadow`).
    The runtime may only ever lower ``percent`` (to 0, on a failed analysis);
    the next step forward is a pull request."""

    steps: tuple[Annotated[int, Field(ge=1, le=100)], ...]
    percent: Annotated[float, Field(ge=0, le=100)] = 0.0  # share of requests the challenger answers
    challenger: ReleaseRef | None = None  # in-process challenger from git
    # Local variant: the registry alias of the in-process challenger (when it
    # names another version than the one served).
    challenger_alias: Literal["champion", "candidate", "previous"] | None = None
    interval_s: Seconds  # one analysis window; a failure is acted on as soon as it is judged
    max_error_rate: Annotated[float, Field(ge=0, le=1)]
    max_latency_p99_ms: Annotated[float, Field(gt=0)]
    max_score_psi: Annotated[float, Field(gt=0)]
    min_requests: Annotated[int, Field(ge=1)]  # challenger requests in a window before it is judged


class BreakerConfig(_Config):
    """The ServiceLevel's circuit breaker around the predictor's dependencies
    (the online store, the model): open after ``failure_threshold`` failures
    within ``window_s``, answer with ``fallback`` for ``open_for_s``, then let
    ``half_open_requests`` probes through; all of them succeeding closes it."""

    failure_threshold: Annotated[int, Field(ge=1)]
    window_s: Seconds
    open_for_s: Seconds
    half_open_requests: Annotated[int, Field(ge=1)]
    fallback: Literal["previous_model", "conservative_rule", "human_review"]
    # previous_model: the release scored instead (cluster), or the registry
    # alias holding it (local); the predictor refuses to load without it.
    previous: ReleaseRef | None = None
    previous_alias: Literal["previous"] | None = None


class PredictionLogConfig(_Config):
    """Where the predictor records every request outcome (``runtime.predlog``):
    a SQLite write-ahead file, compacted to hive-partitioned Parquet."""

    path: str  # the write-ahead store (local disk: the pod's volume in a cluster)
    root: str  # compacted Parquet: a local folder or an fsspec URL (the artifact store)
    # normal: a commit survives kill -9 (no fsync per request); full: power loss too (an fsync per request)
    synchronous: Literal["normal", "full"] = "normal"
    compact_every_s: Seconds | None = None  # the predictor compacts in the background (None: only on demand)


class ServeConfig(StepConfig):
    """The predictor of one InferenceService revision."""

    step: Literal["serve"] = "serve"
    environment: str
    release: ReleaseRef | None = None  # what this revision serves (see registry_aliases)
    role: Literal["champion", "canary"]
    shadow: ReleaseRef | None = None  # scores every request; never answers
    entity: str
    features: tuple[str, ...]
    # Where human_review predictions go (the model's review policy); None: the model has no review section.
    review: ReviewConfig | None = None
    feature_sets: tuple[FeatureSetConfig, ...]
    timeout_s: Seconds
    max_feature_age_s: float | None = None
    policy_bundle: str
    risk_tier: Literal["low", "medium", "high", "critical"]
    online_store: OnlineStoreConfig | None = None  # the store the ingesters of its feature sets fill
    # The data contracts of the feature sets' sources: a fresh event sent with
    # a request is checked against them before it touches the online state.
    sources: tuple[DataSourceConfig, ...] | None = None
    # Local variant (`specops serve`): no release in git names the local
    # registry's versions, so the predictor serves the first of these aliases
    # the registry at ``artifacts.uri`` holds, and ``release`` is left unset.
    registry_aliases: tuple[Literal["champion", "candidate", "previous"], ...] | None = None
    # Local variant: also score every request with this alias (shadow), when it
    # names another version than the one served.
    registry_shadow_alias: Literal["champion", "candidate", "previous"] | None = None
    host: str | None = None  # None: every interface (the pod); the local variant binds 127.0.0.1
    port: Annotated[int, Field(ge=1, le=65535)] | None = None  # None: 8080, the InferenceService's port
    access_log: bool | None = None  # per-request access log (None: off; it costs ~half the throughput)
    # The challenger and its rollback analysis (None: the model declares no canary).
    canary: CanaryConfig | None = None
    breaker: BreakerConfig | None = None  # the ServiceLevel's circuitBreaker; None: no breaker
    prediction_log: PredictionLogConfig | None = None  # None: nothing is logged
    # Where the predictor reads its RuntimeControl (None: the file under work_dir).
    control: ControlChannelConfig | None = None

    @model_validator(mode="after")
    def _one_release_source(self) -> "ServeConfig":
        if (self.release is None) == (not self.registry_aliases):
            raise ValueError("exactly one of release (a git release) and registry_aliases (local) must be set")
        return self


EDGE_TRUST_KEY_FILE = "/etc/specops/edge-trust/ed25519.pub"
# Where a cluster's export-onnx step finds the Ed25519 private key it signs
# edge bundles with (a Secret mounted read-only); locally unset: a throwaway key.
EDGE_SIGNING_KEY_FILE = "/etc/specops/edge-signing/ed25519.key"
# The edge runner's bundle store, under its work_dir: the verified bundles and
# the current/previous slots.  A cluster keeps it on a PersistentVolumeClaim.
EDGE_STORE_DIR = "edge"


class EdgeRunConfig(StepConfig):
    """The edge runner of one gateway: the signed bundle it serves and how it
    checks one before switching to it (``runtime.edge``).

    ``bundle.uri`` names the bundle directory, or the release's model file
    (the bundle is then its sibling ``edge/`` directory, the layout
    export-onnx and the registry write); ``bundle.sha256`` is the release
    model's, which the bundle's signed manifest must name as
    ``release_sha256``."""

    step: Literal["edge-run"] = "edge-run"
    bundle: ReleaseRef
    keep_previous: bool = True
    environment: str = "edge"
    # The Ed25519 public key bundles must be signed with: a mounted file (raw,
    # hex or PEM), never a key read from a bundle.
    trusted_key_file: str = EDGE_TRUST_KEY_FILE
    allow_throwaway_key: bool = False  # local runs only: accept a bundle signed with a throwaway key
    # A bundle location polled for newer bundles: a URI of a bundle directory,
    # or "registry:<alias>" (that alias of the registry at artifacts.uri).
    # None: serve the configured bundle only (a new release is a new config).
    watch: str | None = None
    poll_interval_s: Seconds = 30.0
    # Golden-input health check: |score - expected| at most this, and the
    # single-row p99 latency within max_latency_ms (None: the budget the
    # bundle's signed golden.json records from the model's edge export).
    health_tolerance: Annotated[float, Field(ge=0, le=0.1)] = 1e-4
    max_latency_ms: Annotated[float, Field(gt=0)] | None = None
    host: str | None = None  # None: every interface (the pod)
    port: Annotated[int, Field(ge=0, le=65535)] | None = None  # None: 8080; 0: any free port (tests)


# The sample-data generator's fixed domain (predictive maintenance): the
# columns it produces and their types.  The compiler checks a sampleData
# section's sources against these; the generator produces exactly these.
SAMPLE_EVENT_FIELDS: dict[str, str] = {
    "asset_id": "string", "event_time": "timestamp", "asset_type": "category", "criticality": "category",
    "temperature": "float", "vibration": "float", "pressure": "float", "rpm": "float", "technician_email": "string",
}
SAMPLE_LABEL_FIELDS: dict[str, str] = {
    "asset_id": "string", "failure_time": "timestamp", "failed": "bool", "ticket_id": "string",
}
SAMPLE_ASSET_TYPES = ("pump", "turbine")  # the original fleet; drift may add another type later
SAMPLE_CRITICALITY = ("low", "medium", "high", "critical")


class GeneratorConfig(_Config):
    """Knobs of the embedded, seeded sample-data generator (predictive
    maintenance): the same config gives the same bytes.  Times are offsets in
    days from ``start`` (UTC midnight); rates are fractions of rows."""

    seed: int = 7
    start: UtcTime = datetime(2026, 1, 1, tzinfo=timezone.utc)
    days: Annotated[float, Field(gt=0, le=3660)] = 30.0
    assets: Annotated[int, Field(ge=1, le=100_000)] = 50
    mean_interval_s: Annotated[float, Field(gt=0)] = 900.0  # mean gap between one asset's events
    # Fraction of 24 h prediction windows that end in a failure.
    positive_rate: Annotated[float, Field(gt=0, lt=1)] = 0.03
    degradation_s: Annotated[float, Field(gt=0)] = 48 * 3600.0  # how long signals drift up before a failure
    label_delay_s: Annotated[float, Field(ge=0)] = 48 * 3600.0  # a ticket closes at most this long after the failure
    inspection_interval_s: Annotated[float, Field(gt=0)] = 14 * 86400.0  # routine tickets (failed = false)
    # Drift scenarios, switched on at a point in time (days from start).
    recalibration_at_day: Annotated[float, Field(ge=0)] | None = None
    recalibration_fraction: Annotated[float, Field(ge=0, le=1)] = 0.25
    recalibration_offset: float = 8.0  # temperature offset (C) of recalibrated sensors
    new_asset_type: str | None = None
    new_asset_type_at_day: Annotated[float, Field(ge=0)] | None = None
    new_assets: Annotated[int, Field(ge=0, le=100_000)] = 0
    seasonal_amplitude: Annotated[float, Field(ge=0)] = 0.0  # temperature (C), yearly period
    # Data faults.
    null_rate: Annotated[float, Field(ge=0, le=1)] = 0.0
    duplicate_rate: Annotated[float, Field(ge=0, le=1)] = 0.0
    out_of_order_rate: Annotated[float, Field(ge=0, le=1)] = 0.0
    late_rate: Annotated[float, Field(ge=0, le=1)] = 0.0
    late_delay_s: Annotated[float, Field(gt=0)] = 6 * 3600.0  # how late a late event arrives (at least)
    out_of_range_rate: Annotated[float, Field(ge=0, le=1)] = 0.0
    # A gateway outage with store and forward: nothing arrives from outage_at_day for outage_hours,
    # then what was held back arrives at once.
    outage_at_day: Annotated[float, Field(ge=0)] | None = None
    outage_hours: Annotated[float, Field(gt=0)] = 6.0


class GenerateDataConfig(StepConfig):
    """Writes the embedded sample data set into the file sources' locations.
    A DVC stage only: production pipelines read real data."""

    step: Literal["generate-data"] = "generate-data"
    generator: GeneratorConfig
    events: DataSourceConfig
    labels: DataSourceConfig


class ParityConfig(StepConfig):
    """Replay the validated events through the online engine and compare it
    with the batch engine on sampled (entity, time) points."""

    step: Literal["parity"] = "parity"
    feature_sets: tuple[FeatureSetConfig, ...]
    features: tuple[str, ...]
    input: str  # the validated snapshot (the build-features input)
    output: str  # parity report (JSON)
    samples: int = Field(default=2000, gt=0)
    seed: int = 0
    rel_tolerance: float = Field(default=1e-9, ge=0)  # for sum, mean, std; the rest must be exact


class MaterializeOnlineConfig(StepConfig):
    """Local runs only (embedded defaults: the event stream is a file replay):
    replay the validated events into the local online store, in arrival
    order, so the predictor serves what the ingester would have written."""

    step: Literal["materialize-online"] = "materialize-online"
    feature_sets: tuple[FeatureSetConfig, ...]
    input: str  # the validated snapshot
    online_store: OnlineStoreConfig
    output: str  # report (JSON)


STEP_CONFIGS: dict[str, type[StepConfig]] = {
    cls.model_fields["step"].default: cls
    for cls in (ValidateDataConfig, BuildFeaturesConfig, TrainConfig, EvaluateConfig, ExportOnnxConfig,
                RegisterConfig, ProposeReleaseConfig, MonitorConfig, IngestConfig, ServeConfig, EdgeRunConfig,
                GenerateDataConfig, ParityConfig, MaterializeOnlineConfig)
}


# MonitorConfig names ReviewConfig, which is defined after it.
MonitorConfig.model_rebuild()
