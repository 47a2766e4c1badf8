"""Acceptance: Argo CD sync (tests/features/argocd_sync.feature).

The steps read the committed files of the repository copy the way Argo CD
does (the Applications in generated/argocd/, the manifests in the folders
they sync), plus ``check_consistency`` on a fresh in-memory compile.  Shared
steps (the copy, running specops, file listings) live in conftest.py."""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from pytest_bdd import given, parsers, scenarios, then, when

from compiler.cli import find_policies
from compiler.compile import CompileResult, compile_sources
from compiler.emit.backends.argocd import check_consistency
from compiler.load import read_sources

scenarios("argocd_sync.feature")


def q(name: str) -> str:
    """A quoted step argument (as in conftest.py)."""
    return f'"(?P<{name}>[^"]*)"'


SYNC_WAVE = "argocd.argoproj.io/sync-wave"
SYNC_OPTIONS = "argocd.argoproj.io/sync-options"


@dataclass
class Sync:
    compiled: CompileResult | None = None
    live: dict[str, Any] | None = None  # an object as it is in the cluster
    patched: dict[str, Any] | None = None
    app: dict[str, Any] | None = None  # the Application spec (or ApplicationSet template) last looked at


@pytest.fixture
def sync() -> Sync:
    return Sync()


# ------------------------------------------------------------------ reading generated/ like Argo CD


def _load(path: Path) -> list[Any]:
    return [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d is not None]


def _is_manifest(doc: Any) -> bool:
    return (isinstance(doc, dict) and isinstance(doc.get("apiVersion"), str) and isinstance(doc.get("kind"), str)
            and isinstance((doc.get("metadata") or {}).get("name"), str))


def _group(doc: dict[str, Any]) -> str:
    return doc["apiVersion"].rpartition("/")[0]


def applications(root: Path) -> list[tuple[str, dict[str, Any]]]:
    """(label, the Application spec) of every Application and ApplicationSet template in generated/argocd/."""
    out = []
    for path in sorted((root / "generated/argocd").glob("*.yaml")):
        for doc in _load(path):
            if doc["kind"] == "Application":
                out.append((f"Application/{doc['metadata']['name']}", doc["spec"]))
            elif doc["kind"] == "ApplicationSet":
                out.append((f"ApplicationSet/{doc['metadata']['name']}", doc["spec"]["template"]["spec"]))
    return out


def synced_folders(root: Path) -> dict[str, dict[str, Any]]:
    """folder -> the spec of the (single) Application that syncs it."""
    out: dict[str, dict[str, Any]] = {}
    for label, spec in applications(root):
        folder = spec["source"]["path"]
        assert folder not in out, f"{folder} is synced twice (again by {label})"
        assert not spec["source"].get("directory", {}).get("recurse"), f"{label} syncs {folder} recursively"
        out[folder] = spec
    return out


def manifests_in(root: Path, folder: str) -> list[tuple[str, dict[str, Any]]]:
    files = sorted(p for p in (root / folder).iterdir() if p.is_file())
    assert files, f"{folder} is empty"
    return [(p.relative_to(root).as_posix(), doc) for p in files for doc in _load(p)]


def application_syncing(root: Path, folder: str) -> dict[str, Any]:
    spec = synced_folders(root).get(folder)
    assert spec is not None, f"no Application syncs {folder}"
    return spec


# ------------------------------------------------------------------ consistency and kinds


@when("the specs are compiled")
def compile_specs(sync: Sync) -> None:
    specs = Path("specs")
    files, problems = read_sources([specs, find_policies([specs])])
    sync.compiled = compile_sources(files, problems)
    assert sync.compiled.ok, [d.message for d in sync.compiled.diagnostics]


@then("the Argo CD consistency check finds no problems")
def consistent(sync: Sync) -> None:
    assert sync.compiled is not None and sync.compiled.plan is not None
    assert check_consistency(sync.compiled.plan, sync.compiled.artifacts) == []


@then(parsers.re(rf"every folder under {q('root')} that holds Kubernetes manifests is synced by exactly one "
                 r"Application or ApplicationSet"))
def every_manifest_folder_synced(lint_ci: Any, root: str) -> None:
    folders = synced_folders(lint_ci.root)  # asserts one Application per folder
    assert folders, "no Applications"
    for path in sorted((lint_ci.root / root).rglob("*")):
        if path.suffix not in (".yaml", ".yml", ".json") or path.parent == lint_ci.root / root / "argocd":
            continue
        if any(_is_manifest(d) for d in _load(path)):  # JSON is YAML
            folder = path.parent.relative_to(lint_ci.root).as_posix()
            assert folder in folders, f"{path.relative_to(lint_ci.root)} is a manifest no Application syncs"
    for folder in folders:
        assert (lint_ci.root / folder).is_dir(), f"an Application syncs {folder}, which does not exist"


@then(parsers.re(rf"every file in a synced folder is a {q('suffix')} file of Kubernetes manifests "
                 r"with apiVersion, kind and metadata.name"))
