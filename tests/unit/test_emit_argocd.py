"""The Argo CD backend: AppProject, an Application per cloud environment, an
ApplicationSet per edge environment; schema conformance, consistency with the
plan, sync modes, ignoreDifferences exactly for the runtime's rollback, and
``check_consistency`` over a compile's artifacts."""

from __future__ import annotations

import copy
import dataclasses
import subprocess
import sys
import types
import typing
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import BaseModel

from compiler.emit import Artifact
from compiler.emit.argocd_models import AppProject, Application, ApplicationSet
from compiler.emit.backends import argocd
from compiler.emit.conventions import CANARY_POINTER, SYNC_WAVE, WAVES
from compiler.emit.serialize import yaml_artifact
from compiler.plan import SystemPlan


def _emit(plan: SystemPlan) -> list[Artifact]:
    return list(argocd.emit(plan))


def _docs(artifacts: list[Artifact]) -> dict[str, dict[str, Any]]:
    return {a.path: yaml.safe_load(a.content) for a in artifacts}


def _with_envs(plan: SystemPlan, **changes_by_env: dict[str, Any]) -> SystemPlan:
    envs = tuple(dataclasses.replace(e, **changes_by_env.get(e.name, {})) for e in plan.environments)
    return dataclasses.replace(plan, environments=envs)


