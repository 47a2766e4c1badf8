"""The prediction request contract, for both protocols.

V1 (``POST /v1/models/<name>:predict``, JSON)::

    {"instances": [{"entity": "pump-0001",
                    "event": {...a raw event of the entity, optional...},
                    "at": "2026-03-01T12:00:00Z"}]}

V2 / Open Inference Protocol (``POST /v2/models/<name>/infer``): BYTES
inputs ``entity`` (required), ``event`` (JSON objects as strings) and
``at``, each of shape ``[N]`` (or ``[N, 1]``).

``at`` is the prediction time (default: the server's clock); features are
read as of it.  A request that breaks the contract raises ``BadInput`` with
the path of the offending field.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictFloat, StrictInt, StrictStr, ValidationError

from runtime.serving.errors import BadInput

__all__ = ["MAX_INSTANCES", "EventValue", "Instance", "PredictionInput", "V1Request", "new_request_id", "parse_v1",
           "parse_v2"]

MAX_INSTANCES = 64
_MAX_EVENT_FIELDS = 64
_MAX_ENTITY_CHARS = 256  # Instance.entity and _plain_v1 share these limits
_MAX_AT_CHARS = 64
_MIN_US = 0  # 1970-01-01
_MAX_US = 4_102_444_800_000_000  # 2100-01-01

EventValue = StrictStr | StrictInt | StrictFloat | StrictBool | None


class Instance(BaseModel):
    """One prediction: an entity, optionally with a fresh raw event applied first."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    entity: Annotated[StrictStr, Field(min_length=1, max_length=_MAX_ENTITY_CHARS)]
    event: Annotated[dict[Annotated[str, Field(min_length=1, max_length=128)], EventValue],
                     Field(max_length=_MAX_EVENT_FIELDS)] | None = None
    at: Annotated[StrictStr, Field(min_length=1, max_length=_MAX_AT_CHARS,
                                   description="prediction time, ISO 8601 (default: now)")] | None = None


