"""`FeatureSet`: per-entity windowed aggregations and row transforms over a
data source (or over another feature set), computed by one implementation
for training (point-in-time) and serving (incremental)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from compiler.spec.base import Bool, Duration, Name, Resource, SpecModel, Str
from compiler.spec.datasource import Column

__all__ = [
    "AGGREGATIONS",
    "Aggregation",
    "FeatureSet",
    "FeatureSetSpec",
    "FeatureSource",
    "OnlineStore",
    "Transform",
]

AggregationFunction = Literal["count", "sum", "mean", "min", "max", "std", "last", "time_since_last"]
AGGREGATIONS: tuple[str, ...] = ("count", "sum", "mean", "min", "max", "std", "last", "time_since_last")
# Functions that need a numeric column; count/time_since_last need none, last takes any.
NUMERIC_AGGREGATIONS = frozenset({"sum", "mean", "min", "max", "std"})


class FeatureSource(SpecModel):
    data_source: Name | None = None
    feature_set: Name | None = None

    @model_validator(mode="after")
    def _one(self) -> "FeatureSource":
        if (self.data_source is None) == (self.feature_set is None):
            raise ValueError("set exactly one of 'dataSource' or 'featureSet'")
        return self

    @property
    def ref(self) -> tuple[str, str]:
        if self.data_source is not None:
            return ("DataSource", self.data_source)
        return ("FeatureSet", self.feature_set or "")


class Transform(SpecModel):
    """A row-level derived column, as a SQL expression over the source's fields."""

    name: Column
    expression: Annotated[Str, Field(min_length=1, max_length=1000)]
    inputs: Annotated[tuple[Column, ...], Field(min_length=1)]
    type: Literal["float", "int", "bool", "string"] = "float"


class Aggregation(SpecModel):
    """Expands to one feature per (function, window): ``<column>_<function>_<window>``."""

    column: Column | None = None
    functions: Annotated[tuple[AggregationFunction, ...], Field(min_length=1)]
    windows: Annotated[tuple[Duration, ...], Field(min_length=1)]

    @model_validator(mode="after")
    def _column(self) -> "Aggregation":
        needs = [f for f in self.functions if f not in ("count", "time_since_last")]
        if needs and self.column is None:
            raise ValueError(f"'{needs[0]}' needs a 'column'")
        return self

    def feature_names(self) -> tuple[str, ...]:
        prefix = self.column or "events"
        return tuple(f"{prefix}_{fn}_{w}" for fn in self.functions for w in self.windows)


class OnlineStore(SpecModel):
    enabled: Bool = True
    ttl: Duration | None = None
    # A stream that updates the online store incrementally (same fields as the batch source).
    stream: Name | None = None


class FeatureSetSpec(SpecModel):
    source: FeatureSource
    entity: Column
    transforms: tuple[Transform, ...] = ()
    aggregations: tuple[Aggregation, ...] = ()
    # Entity attributes passed through as-is (latest value), e.g. asset type.
    attributes: tuple[Column, ...] = ()
    online: OnlineStore = OnlineStore()

    @model_validator(mode="after")
    def _something(self) -> "FeatureSetSpec":
        if not (self.aggregations or self.attributes or self.transforms):
            raise ValueError("a feature set defines at least one aggregation, transform or attribute")
        return self

    def feature_names(self) -> tuple[str, ...]:
        names: list[str] = list(self.attributes)
        for agg in self.aggregations:
            names.extend(agg.feature_names())
        names.extend(t.name for t in self.transforms)
        return tuple(names)

    @property
    def max_window(self) -> Duration | None:
        windows = [w for a in self.aggregations for w in a.windows]
        return max(windows) if windows else None


class FeatureSet(Resource):
    KIND = "FeatureSet"
    kind: Literal["FeatureSet"]
    spec: FeatureSetSpec
