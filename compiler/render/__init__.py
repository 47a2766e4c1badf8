"""Diagnostic renderers, registered by format name: a new format is one module and one line."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from compiler.diagnostics import Diagnostic
from compiler.render import github, json_format, sarif, text

__all__ = ["RENDERERS", "Renderer"]

# (diagnostics, source lines per file, options) -> output text
Renderer = Callable[[Sequence[Diagnostic], Mapping[str, Sequence[str]], Mapping[str, object]], str]

RENDERERS: dict[str, Renderer] = {
    "text": text.render,
    "json": json_format.render,
    "sarif": sarif.render,
    "github": github.render,
}
