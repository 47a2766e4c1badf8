"""The kubernetes backend on the example system: every manifest passes the
strict upstream schemas, RBAC is exactly least privilege, ConfigMaps carry
the compiled configs (and only the model's prediction rules), pods run the
DVC command with the config path resolving, and output is deterministic."""

from __future__ import annotations

import dataclasses
import json
import posixpath
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from compiler.emit.backends import kubernetes
from compiler.emit.conventions import (
    ANNOTATION_SOURCE,
    LABEL_ENVIRONMENT,
    MONITOR_SERVICE_ACCOUNT,
    RUN_AS_USER,
    SYNC_WAVE,
    WAVES,
    WORKSPACE,
)
from compiler.emit.serialize import to_json
from compiler.plan import KeyRefPlan, SystemPlan
from runtime.contracts import PolicyBundle
from runtime.contracts.policy import PredictionRule

SNAKE = re.compile(r"[a-z0-9]_[a-z0-9]")


@pytest.fixture(scope="module")
def docs(plan: SystemPlan) -> dict[str, dict[str, Any]]:
    return {a.path: yaml.safe_load(a.content) for a in kubernetes.emit(plan)}


def _find(docs: dict[str, dict[str, Any]], env: str, kind: str, name: str) -> dict[str, Any]:
    return docs[f"generated/{env}/{kind.lower()}-{name}.yaml"]


def _keys(obj: Any) -> list[str]:
    if isinstance(obj, dict):
        return [k for k, v in obj.items() for k in (k, *_keys(v))]
    if isinstance(obj, list):
        return [k for v in obj for k in _keys(v)]
    return []


def _release_config_maps(plan: SystemPlan) -> set[str]:
    """Immutable, content-addressed ConfigMap paths (their names carry a content hash)."""
    return {f"generated/{s.environment}/configmap-{s.config_map}.yaml" for s in plan.servings} | {
        f"generated/{e.environment}/configmap-{e.config_map}.yaml" for e in plan.edges}


def test_release_config_map_names_are_versioned_and_content_addressed(plan):
    names = sorted(_release_config_maps(plan))
    assert len(names) == 3
    assert all(re.search(r"configmap-pump-failure-(serve-1-4-0|edge-1-3-0)-[0-9a-f]{10}\.yaml$", n) for n in names), names


def test_example_output_paths(plan, docs):
    expected = _release_config_maps(plan) | {
        "generated/edge/deployment-pump-failure-edge-runner.yaml",
        "generated/edge/persistentvolumeclaim-pump-failure-edge-bundles.yaml",
        "generated/edge/namespace-pm-edge.yaml",
        "generated/edge/serviceaccount-specops-runner.yaml",
    }
    for env in ("staging", "prod"):
        expected |= {
            f"generated/{env}/namespace-pm-{env}.yaml",
            f"generated/{env}/serviceaccount-specops-runner.yaml",
            f"generated/{env}/serviceaccount-specops-monitor.yaml",
            f"generated/{env}/role-specops-runner.yaml",
            f"generated/{env}/rolebinding-specops-runner.yaml",
            f"generated/{env}/role-specops-monitor.yaml",
            f"generated/{env}/rolebinding-specops-monitor.yaml",
            f"generated/{env}/configmap-pump-failure-monitor-config.yaml",
            f"generated/{env}/configmap-ingest-sensor-stream-config.yaml",
            f"generated/{env}/deployment-ingest-sensor-stream.yaml",
        }
    expected |= {
        "generated/staging/configmap-pump-failure-pipeline-config.yaml",
        "generated/staging/role-specops-monitor-retrain.yaml",
        "generated/staging/rolebinding-specops-monitor-retrain.yaml",
    }
    assert set(docs) == expected


