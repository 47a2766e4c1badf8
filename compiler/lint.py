"""The lint pipeline: load -> validate -> resolve -> check.

``lint_sources`` is pure (files in, diagnostics out); ``lint_paths`` adds
the one disk read.  Every stage runs even when an earlier one reported
errors, on whatever is still valid, so one run shows every problem.
"""

from __future__ import annotations

import gc
import os
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

from compiler.checks import CHECKS, run_checks
from compiler.diagnostics import Diagnostic, has_errors, sort_diagnostics
from compiler.load import LoadResult, SourceFile, load, read_sources
from compiler.resolve import ResolvedSpec, resolve
from compiler.validate import validate

__all__ = ["LintResult", "lint_paths", "lint_sources"]


@dataclass(frozen=True, slots=True)
class LintResult:
    loaded: LoadResult
    spec: ResolvedSpec
    diagnostics: tuple[Diagnostic, ...]

    @property
    def ok(self) -> bool:
        return not has_errors(self.diagnostics)

    def counts(self) -> dict[str, int]:
        out = {"error": 0, "warning": 0, "info": 0}
        for d in self.diagnostics:
            out[d.severity.value] += 1
        return out


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while building many small acyclic
    objects (a quarter of load time otherwise); input size is bounded by the
    loader's limits, and collection resumes afterwards."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def lint_sources(files: Iterable[SourceFile], extra: Iterable[Diagnostic] = (), checks=CHECKS) -> LintResult:
    with _gc_paused():
        return _lint(files, extra, checks)


def _lint(files: Iterable[SourceFile], extra: Iterable[Diagnostic], checks) -> LintResult:
    loaded = load(files)
    validated = validate(loaded.documents)
    resolved = resolve(validated.nodes, validated.invalid)
    checked = run_checks(resolved.spec, checks)
    diagnostics = sort_diagnostics(
        (*extra, *loaded.diagnostics, *validated.diagnostics, *resolved.diagnostics, *checked)
    )
    return LintResult(loaded, resolved.spec, diagnostics)


def lint_paths(paths: Sequence[str | os.PathLike[str]], *, base: str | None = None) -> LintResult:
    files, problems = read_sources(paths, base=base)
    return lint_sources(files, problems)
