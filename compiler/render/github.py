"""GitHub Actions workflow commands: annotations on the pull request diff."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from compiler.diagnostics import Diagnostic

__all__ = ["render"]

_LEVEL = {"error": "error", "warning": "warning", "info": "notice"}


def _escape_data(s: str) -> str:
    return s.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_prop(s: str) -> str:
    return _escape_data(s).replace(":", "%3A").replace(",", "%2C")


def render(diagnostics: Sequence[Diagnostic], sources: Mapping[str, Sequence[str]], options: Mapping[str, object]) -> str:
    out = []
    for d in diagnostics:
        props = [f"file={_escape_prop(d.location.file)}"]
        if d.location.line:
            props.append(f"line={d.location.line}")
            props.append(f"col={max(d.location.col, 1)}")
        props.append(f"title={_escape_prop(d.code)}")
        message = d.message + (f"\nhint: {d.hint}" if d.hint else "")
        out.append(f"::{_LEVEL[d.severity.value]} {','.join(props)}::{_escape_data(message)}")
    return "\n".join(out) + ("\n" if out else "")
