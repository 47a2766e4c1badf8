"""The server's OpenAPI document, with the prediction contract in it.

kserve's V1 route reads the raw body, so FastAPI documents no request body
for it; this fills in ``runtime.serving.request.V1Request`` (and the served
model names as the only ``model_name`` values), so clients and schema-based
fuzzers (schemathesis) see what the predictor accepts.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from runtime.serving.request import V1Request

__all__ = ["install_openapi"]

_V1_PREDICT = "/v1/models/{model_name}:predict"


def _document(app: Any, models: Sequence[str]) -> dict[str, Any]:
    from fastapi.openapi.utils import get_openapi

    doc = get_openapi(title="SpecOps predictor", version="v1alpha1", routes=app.routes,
                      description="Online predictions (KServe V1 and Open Inference Protocol V2).")
    schema = V1Request.model_json_schema(ref_template="#/components/schemas/{model}")
    defs = schema.pop("$defs", {})
    components = doc.setdefault("components", {}).setdefault("schemas", {})
    components.update(defs)
    components["V1Request"] = schema
    paths = doc.get("paths", {})
    for path in [p for p in paths if p.startswith("/v2/repository/") or p.endswith(":explain") or "/versions/" in p]:
        del paths[path]  # refused by the guard
    for path, item in paths.items():
        for operation in item.values():
            for param in operation.get("parameters", []):
                if param.get("name") == "model_name" and param.get("in") == "path":
                    param["schema"] = {"type": "string", "enum": list(models)}
        if path == _V1_PREDICT and "post" in item:
            item["post"]["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/V1Request"}}},
            }
    return doc


def install_openapi(app: Any, models: Sequence[str]) -> None:
    cached: dict[str, Any] = {}

    def openapi() -> dict[str, Any]:
        if not cached:
            cached.update(_document(app, models))
        return cached

    app.openapi = openapi
