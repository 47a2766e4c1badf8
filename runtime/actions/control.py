"""The predictor's RuntimeControl file: read, merge one lever, write atomically."""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict, fields, replace
from pathlib import Path
from typing import Any

from runtime.contracts.monitoring import RuntimeControl, control_path

__all__ = ["read_control", "write_control"]


def read_control(work_dir: str, model: str, environment: str) -> RuntimeControl:
    path = Path(control_path(work_dir, model, environment))
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return RuntimeControl()
    except (OSError, ValueError):
        # An unreadable control file is replaced whole by the next write: the
        # enforcer's levers must not depend on a file it cannot parse.
        return RuntimeControl()
    known = {f.name for f in fields(RuntimeControl)}
    return RuntimeControl(**{k: v for k, v in raw.items() if k in known}) if isinstance(raw, dict) else RuntimeControl()


def write_control(work_dir: str, model: str, environment: str, **changes: Any) -> tuple[str, RuntimeControl]:
    """Set ``changes`` (RuntimeControl fields), keeping the other lever as it
    is; temp file + fsync + os.replace so the predictor never reads half a file."""
    path = Path(control_path(work_dir, model, environment))
    path.parent.mkdir(parents=True, exist_ok=True)
    control = replace(read_control(work_dir, model, environment), **changes)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(asdict(control), fh, sort_keys=True, indent=2)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return str(path), control
