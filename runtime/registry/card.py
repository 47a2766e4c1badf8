"""The model card: what a version is, what it was trained on, how it did.
JSON for machines (stored beside the model), Markdown for people."""

from __future__ import annotations

from importlib import resources

import jinja2
from pydantic import BaseModel, ConfigDict, Field

__all__ = ["DataLineage", "GateResult", "ModelCard", "render_card_markdown"]


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class DataLineage(_Frozen):
    sha256: str  # content hash of the training table
    dvc_md5: str | None = None  # the hash dvc.lock records for the same data, when run by DVC
    rows: int
    start: str | None = None  # first and last cut time (ISO dates)
    end: str | None = None
    sources: dict[str, str] = Field(default_factory=dict)  # dataset -> content hash


class GateResult(_Frozen):
    name: str
    metric: str
    value: float | None
    passed: bool
    detail: str = ""


class ModelCard(_Frozen):
    model: str
    version: str
    spec_hash: str
    code_version: str
    algorithm: str
    params: dict[str, int | float | str | bool]
    features: tuple[str, ...]
    threshold: float | None = None
    training_data: DataLineage
    metrics: dict[str, float]
    slices: dict[str, dict[str, float]] = Field(default_factory=dict)
    gates: tuple[GateResult, ...]
    onnx_parity_max_abs_diff: float | None = None
    approvals: tuple[dict[str, str], ...] = ()
    lineage: dict[str, str] = Field(default_factory=dict)  # artifact -> sha256


_ENV = jinja2.Environment(
    loader=jinja2.FunctionLoader(lambda name: resources.files("runtime.templates").joinpath(name).read_text("utf-8")),
    autoescape=False,  # Markdown, not HTML  # noqa: S701
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
)


def render_card_markdown(card: ModelCard) -> str:
    return _ENV.get_template("model_card.md.j2").render(card=card)
