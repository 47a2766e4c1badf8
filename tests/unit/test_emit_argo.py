"""Argo Workflows backend: schema-valid, every reference resolves, and each
WorkflowTemplate step runs exactly the command of its DVC stage."""

from __future__ import annotations

import copy
import dataclasses
import shlex
import subprocess
import sys

import pytest
import yaml

from compiler.emit.argo_lint import check_workflows
from compiler.emit.backends import argo_workflows, dvc



@pytest.fixture(scope="module")
def docs(plan):
    return {a.path: yaml.safe_load(a.content) for a in argo_workflows.emit(plan)}


def test_outputs_pass_the_strict_upstream_schemas(plan, tmp_path, shared_schemas):
    for a in argo_workflows.emit(plan):
        target = tmp_path / a.path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(a.content)
    res = subprocess.run([sys.executable, str(shared_schemas / "validate.py"), "--cel", "on", str(tmp_path)],
                         capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "0 invalid" in res.stdout


def test_every_reference_resolves(docs):
    assert check_workflows(docs.values()) == []


def test_broken_references_are_caught(docs):
    wt = copy.deepcopy(docs["generated/staging/workflowtemplate-pump-failure-training.yaml"])
    dag = next(t for t in wt["spec"]["templates"] if "dag" in t)["dag"]
    dag["tasks"][1]["template"] = "no-such-template"
    dag["tasks"][2]["arguments"]["artifacts"][0]["from"] = "{{tasks.ghost.outputs.artifacts.features}}"
    dag["tasks"][3]["depends"] = "nobody"
    cron = copy.deepcopy(docs["generated/staging/cronworkflow-pump-failure-retrain.yaml"])
    cron["spec"]["workflowSpec"]["workflowTemplateRef"]["name"] = "missing"
    problems = check_workflows([wt, cron])
    assert any("unknown template 'no-such-template'" in p for p in problems)
    assert any("unknown task 'ghost'" in p for p in problems)
    assert any("unknown task 'nobody'" in p for p in problems)
    assert any("workflowTemplateRef 'missing'" in p for p in problems)


def test_each_step_runs_exactly_its_dvc_stage_command(plan, docs):
    stages = dvc.build_dvc(plan).stages
    wt = docs["generated/staging/workflowtemplate-pump-failure-training.yaml"]
    containers = {t["name"]: t["container"] for t in wt["spec"]["templates"] if "container" in t}
    assert set(containers) == {s.name for s in plan.pipelines[0].steps}
    for name, container in containers.items():
        stage = stages[f"pump-failure-{name}"]
        assert container["command"] + container["args"] == shlex.split(stage.cmd)
        config = container["args"][-1]
        mounts = [m["mountPath"] for m in container["volumeMounts"]]
        # The config path is relative; the ConfigMap is mounted where it resolves from workingDir.
        assert f"{container['workingDir']}/{config.rsplit('/', 1)[0]}" in mounts
        assert config in stage.deps


def test_pods_are_hardened_and_bounded(docs):
    wt = docs["generated/staging/workflowtemplate-pump-failure-training.yaml"]
    spec = wt["spec"]
    assert spec["serviceAccountName"] == "specops-runner"
    assert spec["podGC"]["strategy"] == "OnPodSuccess" and spec["activeDeadlineSeconds"] > 0
    for t in spec["templates"]:
        if "container" not in t:
            continue
        sc = t["container"]["securityContext"]
        assert sc["runAsNonRoot"] and sc["readOnlyRootFilesystem"] and not sc["allowPrivilegeEscalation"]
        assert sc["capabilities"]["drop"] == ["ALL"]
        assert all(isinstance(v, str) for v in t["container"]["resources"]["limits"].values())
        assert t["activeDeadlineSeconds"] > 0
        if t["name"] != "propose-release":
            assert t["retryStrategy"]["limit"] >= 1 and t["retryStrategy"]["backoff"]["factor"] == 2
        env = {e["name"]: e for e in t["container"].get("env", [])}
        assert "secretKeyRef" in env["SPECOPS_ARTIFACTS_CREDENTIALS"]["valueFrom"]


def test_retraining_and_monitoring_schedules(plan, docs):
    retrain = docs["generated/staging/cronworkflow-pump-failure-retrain.yaml"]
    assert retrain["spec"]["schedules"] == ["0 3 * * 1"]
    assert retrain["spec"]["workflowSpec"]["workflowTemplateRef"]["name"] == "pump-failure-training"
    for env in ("staging", "prod"):
        mon = docs[f"generated/{env}/cronworkflow-pump-failure-monitor.yaml"]
        assert mon["spec"]["workflowSpec"]["serviceAccountName"] == "specops-monitor"
        (template,) = mon["spec"]["workflowSpec"]["templates"]
        assert template["container"]["args"][:1] == ["monitor"]


def test_only_export_onnx_gets_the_edge_signing_key(plan, docs):
    wt = docs["generated/staging/workflowtemplate-pump-failure-training.yaml"]
    [volume] = [v for v in wt["spec"]["volumes"] if "secret" in v]
    assert volume["secret"] == {"secretName": plan.edge_signing_secret[0], "defaultMode": 0o440,
                                "items": [{"key": plan.edge_signing_secret[1], "path": "ed25519.key"}]}
    containers = {t["name"]: t["container"] for t in wt["spec"]["templates"] if "container" in t}
    mounting = {name: m for name, c in containers.items() for m in c["volumeMounts"] if m["name"] == volume["name"]}
    assert list(mounting) == ["export-onnx"]
    assert mounting["export-onnx"] == {"name": volume["name"], "mountPath": "/etc/specops/edge-signing",
                                       "readOnly": True}
    [step] = [s for s in plan.pipelines[0].steps if s.name == "export-onnx"]
    # The cluster signs with the mounted key; a local run keeps its throwaway key.
    assert step.cluster_config.signing_key_file == "/etc/specops/edge-signing/ed25519.key"
    assert step.config.signing_key_file is None


def test_a_signing_step_without_the_systems_signing_key_is_not_emitted(plan):
    with pytest.raises(ValueError, match=r"spec\.edge\.signingKey"):
        argo_workflows.build_training(dataclasses.replace(plan, edge_signing_secret=None), plan.pipelines[0])
