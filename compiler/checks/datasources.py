"""Data contracts are coherent: entity, timestamp and outcome columns are
declared with the right types, streams declare freshness."""

from __future__ import annotations

from collections.abc import Iterator

from compiler.checks.base import error, warning
from compiler.diagnostics import Diagnostic, did_you_mean
from compiler.resolve import ResolvedSpec
from compiler.spec import DataSource

__all__ = ["check"]


def check(spec: ResolvedSpec) -> Iterator[Diagnostic]:
    for node, ds in spec.of_kind(DataSource):
        s = ds.spec
        names = [f.name for f in s.fields]
        seen: set[str] = set()
        for i, f in enumerate(s.fields):
            if f.name in seen:
                yield error("SO460", node, ("spec", "fields", i, "name"), f"field '{f.name}' is declared twice", "remove one")
            seen.add(f.name)
        for key, want in (("entity", None), ("timestamp", "timestamp")):
            col = getattr(s, key)
            field = s.field(col)
            if field is None:
                yield error("SO461", node, ("spec", key), f"{key} column '{col}' is not among the declared fields",
                            did_you_mean(col, names) or f"declare it under spec.fields")
            elif want and field.type != want:
                yield error("SO462", node, ("spec", key), f"{key} column '{col}' has type {field.type}, expected {want}",
                            f"declare '{col}' with type: {want}")
            elif key == "entity" and field.nullable:
                yield error("SO462", node, ("spec", key), f"entity column '{col}' is nullable", "entity keys are never null")
        if s.labels is not None and s.field(s.labels.outcome) is None:
            yield error("SO461", node, ("spec", "labels", "outcome"), f"outcome column '{s.labels.outcome}' is not among the declared fields",
                        did_you_mean(s.labels.outcome, names) or "declare it under spec.fields")
        if s.type == "stream" and s.freshness is None:
            yield warning("SO463", node, ("spec", "type"), f"stream '{ds.name}' declares no freshness objective",
                          "add spec.freshness.maxAge so a stalled stream is detected")