def only_manifests(lint_ci: Any, suffix: str) -> None:
    for folder in synced_folders(lint_ci.root):
        for path in (lint_ci.root / folder).rglob("*"):
            where = path.relative_to(lint_ci.root)
            assert path.is_file(), f"{where}: a subfolder in a synced folder"
            assert path.suffix == suffix, f"{where}: only {suffix} manifests belong in a folder Argo CD syncs"
            docs = _load(path)
            assert docs and all(_is_manifest(d) for d in docs), f"{where}: not Kubernetes manifests"


@then(parsers.re(rf"every manifest in a synced folder is of a kind the AppProject {q('project')} allows"))
def kinds_allowed(lint_ci: Any, project: str) -> None:
    (doc,) = _load(lint_ci.root / "generated/argocd/appproject.yaml")
    assert doc["kind"] == "AppProject" and doc["metadata"]["name"] == project
    whitelist = {(gk.get("group", ""), gk["kind"])
                 for key in ("clusterResourceWhitelist", "namespaceResourceWhitelist") for gk in doc["spec"].get(key, ())}
    for folder, spec in synced_folders(lint_ci.root).items():
        assert spec["project"] == project, f"{folder} is synced outside the project"
        for path, m in manifests_in(lint_ci.root, folder):
            assert (_group(m), m["kind"]) in whitelist, f"{path}: {m['apiVersion']} {m['kind']} is not allowed"


@then("every namespaced manifest in a synced folder lives in its Application's destination namespace")
def namespaces(lint_ci: Any) -> None:
    for folder, spec in synced_folders(lint_ci.root).items():
        for path, m in manifests_in(lint_ci.root, folder):
            namespace = m["metadata"]["name"] if m["kind"] == "Namespace" else m["metadata"].get("namespace")
            assert namespace in (None, spec["destination"]["namespace"]), (
                f"{path}: {m['kind']} in {namespace}, the Application deploys to {spec['destination']['namespace']}")


# ------------------------------------------------------------------ sync waves


@then(parsers.re(rf"every manifest in {q('folder')} has a sync wave, and the waves follow this order:"))
def wave_order(lint_ci: Any, folder: str, datatable: list[list[str]]) -> None:
    stages = [(name.strip(), {k.strip() for k in kinds.split(",")}) for name, kinds in datatable[1:]]
    waves: list[list[int]] = [[] for _ in stages]
    for path, m in manifests_in(lint_ci.root, folder):
        wave = (m["metadata"].get("annotations") or {}).get(SYNC_WAVE)
        assert wave is not None and wave.lstrip("-").isdigit(), f"{path}: {m['kind']} has no sync wave"
        stage = [i for i, (_, kinds) in enumerate(stages) if m["kind"] in kinds]
        assert len(stage) == 1, f"{path}: {m['kind']} belongs to no stage of the table"
        waves[stage[0]].append(int(wave))
    assert waves[0] and waves[-1], f"{folder}: no {stages[0][0]} or no {stages[-1][0]}"
    present = [(name, w) for (name, _), w in zip(stages, waves) if w]
    for (earlier, a), (later, b) in zip(present, present[1:]):
        assert max(a) < min(b), f"{folder}: {earlier} (waves {sorted(set(a))}) not before {later} ({sorted(set(b))})"


# ------------------------------------------------------------------ the rollback


def _unescape(token: str) -> str:
    return token.replace("~1", "/").replace("~0", "~")


def apply_json_patch(doc: Any, ops: list[dict[str, Any]]) -> Any:
    """The RFC 6902 subset the runtime sends: add and replace in objects."""
    out = copy.deepcopy(doc)
    for op in ops:
        assert op["op"] in ("add", "replace"), op
        *parents, last = [_unescape(t) for t in op["path"].split("/")[1:]]
        target = out
        for token in parents:
            target = target[token]
        if op["op"] == "replace":
            assert last in target, f"replace of a missing {op['path']}"
        target[last] = op["value"]
    return out


def changed_paths(before: Any, after: Any, prefix: str = "") -> set[str]:
    """JSON pointers of every value added, removed or changed."""
    if isinstance(before, dict) and isinstance(after, dict):
        out: set[str] = set()
        for key in before.keys() | after.keys():
            path = f"{prefix}/{str(key).replace('~', '~0').replace('/', '~1')}"
            out |= {path} if key not in before or key not in after else changed_paths(before[key], after[key], path)
        return out
    if isinstance(before, list) and isinstance(after, list) and len(before) == len(after):
        return set().union(*(changed_paths(b, a, f"{prefix}/{i}") for i, (b, a) in enumerate(zip(before, after))))
    return set() if before == after else {prefix}


@given(parsers.re(rf"the InferenceService in {q('file')} sends (?P<percent>\d+)% of the traffic to its canary"))
def live_isvc(lint_ci: Any, sync: Sync, file: str, percent: str) -> None:
    (doc,) = _load(lint_ci.root / file)
    assert doc["kind"] == "InferenceService"
    assert doc["spec"]["predictor"].get("canaryTrafficPercent") == int(percent)
    sync.live = doc


