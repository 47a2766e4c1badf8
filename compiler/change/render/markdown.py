"""The plan as a pull-request comment (Markdown, jinja2): summary first,
details collapsed."""

from __future__ import annotations

from itertools import groupby

import jinja2

from compiler.change.model import ChangePlan
from compiler.change.render.phrases import STATUS_TEXT, change_text, diagnostic_line, headline, value

__all__ = ["MAX_ROWS", "TEMPLATE", "render"]

TEMPLATE = "change_plan.md.j2"
# GitHub refuses comments over 65,536 characters: list this many resources per environment.
MAX_ROWS = 40

_ENV = jinja2.Environment(
    loader=jinja2.PackageLoader("compiler", "templates"),
    undefined=jinja2.StrictUndefined,
    autoescape=False,  # Markdown, not HTML; values are escaped by the cell filter
    keep_trailing_newline=True,
    trim_blocks=True,
    lstrip_blocks=True,
)


def _cell(text: object) -> str:
    """Safe inside a Markdown table cell and inline code."""
    return str(text).replace("|", "\\|").replace("\n", " ").replace("`", "'")


_ENV.filters["cell"] = _cell


def render(plan: ChangePlan, options: dict[str, object]) -> str:
    meaning = [(rid, [change_text(c) for c in group]) for rid, group in groupby(plan.specs, key=lambda c: c.resource)]
    environments = [(env, list(group)) for env, group in groupby(plan.resources, key=lambda r: r.environment)]
    resources = [
        (env, [{"action": r.action, "kind": r.kind, "ref": r.ref, "path": r.path,
                "fields": [f"{f.pointer}: {value(f.before)} -> {value(f.after)}" for f in r.fields],
                "more": r.fields_total - len(r.fields), "derived": r.derived} for r in group[:MAX_ROWS]],
         len(group) - MAX_ROWS)
        for env, group in environments
    ]
    sides = [{"label": s.label, "lines": [diagnostic_line(d) for d in s.diagnostics if d.is_error]}
             for s in (plan.base, plan.head) if not s.ok]
    return _ENV.get_template(TEMPLATE).render(
        plan=plan, headline=headline(plan), meaning=meaning, resources=resources, sides=sides,
        loosened=[change_text(c) for c in plan.specs if c.effect == "loosened"], status_text=STATUS_TEXT,
        counts=plan.counts(),
    )
