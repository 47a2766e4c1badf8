"""Acceptance: an unapproved release cannot reach production
(tests/features/admission_gate.feature).

Lint and compile steps are the shared ones (tests/features/conftest.py).
The cluster steps evaluate the *committed* ValidatingAdmissionPolicies and
bindings of the environment's folder (what Argo CD applied) against a
manifest, with the same evaluator as the compile's offline dry run."""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from pytest_bdd import parsers, scenarios, then, when

from compiler.emit.admission_dry_run import NAMESPACE_NAME_LABEL, Admission, evaluate_admission

Q = r'"(?P<{}>[^"]*)"'  # a quoted step argument, as in conftest.py


def q(name: str) -> str:
    return Q.format(name)

scenarios("admission_gate.feature")


@dataclass
class Applied:
    path: str = ""
    doc: dict[str, Any] = field(default_factory=dict)


@pytest.fixture()
def applied() -> Applied:
    return Applied()


def _load(root: Path, path: str) -> dict[str, Any]:
    return yaml.safe_load((root / path).read_text(encoding="utf-8"))


def _folder_objects(root: Path, folder: str, kind: str) -> dict[str, dict[str, Any]]:
    out = {}
    for p in sorted((root / folder).glob("*.yaml")):
        doc = _load(root, p.relative_to(root).as_posix())
        if doc.get("kind") == kind:
            out[doc["metadata"]["name"]] = doc
    return out


def _judge(root: Path, applied: Applied) -> list[tuple[str, Admission]]:
    """Every committed policy of the object's folder, through its binding, on the object."""
    folder = applied.path.rpartition("/")[0]
    policies = _folder_objects(root, folder, "ValidatingAdmissionPolicy")
    bindings = _folder_objects(root, folder, "ValidatingAdmissionPolicyBinding")
    assert policies and set(policies) == set(bindings), (sorted(policies), sorted(bindings))
    ns = applied.doc["metadata"]["namespace"]
    [namespace] = [d for d in _folder_objects(root, folder, "Namespace").values() if d["metadata"]["name"] == ns]
    namespace = copy.deepcopy(namespace)
    namespace["metadata"]["labels"][NAMESPACE_NAME_LABEL] = ns  # set by the API server
    return [(name, evaluate_admission(policies[name], bindings[name], applied.doc, namespace)) for name in sorted(policies)]


@when(parsers.re(rf"{q('file')} is applied by hand with annotation {q('key')} set to {q('value')}"))
def apply_with_annotation(lint_ci: Any, applied: Applied, file: str, key: str, value: str) -> None:
    applied.path, applied.doc = file, _load(lint_ci.root, file)
    applied.doc["metadata"]["annotations"][key] = value


@when(parsers.re(rf"{q('file')} is applied by hand without annotation {q('key')}"))
def apply_without_annotation(lint_ci: Any, applied: Applied, file: str, key: str) -> None:
    applied.path, applied.doc = file, _load(lint_ci.root, file)
    del applied.doc["metadata"]["annotations"][key]


@when(parsers.re(rf"{q('file')} is applied by hand as committed"))
def apply_as_committed(lint_ci: Any, applied: Applied, file: str) -> None:
    applied.path, applied.doc = file, _load(lint_ci.root, file)


@then(parsers.re(rf"the cluster denies it with rule {q('rule')} naming {q('file')}"))
def denied(lint_ci: Any, applied: Applied, rule: str, file: str) -> None:
    denials = [(name, r) for name, r in _judge(lint_ci.root, applied) if not r.allowed]
    assert len(denials) == 1, denials
    [(name, result)] = denials
    assert name.endswith(rule.lower()) and not result.error, (name, result)
    assert result.message.startswith(f"[{rule}] ") and re.search(rf"{re.escape(file)}:\d+\)$", result.message), result


@then(parsers.re(rf"the cluster admits it, checked by {q('rules')}"))
def admitted(lint_ci: Any, applied: Applied, rules: str) -> None:
    results = _judge(lint_ci.root, applied)
    assert all(r.allowed for _, r in results), [(n, r) for n, r in results if not r.allowed]
    checked = sorted(n.rsplit("-", 2)[-2].upper() + "-" + n.rsplit("-", 1)[-1] for n, r in results if r.matched)
    assert checked == sorted(r.strip() for r in rules.split(",")), checked


@then(parsers.re(rf"the committed admission policy {q('name')} requires (?P<count>\d+) approvals for {q('model')}"))
def policy_requires(lint_ci: Any, name: str, count: str, model: str) -> None:
    [path] = list((lint_ci.root / "generated").glob(f"*/validatingadmissionpolicy-{name}.yaml"))
    variables = {v["name"]: v["expression"] for v in yaml.safe_load(path.read_text())["spec"]["variables"]}
    assert f"'{model}': {count}" in variables["approvalsByModel"], variables
