"""The policy bundle the serving path evaluates, and the context a
``prediction`` rule sees.  The compiler builds the bundle from ``policies/``;
the predictor compiles each rule once at load and evaluates it per request."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

__all__ = [
    "PREDICTION_VARIABLES",
    "PREDICTION_VARIABLE_TYPES",
    "Decision",
    "PolicyBundle",
    "PredictionContext",
    "PredictionRule",
]


class _Contract(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, alias_generator=to_camel, populate_by_name=True, allow_inf_nan=False)


class ModelInfo(_Contract):
    name: str
    version: str
    release: str
    risk_tier: Literal["low", "medium", "high", "critical"]


class EntityInfo(_Contract):
    id: str
    type: str = ""
    criticality: Literal["low", "medium", "high", "critical"] = "medium"


class PredictionContext(_Contract):
    """What a prediction rule may read (the CEL variables are these fields, camelCase)."""

    score: float = Field(ge=0.0, le=1.0)
    threshold: float = Field(ge=0.0, le=1.0)
    decision: bool  # score >= threshold
    # Distance of the score from the threshold, scaled to [0, 1].
    confidence: float = Field(ge=0.0, le=1.0)
    model: ModelInfo
    entity: EntityInfo
    features: dict[str, float | int | str | bool | None]
    feature_age_seconds: float = Field(ge=0.0)
    environment: str

    def variables(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True)

    @classmethod
    def example(cls) -> "PredictionContext":
        """A typical context, used to type-check prediction rules at lint time."""
        return cls(
            score=0.82,
            threshold=0.5,
            decision=True,
            confidence=0.64,
            model=ModelInfo(name="pump-failure", version="1.0.0", release="pump-failure-1-0-0", risk_tier="high"),
            entity=EntityInfo(id="pump-0001", type="pump", criticality="critical"),
            features={"vibration_mean_1h": 0.4, "temperature_max_24h": 71.5, "asset_type": "pump"},
            feature_age_seconds=42.0,
            environment="prod",
        )


PREDICTION_VARIABLES = frozenset(
    (f.alias or n) for n, f in PredictionContext.model_fields.items()
)

# Each variable's CEL type, for the rules the serving path lowers to Python
# (runtime.contracts.cel_lowering); ``features`` (values of any type) is left out,
# so a rule reading it stays with the CEL engine.  Kept equal to PredictionContext
# by tests/runtime/contracts/test_cel_lowering.py.
PREDICTION_VARIABLE_TYPES: dict[str, Any] = {
    "score": "double", "threshold": "double", "decision": "bool", "confidence": "double",
    "featureAgeSeconds": "double", "environment": "string",
    "model": {"name": "string", "version": "string", "release": "string", "riskTier": "string"},
    "entity": {"id": "string", "type": "string", "criticality": "string"},
}


class PredictionRule(_Contract):
    id: str
    policy: str
    message: str
    severity: Literal["error", "warning", "info"]
    expression: str
    when: str | None = None
    action: Literal["human_review", "abstain"]
    # Models the rule applies to (resolved by the compiler from the selector).
    models: tuple[str, ...]


class PolicyBundle(_Contract):
    """Compiled prediction rules, ordered by id; the predictor loads this file."""

    api_version: Literal["runtime.specops.dev/v1alpha1"] = "runtime.specops.dev/v1alpha1"
    kind: Literal["PolicyBundle"] = "PolicyBundle"
    rules: tuple[PredictionRule, ...] = ()

    def for_model(self, model: str) -> tuple[PredictionRule, ...]:
        return tuple(r for r in self.rules if model in r.models)

    def only(self, model: str) -> "PolicyBundle":
        """The bundle one predictor loads: its model's rules, naming only that model
        (so a bundle's size does not grow with the number of models)."""
        return PolicyBundle(rules=tuple(r.model_copy(update={"models": (model,)}) for r in self.for_model(model)))


class Decision(_Contract):
    action: Literal["auto", "human_review", "abstain"]
    rule: str | None = None
    reason: str
