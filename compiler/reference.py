"""The spec reference (docs/reference/spec-reference.md), rendered with jinja2
from the pydantic models themselves so it cannot drift from the code."""

from __future__ import annotations

import inspect
import typing
from dataclasses import dataclass
from typing import Any

import jinja2
from pydantic import BaseModel
from pydantic_core import PydanticUndefined

from compiler.spec import API_VERSION, KINDS
from compiler.spec.base import Duration

__all__ = ["render_reference"]


@dataclass(frozen=True)
class FieldDoc:
    name: str
    type: str
    required: bool
    default: str


@dataclass(frozen=True)
class ModelDoc:
    name: str
    doc: str
    fields: tuple[FieldDoc, ...]


def _type_name(ann: Any) -> str:
    origin = typing.get_origin(ann)
    args = typing.get_args(ann)
    if origin is typing.Annotated:
        inner = _type_name(args[0])
        return "name" if any(getattr(a, "__name__", "") == "_NameSchema" for a in args[1:]) else inner
    if origin is typing.Literal:
        return " \\| ".join(f"`{a}`" for a in args)
    if origin in (typing.Union, __import__("types").UnionType):
        return " or ".join(_type_name(a) for a in args if a is not type(None))
    if origin in (tuple, list):
        return f"list of {_type_name(args[0])}"
    if origin is dict:
        return f"map of {_type_name(args[1])}"
    if ann is Duration:
        return "duration"
    if isinstance(ann, type) and issubclass(ann, BaseModel):
        return f"[{ann.__name__}](#{ann.__name__.lower()})"
    return {str: "string", int: "integer", float: "number", bool: "boolean"}.get(ann, getattr(ann, "__name__", str(ann)))


def _nested(ann: Any) -> list[type[BaseModel]]:
    if isinstance(ann, type) and issubclass(ann, BaseModel):
        return [ann]
    out: list[type[BaseModel]] = []
    for a in typing.get_args(ann):
        out.extend(_nested(a))
    return out


def _collect(cls: type[BaseModel], seen: dict[str, ModelDoc]) -> None:
    if cls.__name__ in seen:
        return
    fields = []
    for fname, info in cls.model_fields.items():
        if fname in ("api_version", "kind") and cls.__name__ in KINDS:
            continue
        default = ""
        if not info.is_required():
            value = info.default if info.default is not PydanticUndefined else (info.default_factory() if info.default_factory else None)  # type: ignore[call-arg]
            default = "" if value in (None, (), {}) else (
                str(value) if not isinstance(value, BaseModel) else "(defaults)"
            )
        type_name = _type_name(info.annotation)
        if any(getattr(m, "__name__", "") == "_NameSchema" for m in info.metadata):
            type_name = "name"
        elif any(type(m).__name__ == "_PydanticGeneralMetadata" or hasattr(m, "pattern") for m in info.metadata):
            type_name += " (format-checked)"
        fields.append(FieldDoc(info.alias or fname, type_name, info.is_required(), default))
    seen[cls.__name__] = ModelDoc(cls.__name__, inspect.cleandoc(cls.__doc__ or ""), tuple(fields))
    for info in cls.model_fields.values():
        for sub in _nested(info.annotation):
            _collect(sub, seen)


def render_reference() -> str:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("compiler", "templates"),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    kinds = []
    for kind, cls in KINDS.items():
        seen: dict[str, ModelDoc] = {}
        _collect(cls, seen)
        module_doc = inspect.cleandoc(inspect.getmodule(cls).__doc__ or "")  # type: ignore[union-attr]
        kinds.append((kind, module_doc, list(seen.values())))
    return env.get_template("spec_reference.md.j2").render(api_version=API_VERSION, kinds=kinds)
