"""Acceptance: a spec change in a pull request (tests/features/spec_change_pr.feature).

Shared steps (the repository copy, edits, running specops, the file listings
and what changed on disk) live in conftest.py; these read the generated
manifests before and after a compile."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from pytest_bdd import parsers, scenario, scenarios, then


scenarios("spec_change_pr.feature")

ANNOTATION_RELEASE = "specops.dev/release"


def q(name: str) -> str:
    """A quoted step argument (as in conftest.py)."""
    return f'"(?P<{name}>[^"]*)"'


def changed_paths(before: Any, after: Any, prefix: str = "") -> dict[str, tuple[Any, Any]]:
    """JSON pointer -> (before, after) of every value added, removed or changed."""
    if isinstance(before, dict) and isinstance(after, dict):
        out: dict[str, tuple[Any, Any]] = {}
        for key in before.keys() | after.keys():
            path = f"{prefix}/{str(key).replace('~', '~0').replace('/', '~1')}"
            out.update(changed_paths(before.get(key), after.get(key), path))
        return out
    if isinstance(before, list) and isinstance(after, list) and len(before) == len(after):
        out = {}
        for i, (b, a) in enumerate(zip(before, after)):
            out.update(changed_paths(b, a, f"{prefix}/{i}"))
        return out
    return {} if before == after else {prefix: (before, after)}


def _single_document(path: Path | bytes) -> dict[str, Any]:
    docs = list(yaml.safe_load_all(path.read_bytes() if isinstance(path, Path) else path))
    assert len(docs) == 1, f"{len(docs)} documents"
    return docs[0]


@then(parsers.re(rf"the only change in the spec of {q('file')} is {q('pointer')} from (?P<old>\d+) to (?P<new>\d+)"))
def only_spec_change(lint_ci: Any, file: str, pointer: str, old: str, new: str) -> None:
    """Only that field of .spec: the predictor (image, model, config) is the same, so KServe makes no new revision."""
    before = _single_document(lint_ci.before_run[file])
    after = _single_document(lint_ci.root / file)
    changes = changed_paths(before["spec"], after["spec"], "/spec")
    assert changes == {pointer: (int(old), int(new))}, changes


@then(parsers.re(rf"Argo CD sees {q('file')} out of sync: a changed path is not ignored by the Application "
                 rf"that syncs {q('folder')}"))
def visible_to_argocd(lint_ci: Any, file: str, folder: str) -> None:
    before = _single_document(lint_ci.before_run[file])
    after = _single_document(lint_ci.root / file)
    (app,) = [spec for spec in _application_specs(lint_ci.root) if spec["source"]["path"] == folder]
    group = after["apiVersion"].rpartition("/")[0]
    ignored = [p for rule in app.get("ignoreDifferences", ())
               if rule["kind"] == after["kind"] and rule.get("group", "") == group for p in rule.get("jsonPointers", ())]
    changed = set(changed_paths(before, after))
    visible = {c for c in changed if not any(c == p or c.startswith(p + "/") for p in ignored)}
    assert changed, f"{file} did not change"
    assert visible, f"every change in {file} ({sorted(changed)}) is in ignoreDifferences {ignored}: Argo CD shows it Synced"


def _application_specs(root: Path) -> list[dict[str, Any]]:
    out = []
    for path in sorted((root / "generated/argocd").glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_bytes()):
            if doc["kind"] == "Application":
                out.append(doc["spec"])
            elif doc["kind"] == "ApplicationSet":
                out.append(doc["spec"]["template"]["spec"])
    return out


@then(parsers.re(rf"{q('file')} serves release {q('release')}(?P<alone> without a canary)?"))
def serves_release(lint_ci: Any, file: str, release: str, alone: str | None) -> None:
    (isvc,) = yaml.safe_load_all((lint_ci.root / file).read_bytes())
    assert isvc["kind"] == "InferenceService"
    assert isvc["metadata"]["annotations"][ANNOTATION_RELEASE] == release
    if alone:
        assert "canaryTrafficPercent" not in isvc["spec"]["predictor"], isvc["spec"]["predictor"]


@then(parsers.re(rf"every deleted file was listed in the previous {q('manifest')}"))
def deleted_were_generated(lint_ci: Any, manifest: str) -> None:
    listed = json.loads(lint_ci.before_run[manifest])["files"]
    deleted = lint_ci.before_run.keys() - {p.relative_to(lint_ci.root).as_posix()
                                           for p in lint_ci.root.rglob("*") if p.is_file()}
    assert deleted, "nothing was deleted"
    assert not deleted - listed.keys(), f"deleted files specops did not write: {sorted(deleted - listed.keys())}"
