"""Stage 2: YAML documents -> typed spec resources (pydantic, extra=forbid).

Every pydantic error becomes a located diagnostic: the error's ``loc`` is
walked through the document's data to the deepest node that exists, unknown
fields and enum values get a did-you-mean from the model itself.
"""

from __future__ import annotations

import re
import types
import typing
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError

from compiler.diagnostics import Diagnostic, Location, Severity, did_you_mean
from compiler.load import Document, Path_
from compiler.spec import API_VERSION, KINDS, Resource

__all__ = ["InvalidDocument", "SpecNode", "ValidateResult", "format_path", "validate"]


@dataclass(frozen=True, slots=True)
class SpecNode:
    """A validated resource and the document it came from."""

    resource: Resource
    document: Document

    @property
    def id(self) -> str:
        return self.resource.id

    @property
    def kind(self) -> str:
        return self.resource.kind

    @property
    def name(self) -> str:
        return self.resource.metadata.name

    def location(self, *path: str | int, value: bool = False) -> Location:
        return self.document.location(tuple(path), value=value)


@dataclass(frozen=True, slots=True)
class InvalidDocument:
    """A document that failed validation.  Its kind and name, when readable,
    still count as defined, so one typo does not cascade into dangling-reference
    errors everywhere else."""

    kind: str | None
    name: str | None
    document: Document

    @property
    def id(self) -> str | None:
        return f"{self.kind}/{self.name}" if self.kind and self.name else None


@dataclass(frozen=True, slots=True)
class ValidateResult:
    nodes: tuple[SpecNode, ...]
    diagnostics: tuple[Diagnostic, ...]
    invalid: tuple[InvalidDocument, ...] = ()


def format_path(path: Sequence[str | int]) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(document)"


def validate(documents: Iterable[Document]) -> ValidateResult:
    nodes: list[SpecNode] = []
    diagnostics: list[Diagnostic] = []
    invalid: list[InvalidDocument] = []
    for doc in documents:
        node, diags = _validate_document(doc)
        diagnostics.extend(diags)
        if node is not None:
            nodes.append(node)
        else:
            kind = doc.data.get("kind")
            meta = doc.data.get("metadata")
            name = meta.get("name") if isinstance(meta, dict) else None
            invalid.append(InvalidDocument(
                kind if isinstance(kind, str) and kind in KINDS else None,
                name if isinstance(name, str) else None,
                doc,
            ))
    return ValidateResult(tuple(nodes), tuple(diagnostics), tuple(invalid))


def _validate_document(doc: Document) -> tuple[SpecNode | None, list[Diagnostic]]:
    data = doc.data
    api = data.get("apiVersion")
    kind = data.get("kind")
    diags: list[Diagnostic] = []
    if api is None:
        diags.append(_diag("SO108", "missing 'apiVersion'", doc.location(()), f"add 'apiVersion: {API_VERSION}'"))
    elif api != API_VERSION:
        diags.append(
            _diag(
                "SO108",
                f"unknown apiVersion '{api}'",
                doc.location(("apiVersion",), value=True),
                did_you_mean(str(api), [API_VERSION]) or f"SpecOps resources use 'apiVersion: {API_VERSION}'",
            )
        )
    if kind is None:
        diags.append(_diag("SO109", "missing 'kind'", doc.location(()), "add 'kind:' with one of: " + ", ".join(KINDS)))
    elif not isinstance(kind, str) or kind not in KINDS:
        diags.append(
            _diag(
                "SO109",
                f"unknown kind '{kind}'",
                doc.location(("kind",), value=True),
                did_you_mean(str(kind), KINDS) or "known kinds: " + ", ".join(KINDS),
            )
        )
    if diags:
        return None, diags
    cls = KINDS[kind]
    try:
        resource = cls.model_validate(data)
    except ValidationError as exc:
        return None, _translate(exc, doc, cls)
    return SpecNode(resource, doc), []


def _diag(code: str, message: str, location: Location, hint: str | None = None, resource: str | None = None) -> Diagnostic:
    return Diagnostic(code, Severity.ERROR, message, location, hint=hint, resource=resource)


# ----------------------------------------------------------- error translation

