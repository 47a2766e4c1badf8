"""Stage 4, deployment (04_deployment.feature): Argo CD sync, canary steps,
verified edge bundles.

The Argo CD steps read the committed files of the repository copy the way
Argo CD does (the Applications in generated/argocd/, the manifests in the
folders they sync), plus ``check_consistency`` on a fresh in-memory compile.
The edge steps run the real edge runner in a child process (`python -m
runtime edge`) on real bundles from the train and export-onnx steps
(``tests/runtime/edge``), with a client loop and a channel the bad bundle is
published to.  Shared steps (the copy, running specops, file listings) live
in conftest.py."""

from __future__ import annotations

import copy
import json
import shutil
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pytest_bdd import given, parsers, scenarios, then, when

from compiler.cli import find_policies
from compiler.compile import CompileResult, compile_sources
from compiler.emit.backends.argocd import check_consistency
from compiler.load import read_sources

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "runtime" / "edge"))

from edge_bundles import build_release, edge_config, private_key_file, public_key_file, resign, write_config  # noqa: E402
from edge_process import Channel, ClientLoop, EdgeProcess  # noqa: E402

from runtime.export.golden import read_golden  # noqa: E402

scenarios("04_deployment.feature")


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


# ------------------------------------------------------------------ the next canary step

def changed_values(before: Any, after: Any, prefix: str = "") -> dict[str, tuple[Any, Any]]:
    """JSON pointer -> (before, after) of every value added, removed or changed."""
    if isinstance(before, dict) and isinstance(after, dict):
        out: dict[str, tuple[Any, Any]] = {}
        for key in before.keys() | after.keys():
            path = f"{prefix}/{str(key).replace('~', '~0').replace('/', '~1')}"
            out.update(changed_values(before.get(key), after.get(key), path))
        return out
    if isinstance(before, list) and isinstance(after, list) and len(before) == len(after):
        out = {}
        for i, (b, a) in enumerate(zip(before, after)):
            out.update(changed_values(b, a, f"{prefix}/{i}"))
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
    changes = changed_values(before["spec"], after["spec"], "/spec")
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
    changed = set(changed_values(before, after))
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


# ------------------------------------------------------------------ edge bundles


@dataclass
class Edge:
    root: Path
    key: Ed25519PrivateKey
    v1: Any = None
    v2: Any = None
    runner: EdgeProcess | None = None
    channel: Channel | None = None
    loop: ClientLoop | None = None
    outcome: dict[str, Any] = field(default_factory=dict)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Ed25519PrivateKey, Any, Any]:
    root = tmp_path_factory.mktemp("edge-feature")
    key = Ed25519PrivateKey.generate()
    key_file = private_key_file(root / "signing.pem", key)
    return root, key, build_release(root / "v1", "1.0.0", key_file, trees=40), \
        build_release(root / "v2", "2.0.0", key_file, trees=90)


@pytest.fixture
def edge(built: tuple[Path, Ed25519PrivateKey, Any, Any], tmp_path: Path) -> Iterator[Edge]:
    _, key, v1, v2 = built
    state = Edge(tmp_path, key, v1, v2)
    yield state
    if state.loop is not None:
        state.loop.stop()
    if state.runner is not None and state.runner.proc is not None:
        state.runner.stop()


@given(parsers.parse('an edge runner serving release "{version}" and watching a bundle channel'))
def _runner(edge: Edge, version: str) -> None:
    assert version == edge.v1.version
    edge.channel = Channel(edge.root / "publish")
    edge.channel.publish(edge.v1.bundle)
    trusted = public_key_file(edge.root / "trusted.pub", edge.key)
    config = write_config(edge.root / "edge-run.json", edge_config(edge.root / "work", edge.v1, trusted,
                                                                  watch=edge.channel.uri, poll_interval_s=0.3))
    edge.runner = EdgeProcess(config, edge.root / "edge.log")
    edge.runner.start()
    assert edge.runner.call("GET", "/readyz")[0] == 200


@given("a client sending predictions in a loop")
def _loop(edge: Edge) -> None:
    assert edge.runner is not None
    instance = dict(read_golden((edge.v1.bundle / "golden.json").read_bytes()).rows[0])
    edge.loop = ClientLoop(edge.runner.port, instance)
    edge.loop.start()
    time.sleep(0.3)


def _publish(edge: Edge, alter: Any) -> None:
    bundle = edge.root / "bad-bundle"
    shutil.copytree(edge.v2.bundle, bundle)
    alter(bundle)
    assert edge.channel is not None and edge.runner is not None
    at = edge.channel.publish(bundle)
    edge.outcome = edge.runner.wait_outcome(edge.channel.uri, at)
    time.sleep(0.5)  # predictions keep flowing after the refusal


@when(parsers.parse('a bundle of release "{version}" signed by an untrusted key is published'))
def _untrusted(edge: Edge, version: str) -> None:
    _publish(edge, lambda b: resign(b, Ed25519PrivateKey.generate(), meta={"version": version}))


@when(parsers.parse('a bundle of release "{version}" whose model was altered after signing is published'))
def _altered(edge: Edge, version: str) -> None:
    def alter(b: Path) -> None:
        resign(b, edge.key, meta={"version": version})
        data = bytearray((b / "model.onnx").read_bytes())
        data[len(data) // 2] ^= 0x01
        (b / "model.onnx").write_bytes(bytes(data))

    _publish(edge, alter)


@then(parsers.parse('the runner refuses it for "{reason}"'))
def _refused(edge: Edge, reason: str) -> None:
    assert edge.outcome["accepted"] is False and edge.outcome["reason"] == reason, edge.outcome


@then(parsers.parse('every prediction was answered by release "{version}"'))
def _answered(edge: Edge, version: str) -> None:
    assert edge.loop is not None and edge.runner is not None
    edge.loop.stop()
    responses, edge.loop = edge.loop.responses, None
    assert len(responses) > 10 and all(r.status == 200 and r.version == version for r in responses)
    assert edge.runner.call("GET", "/readyz")[1]["version"] == version


@then(parsers.parse('an incident records the refusal with reason "{reason}"'))
def _incident(edge: Edge, reason: str) -> None:
    [path] = (edge.root / "work" / "edge" / "incidents").glob("*.json")
    incident = json.loads(path.read_text())
    assert incident["kind"] == "edge_rollback" and incident["evidence"]["reason"] == reason
    assert incident["id"] == edge.outcome["incident"] and "1.0.0 keeps serving" in incident["summary"]
