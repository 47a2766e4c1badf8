"""generated/manifest.json, dbt-style: every output file, its hash and the
spec resources (with their hashes) it came from.  The compiler version is
static; nothing here depends on the clock or the machine."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from compiler.emit.artifact import Artifact
from compiler.emit.layout import manifest_path
from compiler.emit.serialize import to_json
from compiler.plan import SystemPlan
from compiler.version import __version__

__all__ = ["MANIFEST_SCHEMA_VERSION", "manifest"]

MANIFEST_SCHEMA_VERSION = 1


def manifest(plan: SystemPlan, artifacts: Sequence[Artifact]) -> Artifact:
    resources = {rid: {"file": file, "sha256": sha} for rid, file, sha in plan.resource_hashes}
    files = {
        a.path: {
            "backend": a.backend,
            "sha256": hashlib.sha256(a.content).hexdigest(),
            "sources": [{"resource": s, "sha256": resources[s]["sha256"]} for s in a.sources if s in resources],
        }
        for a in artifacts
    }
    doc = {
        "schemaVersion": MANIFEST_SCHEMA_VERSION,
        "compiler": {"name": "specops", "version": __version__},
        "system": plan.name,
        "resources": resources,
        "files": files,
    }
    return Artifact(manifest_path(plan), to_json(doc).encode("utf-8"), (), "index")
