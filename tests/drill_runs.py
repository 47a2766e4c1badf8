"""bench/drills' runner, loaded once, and each drill's CI-size result, run once
a test session: shared by tests/drills/test_failure_drills.py and the failure
drill scenarios of tests/features/05_operations.feature.  The drills are seeded
and deterministic (test_failure_drills.py::test_drills_are_deterministic runs
two of them again and compares); the results are read-only."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any

__all__ = ["RUN", "drill"]

REPO = Path(__file__).resolve().parents[1]


def _runner() -> Any:
    path = REPO / "bench" / "drills" / "run_drills.py"
    spec = importlib.util.spec_from_file_location("run_drills", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


RUN = _runner()
_CACHE: dict[str, dict[str, Any]] = {}


def drill(name: str) -> dict[str, Any]:
    """The drill's result at CI size (run on first use)."""
    if name not in _CACHE:
        _CACHE[name] = RUN.run_drill(name, "ci")
    return _CACHE[name]
