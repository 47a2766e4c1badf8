"""What a semantic check is: a pure function from the resolved spec to diagnostics."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from compiler.diagnostics import Diagnostic, Severity
from compiler.resolve import ResolvedSpec
from compiler.validate import SpecNode

__all__ = ["Check", "error", "warning"]

Check = Callable[[ResolvedSpec], Iterable[Diagnostic]]


def error(code: str, node: SpecNode, path: tuple, message: str, hint: str | None = None, *, value: bool = True) -> Diagnostic:
    """An error at ``path`` (the value's position; ``value=False`` for the key's)."""
    return Diagnostic(code, Severity.ERROR, message, node.location(*path, value=value), hint=hint, resource=node.id)


def warning(code: str, node: SpecNode, path: tuple, message: str, hint: str | None = None, *, value: bool = True) -> Diagnostic:
    return Diagnostic(code, Severity.WARNING, message, node.location(*path, value=value), hint=hint, resource=node.id)