_TYPE_NAMES = {
    "string_type": "a string",
    "int_type": "an integer",
    "int_from_float": "an integer",
    "float_type": "a number",
    "bool_type": "true or false",
    "dict_type": "a mapping",
    "model_type": "a mapping",
    "model_attributes_type": "a mapping",
    "tuple_type": "a list",
    "list_type": "a list",
    "date_type": "a date (YYYY-MM-DD)",
    "date_from_datetime_parsing": "a date (YYYY-MM-DD)",
    "date_parsing": "a date (YYYY-MM-DD)",
    "is_instance_of": "a mapping",
}
_RANGE_TYPES = {
    "greater_than", "greater_than_equal", "less_than", "less_than_equal", "too_short", "too_long",
    "string_too_short", "string_too_long", "string_pattern_mismatch", "multiple_of",
}


def _translate(exc: ValidationError, doc: Document, cls: type[BaseModel]) -> list[Diagnostic]:
    name = doc.data.get("metadata", {}).get("name") if isinstance(doc.data.get("metadata"), dict) else None
    resource = f"{cls.__name__}/{name}" if isinstance(name, str) else None
    out: dict[tuple, Diagnostic] = {}
    errors = [(err, _data_path(doc.data, tuple(err["loc"]))) for err in exc.errors(include_url=False, include_input=True)]
    for err, path in errors:
        loc = tuple(err["loc"])
        if err["type"] == "too_short" and any(len(p) > len(path) and p[: len(path)] == path for _, p in errors):
            continue  # "list too short" only because one of its items failed: report the item
        code, message, hint, location = _describe(err, loc, path, doc, cls)
        key = (path, code)
        if key in out:  # one message per field: union members repeat the same failure
            continue
        out[key] = Diagnostic(code, Severity.ERROR, message, location, hint=hint, resource=resource)
    return list(out.values())


def _data_path(data: Any, loc: tuple) -> Path_:
    """The part of ``loc`` that exists in the data (drops union tags and validator names)."""
    path: list[str | int] = []
    node = data
    for part in loc:
        if isinstance(node, dict) and isinstance(part, str) and part in node:
            node = node[part]
            path.append(part)
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            node = node[part]
            path.append(part)
        elif isinstance(node, (dict, list)) and isinstance(part, (str, int)) and not _is_tag(part):
            # A missing key (or an unknown one): keep it for the message only.
            path.append(part)
            break
    return tuple(path)


def _is_tag(part: str | int) -> bool:
    return isinstance(part, str) and (
        part.startswith("function-") or part in {"float", "int", "str", "bool", "Duration", "list", "tuple", "none"}
        or "[" in part
    )


def _describe(err: dict, loc: tuple, path: Path_, doc: Document, cls: type[BaseModel]) -> tuple[str, str, str | None, Location]:
    etype = err["type"]
    field = format_path(path)
    msg = str(err.get("msg", "invalid value"))
    exists = _exists(doc.data, path)
    if etype == "extra_forbidden":
        allowed = _fields_at(cls, path[:-1])
        hint = did_you_mean(str(path[-1]), allowed) if path else None
        if hint is None and allowed:
            hint = "allowed fields here: " + ", ".join(sorted(allowed))
        return "SO201", f"unknown field '{field}'", hint, doc.location(path)
    if etype == "missing":
        parent = format_path(path[:-1]) if len(path) > 1 else "the resource"
        return "SO202", f"missing required field '{path[-1] if path else field}' in {parent}", (
            f"add '{path[-1]}:' under {parent}" if path else None
        ), doc.location(path[:-1])
    location = doc.location(path, value=True) if exists else doc.location(path)
    if etype == "dns_name":
        return "SO205", f"{field}: {msg}", "rename it, e.g. 'pump-failure'", location
    if etype == "duration":
        return "SO206", f"{field}: {msg}", "examples: '90s', '15m', '24h', '7d'", location
    if etype == "date_format":
        return "SO203", f"{field}: {msg}", "write the date as YYYY-MM-DD, e.g. 2026-11-20", location
    if etype == "finite_number":
        return "SO208", f"{field}: NaN and infinity are not allowed", "write a finite number", location
    if etype in _TYPE_NAMES:
        got = _describe_value(_value_at(doc.data, path))
        return "SO203", f"{field}: expected {_TYPE_NAMES[etype]}, got {got}", _type_hint(etype, _value_at(doc.data, path)), location
    if etype.endswith("_type") or etype.endswith("_parsing"):
        got = _describe_value(_value_at(doc.data, path))
        return "SO203", f"{field}: {msg.lower()}, got {got}", None, location
    if etype in ("literal_error", "enum"):
        expected = re.findall(r"'([^']*)'", str(err.get("ctx", {}).get("expected", "")))
        value = _value_at(doc.data, path)
        hint = did_you_mean(str(value), expected) if expected else None
        if hint is None and expected:
            hint = "allowed values: " + ", ".join(expected)
        return "SO204", f"{field}: '{value}' is not an allowed value", hint, location
    if etype in _RANGE_TYPES:
        return "SO204", f"{field}: {_range_message(etype, msg, err)}", None, location
    if etype == "value_error":
        text = msg.removeprefix("Value error, ")
        return "SO207", f"{field}: {text}" if path else text, None, doc.location(path)
    return "SO204", f"{field}: {msg}", None, location


