"""`Model`: task, label and horizon, features, algorithm, imbalance,
time-based validation, calibration, threshold, gates, export, serving,
risk tier, human review and retraining."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, model_validator

from compiler.spec.base import Bool, Duration, Float, Fraction, Int, Name, PositiveInt, Quantity, Resource, SpecModel, Str
from compiler.spec.datasource import Column

__all__ = [
    "Algorithm",
    "Calibration",
    "Canary",
    "CanaryAnalysis",
    "ChallengerPolicy",
    "EdgeExport",
    "Export",
    "FeatureRef",
    "Gate",
    "GATE_METRICS",
    "Imbalance",
    "LabelRef",
    "Model",
    "ModelSpec",
    "OnnxExport",
    "Replicas",
    "Resources",
    "Retrain",
    "Review",
    "Risk",
    "Serving",
    "Threshold",
    "Validation",
]

RiskTier = Literal["low", "medium", "high", "critical"]
GATE_METRICS: tuple[str, ...] = (
    "pr_auc",
    "roc_auc",
    "recall_at_precision",
    "precision_at_k",
    "brier",
    "ece",
    "accuracy",
    "f1",
    "onnx_parity_max_abs_diff",
    "slice_pr_auc_min",
    "latency_p99_ms",
)
GateMetric = Literal[
    "pr_auc", "roc_auc", "recall_at_precision", "precision_at_k", "brier", "ece", "accuracy", "f1",
    "onnx_parity_max_abs_diff", "slice_pr_auc_min", "latency_p99_ms",
]
# Metrics that stay informative when positives are rare.
IMBALANCE_AWARE = frozenset({"pr_auc", "recall_at_precision", "precision_at_k", "slice_pr_auc_min", "f1"})


class LabelRef(SpecModel):
    source: Name
    # Predict the outcome within this long after the prediction time.
    horizon: Duration


class FeatureRef(SpecModel):
    feature_set: Name
    # A subset of the set's features; empty means all of them.
    include: tuple[Column, ...] = ()


class Algorithm(SpecModel):
    type: Literal["lightgbm", "logistic_regression"]
    params: dict[Str, Int | Float | Str | Bool] = Field(default_factory=dict)
    seed: Int = 0


class Imbalance(SpecModel):
    strategy: Literal["none", "class_weight", "scale_pos_weight", "undersample"]
    # For undersampling: negatives kept per positive (weights are corrected).
    negative_ratio: Annotated[float, Field(gt=0.0, le=1000.0, strict=True)] | None = None

    @model_validator(mode="after")
    def _ratio(self) -> "Imbalance":
        if self.strategy == "undersample" and self.negative_ratio is None:
            raise ValueError("'undersample' needs 'negativeRatio'")
        return self


class Validation(SpecModel):
    """Rolling-origin backtest: time-ordered folds with a gap between train and test."""

    scheme: Literal["rolling_origin"] = "rolling_origin"
    folds: Annotated[int, Field(ge=2, le=20, strict=True)] = 4
    test_window: Duration
    gap: Duration
    min_train_window: Duration
    early_stopping_rounds: Annotated[int, Field(ge=1, le=10_000, strict=True)] | None = 50


class Calibration(SpecModel):
    method: Literal["none", "isotonic", "sigmoid"] = "isotonic"


class Threshold(SpecModel):
    strategy: Literal["cost", "target_precision", "fixed"]
    false_negative_cost: Annotated[float, Field(gt=0.0, strict=True)] | None = None
    false_positive_cost: Annotated[float, Field(gt=0.0, strict=True)] | None = None
    target_precision: Annotated[float, Field(gt=0.0, le=1.0, strict=True)] | None = None
    value: Fraction | None = None

    @model_validator(mode="after")
    def _params(self) -> "Threshold":
        if self.strategy == "cost" and (self.false_negative_cost is None or self.false_positive_cost is None):
            raise ValueError("the 'cost' strategy needs 'falseNegativeCost' and 'falsePositiveCost'")
        if self.strategy == "target_precision" and self.target_precision is None:
            raise ValueError("the 'target_precision' strategy needs 'targetPrecision'")
        if self.strategy == "fixed" and self.value is None:
            raise ValueError("the 'fixed' strategy needs 'value'")
        return self


class Gate(SpecModel):
    metric: GateMetric
    min: Float | None = None
    max: Float | None = None
    # Parameter of the metric: precision for recall_at_precision, k for precision_at_k.
    at: Float | None = None

    @model_validator(mode="after")
    def _bound(self) -> "Gate":
        if (self.min is None) == (self.max is None):
            raise ValueError("a gate sets exactly one of 'min' or 'max'")
        if self.metric in ("recall_at_precision", "precision_at_k") and self.at is None:
            raise ValueError(f"'{self.metric}' needs 'at' (the precision or k)")
        return self


class ChallengerPolicy(SpecModel):
    """A new model may not be worse than the champion on the same holdout by more than this."""

    metric: GateMetric = "pr_auc"
    tolerance: Annotated[float, Field(ge=0.0, le=1.0, strict=True)] = 0.01


class OnnxExport(SpecModel):
    opset: Annotated[int, Field(ge=9, le=23, strict=True)] = 17
    parity_tolerance: Annotated[float, Field(gt=0.0, le=0.1, strict=True)] = 1e-4


class EdgeExport(SpecModel):
    enabled: Bool = False
    max_size_bytes: Annotated[int, Field(ge=1024, strict=True)] = 4 * 1024 * 1024
    max_latency_ms: Annotated[float, Field(gt=0.0, strict=True)] = 20.0
    # May the exporter drop trailing trees to meet the size budget (then re-gated)?
    allow_tree_truncation: Bool = False


class Export(SpecModel):
    onnx: OnnxExport = OnnxExport()
    edge: EdgeExport = EdgeExport()


class Resources(SpecModel):
    cpu: Quantity = "500m"
    memory: Quantity = "512Mi"
    cpu_limit: Quantity = "1"
    memory_limit: Quantity = "1Gi"


class Replicas(SpecModel):
    min: Annotated[int, Field(ge=0, le=1000, strict=True)] = 1
    max: Annotated[int, Field(ge=1, le=1000, strict=True)] = 3

    @model_validator(mode="after")
    def _order(self) -> "Replicas":
        if self.min > self.max:
            raise ValueError(f"'min' ({self.min}) is greater than 'max' ({self.max})")
        return self


class CanaryAnalysis(SpecModel):
    """Rollback criteria evaluated at every canary step."""

    interval: Duration = Duration.parse("10m")
    max_error_rate: Fraction = 0.01
    max_latency_p99_ms: Annotated[float, Field(gt=0.0, strict=True)] = 250.0
    max_score_psi: Annotated[float, Field(gt=0.0, strict=True)] = 0.2
    min_requests: Annotated[int, Field(ge=1, strict=True)] = 200


class Canary(SpecModel):
    steps: Annotated[tuple[Annotated[int, Field(ge=1, le=100, strict=True)], ...], Field(min_length=1)]
    analysis: CanaryAnalysis | None = None

    @model_validator(mode="after")
    def _increasing(self) -> "Canary":
        if list(self.steps) != sorted(set(self.steps)):
            raise ValueError(f"canary steps must strictly increase, got {list(self.steps)}")
        return self


class Serving(SpecModel):
    environments: tuple[Name, ...] = ()
    resources: Resources = Resources()
    replicas: Replicas = Replicas()
    timeout: Duration = Duration.parse("2s")
    canary: Canary | None = None
    shadow: Bool = False
    # Requests with features older than this are treated as stale by prediction policies.
    max_feature_age: Duration | None = None


class Risk(SpecModel):
    tier: RiskTier


class Review(SpecModel):
    """Human review of escalated predictions."""

    timeout: Duration
    escalation: Literal["second_reviewer", "page", "conservative_default"]
    conservative_action: Literal["act", "hold"] = "hold"
    notify: tuple[Name, ...] = ()


class Retrain(SpecModel):
    # Five cron fields (minute hour day-of-month month day-of-week) or a macro.
    schedule: Annotated[Str, Field(pattern=r"^(@(hourly|daily|weekly|monthly)|([0-9*/,-]+ +){4}[0-9A-Za-z*/,-]+)$")]
    training_window: Duration
    triggers: tuple[Literal["drift", "performance", "schedule"], ...] = ("schedule",)


class ModelSpec(SpecModel):
    task: Literal["binary_classification"]
    entity: Column
    label: LabelRef
    features: Annotated[tuple[FeatureRef, ...], Field(min_length=1)]
    algorithm: Algorithm
    baseline: Algorithm | None = None
    imbalance: Imbalance = Imbalance(strategy="none")
    validation: Validation
    calibration: Calibration = Calibration()
    threshold: Threshold
    gates: Annotated[tuple[Gate, ...], Field(min_length=1)]
    challenger: ChallengerPolicy = ChallengerPolicy()
    export: Export = Export()
    serving: Serving = Serving()
    risk: Risk
    review: Review | None = None
    retrain: Retrain

    def gate(self, metric: str) -> Gate | None:
        return next((g for g in self.gates if g.metric == metric), None)


class Model(Resource):
    KIND = "Model"
    kind: Literal["Model"]
    spec: ModelSpec
