"""Compiler-style text: ``file:line:col: error[CODE]: message``, the source
line with a caret under the column, and the hint."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from compiler.diagnostics import Diagnostic

__all__ = ["render"]

_COLORS = {"error": "\033[1;31m", "warning": "\033[1;33m", "info": "\033[1;36m"}
_RESET = "\033[0m"


def render(diagnostics: Sequence[Diagnostic], sources: Mapping[str, Sequence[str]], options: Mapping[str, object]) -> str:
    color = bool(options.get("color"))
    out: list[str] = []
    for d in diagnostics:
        sev = d.severity.value
        label = f"{_COLORS[sev]}{sev}[{d.code}]{_RESET}" if color else f"{sev}[{d.code}]"
        out.append(f"{d.location}: {label}: {d.message}")
        lines = sources.get(d.location.file)
        if lines and 0 < d.location.line <= len(lines):
            src = lines[d.location.line - 1].rstrip("\n")
            gutter = f"{d.location.line:>5} | "
            out.append(gutter + src)
            caret_col = max(d.location.col, 1)
            out.append(" " * (len(gutter) - 2) + "| " + " " * (caret_col - 1) + "^")
        if d.hint:
            out.append(f"      = hint: {d.hint}")
        for loc, note in d.related:
            out.append(f"      = note: {loc}: {note}")
    counts = {"error": 0, "warning": 0, "info": 0}
    for d in diagnostics:
        counts[d.severity.value] += 1
    files = options.get("files", 0)
    resources = options.get("resources", 0)
    summary = f"{counts['error']} error(s), {counts['warning']} warning(s) in {files} file(s), {resources} resource(s)"
    out.append(summary)
    return "\n".join(out) + "\n"
