"""A MonitorReport as text (rich), canonical JSON and a static HTML page.

JSON is canonical (sorted keys, fixed separators): the same report, the same
bytes.  The HTML page is one file with inline SVG plots and no script, so it
opens offline and can be attached to a ticket.
"""

from __future__ import annotations

import io
import json
from datetime import datetime, timezone
from importlib import resources

import jinja2
from rich.console import Console
from rich.table import Table

from runtime.monitoring.report import MonitorReport
from runtime.monitoring.svg import line_chart

__all__ = ["render_html", "render_json", "render_text"]


def render_json(report: MonitorReport) -> str:
    return json.dumps(report.to_json(), sort_keys=True, indent=1, ensure_ascii=False) + "\n"


def _when(us: int) -> str:
    return datetime.fromtimestamp(us / 1e6, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _value(v: float | None) -> str:
    return "-" if v is None else f"{v:.4g}"


def render_text(report: MonitorReport, width: int = 120) -> str:
    out = io.StringIO()
    console = Console(file=out, width=width, color_system=None, force_terminal=False)
    console.print(f"monitor {report.model} in {report.environment} as of {_when(report.as_of_us)}")
    table = Table("objective", "metric", "version", "status", "value", "bound", "window", "actions", "basis")
    for r in report.objectives:
        side = "<=" if r.direction == "max" else ">="
        table.add_row(r.objective, r.metric, r.version or "", r.status.upper() if r.status == "breach" else r.status,
                      _value(r.value), f"{side} {r.bound:g}", f"{r.window_s:g}s", ",".join(r.actions), r.basis)
    console.print(table)
    if report.alerts:
        console.print("firing: " + ", ".join(sorted({a.name for a in report.alerts})))
    for name, section in (("prediction log", report.log), ("review", report.review), ("drift", report.drift),
                          ("skew", report.skew), ("performance", report.performance), ("actions", report.actions)):
        if not section.available:
            console.print(f"{name}: {section.note}")
        else:
            items = ", ".join(f"{k}={v}" for k, v in sorted(section.data.items())
                              if not isinstance(v, (list, dict)) and k != "method")
            console.print(f"{name}: {items}")
            if name == "skew":
                for m in section.data.get("mismatches", []):
                    console.print(f"  mismatch {m['prediction_id']} {m['entity']} at {m['time']}: {m['feature']} "
                                  f"online={m['online']!r} offline={m['offline']!r}", markup=False)
            if name == "performance":
                for w in section.data.get("windows", []):
                    band = f" [{_value(w['pr_auc_low'])}, {_value(w['pr_auc_high'])}]" if w["basis"] == "estimated" else ""
                    console.print(f"  {w['version']} {_when(w['start_us'])}..{_when(w['end_us'])} {w['basis']}: "
                                  f"pr_auc={_value(w['pr_auc'])}{band} recall@p={_value(w['recall_at_precision'])} "
                                  f"ece={_value(w['ece'])} rows={w['rows']}", markup=False)
    return out.getvalue()


_ENV = jinja2.Environment(
    loader=jinja2.FunctionLoader(lambda name: resources.files("runtime.templates").joinpath(name).read_text("utf-8")),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
)


def render_html(report: MonitorReport) -> str:
    charts = [(t, jinja2.utils.markupsafe.Markup(line_chart(
        t.points, bound=t.bound, title=f"{t.objective} ({t.metric})", bad_above=t.direction == "max")))
        for t in report.trends]
    drift = report.drift.data.get("share_over_time") if report.drift.available else None
    perf = report.performance.data.get("windows") if report.performance.available else None
    extra = {}
    if drift:
        extra["drift_chart"] = jinja2.utils.markupsafe.Markup(line_chart(
            [(int(p[0]), float(p[1])) for p in drift], title="share of drifted features per window"))
    if perf:
        # PR-AUC over time: realized (matured labels) and estimated (calibrated scores) as two lines.
        series = [(basis, colour, [(w["end_us"] // 1000, w["pr_auc"]) for w in perf
                                   if w["basis"] == basis and w.get("pr_auc") is not None])
                  for basis, colour in (("realized", "#1a7f37"), ("estimated", "#bc4c00"))]
        extra["performance_chart"] = jinja2.utils.markupsafe.Markup(line_chart(
            [], title="PR-AUC per window: realized vs estimated", others=[s for s in series if s[2]]))
    return _ENV.get_template("monitor_report.html.j2").render(
        report=report, data=report.to_json(), charts=charts, when=_when, value=_value, **extra)
