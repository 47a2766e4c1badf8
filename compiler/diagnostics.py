"""Diagnostics: what every stage returns instead of raising.

A diagnostic carries a stable code, a severity, a message, the source
location (file, 1-based line and column) and an optional hint.  Stages
collect them and keep going; the CLI decides the exit status.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import Enum

__all__ = [
    "Diagnostic",
    "Location",
    "Severity",
    "did_you_mean",
    "has_errors",
    "sort_diagnostics",
]


class Severity(str, Enum):
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"

    @property
    def rank(self) -> int:
        return {"error": 0, "warning": 1, "info": 2}[self.value]


@dataclass(frozen=True, slots=True, order=True)
class Location:
    """A point in a source file; line and col are 1-based (0 = unknown)."""

    file: str
    line: int = 0
    col: int = 0

    def __str__(self) -> str:
        if self.line:
            return f"{self.file}:{self.line}:{self.col or 1}"
        return self.file


@dataclass(frozen=True, slots=True)
class Diagnostic:
    code: str
    severity: Severity
    message: str
    location: Location
    hint: str | None = None
    # The spec resource the problem belongs to ("Kind/name"), when known.
    resource: str | None = None
    # Secondary locations (e.g. the first definition of a duplicate).
    related: tuple[tuple[Location, str], ...] = field(default=())

    @property
    def is_error(self) -> bool:
        return self.severity is Severity.ERROR

    def sort_key(self) -> tuple:
        loc = self.location
        return (loc.file, loc.line, loc.col, self.code, self.message)


def has_errors(diagnostics: Iterable[Diagnostic]) -> bool:
    return any(d.is_error for d in diagnostics)


def sort_diagnostics(diagnostics: Iterable[Diagnostic]) -> tuple[Diagnostic, ...]:
    """Deterministic order (file, line, col, code), duplicates removed."""
    unique = {(d.sort_key(), d.severity, d.hint): d for d in diagnostics}
    return tuple(sorted(unique.values(), key=Diagnostic.sort_key))


def did_you_mean(word: str, candidates: Sequence[str] | Iterable[str]) -> str | None:
    """A "did you mean 'x'?" hint for a misspelt name, or None."""
    pool = sorted(set(candidates))
    if not pool:
        return None
    match = difflib.get_close_matches(word, pool, n=1, cutoff=0.6)
    if not match:
        lowered = {c.lower(): c for c in pool}
        if word.lower() in lowered:
            match = [lowered[word.lower()]]
    return f"did you mean '{match[0]}'?" if match else None
