"""The words every format uses for a plan, so text, Markdown and JSON say the same thing."""

from __future__ import annotations

import json
from typing import Any

from compiler.change.model import ApprovalCheck, ChangePlan, SpecChange
from compiler.diagnostics import Diagnostic

__all__ = ["STATUS_TEXT", "approval_text", "change_text", "diagnostic_line", "headline", "side_problem", "value"]

_MAX_VALUE = 80

STATUS_TEXT = {
    "met": "met by the release records",
    "missing": "MISSING on the release records",
    "review": "needs approval on this pull request",
}


def _unset_dropped(v: Any) -> Any:
    if isinstance(v, dict):
        return {k: _unset_dropped(x) for k, x in v.items() if x is not None}
    if isinstance(v, list):
        return [_unset_dropped(x) for x in v]
    return v


def value(v: Any) -> str:
    """A value in one short line; unset (null) fields of a mapping are left out."""
    text = v if isinstance(v, str) else json.dumps(_unset_dropped(v), sort_keys=True, separators=(", ", ": "))
    return text if len(text) <= _MAX_VALUE else text[: _MAX_VALUE - 3] + "..."


def change_text(c: SpecChange) -> str:
    """One line: what changed, from what to what, and its direction."""
    if not c.path:
        text = f"{c.resource} {c.action}"
    elif c.action == "created":
        text = f"{c.path} added: {value(c.after)}"
    elif c.action == "deleted":
        text = f"{c.path} removed (was {value(c.before)})"
    else:
        text = f"{c.path}: {value(c.before)} -> {value(c.after)}"
    if c.effect:
        text += f" [{c.effect}]"
    if c.note:
        text += f" ({c.note})"
    return text


def approval_text(a: ApprovalCheck) -> str:
    roles = f" ({' or '.join(a.requirement.roles)})" if a.requirement.roles else ""
    have = f"{len(a.recorded)} recorded" + (f": {', '.join(a.recorded)}" if a.recorded else "")
    return (f"{a.model} in {a.environment}: {a.requirement.count} approval(s){roles}, required by "
            f"{', '.join(a.requirement.sources)}; {have}; {STATUS_TEXT[a.status]}")


def diagnostic_line(d: Diagnostic) -> str:
    hint = f" (hint: {d.hint})" if d.hint else ""
    return f"{d.location}: {d.severity.value}[{d.code}]: {d.message}{hint}"


def side_problem(plan: ChangePlan) -> str | None:
    failed = [s for s in (plan.base, plan.head) if not s.ok]
    if not failed:
        return None
    return "; ".join(f"{s.label} does not compile ({sum(d.is_error for d in s.diagnostics)} error(s))" for s in failed)


def headline(plan: ChangePlan) -> str:
    """The one-line summary every format starts with."""
    if plan.empty and plan.ok:
        return "No changes: the generated resources and the specs' meaning are the same."
    parts = []
    if plan.resources_compared:
        n = plan.counts()
        parts.append(f"{len(plan.resources)} resource(s) changed ({n['created']} created, {n['updated']} updated, "
                     f"{n['deleted']} deleted)")
    if plan.specs_compared:
        loosened = sum(c.effect == "loosened" for c in plan.specs)
        parts.append(f"{len(plan.specs)} spec change(s)" + (f", {loosened} loosened" if loosened else ""))
        if plan.approvals:
            by_status = {s: sum(a.status == s for a in plan.approvals) for s in STATUS_TEXT}
            parts.append("approvals: " + ", ".join(f"{n} {s}" for s, n in by_status.items() if n))
        else:
            parts.append("no approvals required")
    problem = side_problem(plan)
    if problem:
        parts.insert(0, problem)
    return "; ".join(parts) + "."
