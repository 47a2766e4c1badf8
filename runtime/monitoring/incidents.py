"""Incidents on disk: one JSON file per incident under ``<work_dir>/incidents``,
written atomically and at most once per id.

The id is deterministic (``incident_id``: kind, model, environment, key), so
recording the same incident twice -- a retry, a second replica, a restart
that sees the same evidence -- keeps the first record and reports that it
existed.  Creation is exclusive (a hard link of a fully written, fsynced
temporary file), so a crash leaves either no incident or a whole one.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict
from pathlib import Path
from typing import Any

from runtime.contracts.monitoring import INCIDENT_KINDS, Incident

__all__ = ["incident_id", "incident_path", "read_incident", "record_incident"]


def incident_id(kind: str, model: str, environment: str, key: str) -> str:
    """The same formula as runtime.edge.incidents: one id for one incident wherever it is recorded."""
    return hashlib.sha256("\0".join((kind, model, environment, key)).encode()).hexdigest()[:16]


def incident_path(work_dir: str | Path, incident_id_: str) -> Path:
    return Path(work_dir) / "incidents" / f"{incident_id_}.json"


def _json(incident: Incident) -> dict[str, Any]:
    out = asdict(incident)
    out["actions_taken"] = list(incident.actions_taken)
    return out


def record_incident(work_dir: str | Path, incident: Incident) -> tuple[Path, bool]:
    """(path, created): ``created`` is False when this incident was already recorded."""
    if incident.kind not in INCIDENT_KINDS:
        raise ValueError(f"unknown incident kind {incident.kind!r}; kinds are {', '.join(INCIDENT_KINDS)}")
    path = incident_path(work_dir, incident.id)
    if path.exists():
        return path, False
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{incident.id}.{os.getpid()}.tmp")
    with tmp.open("w", encoding="utf-8") as fh:
        json.dump(_json(incident), fh, sort_keys=True, indent=2, allow_nan=False)
        fh.write("\n")
        fh.flush()
        os.fsync(fh.fileno())
    try:
        os.link(tmp, path)  # exclusive: fails when another writer got there first
        created = True
    except FileExistsError:
        created = False
    finally:
        tmp.unlink(missing_ok=True)
    if created:
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    return path, created


def read_incident(path: str | Path) -> Incident:
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    data["actions_taken"] = tuple(data["actions_taken"])
    return Incident(**data)
