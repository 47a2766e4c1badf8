"""Shared building blocks of every spec kind: the base model, typed scalars,
durations, DNS-1123 names, secret references and the resource envelope."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, GetCoreSchemaHandler, GetJsonSchemaHandler, StrictBool, StrictFloat, StrictInt, StrictStr
from pydantic.alias_generators import to_camel
from pydantic_core import PydanticCustomError, core_schema

from compiler.version import API_VERSION

__all__ = [
    "API_VERSION",
    "Bool",
    "Date",
    "Duration",
    "Float",
    "Fraction",
    "Int",
    "Labels",
    "Metadata",
    "Name",
    "PositiveInt",
    "Quantity",
    "Resource",
    "SecretRef",
    "SpecModel",
    "Str",
]

Str = StrictStr
Int = StrictInt
Float = StrictFloat
Bool = StrictBool
PositiveInt = Annotated[StrictInt, Field(ge=1)]
Fraction = Annotated[StrictFloat, Field(ge=0.0, le=1.0)]


class SpecModel(BaseModel):
    """Base of every spec model: camelCase keys, unknown keys rejected, frozen."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        alias_generator=to_camel,
        populate_by_name=True,
        allow_inf_nan=False,
        hide_input_in_errors=True,
        validate_default=False,
    )


# ------------------------------------------------------------------ durations

_DURATION_PART = re.compile(r"(\d+)(ms|s|m|h|d|w)")
_DURATION_FULL = re.compile(r"^(?:\d+(?:ms|s|m|h|d|w))+$")
_UNIT_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000}
DURATION_PATTERN = _DURATION_FULL.pattern
_MAX_MS = 3650 * 86_400_000


@dataclass(frozen=True, slots=True, eq=False)
class Duration:
    """A length of time written with a unit: ``90s``, ``15m``, ``24h``, ``7d``, ``1h30m``."""

    millis: int
    text: str = ""

    @classmethod
    def parse(cls, value: Any) -> "Duration":
        if isinstance(value, Duration):
            return value
        if isinstance(value, bool) or not isinstance(value, str):
            raise PydanticCustomError(
                "duration",
                "expected a duration string with a unit such as '90s', '15m', '24h' or '7d', got {got}",
                {"got": repr(value)},
            )
        text = value.strip()
        if not _DURATION_FULL.match(text):
            raise PydanticCustomError(
                "duration",
                "'{value}' is not a duration; write a number and a unit (ms, s, m, h, d, w), e.g. '15m' or '24h'",
                {"value": value},
            )
        if len(text) > 32:
            raise PydanticCustomError("duration", "duration '{value}' is too long to be meaningful", {"value": value[:40]})
        millis = sum(int(n) * _UNIT_MS[u] for n, u in _DURATION_PART.findall(text))
        if millis > _MAX_MS:
            raise PydanticCustomError("duration", "duration '{value}' exceeds the maximum of 3650d", {"value": value})
        if millis <= 0:
            raise PydanticCustomError("duration", "duration '{value}' must be longer than zero", {"value": value})
        return cls(millis, text)

    @property
    def seconds(self) -> float:
        return self.millis / 1000.0

    def __str__(self) -> str:
        return self.text or f"{self.millis}ms"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Duration) and other.millis == self.millis

    def __hash__(self) -> int:
        return hash(self.millis)

    def __lt__(self, other: "Duration") -> bool:
        return self.millis < other.millis

    def __le__(self, other: "Duration") -> bool:
        return self.millis <= other.millis

    def __gt__(self, other: "Duration") -> bool:
        return self.millis > other.millis

    def __ge__(self, other: "Duration") -> bool:
        return self.millis >= other.millis

    def __add__(self, other: "Duration") -> "Duration":
        return Duration(self.millis + other.millis, f"{self}+{other}")

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: GetCoreSchemaHandler) -> core_schema.CoreSchema:
        return core_schema.no_info_plain_validator_function(
            cls.parse, serialization=core_schema.plain_serializer_function_ser_schema(str)
        )

    @classmethod
    def __get_pydantic_json_schema__(cls, schema: Any, handler: GetJsonSchemaHandler) -> dict[str, Any]:
        return {
            "type": "string",
            "pattern": DURATION_PATTERN,
            "description": "A duration with a unit: ms, s, m, h, d, w (e.g. '90s', '15m', '24h', '7d').",
            "examples": ["15m", "24h", "7d"],
        }


# ---------------------------------------------------------------------- dates

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _parse_date(value: Any) -> dt.date:
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return value
    if isinstance(value, str) and _DATE.match(value):
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            pass
    raise PydanticCustomError("date_format", "expected a date written as YYYY-MM-DD, got {got}", {"got": repr(value)})


class _DateSchema:
    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: GetCoreSchemaHandler) -> core_schema.CoreSchema:
        return core_schema.no_info_plain_validator_function(
            _parse_date, serialization=core_schema.plain_serializer_function_ser_schema(lambda d: d.isoformat())
        )

    @classmethod
    def __get_pydantic_json_schema__(cls, schema: Any, handler: GetJsonSchemaHandler) -> dict[str, Any]:
        return {"type": "string", "format": "date", "pattern": _DATE.pattern}


Date = Annotated[dt.date, _DateSchema]


# ---------------------------------------------------------------------- names

_DNS_1123 = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


def _check_name(value: Any) -> str:
    if not isinstance(value, str):
        raise PydanticCustomError("dns_name", "a name must be a string, got {got}", {"got": repr(value)})
    if len(value) > 63 or not _DNS_1123.match(value):
        raise PydanticCustomError(
            "dns_name",
            "'{value}' is not a valid name: use at most 63 lower-case letters, digits and '-', "
            "starting and ending with a letter or digit (it becomes a file and Kubernetes name)",
            {"value": value[:80]},
        )
    return value


class _NameSchema:
    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: GetCoreSchemaHandler) -> core_schema.CoreSchema:
        return core_schema.no_info_plain_validator_function(_check_name)

    @classmethod
    def __get_pydantic_json_schema__(cls, schema: Any, handler: GetJsonSchemaHandler) -> dict[str, Any]:
        return {"type": "string", "pattern": _DNS_1123.pattern, "maxLength": 63}


Name = Annotated[str, _NameSchema]
Labels = dict[Annotated[str, Field(max_length=253)], Annotated[StrictStr, Field(max_length=63)]]

# Kubernetes resource quantities as strings ("500m", "1", "512Mi"): the CRDs reject floats.
Quantity = Annotated[StrictStr, Field(pattern=r"^([0-9]+(\.[0-9]+)?)(m|k|M|G|T|Ki|Mi|Gi|Ti)?$")]


class SecretRef(SpecModel):
    """A reference to a Kubernetes Secret key; specs never hold secret values."""

    name: Name
    key: Annotated[StrictStr, Field(min_length=1, max_length=253, pattern=r"^[-._a-zA-Z0-9]+$")]


class SecretSource(SpecModel):
    secret_ref: SecretRef


class Metadata(SpecModel):
    name: Name
    labels: Labels = Field(default_factory=dict)
    annotations: dict[StrictStr, StrictStr] = Field(default_factory=dict)
    description: StrictStr | None = None


class Resource(SpecModel):
    """The Kubernetes-style envelope shared by every kind."""

    KIND: ClassVar[str] = ""

    api_version: Literal["specops.dev/v1alpha1"]
    kind: StrictStr
    metadata: Metadata

    @property
    def id(self) -> str:
        return f"{self.kind}/{self.metadata.name}"

    @property
    def name(self) -> str:
        return self.metadata.name
