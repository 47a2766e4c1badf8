"""Machine-readable diagnostics: one JSON document, stable key order."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

from compiler.diagnostics import Diagnostic

__all__ = ["as_dict", "render"]


def as_dict(d: Diagnostic) -> dict:
    return {
        "code": d.code,
        "severity": d.severity.value,
        "message": d.message,
        "file": d.location.file,
        "line": d.location.line,
        "column": d.location.col,
        "hint": d.hint,
        "resource": d.resource,
        "related": [{"file": loc.file, "line": loc.line, "column": loc.col, "message": msg} for loc, msg in d.related],
    }


def render(diagnostics: Sequence[Diagnostic], sources: Mapping[str, Sequence[str]], options: Mapping[str, object]) -> str:
    counts = {"error": 0, "warning": 0, "info": 0}
    for d in diagnostics:
        counts[d.severity.value] += 1
    doc = {"version": 1, "summary": counts, "diagnostics": [as_dict(d) for d in diagnostics]}
    return json.dumps(doc, indent=2, sort_keys=False) + "\n"