def test_every_manifest_passes_the_strict_upstream_schemas(plan, shared_schemas, tmp_path):
    for artifact in kubernetes.emit(plan):
        path = tmp_path / artifact.path
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(artifact.content)
    proc = subprocess.run([sys.executable, str(shared_schemas / "validate.py"), "--cel", "on", str(tmp_path)],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert " 0 invalid" in proc.stdout


def test_no_snake_case_keys_anywhere(docs):
    for path, doc in docs.items():
        bad = [k for k in _keys(doc) if SNAKE.search(k)]
        assert not bad, f"{path}: {bad}"


def test_emitting_twice_gives_identical_bytes(plan):
    first = [(a.path, a.content, a.sources) for a in kubernetes.emit(plan)]
    second = [(a.path, a.content, a.sources) for a in kubernetes.emit(plan)]
    assert first == second


def test_every_object_carries_labels_source_and_its_sync_wave(docs):
    for path, doc in docs.items():
        meta = doc["metadata"]
        assert meta["annotations"][SYNC_WAVE] == str(WAVES[doc["kind"]]), path
        assert meta["annotations"][ANNOTATION_SOURCE], path
        assert meta["labels"]["app.kubernetes.io/managed-by"] == "specops", path
        env = path.split("/")[1]
        assert meta["labels"][LABEL_ENVIRONMENT] == env, path
        if doc["kind"] != "Namespace":
            assert meta["namespace"] == f"pm-{env}", path


def _rules(role: dict[str, Any]) -> list[tuple]:
    return [(tuple(r["apiGroups"]), tuple(r["resources"]), tuple(r["verbs"]), tuple(r.get("resourceNames", ())))
            for r in role["rules"]]


def test_monitor_role_is_exactly_what_the_monitor_does(docs):
    isvc = ("serving.kserve.io",), ("inferenceservices",)
    canary_rules = [(*isvc, ("get", "list"), ()), (*isvc, ("patch",), ("pump-failure",))]
    retrain_rules = [(("argoproj.io",), ("workflows",), ("create",), ()),
                     (("argoproj.io",), ("workflowtemplates",), ("get",), ("pump-failure-training",))]
    # staging holds the training pipeline: its monitor may also submit the retrain workflow there.
    assert _rules(_find(docs, "staging", "Role", "specops-monitor")) == canary_rules + retrain_rules
    # prod's monitor submits the retrain workflow in the pipeline's namespace, not its own.
    assert _rules(_find(docs, "prod", "Role", "specops-monitor")) == canary_rules
    assert _rules(_find(docs, "staging", "Role", "specops-monitor-retrain")) == retrain_rules
    binding = _find(docs, "staging", "RoleBinding", "specops-monitor-retrain")
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": MONITOR_SERVICE_ACCOUNT, "namespace": "pm-prod"}]
    for env in ("staging", "prod"):
        binding = _find(docs, env, "RoleBinding", "specops-monitor")
        assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "specops-monitor"}
        assert binding["subjects"] == [{"kind": "ServiceAccount", "name": MONITOR_SERVICE_ACCOUNT, "namespace": f"pm-{env}"}]


def test_runner_role_is_exactly_what_the_argo_executor_needs(plan, docs):
    for env in ("staging", "prod"):
        role = _find(docs, env, "Role", plan.service_account)
        assert _rules(role) == [(("argoproj.io",), ("workflowtaskresults",), ("create", "patch"), ())]
        subjects = _find(docs, env, "RoleBinding", plan.service_account)["subjects"]
        # Monitor CronWorkflows run as the monitor account: its executor needs the same.
        assert {s["name"] for s in subjects} == {plan.service_account, MONITOR_SERVICE_ACCOUNT}
    assert not [p for p in docs if p.startswith("generated/edge/role")]


def test_image_pull_secret_goes_on_every_service_account(plan):
    out = {a.path: yaml.safe_load(a.content) for a in kubernetes.emit(dataclasses.replace(plan, image_pull_secret="regcred"))}
    accounts = [d for d in out.values() if d["kind"] == "ServiceAccount"]
    assert len(accounts) == 5
    assert all(d["imagePullSecrets"] == [{"name": "regcred"}] for d in accounts)


def test_config_maps_hold_the_cluster_configs_as_canonical_json(plan, docs):
    pipeline = plan.pipelines[0]
    data = _find(docs, "staging", "ConfigMap", pipeline.config_map)["data"]
    assert set(data) == {posixpath.basename(s.config_path) for s in pipeline.steps}
    train = next(s for s in pipeline.steps if s.step == "train")
    assert type(train.cluster_config).model_validate_json(data["train.json"]) == train.cluster_config
    assert data["train.json"] == to_json(train.cluster_config, compact=True)
    assert json.loads(data["train.json"])["artifacts"]["uri"].startswith("s3://")
    for monitor in plan.monitors:
        cm = _find(docs, monitor.environment, "ConfigMap", monitor.config_map)
        assert set(cm["data"]) == {f"monitor-{monitor.environment}.json"}