def _apps(docs: dict[str, dict[str, Any]]) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(Application-or-ApplicationSet, the Application spec it creates)."""
    out = []
    for doc in docs.values():
        if doc["kind"] == "Application":
            out.append((doc, doc["spec"]))
        elif doc["kind"] == "ApplicationSet":
            out.append((doc, doc["spec"]["template"]["spec"]))
    return out


# ---------------------------------------------------------------- outputs


def test_emits_one_project_and_one_application_per_environment(plan):
    paths = [a.path for a in _emit(plan)]
    assert paths == [
        "generated/argocd/appproject.yaml",
        "generated/argocd/application-staging.yaml",
        "generated/argocd/application-prod.yaml",
        "generated/argocd/applicationset-edge.yaml",
    ]
    assert all(a.backend == argocd.NAME and a.sources == (f"System/{plan.name}",) for a in _emit(plan))


def test_manifests_pass_the_strict_schemas(plan, shared_schemas, tmp_path):
    # The example plus a variant covering the other branches: manual sync and a named cluster.
    variant = _with_envs(plan, prod={"automated": False, "cluster": "prod-eu"}, staging={"cluster": None})
    for name, p in (("example", plan), ("variant", variant)):
        for a in _emit(p):
            out = tmp_path / name / a.path
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_bytes(a.content)
    run = subprocess.run([sys.executable, str(shared_schemas / "validate.py"), "--cel", "on", str(tmp_path)],
                         capture_output=True, text=True, check=False)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "8 documents checked, 0 invalid" in run.stdout


def _schema_properties(schema: dict[str, Any]) -> dict[str, Any] | None:
    if schema.get("type") == "array":
        schema = schema.get("items") or {}
    return schema.get("properties")


def _model_of(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if typing.get_origin(annotation) in (typing.Union, types.UnionType, tuple):
        for arg in typing.get_args(annotation):
            found = _model_of(arg)
            if found is not None:
                return found
    return None


def _unknown_aliases(model: type[BaseModel], schema: dict[str, Any], where: str) -> list[str]:
    props = _schema_properties(schema)
    if props is None:  # e.g. metadata: checked against ObjectMeta by validate.py
        return []
    out = []
    for name, info in model.model_fields.items():
        alias = info.alias or name
        if alias not in props:
            out.append(f"{where}.{alias}")
            continue
        sub = _model_of(info.annotation)
        if sub is not None:
            out += _unknown_aliases(sub, props[alias], f"{where}.{alias}")
    return out


def test_every_model_field_is_a_field_of_the_crd(shared_schemas):
    """Also the optional fields the example does not use (e.g. repoURL, not repoUrl)."""
    import json

    for model, file in ((AppProject, "appproject"), (Application, "application"), (ApplicationSet, "applicationset")):
        schema = json.loads((shared_schemas / "argoproj.io" / f"{file}_v1alpha1-strict.json").read_text())
        assert _unknown_aliases(model, schema, model.__name__) == []


# ------------------------------------------------------- consistency with plan


def test_applications_sync_each_environment_folder_to_its_destination(plan):
    docs = _docs(_emit(plan))
    by_path = {spec["source"]["path"]: (doc, spec) for doc, spec in _apps(docs)}
    assert sorted(by_path) == sorted(f"generated/{e.name}" for e in plan.environments)
    for env in plan.environments:
        doc, spec = by_path[f"generated/{env.name}"]
        assert doc["kind"] == ("ApplicationSet" if env.kind == "edge" else "Application")
        assert doc["metadata"]["namespace"] == argocd.ARGOCD_NAMESPACE
        assert spec["project"] == plan.name
        assert spec["source"] == {"repoURL": plan.repo_url, "targetRevision": plan.revision, "path": f"generated/{env.name}"}
        assert spec["destination"]["namespace"] == env.namespace
        assert doc["metadata"]["annotations"][SYNC_WAVE] == str(env.order)
    staging = by_path["generated/staging"][1]["destination"]
    prod = by_path["generated/prod"][1]["destination"]
    edge_doc, edge_spec = by_path["generated/edge"]
    edge = edge_spec["destination"]
    assert staging == {"server": "https://kubernetes.default.svc", "namespace": "pm-staging"}
    assert prod == {"server": "https://prod.k8s.acme.example", "namespace": "pm-prod"}
    assert edge == {"server": "{{server}}", "namespace": "pm-edge"}
    assert edge_doc["spec"]["generators"] == [{"clusters": {"selector": {"matchLabels": {"specops.dev/edge-gateway": "true"}}}}]
    assert edge_doc["spec"]["goTemplate"] is False
    assert edge_doc["spec"]["template"]["metadata"]["name"] == "{{name}}-predictive-maintenance-edge"


def test_application_waves_follow_promotion_order(plan):
    apps = _apps(_docs(_emit(plan)))
    waves = [int(doc["metadata"]["annotations"][SYNC_WAVE]) for doc, _ in apps]
    assert waves == sorted(waves) and len(set(waves)) == len(waves)


@pytest.mark.parametrize(("cluster", "expected"), [
    ("in-cluster", {"server": "https://kubernetes.default.svc"}),
    (None, {"server": "https://kubernetes.default.svc"}),
    ("https://10.0.0.1:6443", {"server": "https://10.0.0.1:6443"}),
    ("prod-eu", {"name": "prod-eu"}),
])
def test_destination_by_cluster(plan, cluster, expected):
    env = dataclasses.replace(plan.environment("prod"), cluster=cluster)
    assert argocd.destination(env).model_dump(exclude_none=True) == {**expected, "namespace": "pm-prod"}


def test_project_allows_exactly_the_destinations_used(plan):
    docs = _docs(_emit(plan))
    project = docs["generated/argocd/appproject.yaml"]
    assert project["metadata"] == {
        "name": plan.name, "namespace": "argocd",
        "labels": {"app.kubernetes.io/managed-by": "specops", "app.kubernetes.io/part-of": plan.name},
        "annotations": {"specops.dev/source": str(plan.origin)},
    }
    assert project["spec"]["sourceRepos"] == [plan.repo_url]
    allowed = project["spec"]["destinations"]
    assert allowed == [
        {"server": "https://kubernetes.default.svc", "namespace": "pm-staging"},
        {"server": "https://prod.k8s.acme.example", "namespace": "pm-prod"},
        {"server": "*", "namespace": "pm-edge"},  # any edge gateway, only its namespace
    ]
    for _, spec in _apps(docs):
        assert argocd.destination_allowed(spec["destination"], allowed), spec["destination"]
    # and nothing else: another namespace or another cluster's namespace is refused
    assert not argocd.destination_allowed({"server": "https://kubernetes.default.svc", "namespace": "pm-prod"}, allowed)
    assert not argocd.destination_allowed({"server": "https://edge-1", "namespace": "kube-system"}, allowed)


def test_kind_whitelists_equal_the_constant(plan):
    spec = _docs(_emit(plan))["generated/argocd/appproject.yaml"]["spec"]
    cluster = {(g["group"], g["kind"]) for g in spec["clusterResourceWhitelist"]}
    namespaced = {(g["group"], g["kind"]) for g in spec["namespaceResourceWhitelist"]}
    assert cluster == {(k.group, k.kind) for k in argocd.ALLOWED_KINDS if not k.namespaced}
    assert namespaced == {(k.group, k.kind) for k in argocd.ALLOWED_KINDS if k.namespaced}
    assert ("", "Namespace") in cluster
    assert ("admissionregistration.k8s.io", "ValidatingAdmissionPolicyBinding") in cluster
    assert ("serving.kserve.io", "InferenceService") in namespaced
    assert ("", "Secret") not in namespaced  # secrets are referenced, never generated
    assert {k.kind for k in argocd.ALLOWED_KINDS} == set(WAVES)  # every allowed kind has a sync wave


# ---------------------------------------------------------------- sync policy


def test_sync_is_automated_or_manual_per_environment(plan):
    variant = _with_envs(plan, prod={"automated": False}, edge={"prune": False, "self_heal": False})
    for p in (plan, variant):
        by_path = {spec["source"]["path"]: spec for _, spec in _apps(_docs(_emit(p)))}
        for env in p.environments:
            sync = by_path[f"generated/{env.name}"]["syncPolicy"]
            if env.automated:
                assert sync["automated"] == {"prune": env.prune, "selfHeal": env.self_heal}
            else:
                assert "automated" not in sync  # manual sync
            assert sync["syncOptions"] == ["ApplyOutOfSyncOnly=true", "ServerSideApply=true", "PruneLast=true"]
    manual = {spec["source"]["path"]: spec for _, spec in _apps(_docs(_emit(variant)))}["generated/prod"]
    assert "automated" not in manual["syncPolicy"]
    assert argocd.check_consistency(variant, _emit(variant)) == []


def test_example_prod_does_not_prune(plan):
    prod = _docs(_emit(plan))["generated/argocd/application-prod.yaml"]
    assert prod["spec"]["syncPolicy"]["automated"] == {"prune": False, "selfHeal": True}
    assert prod["metadata"]["finalizers"] == ["resources-finalizer.argocd.argoproj.io"]


def test_ignore_differences_is_exactly_the_canary_pointer(plan):
    for _, spec in _apps(_docs(_emit(plan))):
        assert spec["ignoreDifferences"] == [
            {"group": "serving.kserve.io", "kind": "InferenceService", "jsonPointers": [CANARY_POINTER]},
        ]


# ------------------------------------------------ the runtime's rollback patch


def _unescape(token: str) -> str:
    return token.replace("~1", "/").replace("~0", "~")


def _escape(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


def apply_json_patch(doc: Any, ops: list[dict[str, Any]]) -> Any:
    """A tiny RFC 6902 subset (add, replace on objects) - what the runtime sends."""
    out = copy.deepcopy(doc)
    for op in ops:
        *parents, last = [_unescape(t) for t in op["path"].split("/")[1:]]
        target = out
        for token in parents:
            target = target[token]
        if op["op"] == "replace" and last not in target:
            raise KeyError(op["path"])
        assert op["op"] in ("add", "replace"), op
        target[last] = op["value"]
    return out


def changed_paths(before: Any, after: Any, prefix: str = "") -> set[str]:
    """JSON pointers of every added, removed or changed value."""
    if isinstance(before, dict) and isinstance(after, dict):
        out: set[str] = set()
        for key in before.keys() | after.keys():
            path = f"{prefix}/{_escape(str(key))}"
            if key not in before or key not in after:
                out.add(path)
            else:
                out |= changed_paths(before[key], after[key], path)
        return out
    if isinstance(before, list) and isinstance(after, list) and len(before) == len(after):
        return set().union(*(changed_paths(b, a, f"{prefix}/{i}") for i, (b, a) in enumerate(zip(before, after, strict=True))))
    return set() if before == after else {prefix}


def _ignored(spec: dict[str, Any], obj: dict[str, Any], pointer: str) -> bool:
    group = obj["apiVersion"].rpartition("/")[0]
    return any(
        rule["kind"] == obj["kind"] and rule.get("group", "") == group
        and any(pointer == p or pointer.startswith(p + "/") for p in rule.get("jsonPointers", ()))
        for rule in spec.get("ignoreDifferences", ())
    )


ROLLBACK = [{"op": "replace", "path": CANARY_POINTER, "value": 0}]

SAMPLE_ISVC = {
    "apiVersion": "serving.kserve.io/v1beta1",
    "kind": "InferenceService",
    "metadata": {"name": "pump-failure", "namespace": "pm-prod", "annotations": {"specops.dev/release": "pump-failure-v3"}},
    "spec": {"predictor": {"canaryTrafficPercent": 10, "minReplicas": 2, "maxReplicas": 4,
                           "containers": [{"name": "kserve-container", "image": "ghcr.io/acme/specops-runtime@sha256:4f6c"}]}},
}


def test_path_diff_helper():
    assert changed_paths(SAMPLE_ISVC, SAMPLE_ISVC) == set()
    after = apply_json_patch(SAMPLE_ISVC, [{"op": "add", "path": "/metadata/annotations/a~1b", "value": "x"}])
    assert changed_paths(SAMPLE_ISVC, after) == {"/metadata/annotations/a~1b"}
    after = copy.deepcopy(SAMPLE_ISVC)
    after["spec"]["predictor"]["containers"][0]["image"] = "other"
    assert changed_paths(SAMPLE_ISVC, after) == {"/spec/predictor/containers/0/image"}


def test_rollback_patch_changes_only_ignored_paths(plan):
    for _, spec in _apps(_docs(_emit(plan))):
        after = apply_json_patch(SAMPLE_ISVC, ROLLBACK)
        changed = changed_paths(SAMPLE_ISVC, after)
        assert changed == {CANARY_POINTER}
        assert all(_ignored(spec, SAMPLE_ISVC, p) for p in changed)
        assert all(argocd.ignored_by_argocd("serving.kserve.io", "InferenceService", p) for p in changed)
        # a champion without canary traffic: the runtime adds the field, still ignored
        champion = copy.deepcopy(SAMPLE_ISVC)
        del champion["spec"]["predictor"]["canaryTrafficPercent"]
        added = apply_json_patch(champion, [{**ROLLBACK[0], "op": "add"}])
        assert all(_ignored(spec, champion, p) for p in changed_paths(champion, added))
        # control: any other change is a real difference that sync must correct
        other = apply_json_patch(SAMPLE_ISVC, [{"op": "replace", "path": "/spec/predictor/minReplicas", "value": 0}])
        assert not any(_ignored(spec, SAMPLE_ISVC, p) for p in changed_paths(SAMPLE_ISVC, other))
        deployment = {**SAMPLE_ISVC, "apiVersion": "apps/v1", "kind": "Deployment"}
        assert not _ignored(spec, deployment, CANARY_POINTER)


def test_rollback_patch_on_the_generated_inference_services(plan):
    """The same property on what the KServe backend really emits."""
    from compiler.emit.backends import kserve

    isvcs = [(a.path, doc) for a in kserve.emit(plan) if a.path.endswith(".yaml")
             for doc in yaml.safe_load_all(a.content) if doc and doc.get("kind") == "InferenceService"]
    if not isvcs:
        pytest.skip("the example plan has no InferenceService")
    apps = {spec["source"]["path"]: spec for _, spec in _apps(_docs(_emit(plan)))}
    for path, isvc in isvcs:
        spec = apps[path.rpartition("/")[0]]
        ops = [{"op": "add", "path": CANARY_POINTER, "value": 0}]
        changed = changed_paths(isvc, apply_json_patch(isvc, ops))
        assert changed <= {CANARY_POINTER}, path
        assert all(_ignored(spec, isvc, p) for p in changed), path


# ---------------------------------------------------------------- determinism


def test_emit_is_deterministic(plan):
    first = _emit(plan)
    assert first == _emit(plan)
    shuffled = dataclasses.replace(plan, environments=tuple(reversed(plan.environments)))
    assert [(a.path, a.content) for a in _emit(shuffled)] == [(a.path, a.content) for a in first]


# ---------------------------------------------------------- check_consistency


def _manifest(plan: SystemPlan, path: str, doc: dict[str, Any]) -> Artifact:
    return yaml_artifact(path, doc, ["System/x"], "test")


def _object(kind: str, name: str, api: str = "v1", namespace: str | None = None, wave: str | None = "auto") -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name}
    if namespace:
        meta["namespace"] = namespace
    if wave is not None:
        meta["annotations"] = {SYNC_WAVE: str(WAVES.get(kind, 0)) if wave == "auto" else wave}
    return {"apiVersion": api, "kind": kind, "metadata": meta}


def _consistent_compile(plan: SystemPlan) -> list[Artifact]:
    out = _emit(plan)
    for env in plan.environments:
        out.append(_manifest(plan, f"generated/{env.name}/namespace-{env.namespace}.yaml", _object("Namespace", env.namespace)))
        out.append(_manifest(plan, f"generated/{env.name}/configmap-x.yaml", _object("ConfigMap", "x", namespace=env.namespace)))
        out.append(_manifest(plan, f"generated/{env.name}/inferenceservice-m.yaml",
                             _object("InferenceService", "m", "serving.kserve.io/v1beta1", env.namespace)))
    out.append(Artifact("generated/runtime/m/train.json", b'{"step": "train"}\n', ()))
    out.append(Artifact("generated/manifest.json", b"{}\n", ()))
    out.append(Artifact("dvc.yaml", b"stages: {}\n", ()))
    return out


def test_check_consistency_accepts_a_consistent_compile(plan):
    assert argocd.check_consistency(plan, _emit(plan)) == []
    assert argocd.check_consistency(plan, _consistent_compile(plan)) == []


@pytest.mark.parametrize(("path", "doc", "expected"), [
    ("generated/prod/secret-s.yaml", _object("Secret", "s", namespace="pm-prod"), "not allowed by AppProject"),
    ("generated/prod/role-r.yaml", _object("Role", "r", "rbac.authorization.k8s.io/v1", "pm-staging"), "namespace 'pm-staging'"),
    ("generated/prod/deployment-d.yaml", _object("Deployment", "d", "apps/v1", "pm-prod", wave=None), "sync wave None"),
    ("generated/prod/deployment-d.yaml", _object("Deployment", "d", "apps/v1", "pm-prod", wave="-5"), "sync wave '-5'"),
    ("generated/prod/configmap-y.yaml", _object("ConfigMap", "x", namespace="pm-prod"), "also managed by"),
    ("generated/prod/sub/configmap-z.yaml", _object("ConfigMap", "z", namespace="pm-prod"), "subfolder"),
    ("generated/prod/step.json", {"step": "train"}, "only .yaml Kubernetes manifests"),
    ("generated/prod/params.yaml", {"step": "train"}, "not a Kubernetes manifest"),
    ("generated/other/configmap-z.yaml", _object("ConfigMap", "z", namespace="pm-prod"), "outside every Application"),
    ("generated/argocd/configmap-z.yaml", _object("ConfigMap", "z", namespace="argocd"), "only Argo CD AppProjects"),
])
def test_check_consistency_reports(plan, path, doc, expected):
    artifacts = [*_consistent_compile(plan), _manifest(plan, path, doc)]
    problems = argocd.check_consistency(plan, artifacts)
    assert len(problems) == 1 and expected in problems[0], problems
    assert path in problems[0]


def test_check_consistency_reports_missing_and_tampered_applications(plan):
    base = _consistent_compile(plan)
    without_prod = [a for a in base if a.path != "generated/argocd/application-prod.yaml"]
    assert argocd.check_consistency(plan, without_prod) == [
        "generated/prod/: synced by 0 Applications (none), expected exactly one"]  # once, not per file
    # an Application whose sync mode, ignoreDifferences and destination drifted from the plan
    prod = _docs(base)["generated/argocd/application-prod.yaml"]
    tampered = copy.deepcopy(prod)
    del tampered["spec"]["syncPolicy"]["automated"]
    tampered["spec"]["ignoreDifferences"][0]["jsonPointers"].append("/spec/predictor/minReplicas")
    tampered["spec"]["destination"]["namespace"] = "kube-system"
    artifacts = [*without_prod, _manifest(plan, "generated/argocd/application-prod.yaml", tampered)]
    problems = "\n".join(argocd.check_consistency(plan, artifacts))
    assert "wants automated sync" in problems
    assert "ignoreDifferences must be exactly" in problems
    assert "not allowed by AppProject" in problems
    # two Applications syncing one folder
    twice = copy.deepcopy(prod)
    twice["metadata"]["name"] = "another"
    problems = argocd.check_consistency(plan, [*base, _manifest(plan, "generated/argocd/application-another.yaml", twice)])
    assert problems == ["generated/prod/: synced by 2 Applications (Application/predictive-maintenance-prod, "
                        "Application/another), expected exactly one"]


def test_cloud_environments_on_the_same_cluster_share_cluster_scoped_objects_once(plan):
    same = _with_envs(plan, prod={"cluster": "in-cluster"})
    artifacts = _consistent_compile(same)
    vap = _object("ValidatingAdmissionPolicy", "specops-guard", "admissionregistration.k8s.io/v1")
    for env in ("staging", "prod"):
        artifacts.append(_manifest(same, f"generated/{env}/validatingadmissionpolicy-specops-guard.yaml", vap))
    problems = argocd.check_consistency(same, artifacts)
    assert len(problems) == 1 and "also managed by generated/staging/" in problems[0]
    assert argocd.check_consistency(plan, _consistent_compile(plan) + artifacts[-2:]) == []  # different clusters
