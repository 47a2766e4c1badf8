"""The one canonical serializer: sorted keys, block style, no timestamps, so
the same plan gives the same bytes on any machine (YAML by
``compiler.emit.yaml_writer``, JSON by the standard library)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel

from compiler.emit import yaml_writer
from compiler.emit.artifact import HEADER, Artifact

__all__ = ["json_artifact", "plain", "to_json", "to_yaml", "yaml_artifact"]



def plain(obj: Any) -> Any:
    """A typed model (hera/pydantic, kubernetes or kserve SDK) as plain camelCase data."""
    if isinstance(obj, BaseModel):
        return obj.model_dump(mode="json", by_alias=True, exclude_none=True)
    if hasattr(obj, "openapi_types") and hasattr(obj, "attribute_map"):
        # kubernetes / kserve SDK models: attribute_map holds the wire (camelCase)
        # names.  Their to_dict() (which ApiClient falls back to for kserve) is
        # snake_case, so it is never used.
        return {obj.attribute_map[attr]: plain(getattr(obj, attr))
                for attr in obj.openapi_types if getattr(obj, attr) is not None}
    if isinstance(obj, dict):
        return {k: plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [plain(v) for v in obj]
    return obj


def _dump_yaml(data: Any) -> str:
    return yaml_writer.dump(data)


def to_yaml(obj: Any) -> str:
    return _dump_yaml(plain(obj))


def to_json(obj: Any, *, compact: bool = False) -> str:
    """Canonical JSON; ``compact`` (one line, C encoder) for values embedded in manifests."""
    if compact:
        return json.dumps(plain(obj), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return json.dumps(plain(obj), sort_keys=True, indent=2, ensure_ascii=False) + "\n"


def yaml_artifact(path: str, obj: Any, sources: Iterable[str], backend: str) -> Artifact:
    data = plain(obj)
    return Artifact(path, (HEADER + _dump_yaml(data)).encode("utf-8"), tuple(sorted(set(sources))), backend, data)


def json_artifact(path: str, obj: Any, sources: Iterable[str], backend: str) -> Artifact:
    return Artifact(path, to_json(obj).encode("utf-8"), tuple(sorted(set(sources))), backend)
