"""The System's sampleData section can be honoured: it names a `file` events
source and a `labels` file source whose declared fields are ones the
embedded generator produces (runtime.contracts.SAMPLE_*), and its drift
scenario is visible to the contract as intended."""

from __future__ import annotations

from collections.abc import Iterator

from compiler.checks.base import error, warning
from compiler.diagnostics import Diagnostic, did_you_mean
from compiler.resolve import ResolvedSpec
from compiler.spec import DataSource, System
from runtime.contracts.steps import SAMPLE_ASSET_TYPES, SAMPLE_CRITICALITY, SAMPLE_EVENT_FIELDS, SAMPLE_LABEL_FIELDS

__all__ = ["check"]

_BASE = ("spec", "sampleData")
# Category columns whose values the generator draws from a fixed set.
_CATEGORIES = {"asset_type": SAMPLE_ASSET_TYPES, "criticality": SAMPLE_CRITICALITY}


def check(spec: ResolvedSpec) -> Iterator[Diagnostic]:
    node = spec.system
    if node is None:
        return
    system: System = node.resource  # type: ignore[assignment]
    sample = system.spec.sample_data
    if sample is None:
        return
    sources = [ds.name for _, ds in spec.of_kind(DataSource)]
    folders: dict[str, str] = {}  # key -> the folder generate-data owns for it
    for key, want, domain in (("events", "file", SAMPLE_EVENT_FIELDS), ("labels", "labels", SAMPLE_LABEL_FIELDS)):
        name = getattr(sample, key)
        ds_node = spec.get("DataSource", name)
        if ds_node is None:
            yield error("SO495", node, (*_BASE, key), f"sampleData.{key} names no DataSource '{name}'",
                        did_you_mean(name, sources) or "name a DataSource defined in the specs")
            continue
        ds: DataSource = ds_node.resource  # type: ignore[assignment]
        if ds.spec.type != want or ds.spec.file is None:
            yield error("SO495", node, (*_BASE, key),
                        f"sampleData.{key} must name a '{want}' DataSource read from files; '{name}' is a "
                        f"'{ds.spec.type}' source" + ("" if ds.spec.file else " without a file block"),
                        f"point sampleData.{key} at a {want} source with spec.file")
            continue
        folders[key] = _folder(ds.spec.file.path)
        for f in ds.spec.fields:
            if domain.get(f.name) != f.type:
                produced = ", ".join(f"{k} ({v})" for k, v in domain.items())
                yield error("SO496", node, (*_BASE, key),
                            f"DataSource '{name}' declares field '{f.name}' ({f.type}), which the sample-data "
                            f"generator does not produce; it produces: {produced}",
                            "declare only generated fields in this source, or remove sampleData")
            missing = [v for v in _CATEGORIES.get(f.name, ()) if v not in f.values] if key == "events" else []
            if missing:
                yield error("SO496", node, (*_BASE, key),
                            f"DataSource '{name}' field '{f.name}' does not allow {missing}, which the sample-data "
                            "generator produces: every generated row would be quarantined",
                            f"add {missing} to the field's values")
        kind = ds.spec.field("asset_type") if key == "events" else None
        new_type = sample.drift.new_asset_type
        if kind is not None and new_type is not None and new_type not in kind.values:
            yield warning("SO497", node, (*_BASE, "drift", "newAssetType"),
                          f"new asset type '{new_type}' is not among the values of '{name}'.asset_type "
                          f"{list(kind.values)}: the contract will quarantine its rows instead of letting the drift through",
                          "declare the value if the new type is legitimate data; keep it undeclared to exercise "
                          "the quarantine")
    if len(folders) == 2 and _nested(folders["events"], folders["labels"]):
        yield error("SO495", node, (*_BASE, "labels"),
                    f"the events and labels are written to overlapping folders ('{folders['events']}', "
                    f"'{folders['labels']}'): generate-data owns each folder whole (a DVC output)",
                    "give the two sources separate folders, e.g. data/events/ and data/labels/")


def _folder(path: str) -> str:
    """The folder above a path's first wildcard: what generate-data writes and DVC tracks."""
    parts = path.split("/")
    cut = next((i for i, part in enumerate(parts) if any(c in part for c in "*?[")), len(parts))
    return "/".join(parts[:cut]) or "."


def _nested(a: str, b: str) -> bool:
    return a == b or a.startswith(b.rstrip("/") + "/") or b.startswith(a.rstrip("/") + "/") or "." in (a, b)
