"""The kserve backend on the example system: prod runs the 1.4.0 canary at
10 % beside the 1.3.0 champion, staging is champion-only, the predictor runs
``python -m runtime serve --config <path>`` with that path resolving inside
the mounted serve ConfigMap, and every InferenceService passes the strict
KServe CRD schema (with its CEL rules)."""

from __future__ import annotations

import posixpath
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from compiler.emit.backends import kserve, kubernetes
from compiler.emit.conventions import (
    ANNOTATION_APPROVALS,
    ANNOTATION_PREVIOUS_RELEASE,
    ANNOTATION_RELEASE,
    ANNOTATION_SHA256,
    ANNOTATION_SOURCE,
    ANNOTATION_SPEC_HASH,
    LABEL_ENVIRONMENT,
    LABEL_MODEL,
    RUN_AS_USER,
    SYNC_WAVE,
    WAVES,
    WORKSPACE,
)
from compiler.plan import SystemPlan

SNAKE = re.compile(r"[a-z0-9]_[a-z0-9]")


@pytest.fixture(scope="module")
def services(plan: SystemPlan) -> dict[str, dict[str, Any]]:
    """InferenceServices by environment."""
    out = {a.path: yaml.safe_load(a.content) for a in kserve.emit(plan)}
    assert set(out) == {"generated/prod/inferenceservice-pump-failure.yaml",
                        "generated/staging/inferenceservice-pump-failure.yaml"}
    return {path.split("/")[1]: doc for path, doc in out.items()}


def _keys(obj: Any) -> list[str]:
    if isinstance(obj, dict):
        return [k for k, v in obj.items() for k in (k, *_keys(v))]
    if isinstance(obj, list):
        return [k for v in obj for k in _keys(v)]
    return []


def _container(doc: dict[str, Any]) -> dict[str, Any]:
    (container,) = doc["spec"]["predictor"]["containers"]
    return container


