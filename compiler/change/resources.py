"""Generated resources created, updated or deleted between two compiles,
compared as parsed documents (so the generated-file header and key order
are not changes), with the fields that changed."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Sequence
from pathlib import PurePosixPath
from typing import Any

import yaml

from compiler.change.model import FieldChange, ResourceChange
from compiler.emit import Artifact

__all__ = ["INDEX_BACKEND", "MAX_FIELDS", "diff_artifacts", "document_changes"]

# manifest.json changes whenever anything does; listing it says nothing.
INDEX_BACKEND = "index"
# Enough to say why a resource changed; the total is reported beside them.
MAX_FIELDS = 8

# Values that only restate other changes: spec hashes, config checksums and the
# content-addressed ConfigMap names they produce.  Counted, not listed.
_DERIVED = re.compile(r"(hash|sha256)$|/configMap/name$")

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _document(artifact: Artifact) -> Any:
    if artifact.document is not None:
        return artifact.document
    text = artifact.content.decode("utf-8")
    if artifact.path.endswith(".json"):
        return json.loads(text)
    return yaml.load(text, Loader=_Loader)  # noqa: S506 - the C safe loader


def _embedded_json(value: Any) -> Any:
    """ConfigMaps carry step configs as JSON strings; compare what is inside them."""
    if isinstance(value, str) and value[:1] in "{[":
        try:
            return json.loads(value)
        except ValueError:
            return None
    return None


def _names(items: list[Any]) -> list[str] | None:
    """The items' ``name``s when every item is a mapping with a distinct one."""
    names = [i.get("name") for i in items if isinstance(i, dict)]
    if len(names) != len(items) or not all(isinstance(n, str) for n in names) or len(set(names)) != len(names):
        return None
    return names


def _escape(key: Any) -> str:
    return str(key).replace("~", "~0").replace("/", "~1")


def document_changes(before: Any, after: Any, pointer: str = "") -> Iterator[FieldChange]:
    """Every value added, removed or changed, as JSON pointers in sorted order."""
    if isinstance(before, dict) and isinstance(after, dict):
        for key in sorted(before.keys() | after.keys(), key=str):
            yield from document_changes(before.get(key), after.get(key), f"{pointer}/{_escape(key)}")
        return
    if isinstance(before, list) and isinstance(after, list):
        old_names, new_names = _names(before), _names(after)
        if old_names is not None and new_names is not None and old_names != new_names:
            # Items added, removed or moved (containers, env vars, schema fields): match them by
            # name; a pointer indexes the new list, or the old one for a removed item.
            where = {n: i for i, n in enumerate(new_names)}
            gone = {n: i for i, n in enumerate(old_names)}
            for name in [*new_names, *(n for n in old_names if n not in where)]:
                b = before[gone[name]] if name in gone else None
                a = after[where[name]] if name in where else None
                yield from document_changes(b, a, f"{pointer}/{where.get(name, gone.get(name))}")
            return
        if len(before) == len(after):
            for i, (b, a) in enumerate(zip(before, after)):
                yield from document_changes(b, a, f"{pointer}/{i}")
            return
    if before == after:
        return
    inner_b, inner_a = _embedded_json(before), _embedded_json(after)
    if inner_b is not None and inner_a is not None:
        yield from document_changes(inner_b, inner_a, pointer)
        return
    yield FieldChange(pointer or "/", before, after)


def _identity(path: str, doc: Any, generated_dir: str) -> tuple[str, str, str, str]:
    """(environment, kind, namespace, name) of one generated file."""
    parts = PurePosixPath(path).parts
    gen = PurePosixPath(generated_dir).parts
    if parts[:len(gen)] == gen and len(parts) > len(gen) + 1:
        environment = parts[len(gen)]
    else:
        environment = "local"  # dvc.yaml and anything else outside generated/<folder>/
    if isinstance(doc, dict) and isinstance(doc.get("kind"), str) and isinstance(doc.get("metadata"), dict):
        meta = doc["metadata"]
        return environment, doc["kind"], str(meta.get("namespace") or ""), str(meta.get("name") or "")
    if environment == "runtime":
        return environment, "StepConfig", "", "/".join(parts[len(gen) + 1:])
    return environment, "File", "", PurePosixPath(path).name


def diff_artifacts(base: Sequence[Artifact], head: Sequence[Artifact], generated_dir: str) -> tuple[ResourceChange, ...]:
    before = {a.path: a for a in base if a.backend != INDEX_BACKEND}
    after = {a.path: a for a in head if a.backend != INDEX_BACKEND}
    out: list[ResourceChange] = []
    for path in sorted(before.keys() | after.keys()):
        old, new = before.get(path), after.get(path)
        if old is not None and new is not None and old.content == new.content:
            continue
        old_doc = _document(old) if old is not None else None
        new_doc = _document(new) if new is not None else None
        env, kind, namespace, name = _identity(path, new_doc if new is not None else old_doc, generated_dir)
        if old is None:
            out.append(ResourceChange("created", env, kind, namespace, name, path))
        elif new is None:
            out.append(ResourceChange("deleted", env, kind, namespace, name, path))
        else:
            changed = list(document_changes(old_doc, new_doc))
            if not changed:
                continue  # bytes differ only in the header or formatting
            fields = [f for f in changed if not _DERIVED.search(f.pointer)]
            out.append(ResourceChange("updated", env, kind, namespace, name, path,
                                      tuple(fields[:MAX_FIELDS]), len(fields), len(changed) - len(fields)))
    return tuple(sorted(out, key=lambda r: (r.environment, r.path)))
