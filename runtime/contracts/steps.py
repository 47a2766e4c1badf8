"""Step names: every pipeline step is ``python -m runtime <step> --config FILE``."""

from __future__ import annotations

from typing import Literal

__all__ = ["STEPS", "StepName"]

StepName = Literal[
    "validate-data",
    "build-features",
    "train",
    "evaluate",
    "export-onnx",
    "register",
    "propose-release",
    "monitor",
    "ingest",
    "serve",
    "edge-run",
]
STEPS: tuple[str, ...] = StepName.__args__  # type: ignore[attr-defined]
