"""Features reference real columns of compatible types, share the model's
entity, do not collide across feature sets, and do not use PII fields."""

from __future__ import annotations

from collections.abc import Iterator

from compiler.checks.base import error, warning
from compiler.diagnostics import Diagnostic, did_you_mean
from compiler.resolve import ResolvedSpec
from compiler.spec import DataSource, FeatureSet, Model
from compiler.spec.datasource import NUMERIC_TYPES
from compiler.spec.featureset import NUMERIC_AGGREGATIONS

__all__ = ["check", "columns_of"]


def columns_of(spec: ResolvedSpec, fs: FeatureSet) -> dict[str, tuple[str, bool]] | None:
    """Columns available to a feature set: name -> (type, pii); None if unresolved."""
    kind, name = fs.spec.source.ref
    if kind == "DataSource":
        node = spec.get("DataSource", name)
        if node is None:
            return None
        src: DataSource = node.resource  # type: ignore[assignment]
        return {f.name: (f.type, f.pii) for f in src.spec.fields}
    node = spec.get("FeatureSet", name)
    if node is None:
        return None
    parent: FeatureSet = node.resource  # type: ignore[assignment]
    cols = {n: ("float", False) for n in parent.spec.feature_names()}
    cols[parent.spec.entity] = ("string", False)
    return cols


def _feature_origins(fs: FeatureSet) -> list[tuple[str, tuple]]:
    """Each feature name with the spec path that defines it (same order as feature_names)."""
    out: list[tuple[str, tuple]] = [(a, ("spec", "attributes", i)) for i, a in enumerate(fs.spec.attributes)]
    for i, agg in enumerate(fs.spec.aggregations):
        out.extend((name, ("spec", "aggregations", i)) for name in agg.feature_names())
    out.extend((t.name, ("spec", "transforms", i, "name")) for i, t in enumerate(fs.spec.transforms))
    return out


def _hint(name: str, pool: dict) -> str:
    return did_you_mean(name, pool) or ("available: " + ", ".join(sorted(pool)))


def _online_stream(spec: ResolvedSpec, node, fs: FeatureSet, cols: dict) -> Iterator[Diagnostic]:
    """The online stream must be a stream with the batch source's entity and the columns features read."""
    name = fs.spec.online.stream
    stream_node = spec.get("DataSource", name) if name else None
    if stream_node is None:
        return
    stream: DataSource = stream_node.resource  # type: ignore[assignment]
    path = ("spec", "online", "stream")
    if stream.spec.type != "stream":
        yield error("SO455", node, path, f"online source '{name}' is a '{stream.spec.type}' data source, not a stream",
                    "point online.stream at a DataSource with type: stream")
        return
    have = {f.name: f.type for f in stream.spec.fields}
    used = {a.column for a in fs.spec.aggregations if a.column} | set(fs.spec.attributes)
    used |= {c for t in fs.spec.transforms for c in t.inputs} | {fs.spec.entity}
    for column in sorted(used):
        if column not in have:
            yield error("SO455", node, path, f"online stream '{name}' lacks column '{column}' that the features read",
                        "online and batch features must be computed from the same columns (training-serving skew)")
        elif column in cols and cols[column][0] != have[column]:
            yield error("SO455", node, path,
                        f"column '{column}' is {cols[column][0]} in the batch source but {have[column]} in '{name}'",
                        "declare the same type in both data sources")


def check(spec: ResolvedSpec) -> Iterator[Diagnostic]:
    for node, fs in spec.of_kind(FeatureSet):
        cols = columns_of(spec, fs)
        if cols is None:
            continue
        s = fs.spec
        src_name = s.source.ref[1]
        if s.entity not in cols:
            yield error("SO450", node, ("spec", "entity"), f"entity '{s.entity}' is not a column of '{src_name}'", _hint(s.entity, cols))
        for i, agg in enumerate(s.aggregations):
            if agg.column is None:
                continue
            col = cols.get(agg.column)
            if col is None:
                yield error("SO450", node, ("spec", "aggregations", i, "column"),
                            f"column '{agg.column}' is not a field of '{src_name}'", _hint(agg.column, cols))
                continue
            if col[1]:
                yield error("SO452", node, ("spec", "aggregations", i, "column"),
                            f"column '{agg.column}' is marked PII and may not become a feature",
                            "drop it, or derive a non-identifying transform upstream")
            for fn in agg.functions:
                if fn in NUMERIC_AGGREGATIONS and col[0] not in NUMERIC_TYPES:
                    yield error("SO451", node, ("spec", "aggregations", i, "functions"),
                                f"'{fn}' needs a numeric column, but '{agg.column}' is {col[0]}",
                                "use count, last or time_since_last for non-numeric columns")
        for i, attr in enumerate(s.attributes):
            if attr not in cols:
                yield error("SO450", node, ("spec", "attributes", i), f"attribute '{attr}' is not a field of '{src_name}'", _hint(attr, cols))
            elif cols[attr][1]:
                yield error("SO452", node, ("spec", "attributes", i), f"attribute '{attr}' is marked PII and may not become a feature",
                            "drop it from the feature set")
        for i, t in enumerate(s.transforms):
            for j, col_name in enumerate(t.inputs):
                if col_name not in cols:
                    yield error("SO450", node, ("spec", "transforms", i, "inputs", j),
                                f"transform input '{col_name}' is not a field of '{src_name}'", _hint(col_name, cols))
                elif cols[col_name][1]:
                    yield error("SO452", node, ("spec", "transforms", i, "inputs", j),
                                f"transform input '{col_name}' is marked PII and may not flow into a feature",
                                "drop it from the transform")
        yield from _online_stream(spec, node, fs, cols)
        longest = s.max_window
        if s.online.enabled and s.online.ttl is not None and longest is not None and s.online.ttl.millis < longest.millis:
            yield warning("SO456", node, ("spec", "online", "ttl"),
                          f"online ttl {s.online.ttl} is shorter than the longest window {longest}: an entity idle for "
                          f"longer than the ttl is served empty windows where training saw its history (skew)",
                          f"set online.ttl to at least {longest}")
        seen: dict[str, tuple] = {}
        for fname, path in _feature_origins(fs):
            if fname in seen:
                yield error("SO453", node, path, f"feature '{fname}' is defined twice in '{fs.name}' "
                            f"(first at line {node.location(*seen[fname]).line})", "rename the transform or attribute")
            seen.setdefault(fname, path)

    for node, model in spec.of_kind(Model):
        owner: dict[str, str] = {}
        for i, ref in enumerate(model.spec.features):
            fs_node = spec.get("FeatureSet", ref.feature_set)
            if fs_node is None:
                continue
            fs: FeatureSet = fs_node.resource  # type: ignore[assignment]
            if fs.spec.entity != model.spec.entity:
                yield error("SO454", node, ("spec", "features", i, "featureSet"),
                            f"feature set '{fs.name}' is keyed by '{fs.spec.entity}', the model by '{model.spec.entity}'",
                            "features must share the model's entity key")
            names = fs.spec.feature_names()
            for j, inc in enumerate(ref.include):
                if inc not in names:
                    yield error("SO450", node, ("spec", "features", i, "include", j),
                                f"feature '{inc}' is not defined by feature set '{fs.name}'",
                                did_you_mean(inc, names) or "defined: " + ", ".join(names))
            for fname in ref.include or names:
                if fname in owner and owner[fname] != fs.name:
                    yield error("SO453", node, ("spec", "features", i, "featureSet"),
                                f"feature '{fname}' comes from both '{owner[fname]}' and '{fs.name}'",
                                "use 'include' to pick it from one feature set")
                owner.setdefault(fname, fs.name)
