"""ChangePlan renderers, registered by format name: a new format is one module and one line."""

from __future__ import annotations

from collections.abc import Callable

from compiler.change.model import ChangePlan
from compiler.change.render import json_format, markdown, text

__all__ = ["FORMATS", "PlanRenderer"]

# (plan, options such as {"color": bool}) -> output text
PlanRenderer = Callable[[ChangePlan, dict[str, object]], str]

FORMATS: dict[str, PlanRenderer] = {
    "text": text.render,
    "json": json_format.render,
    "markdown": markdown.render,
}
