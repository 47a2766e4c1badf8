"""The plan as one JSON document (schemaVersion 1): stable keys, sorted, no clock."""

from __future__ import annotations

import json

from compiler.change.model import ChangePlan, SideReport
from compiler.render.json_format import as_dict

__all__ = ["SCHEMA_VERSION", "as_data", "render"]

SCHEMA_VERSION = 1


def _side(s: SideReport) -> dict:
    return {"label": s.label, "ok": s.ok, "files": s.files, "resources": s.resources,
            "diagnostics": [as_dict(d) for d in s.diagnostics]}


def as_data(plan: ChangePlan) -> dict:
    counts = plan.counts()
    return {
        "schemaVersion": SCHEMA_VERSION,
        "ok": plan.ok,
        "base": _side(plan.base),
        "head": _side(plan.head),
        "summary": {
            **counts,
            "specChanges": len(plan.specs),
            "loosened": sum(c.effect == "loosened" for c in plan.specs),
            "approvals": {s: sum(a.status == s for a in plan.approvals) for s in ("met", "missing", "review")},
        },
        "resourcesCompared": plan.resources_compared,
        "resources": [
            {"action": r.action, "environment": r.environment, "kind": r.kind, "namespace": r.namespace,
             "name": r.name, "path": r.path, "fieldsTotal": r.fields_total, "derivedFields": r.derived,
             "fields": [{"pointer": f.pointer, "before": f.before, "after": f.after} for f in r.fields]}
            for r in plan.resources
        ],
        "specsCompared": plan.specs_compared,
        "changes": [
            {"resource": c.resource, "action": c.action, "category": c.category, "path": c.path,
             "before": c.before, "after": c.after, "effect": c.effect, "note": c.note}
            for c in plan.specs
        ],
        "approvals": [
            {"model": a.model, "environment": a.environment, "required": a.requirement.count,
             "roles": list(a.requirement.roles), "requiredBy": list(a.requirement.sources),
             "reasons": list(a.reasons), "recorded": list(a.recorded), "status": a.status}
            for a in plan.approvals
        ],
    }


def render(plan: ChangePlan, options: dict[str, object]) -> str:
    return json.dumps(as_data(plan), indent=2, sort_keys=True, ensure_ascii=False) + "\n"