def test_inference_services_pass_the_strict_kserve_schema(plan, shared_schemas, tmp_path):
    for artifact in kserve.emit(plan):
        path = tmp_path / artifact.path
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(artifact.content)
    proc = subprocess.run([sys.executable, str(shared_schemas / "validate.py"), "--cel", "on", str(tmp_path)],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "2 documents checked, 0 invalid" in proc.stdout


def test_prod_serves_the_canary_beside_the_previous_champion(services):
    isvc = services["prod"]
    annotations = isvc["metadata"]["annotations"]
    assert isvc["spec"]["predictor"]["canaryTrafficPercent"] == 10
    assert annotations[ANNOTATION_RELEASE] == "pump-failure-1-4-0"
    assert annotations[ANNOTATION_PREVIOUS_RELEASE] == "pump-failure-1-3-0"
    assert annotations["serving.kserve.io/deploymentMode"] == "Serverless"
    assert "generated/runtime/pump-failure/serve-prod.json" in _container(isvc)["args"]


def test_staging_is_champion_only(services):
    isvc = services["staging"]
    assert "canaryTrafficPercent" not in isvc["spec"]["predictor"]
    assert ANNOTATION_PREVIOUS_RELEASE not in isvc["metadata"]["annotations"]
    assert isvc["metadata"]["annotations"][ANNOTATION_RELEASE] == "pump-failure-1-4-0"


def test_lineage_labels_and_annotations(plan, services):
    for serving in plan.servings:
        meta = services[serving.environment]["metadata"]
        assert meta["name"] == serving.name and meta["namespace"] == serving.namespace
        assert meta["labels"][LABEL_MODEL] == "pump-failure"
        assert meta["labels"][LABEL_ENVIRONMENT] == serving.environment
        a = meta["annotations"]
        assert a[ANNOTATION_SHA256] == serving.release.sha256
        assert a[ANNOTATION_APPROVALS] == str(serving.approvals)
        assert a[ANNOTATION_SPEC_HASH] == serving.spec_hash
        assert a[ANNOTATION_SOURCE] == str(serving.origin)
        assert a[SYNC_WAVE] == str(WAVES["InferenceService"])


def test_predictor_runs_the_serve_step_with_the_config_path_resolving(plan, services):
    configs = {a.path: yaml.safe_load(a.content) for a in kubernetes.emit(plan)}
    for serving in plan.servings:
        isvc = services[serving.environment]
        predictor = isvc["spec"]["predictor"]
        container = _container(isvc)
        assert container["name"] == "kserve-container"
        assert container["image"] == plan.image
        assert container["command"] == ["python", "-m", "runtime"]
        assert container["args"] == ["serve", "--config", serving.config_path]
        assert container["workingDir"] == WORKSPACE
        assert container["ports"] == [{"containerPort": 8080, "protocol": "TCP"}]
        mount = next(m for m in container["volumeMounts"] if m["name"] == "config")
        assert mount["readOnly"] is True
        assert posixpath.dirname(posixpath.join(WORKSPACE, serving.config_path)) == mount["mountPath"]
        volume = next(v for v in predictor["volumes"] if v["name"] == "config")
        assert volume["configMap"]["name"] == serving.config_map
        cm = configs[f"generated/{serving.environment}/configmap-{serving.config_map}.yaml"]
        assert posixpath.basename(serving.config_path) in cm["data"]
        # a config change (release, policies, features) is a new revision
        digest = predictor["annotations"][kubernetes.ANNOTATION_CONFIG_SHA256]
        assert digest == kubernetes.config_digest(cm["data"])


def test_predictor_is_hardened_within_knative_rules(services):
    for isvc in services.values():
        predictor = isvc["spec"]["predictor"]
        container = _container(isvc)
        assert container["securityContext"] == {
            "runAsNonRoot": True, "runAsUser": RUN_AS_USER, "runAsGroup": RUN_AS_USER, "readOnlyRootFilesystem": True,
            "allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]},
            "seccompProfile": {"type": "RuntimeDefault"},
        }
        assert "securityContext" not in predictor  # Knative rejects most pod-level fields by default
        assert "/tmp" not in {m["mountPath"] for m in container["volumeMounts"]}  # a Knative reserved path
        assert {"name": "TMPDIR", "value": f"{WORKSPACE}/.specops"} in container["env"]
        assert predictor["automountServiceAccountToken"] is False


def test_resources_replicas_timeout_and_probes(plan, services):
    for serving in plan.servings:
        predictor = services[serving.environment]["spec"]["predictor"]
        container = _container(services[serving.environment])
        r = serving.resources
        assert container["resources"] == {"requests": {"cpu": r.cpu, "memory": r.memory},
                                          "limits": {"cpu": r.cpu_limit, "memory": r.memory_limit}}
        assert (predictor["minReplicas"], predictor["maxReplicas"]) == (serving.min_replicas, serving.max_replicas)
        assert predictor["timeout"] == serving.timeout_s
        assert container["readinessProbe"]["httpGet"] == {"path": "/v2/health/ready", "port": 8080}
        assert container["livenessProbe"]["httpGet"] == {"path": "/v2/health/live", "port": 8080}


def test_artifact_credentials_are_a_secret_key_ref(plan, services):
    name, key = plan.artifacts_secret
    env = {e["name"]: e for e in _container(services["prod"])["env"]}
    assert env[kubernetes.ARTIFACTS_ENV]["valueFrom"] == {"secretKeyRef": {"name": name, "key": key}}


def test_no_snake_case_keys_anywhere(services):
    for env, doc in services.items():
        bad = [k for k in _keys(doc) if SNAKE.search(k)]
        assert not bad, f"{env}: {bad}"


def test_emitting_twice_gives_identical_bytes(plan):
    assert [(a.path, a.content, a.sources) for a in kserve.emit(plan)] == \
           [(a.path, a.content, a.sources) for a in kserve.emit(plan)]