class V1Request(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    instances: Annotated[list[Instance], Field(min_length=1, max_length=MAX_INSTANCES)]


@dataclass(frozen=True, slots=True)
class PredictionInput:
    entity: str
    event: dict[str, Any] | None
    at_us: int | None  # None: the server's clock


def new_request_id() -> str:
    """A request id for a request that brought none: 32 random hex digits
    (uuid4's ``hex`` shape, at a quarter of its cost)."""
    return os.urandom(16).hex()


def _where(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "body"


def _validation_message(exc: ValidationError) -> str:
    problems = []
    for err in exc.errors()[:5]:
        where = _where(tuple(err["loc"]))
        if err["type"] == "extra_forbidden":
            problems.append(f"{where}: unknown field (allowed: instances[].entity, .event, .at)")
        elif err["type"] == "missing":
            problems.append(f"{where}: required field is missing")
        else:
            problems.append(f"{where}: {err['msg']}")
    more = len(exc.errors()) - 5
    return "; ".join(problems) + (f" (and {more} more)" if more > 0 else "")


def parse_time(text: str, where: str) -> int:
    """ISO 8601 -> epoch microseconds (a naive time is UTC)."""
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00") if text.endswith("Z") else text)
    except ValueError:
        raise BadInput(f"{where}: {text!r} is not an ISO 8601 time (e.g. 2026-03-01T12:00:00Z)") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    us = round(when.timestamp() * 1_000_000)
    if not _MIN_US <= us < _MAX_US:
        raise BadInput(f"{where}: {text!r} is outside 1970..2100")
    return us


def _check_event(event: dict[str, Any], where: str) -> dict[str, Any]:
    for key, value in event.items():
        if key.startswith("_") and key != "_event_id":
            raise BadInput(f"{where}.{key}: system fields other than _event_id are set by the server")
        if isinstance(value, float) and not math.isfinite(value):
            raise BadInput(f"{where}.{key}: {value} is not a finite number")
        if isinstance(value, str) and len(value) > 1024:
            raise BadInput(f"{where}.{key}: string longer than 1024 characters")
    return event


def _to_input(inst: Instance, index: int) -> PredictionInput:
    at = parse_time(inst.at, f"instances[{index}].at") if inst.at is not None else None
    event = _check_event(dict(inst.event), f"instances[{index}].event") if inst.event is not None else None
    return PredictionInput(entity=inst.entity, event=event, at_us=at)


def parse_v1(body: Any) -> tuple[PredictionInput, ...]:
    if isinstance(body, (bytes, bytearray, str)):
        raise BadInput("the body must be a JSON object sent with Content-Type: application/json")
    if not isinstance(body, dict):
        raise BadInput(f"the body must be a JSON object with 'instances', not a JSON {type(body).__name__}")
    plain = _plain_v1(body)
    if plain is not None:
        return plain
    try:
        request = V1Request.model_validate(body)
    except ValidationError as exc:
        raise BadInput(_validation_message(exc)) from None
    return tuple(_to_input(inst, i) for i, inst in enumerate(request.instances))


def _plain_v1(body: dict[str, Any]) -> tuple[PredictionInput, ...] | None:
    """The common request -- instances of an entity and maybe an ``at``, no
    event -- when it plainly satisfies ``V1Request``; None for anything else,
    which ``V1Request`` then judges (and words the error of).  Validating the
    model costs ~3 µs a request; tests/runtime/serving/test_request.py keeps
    the two in agreement."""
    instances = body.get("instances")
    if len(body) != 1 or type(instances) is not list or not 1 <= len(instances) <= MAX_INSTANCES:
        return None
    pairs = []
    for inst in instances:  # the whole shape first, as V1Request checks it before any time is parsed
        if type(inst) is not dict:
            return None
        entity, at = inst.get("entity"), inst.get("at")
        if (type(entity) is not str or not 1 <= len(entity) <= _MAX_ENTITY_CHARS
                or len(inst) != (1 if at is None else 2)
                or (at is not None and (type(at) is not str or not 1 <= len(at) <= _MAX_AT_CHARS))):
            return None  # an explicit null ``at`` (len 2, at None) also goes to V1Request
        pairs.append((entity, at))
    return tuple(PredictionInput(entity=entity, event=None,
                                 at_us=None if at is None else parse_time(at, f"instances[{i}].at"))
                 for i, (entity, at) in enumerate(pairs))


_V2_INPUTS = ("entity", "event", "at")


def _flat(data: Any, name: str, n: int | None) -> list[Any]:
    values = data.tolist() if hasattr(data, "tolist") else data
    if not isinstance(values, list):
        raise BadInput(f"inputs[{name}].data must be a list")
    if values and all(isinstance(v, list) for v in values):
        if any(len(v) != 1 for v in values):
            raise BadInput(f"inputs[{name}]: shape must be [N] or [N, 1]")
        values = [v[0] for v in values]
    if n is not None and len(values) != n:
        raise BadInput(f"inputs[{name}] has {len(values)} values; 'entity' has {n}")
    out = []
    for i, v in enumerate(values):
        if isinstance(v, (bytes, bytearray)):
            try:
                v = bytes(v).decode("utf-8")
            except UnicodeDecodeError:
                raise BadInput(f"inputs[{name}][{i}]: not UTF-8") from None
        if not isinstance(v, str):
            raise BadInput(f"inputs[{name}][{i}]: expected a string (datatype BYTES), got {type(v).__name__}")
        out.append(v)
    return out


def parse_v2(request: Any) -> tuple[PredictionInput, ...]:
    """An Open Inference Protocol request (kserve ``InferRequest``)."""
    by_name: dict[str, Any] = {}
    for inp in request.inputs:
        if inp.name not in _V2_INPUTS:
            raise BadInput(f"unknown input {inp.name!r}; inputs are {', '.join(_V2_INPUTS)} (entity required)")
        if inp.name in by_name:
            raise BadInput(f"input {inp.name!r} is given twice")
        if inp.datatype != "BYTES":
            raise BadInput(f"inputs[{inp.name}]: datatype must be BYTES, not {inp.datatype}")
        by_name[inp.name] = inp
    if "entity" not in by_name:
        raise BadInput("input 'entity' (BYTES, shape [N]) is required")
    entities = _flat(by_name["entity"].data, "entity", None)
    n = len(entities)
    if not 1 <= n <= MAX_INSTANCES:
        raise BadInput(f"inputs[entity]: between 1 and {MAX_INSTANCES} entities per request, got {n}")
    events: list[str | None] = _flat(by_name["event"].data, "event", n) if "event" in by_name else [None] * n  # type: ignore[assignment]
    ats: list[str | None] = _flat(by_name["at"].data, "at", n) if "at" in by_name else [None] * n  # type: ignore[assignment]
    out = []
    for i, (entity, event_text, at) in enumerate(zip(entities, events, ats)):
        event = None
        if event_text is not None:
            try:
                event = json.loads(event_text, parse_constant=_reject_constant)
            except ValueError as exc:
                raise BadInput(f"inputs[event][{i}]: not a JSON object: {exc}") from None
            if not isinstance(event, dict):
                raise BadInput(f"inputs[event][{i}]: must be a JSON object")
        try:
            inst = Instance.model_validate({"entity": entity, "event": event, "at": at})
        except ValidationError as exc:
            raise BadInput(f"instance {i}: {_validation_message(exc)}") from None
        out.append(_to_input(inst, i))
    return tuple(out)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not allowed (only finite numbers)")
