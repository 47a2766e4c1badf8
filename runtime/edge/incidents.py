"""Edge incidents, written durably as JSON (``runtime.contracts.monitoring.Incident``).

One file per incident, ``<dir>/<id>.json``, written to a temporary name,
fsynced and renamed: a power cut leaves the old file or the new one.  The
id is deterministic (kind, model, environment, key), so recording the same
rejection again rewrites the same file instead of piling up copies.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from runtime.contracts.monitoring import Incident

__all__ = ["edge_incident", "incident_id", "write_incident"]


def incident_id(kind: str, model: str, environment: str, key: str) -> str:
    return hashlib.sha256("\0".join((kind, model, environment, key)).encode()).hexdigest()[:16]


def edge_incident(*, model: str, environment: str, key: str, summary: str, actions: tuple[str, ...],
                  evidence: Mapping[str, Any], now_us: int) -> Incident:
    return Incident(id=incident_id("edge_rollback", model, environment, key), kind="edge_rollback", key=key,
                    model=model, environment=environment, opened_at_us=now_us, summary=summary,
                    actions_taken=actions, evidence=dict(evidence))


def write_incident(directory: Path, incident: Incident) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / f"{incident.id}.json"
    tmp = directory / f".{incident.id}.json.tmp"
    body = json.dumps(dataclasses.asdict(incident), indent=2, sort_keys=True, default=str) + "\n"
    with tmp.open("w", encoding="utf-8") as fh:
        fh.write(body)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, target)
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)  # the rename itself survives a power cut
    finally:
        os.close(fd)
    return target