@when("the runtime rolls the canary back with the JSON patch")
def rollback(sync: Sync, docstring: str) -> None:
    sync.patched = apply_json_patch(sync.live, json.loads(docstring))


@then(parsers.re(r"the InferenceService sends (?P<percent>\d+)% of the traffic to its canary"))
def canary_percent(sync: Sync, percent: str) -> None:
    assert sync.patched is not None
    assert sync.patched["spec"]["predictor"]["canaryTrafficPercent"] == int(percent)


@then(parsers.re(rf"the patch changed only {q('pointer')}"))
def patch_changed_only(sync: Sync, pointer: str) -> None:
    assert changed_paths(sync.live, sync.patched) == {pointer}


@then(parsers.re(rf"every path the patch changed is covered by the ignoreDifferences of the Application "
                 rf"that syncs {q('folder')}"))
def covered(lint_ci: Any, sync: Sync, folder: str) -> None:
    sync.app = application_syncing(lint_ci.root, folder)
    live = sync.live
    assert live is not None
    rules = [r for r in sync.app.get("ignoreDifferences", ())
             if r["kind"] == live["kind"] and r.get("group", "") == _group(live)
             and r.get("name", live["metadata"]["name"]) == live["metadata"]["name"]
             and r.get("namespace", live["metadata"]["namespace"]) == live["metadata"]["namespace"]]
    for path in changed_paths(live, sync.patched):
        assert any(path == p or path.startswith(p + "/") for r in rules for p in r.get("jsonPointers", ())), (
            f"{path} is not ignored: Argo CD would show the rolled-back InferenceService as out of sync")


@then(parsers.re(rf"that Application syncs with {q('option')}, so syncing another change does not re-apply "
                 r"the InferenceService"))
def sync_option(sync: Sync, option: str) -> None:
    assert sync.app is not None
    assert option in sync.app["syncPolicy"]["syncOptions"]


# ------------------------------------------------------------------ sync policy, edge gateways, configs


@then(parsers.re(rf"{q('file')} syncs automatically with prune (?P<prune>true|false) "
                 r"and self-heal (?P<self_heal>true|false)"))
def sync_policy(lint_ci: Any, file: str, prune: str, self_heal: str) -> None:
    (doc,) = _load(lint_ci.root / file)
    spec = doc["spec"]["template"]["spec"] if doc["kind"] == "ApplicationSet" else doc["spec"]
    expected = {"prune": prune == "true", "selfHeal": self_heal == "true"}
    assert spec["syncPolicy"].get("automated") == expected, f"{file}: automated {spec['syncPolicy'].get('automated')}"


@then(parsers.re(rf"{q('file')} is an ApplicationSet whose cluster generator selects the clusters labelled"))
def edge_selector(lint_ci: Any, sync: Sync, file: str, datatable: list[list[str]]) -> None:
    (doc,) = _load(lint_ci.root / file)
    assert doc["kind"] == "ApplicationSet"
    (generator,) = doc["spec"]["generators"]
    assert generator["clusters"]["selector"] == {"matchLabels": {k.strip(): v.strip() for k, v in datatable[1:]}}
    sync.app = doc["spec"]["template"]


@then(parsers.re(rf"each Application it generates is named after its cluster and syncs {q('folder')} "
                 rf"into namespace {q('namespace')} of that cluster"))
def edge_template(sync: Sync, folder: str, namespace: str) -> None:
    template = sync.app
    assert template is not None
    assert "{{name}}" in template["metadata"]["name"], "one Application per cluster needs the cluster's name"
    assert template["spec"]["source"]["path"] == folder
    assert template["spec"]["destination"] == {"server": "{{server}}", "namespace": namespace}


@then(parsers.re(rf"every ConfigMap an InferenceService in {q('folder')} mounts is immutable and marked {q('option')}"))
def serve_configs_kept(lint_ci: Any, folder: str, option: str) -> None:
    found = manifests_in(lint_ci.root, folder)
    config_maps = {m["metadata"]["name"]: m for _, m in found if m["kind"] == "ConfigMap"}
    mounted = [v["configMap"]["name"] for _, m in found if m["kind"] == "InferenceService"
               for v in m["spec"]["predictor"].get("volumes", ()) if "configMap" in v]
    assert mounted, f"no InferenceService in {folder} mounts a ConfigMap"
    for name in mounted:
        assert name in config_maps, f"ConfigMap {name} is mounted but not in {folder}"
        meta = config_maps[name]["metadata"]
        assert config_maps[name].get("immutable") is True, f"ConfigMap {name} is mutable"
        assert option in (meta.get("annotations") or {}).get(SYNC_OPTIONS, "").split(","), (
            f"ConfigMap {name}: Argo CD would prune it once git moves on, under the champion's revision")
