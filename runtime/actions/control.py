"""The predictor's RuntimeControl file: read, merge one lever, write atomically
(``runtime.control.channel.FileChannel``; kept for callers of the file form)."""

from __future__ import annotations

from typing import Any

from runtime.contracts.monitoring import RuntimeControl
from runtime.control.channel import FileChannel

__all__ = ["read_control", "write_control"]


def read_control(work_dir: str, model: str, environment: str) -> RuntimeControl:
    """The file's control; a missing or unreadable file is "no override"."""
    return FileChannel.of(work_dir, model, environment).read_lenient()


def write_control(work_dir: str, model: str, environment: str, **changes: Any) -> tuple[str, RuntimeControl]:
    """Set ``changes`` (RuntimeControl fields), keeping the other lever as it is."""
    channel = FileChannel.of(work_dir, model, environment)
    at_us = changes.pop("updated_at_us", None)
    current = channel.read_lenient()
    control = channel.update(actor="", at_us=current.updated_at_us if at_us is None else at_us, **changes)
    return channel.path, control
