"""What `argo lint` would catch, checked offline over emitted workflows:
every DAG task names an existing template, dependencies name existing
tasks, every `{{tasks.X.outputs.artifacts.Y}}` names a task X whose template
outputs Y, every input artifact of a template is supplied by the task,
`{{inputs.parameters.P}}` is declared, and every workflowTemplateRef names a
WorkflowTemplate emitted in the same namespace."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ["check_workflows"]

_TASK_ARTIFACT = re.compile(r"^\{\{tasks\.([A-Za-z0-9-]+)\.outputs\.artifacts\.([A-Za-z0-9_-]+)\}\}$")
_INPUT_PARAM = re.compile(r"\{\{inputs\.parameters\.([A-Za-z0-9_-]+)\}\}")
_DEPENDS_TOKEN = re.compile(r"[A-Za-z0-9-]+(?:\.[A-Za-z]+)?")


def _spec_of(doc: Mapping[str, Any]) -> Mapping[str, Any]:
    if doc.get("kind") == "CronWorkflow":
        return doc.get("spec", {}).get("workflowSpec", {})
    return doc.get("spec", {})


def _template_problems(where: str, templates: Mapping[str, Mapping[str, Any]]) -> Iterable[str]:
    for tname, template in templates.items():
        declared = {p["name"] for p in template.get("inputs", {}).get("parameters", [])}
        for ref in _INPUT_PARAM.findall(str(template.get("container", {}))):
            if ref not in declared:
                yield f"{where}: template '{tname}' uses undeclared parameter '{ref}'"
        dag = template.get("dag")
        if not dag:
            continue
        tasks = {t["name"]: t for t in dag.get("tasks", [])}
        for task in tasks.values():
            target = templates.get(task.get("template", ""))
            if target is None:
                yield f"{where}: task '{task['name']}' uses unknown template '{task.get('template')}'"
                continue
            for token in _DEPENDS_TOKEN.findall(task.get("depends", "") or ""):
                dep = token.split(".")[0]
                if dep not in ("&&", "||") and dep not in tasks:
                    yield f"{where}: task '{task['name']}' depends on unknown task '{dep}'"
            supplied = {a["name"] for a in task.get("arguments", {}).get("artifacts", [])}
            needed = {a["name"] for a in target.get("inputs", {}).get("artifacts", []) if not a.get("optional")}
            for missing in sorted(needed - supplied):
                yield f"{where}: task '{task['name']}' does not supply input artifact '{missing}'"
            for art in task.get("arguments", {}).get("artifacts", []):
                m = _TASK_ARTIFACT.match(art.get("from", ""))
                if not m:
                    yield f"{where}: task '{task['name']}' artifact '{art['name']}' has no resolvable 'from'"
                    continue
                producer, name = m.groups()
                if producer not in tasks:
                    yield f"{where}: task '{task['name']}' takes an artifact from unknown task '{producer}'"
                    continue
                produced = templates.get(tasks[producer].get("template", ""), {})
                outs = {a["name"] for a in produced.get("outputs", {}).get("artifacts", [])}
                if name not in outs:
                    yield f"{where}: task '{producer}' has no output artifact '{name}'"


def check_workflows(documents: Iterable[Mapping[str, Any]]) -> list[str]:
    """Problems in a set of Argo documents (empty when every reference resolves)."""
    docs = [d for d in documents if d.get("apiVersion") == "argoproj.io/v1alpha1"
            and d.get("kind") in ("WorkflowTemplate", "CronWorkflow", "Workflow")]
    available = {(d["metadata"].get("namespace"), d["metadata"]["name"]) for d in docs if d["kind"] == "WorkflowTemplate"}
    problems: list[str] = []
    for doc in docs:
        where = f"{doc['kind']}/{doc['metadata'].get('namespace')}/{doc['metadata']['name']}"
        spec = _spec_of(doc)
        ref = spec.get("workflowTemplateRef")
        if ref:
            if (doc["metadata"].get("namespace"), ref.get("name")) not in available:
                problems.append(f"{where}: workflowTemplateRef '{ref.get('name')}' is not emitted in this namespace")
            continue
        templates = {t["name"]: t for t in spec.get("templates", [])}
        entry = spec.get("entrypoint")
        if entry not in templates:
            problems.append(f"{where}: entrypoint '{entry}' is not a template")
        problems.extend(_template_problems(where, templates))
    return problems
