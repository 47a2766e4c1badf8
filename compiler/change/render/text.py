"""The plan for a terminal (rich): headline, approvals, meaning, resources per environment."""

from __future__ import annotations

import io
from itertools import groupby

from rich.console import Console
from rich.table import Table
from rich.text import Text

from compiler.change.model import ChangePlan
from compiler.change.render.phrases import STATUS_TEXT, change_text, diagnostic_line, headline, value

__all__ = ["render"]

_ACTION_STYLE = {"created": ("+", "green"), "updated": ("~", "yellow"), "deleted": ("-", "red")}
_STATUS_STYLE = {"met": "green", "missing": "bold red", "review": "bold yellow"}


def render(plan: ChangePlan, options: dict[str, object]) -> str:
    out = io.StringIO()
    color = bool(options.get("color"))
    console = Console(file=out, width=int(options.get("width", 120)),  # type: ignore[call-overload]
                      color_system="standard" if color else None, force_terminal=color, highlight=False,
                      soft_wrap=True)
    console.print(Text(f"specops plan: {plan.base.label} -> {plan.head.label}", style="bold"))
    console.print(headline(plan))
    for side in (plan.base, plan.head):
        if side.ok:
            continue
        console.print(Text(f"\n{side.label} does not compile:", style="bold red"))
        for d in side.diagnostics:
            if d.is_error:
                console.print(f"  {diagnostic_line(d)}")
    if plan.approvals:
        table = Table(title="Approvals required", title_justify="left", show_lines=False)
        for col in ("model", "environment", "required", "required by", "recorded", "status"):
            table.add_column(col, overflow="fold")
        for a in plan.approvals:
            roles = f" ({' or '.join(a.requirement.roles)})" if a.requirement.roles else ""
            table.add_row(a.model, a.environment, f"{a.requirement.count}{roles}",
                          "\n".join(a.requirement.sources), "\n".join(a.recorded) or "none",
                          Text(STATUS_TEXT[a.status], style=_STATUS_STYLE[a.status]))
        console.print()
        console.print(table)
    if plan.specs:
        console.print(Text("\nWhat it means", style="bold"))
        for rid, group in groupby(plan.specs, key=lambda c: c.resource):
            console.print(f"  {rid}")
            for c in group:
                style = "bold red" if c.effect == "loosened" else ""
                console.print(Text(f"    {c.category}: {change_text(c)}", style=style))
    if plan.resources:
        console.print(Text("\nResources", style="bold"))
        for env, group in groupby(plan.resources, key=lambda r: r.environment):
            console.print(f"  {env}")
            for r in group:
                mark, style = _ACTION_STYLE[r.action]
                console.print(Text(f"    {mark} {r.kind} {r.ref}  {r.path}", style=style))
                for f in r.fields:
                    console.print(f"        {f.pointer}: {value(f.before)} -> {value(f.after)}")
                more = [f"{r.fields_total - len(r.fields)} more field(s)"] if r.fields_total > len(r.fields) else []
                more += [f"{r.derived} derived hash/reference field(s)"] if r.derived else []
                if more:
                    console.print(f"        and {' and '.join(more)}")
    elif not plan.resources_compared:
        console.print("\nResources: not compared (a side does not compile)")
    return out.getvalue()
