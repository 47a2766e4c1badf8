"""SARIF 2.1.0 for GitHub code scanning: one run, a rule per code used,
results with physical locations relative to the repository root."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

from compiler.codes import CODES
from compiler.diagnostics import Diagnostic
from compiler.version import __version__

__all__ = ["render"]

_LEVEL = {"error": "error", "warning": "warning", "info": "note"}
SCHEMA_URI = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"


def _location(file: str, line: int, col: int, message: str | None = None) -> dict:
    physical: dict = {"artifactLocation": {"uri": file, "uriBaseId": "%SRCROOT%"}}
    if line:
        physical["region"] = {"startLine": line, "startColumn": max(col, 1)}
    loc: dict = {"physicalLocation": physical}
    if message:
        loc["message"] = {"text": message}
    return loc


def render(diagnostics: Sequence[Diagnostic], sources: Mapping[str, Sequence[str]], options: Mapping[str, object]) -> str:
    used = sorted({d.code for d in diagnostics})
    index = {code: i for i, code in enumerate(used)}
    rules = []
    for code in used:
        info = CODES.get(code)
        rule: dict = {"id": code, "name": (info.title if info else code).title().replace(" ", "").replace("-", "")}
        if info:
            rule["shortDescription"] = {"text": info.title}
            rule["fullDescription"] = {"text": info.explanation}
            rule["help"] = {"text": f"{info.explanation}\nFix: {info.fix}", "markdown": f"{info.explanation}\n\n**Fix:** {info.fix}"}
        rules.append(rule)
    results = []
    for d in diagnostics:
        text = d.message + (f" (hint: {d.hint})" if d.hint else "")
        result: dict = {
            "ruleId": d.code,
            "ruleIndex": index[d.code],
            "level": _LEVEL[d.severity.value],
            "message": {"text": text},
            "locations": [_location(d.location.file, d.location.line, d.location.col)],
            "partialFingerprints": {"specopsResource/v1": f"{d.code}:{d.resource or d.location.file}:{d.message}"},
        }
        if d.related:
            result["relatedLocations"] = [
                {"id": i, **_location(loc.file, loc.line, loc.col, note)} for i, (loc, note) in enumerate(d.related)
            ]
        results.append(result)
    log = {
        "$schema": SCHEMA_URI,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "specops",
                        "version": __version__,
                        "informationUri": "https://specops.dev",
                        "rules": rules,
                    }
                },
                "columnKind": "unicodeCodePoints",
                "results": results,
            }
        ],
    }
    return json.dumps(log, indent=2) + "\n"
