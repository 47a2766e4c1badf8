"""What every hand-typed custom-resource model shares (the CRDs that have no
Python SDK: Argo CD, prometheus-operator): frozen pydantic, camelCase on the
wire, unknown fields refused, and the metadata and selector shapes."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel

__all__ = ["CrdModel", "LabelSelector", "ObjectMeta"]


class CrdModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, alias_generator=to_camel, populate_by_name=True)


class ObjectMeta(CrdModel):
    name: str
    namespace: str | None = None
    labels: dict[str, str] | None = None
    annotations: dict[str, str] | None = None
    finalizers: tuple[str, ...] | None = None


class LabelSelector(CrdModel):
    match_labels: dict[str, str]
