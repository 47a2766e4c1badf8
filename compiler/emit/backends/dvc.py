"""DVC: `dvc.yaml` at the repository root (outside every folder Argo CD
syncs) whose stages are exactly the Argo pipeline's steps -- same command,
same config file -- so `dvc repro` runs the pipeline locally with caching
and records lineage in dvc.lock."""

from __future__ import annotations

from collections.abc import Iterator

from pydantic import BaseModel, ConfigDict

from compiler.emit.artifact import Artifact
from compiler.emit.serialize import yaml_artifact
from compiler.plan import StepPlan, SystemPlan

__all__ = ["DVC_FILE", "NAME", "DvcFile", "DvcStage", "build_dvc", "emit", "stage_name"]

NAME = "dvc"
DVC_FILE = "dvc.yaml"


class DvcStage(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    cmd: str
    deps: list[str]
    params: list[dict[str, list[str]]] | None = None
    outs: list[str]
    desc: str | None = None


class DvcFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    stages: dict[str, DvcStage]


def stage_name(step: StepPlan) -> str:
    return f"{step.model}-{step.name}"


def build_stage(step: StepPlan) -> DvcStage:
    return DvcStage(
        cmd=" ".join(step.command),
        deps=[step.config_path, *step.deps],
        params=[{step.config_path: list(step.params)}] if step.params else None,
        outs=list(step.outs),
        desc=f"{step.step} for {step.model} (from {step.origin})",
    )


def build_dvc(plan: SystemPlan) -> DvcFile:
    steps = (*plan.data_steps, *(s for p in plan.pipelines for s in p.steps))
    return DvcFile(stages={stage_name(s): build_stage(s) for s in steps})


def emit(plan: SystemPlan) -> Iterator[Artifact]:
    if plan.pipelines or plan.data_steps:
        sources = sorted({p.origin.resource for p in plan.pipelines} | {s.origin.resource for s in plan.data_steps})
        yield yaml_artifact(DVC_FILE, build_dvc(plan), sources, NAME)