def _range_message(etype: str, msg: str, err: dict) -> str:
    if etype == "string_pattern_mismatch":
        pattern = err.get("ctx", {}).get("pattern", "")
        return f"value does not match the required format {pattern}"
    return msg.lower()


def _type_hint(etype: str, value: Any) -> str | None:
    if etype in ("string_type",) and isinstance(value, (bool, int, float)):
        return "quote the value to make it a string"
    if etype in ("int_type", "float_type") and isinstance(value, str):
        if re.match(r"^\s*[-+]?[0-9.]+\s*$", value):
            return "remove the quotes to make it a number"
        if re.match(r"^\s*[-+]?[0-9.]+\s*[A-Za-z%]+\s*$", value):
            return "write a plain number without a unit (the field name says the unit)"
        return None
    if etype == "bool_type" and isinstance(value, str):
        return "write true or false (YAML 1.2: yes/no/on/off are strings)"
    return None


def _exists(data: Any, path: Path_) -> bool:
    node = data
    for part in path:
        if isinstance(node, dict) and isinstance(part, str) and part in node:
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            node = node[part]
        else:
            return False
    return True


def _value_at(data: Any, path: Path_) -> Any:
    node = data
    for part in path:
        try:
            node = node[part]
        except (KeyError, IndexError, TypeError):
            return None
    return node


def _describe_value(value: Any) -> str:
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return f"boolean {str(value).lower()}"
    if isinstance(value, (int, float)):
        return f"number {value}"
    if isinstance(value, str):
        return f"string '{value[:40]}'"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__


def _fields_at(cls: type[BaseModel], path: Path_) -> list[str]:
    """Field aliases accepted at ``path`` inside ``cls`` (for did-you-mean)."""
    candidates: list[Any] = [cls]
    for part in path:
        nxt: list[Any] = []
        for ann in candidates:
            for t in _unwrap(ann):
                if isinstance(part, str) and isinstance(t, type) and issubclass(t, BaseModel):
                    for fname, finfo in t.model_fields.items():
                        if (finfo.alias or fname) == part:
                            nxt.append(finfo.annotation)
                elif isinstance(part, int) and typing.get_origin(t) in (tuple, list):
                    nxt.extend(a for a in typing.get_args(t) if a is not Ellipsis)
                elif isinstance(part, str) and typing.get_origin(t) is dict:
                    nxt.append(typing.get_args(t)[1])
        candidates = nxt
    names: set[str] = set()
    for ann in candidates:
        for t in _unwrap(ann):
            if isinstance(t, type) and issubclass(t, BaseModel):
                names.update(finfo.alias or fname for fname, finfo in t.model_fields.items())
    return sorted(names)


def _unwrap(ann: Any) -> list[Any]:
    origin = typing.get_origin(ann)
    if origin is typing.Annotated:
        return _unwrap(typing.get_args(ann)[0])
    if origin in (typing.Union, types.UnionType):
        out: list[Any] = []
        for a in typing.get_args(ann):
            out.extend(_unwrap(a))
        return out
    return [ann]