def test_only_release_specific_config_maps_are_immutable(plan, docs):
    immutable = {path for path, d in docs.items() if d["kind"] == "ConfigMap" and d.get("immutable")}
    assert immutable == _release_config_maps(plan)
    for path in immutable:  # never pruned: older KServe revisions still mount them
        assert docs[path]["metadata"]["annotations"]["argocd.argoproj.io/sync-options"] == "Prune=false"


def test_serve_config_map_holds_exactly_the_prediction_rules_selecting_the_model(plan):
    other = PredictionRule(id="ZZ-999", policy="other", message="m", severity="error", expression="true",
                           action="abstain", models=("turbine-failure",))
    bundle = PolicyBundle(rules=(*plan.policy_bundle.rules, other))
    out = {a.path: yaml.safe_load(a.content) for a in kubernetes.emit(dataclasses.replace(plan, policy_bundle=bundle))}
    for serving in plan.servings:
        cm = out[f"generated/{serving.environment}/configmap-{serving.config_map}.yaml"]
        assert set(cm["data"]) == {posixpath.basename(serving.config_path), kubernetes.POLICY_BUNDLE_KEY}
        loaded = PolicyBundle.model_validate_json(cm["data"][kubernetes.POLICY_BUNDLE_KEY])
        assert [r.id for r in loaded.rules] == ["HR-010", "HR-011", "HR-012"]
        assert all("pump-failure" in r.models for r in loaded.rules)
        # the serve config points at the bundle beside it, in the same mounted folder
        serve = json.loads(cm["data"][posixpath.basename(serving.config_path)])
        assert posixpath.dirname(serve["policy_bundle"]) == posixpath.dirname(serving.config_path)


def _container(doc: dict[str, Any]) -> dict[str, Any]:
    (container,) = doc["spec"]["template"]["spec"]["containers"]
    return container


def test_deployments_run_the_dvc_command_with_the_config_path_resolving(plan, docs):
    cases = [(i.environment, i.name, "ingest", i.config_path, i.config_map) for i in plan.ingesters]
    cases += [(e.environment, e.name, "edge-run", e.config_path, e.config_map) for e in plan.edges]
    assert len(cases) == 3
    for env, name, step, config_path, config_map in cases:
        doc = _find(docs, env, "Deployment", name)
        container = _container(doc)
        assert container["command"] == ["python", "-m", "runtime"]
        assert container["args"] == [step, "--config", config_path]
        assert container["workingDir"] == WORKSPACE
        mount = next(m for m in container["volumeMounts"] if m["name"] == "config")
        resolved = posixpath.join(container["workingDir"], config_path)
        assert posixpath.dirname(resolved) == mount["mountPath"] and mount["readOnly"] is True
        volume = next(v for v in doc["spec"]["template"]["spec"]["volumes"] if v["name"] == "config")
        assert volume["configMap"]["name"] == config_map
        assert posixpath.basename(config_path) in _find(docs, env, "ConfigMap", config_map)["data"]
        assert {m["mountPath"] for m in container["volumeMounts"]} >= {f"{WORKSPACE}/.specops", "/tmp"}


def test_deployments_are_hardened_and_probed(docs):
    for path, doc in docs.items():
        if doc["kind"] != "Deployment":
            continue
        pod = doc["spec"]["template"]["spec"]
        container = _container(doc)
        assert container["securityContext"] == {
            "runAsNonRoot": True, "runAsUser": RUN_AS_USER, "runAsGroup": RUN_AS_USER, "readOnlyRootFilesystem": True,
            "allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]},
            "seccompProfile": {"type": "RuntimeDefault"},
        }, path
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["automountServiceAccountToken"] is False
        assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": 8080}, path
        # the ingester is ready only while NATS and the online store answer; the edge runner once a
        # verified bundle serves
        assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": 8080}, path
        for quantities in container["resources"].values():
            assert all(isinstance(v, str) for v in quantities.values()), path
        assert doc["spec"]["selector"]["matchLabels"].items() <= doc["spec"]["template"]["metadata"]["labels"].items()


