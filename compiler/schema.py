"""JSON Schema for every spec kind (for editors via yaml-language-server)."""

from __future__ import annotations

import json
from typing import Any

from pydantic.json_schema import models_json_schema

from compiler.spec import API_VERSION, KINDS

__all__ = ["SCHEMA_ID", "build_schema", "render_schema"]

SCHEMA_ID = "https://specops.dev/schemas/specops-v1alpha1.json"


def build_schema() -> dict[str, Any]:
    models = [(cls, "validation") for cls in KINDS.values()]
    refs, top = models_json_schema(models, by_alias=True, ref_template="#/$defs/{model}")
    one_of = [refs[(cls, "validation")] for cls in KINDS.values()]
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": f"SpecOps resources ({API_VERSION})",
        "description": "One SpecOps resource per YAML document: " + ", ".join(KINDS) + ".",
        "oneOf": one_of,
        "$defs": top.get("$defs", {}),
    }


def render_schema() -> str:
    return json.dumps(build_schema(), indent=1, sort_keys=True) + "\n"
