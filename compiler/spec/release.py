"""`ModelRelease`: a trained model version made deployable.  Releases live in
git, so a promotion is a reviewed pull request and the compiler reads
nothing but git (no registry, clock or network)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from pydantic import Field, model_validator

from compiler.spec.base import Date, Float, Name, Resource, SpecModel, Str

__all__ = ["Approval", "Artifact", "Deployment", "ModelRelease", "ModelReleaseSpec", "TrainingData"]

Sha256 = Annotated[Str, Field(pattern=r"^[0-9a-f]{64}$")]


class Artifact(SpecModel):
    uri: Annotated[Str, Field(pattern=r"^(s3|gs|az|abfs|file)://\S+$|^[A-Za-z0-9_.][A-Za-z0-9_./-]*$")]
    sha256: Sha256
    format: Literal["onnx"] = "onnx"
    size_bytes: Annotated[int, Field(ge=1, strict=True)] | None = None


class TrainingData(SpecModel):
    hash: Sha256
    start: Date
    end: Date
    feature_spec_hash: Sha256 | None = None

    @model_validator(mode="after")
    def _order(self) -> "TrainingData":
        if self.start >= self.end:
            raise ValueError("training data 'start' must be before 'end'")
        return self


class Approval(SpecModel):
    approver: Annotated[Str, Field(pattern=r"^[^@\s]+@[^@\s]+$")]
    role: Name
    date: Date
    reason: Annotated[Str, Field(min_length=3)]


class Deployment(SpecModel):
    environment: Name
    role: Literal["champion", "canary", "shadow"]
    # Index into the model's canary steps (0-based); only for role canary.
    canary_step: Annotated[int, Field(ge=0, le=100, strict=True)] | None = None

    @model_validator(mode="after")
    def _step(self) -> "Deployment":
        if self.role == "canary" and self.canary_step is None:
            raise ValueError("a canary deployment needs 'canaryStep'")
        if self.role != "canary" and self.canary_step is not None:
            raise ValueError("'canaryStep' applies only to the canary role")
        return self


class ModelReleaseSpec(SpecModel):
    model: Name
    version: Annotated[Str, Field(pattern=r"^[0-9A-Za-z][0-9A-Za-z.+_-]{0,63}$")]
    artifact: Artifact
    training_data: TrainingData
    metrics: dict[Annotated[Str, Field(pattern=r"^[a-z][a-z0-9_]*$")], Float] = Field(default_factory=dict)
    approvals: tuple[Approval, ...] = ()
    deployments: tuple[Deployment, ...] = ()


class ModelRelease(Resource):
    KIND = "ModelRelease"
    kind: Literal["ModelRelease"]
    spec: ModelReleaseSpec
