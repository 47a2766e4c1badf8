"""`DataSource`: a batch file, a stream (NATS subject) or a label feed, with
its data contract (typed fields, ranges, nullability, PII, quality,
freshness, late events, quarantine)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, StrictInt, model_validator

from compiler.spec.base import Bool, Duration, Float, Fraction, Name, PositiveInt, Resource, SecretSource, SpecModel, Str

__all__ = [
    "DataSource",
    "DataSourceSpec",
    "FieldSpec",
    "FileLocation",
    "FieldType",
    "LabelSpec",
    "LateEvents",
    "Quality",
    "Quarantine",
    "StreamLocation",
    "Freshness",
]

FieldType = Literal["string", "int", "float", "bool", "timestamp", "category"]
Column = Annotated[Str, Field(pattern=r"^[a-z_][a-z0-9_]{0,62}$")]
NUMERIC_TYPES = ("int", "float")


class FieldSpec(SpecModel):
    name: Column
    type: FieldType
    nullable: Bool = False
    min: Float | None = None
    max: Float | None = None
    values: tuple[Str, ...] = ()
    unit: Str | None = None
    pii: Bool = False
    description: Str | None = None

    @model_validator(mode="after")
    def _coherent(self) -> "FieldSpec":
        if (self.min is not None or self.max is not None) and self.type not in NUMERIC_TYPES:
            raise ValueError(f"'min'/'max' apply only to int and float fields, not '{self.type}'")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"'min' ({self.min}) is greater than 'max' ({self.max})")
        if self.values and self.type != "category":
            raise ValueError("'values' applies only to category fields")
        if self.type == "category" and not self.values:
            raise ValueError("a category field lists its allowed 'values'")
        return self


class FileLocation(SpecModel):
    path: Annotated[Str, Field(pattern=r"^(s3|gs|az|abfs|file)://\S+$|^[A-Za-z0-9_.*][A-Za-z0-9_.*/-]*$")]
    format: Literal["parquet", "csv"] = "parquet"


class StreamLocation(SpecModel):
    url: Annotated[Str, Field(pattern=r"^nats://[^@\s/]+(:[0-9]+)?$")] = "nats://127.0.0.1:4222"
    subject: Annotated[Str, Field(pattern=r"^[A-Za-z0-9_-]+(\.[A-Za-z0-9_*>-]+)*$")]
    stream: Annotated[Str, Field(pattern=r"^[A-Za-z0-9_-]+$")]
    durable: Annotated[Str, Field(pattern=r"^[A-Za-z0-9_-]+$")] | None = None
    credentials: SecretSource | None = None
    # Delivery: an event not acknowledged (= not yet applied to the online
    # store) within ackWait is redelivered, after the backoff delays when set.
    ack_wait: Duration = Duration.parse("30s")
    max_deliver: Annotated[StrictInt, Field(ge=1, le=1000)] = 10
    backoff: tuple[Duration, ...] = ()
    max_ack_pending: Annotated[StrictInt, Field(ge=1, le=100_000)] = 1000
    # Poison events (not JSON, or breaking the contract) are moved here with the reason;
    # default: specops.dead-letter.<data source name>.
    dead_letter_subject: Annotated[Str, Field(pattern=r"^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$")] | None = None

    @model_validator(mode="after")
    def _delivery(self) -> "StreamLocation":
        if self.backoff and self.max_deliver <= len(self.backoff):
            raise ValueError(f"'maxDeliver' ({self.max_deliver}) must be greater than the number of 'backoff' "
                             f"delays ({len(self.backoff)}); JetStream rejects the consumer otherwise")
        return self


class Quality(SpecModel):
    """The data contract's batch-level limits; breaching any fails or quarantines the batch."""

    max_null_fraction: Fraction = 0.05
    max_duplicate_fraction: Fraction = 0.01
    max_out_of_range_fraction: Fraction = 0.01
    min_rows: Annotated[int, Field(ge=0, strict=True)] = 1


class Freshness(SpecModel):
    max_age: Duration
    severity: Literal["warning", "error"] = "error"


class LateEvents(SpecModel):
    allowed_lateness: Duration
    policy: Literal["drop", "quarantine", "reprocess"] = "quarantine"


class Quarantine(SpecModel):
    """What happens to rows that break the contract (nulls, ranges, types)."""

    action: Literal["quarantine", "drop", "fail"] = "quarantine"
    # Above this fraction of bad rows the whole batch fails instead.
    max_bad_fraction: Fraction = 0.05


class LabelSpec(SpecModel):
    outcome: Column
    positive_value: Str | Bool | Float = True
    # When a label becomes known after the event it describes (e.g. a maintenance ticket).
    availability_delay: Duration
    expected_positive_rate: Annotated[float, Field(gt=0.0, lt=1.0, strict=True)] | None = None


class DataSourceSpec(SpecModel):
    type: Literal["file", "stream", "labels"]
    file: FileLocation | None = None
    stream: StreamLocation | None = None
    entity: Column
    timestamp: Column
    fields: Annotated[tuple[FieldSpec, ...], Field(min_length=1)]
    labels: LabelSpec | None = None
    quality: Quality = Quality()
    freshness: Freshness | None = None
    late_events: LateEvents | None = None
    quarantine: Quarantine = Quarantine()
    retention: Duration | None = None

    @model_validator(mode="after")
    def _location(self) -> "DataSourceSpec":
        if self.type == "file" and self.file is None:
            raise ValueError("a 'file' data source needs a 'file' block (path, format)")
        if self.type == "stream" and self.stream is None:
            raise ValueError("a 'stream' data source needs a 'stream' block (subject, stream)")
        if self.type == "labels":
            if self.labels is None:
                raise ValueError("a 'labels' data source needs a 'labels' block (outcome, availabilityDelay)")
            if (self.file is None) == (self.stream is None):
                raise ValueError("a 'labels' data source reads from exactly one of 'file' or 'stream'")
        elif self.labels is not None:
            raise ValueError("'labels' is only allowed when type is 'labels'")
        if self.type == "file" and self.stream is not None:
            raise ValueError("a 'file' data source cannot also have a 'stream' block")
        if self.type == "stream" and self.file is not None:
            raise ValueError("a 'stream' data source cannot also have a 'file' block")
        return self

    def field(self, name: str) -> FieldSpec | None:
        return next((f for f in self.fields if f.name == name), None)


class DataSource(Resource):
    KIND = "DataSource"
    kind: Literal["DataSource"]
    spec: DataSourceSpec