def test_secret_references_compile_to_secret_key_refs(plan):
    ingesters = tuple(dataclasses.replace(i, stream_secret=("nats-creds", "creds")) for i in plan.ingesters)
    out = {a.path: yaml.safe_load(a.content) for a in kubernetes.emit(dataclasses.replace(plan, ingesters=ingesters))}
    env = {e["name"]: e for e in _container(out["generated/prod/deployment-ingest-sensor-stream.yaml"])["env"]}
    assert env[kubernetes.STREAM_ENV] == {"name": "NATS_CREDENTIALS",
                                          "valueFrom": {"secretKeyRef": {"name": "nats-creds", "key": "creds"}}}
    name, key = plan.artifacts_secret
    assert env[kubernetes.ARTIFACTS_ENV]["valueFrom"] == {"secretKeyRef": {"name": name, "key": key}}
    # the online store URL (with its password) comes from the System's secretRef, named by the ingest config
    assert env["SPECOPS_ONLINE_STORE_URL"]["valueFrom"] == {"secretKeyRef": {"name": "online-store", "key": "url"}}
    assert all(i.config.online_store.url_env == "SPECOPS_ONLINE_STORE_URL" and i.config.online_store.url is None
               for i in plan.ingesters)
    assert all("value" not in e for e in env.values())


def test_a_config_change_rolls_the_pods(plan):
    def digest(p: SystemPlan) -> str:
        doc = next(yaml.safe_load(a.content) for a in kubernetes.emit(p) if a.path.endswith("deployment-ingest-sensor-stream.yaml"))
        return doc["spec"]["template"]["metadata"]["annotations"][kubernetes.ANNOTATION_CONFIG_SHA256]

    changed = tuple(dataclasses.replace(i, config=i.config.model_copy(update={"spec_hash": "0" * 64})) for i in plan.ingesters)
    assert digest(plan) != digest(dataclasses.replace(plan, ingesters=changed))


def test_namespaces_carry_the_environment_and_pod_security_labels(docs):
    for env in ("staging", "prod", "edge"):
        labels = _find(docs, env, "Namespace", f"pm-{env}")["metadata"]["labels"]
        assert labels[LABEL_ENVIRONMENT] == env
        assert labels["pod-security.kubernetes.io/enforce"] == "baseline"
        assert labels["pod-security.kubernetes.io/warn"] == "restricted"


def test_the_trusted_key_mounts_from_a_config_map_or_a_secret(plan):
    edge = plan.edges[0]
    for ref, source, field, name in ((KeyRefPlan("configMap", "trust", "pub"), "configMap", "name", "trust"),
                                     (KeyRefPlan("secret", "trust-s", "k"), "secret", "secretName", "trust-s")):
        volumes, mounts = kubernetes.build_edge_mounts(dataclasses.replace(plan, edge_trusted_key=ref), edge)
        [volume] = [v for v in volumes if v.name == kubernetes.EDGE_TRUST_VOLUME]
        wire = getattr(volume, "config_map" if source == "configMap" else "secret")
        assert getattr(wire, "name" if field == "name" else "secret_name") == name
        assert [(i.key, i.path) for i in wire.items] == [(ref.key, "ed25519.pub")]
        [mount] = [m for m in mounts if m.name == kubernetes.EDGE_TRUST_VOLUME]
        assert mount.read_only and mount.mount_path == "/etc/specops/edge-trust"


def test_an_edge_runner_without_a_trusted_key_is_not_emitted(plan):
    with pytest.raises(ValueError, match=r"spec\.edge\.trustedKey"):
        list(kubernetes.emit(dataclasses.replace(plan, edge_trusted_key=None)))


def test_the_bundle_claim_takes_the_systems_size_and_storage_class(plan):
    edge = dataclasses.replace(plan.edges[0], storage_size="5Gi", storage_class="local-path")
    claim = kubernetes.build_edge_claim(plan, edge)
    assert claim.spec.resources.requests == {"storage": "5Gi"} and claim.spec.storage_class_name == "local-path"
    assert claim.metadata.namespace == edge.namespace and claim.spec.access_modes == ["ReadWriteOnce"]
