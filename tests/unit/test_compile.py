"""`specops compile` end to end: the committed generated/ and dvc.yaml are a
fresh compile of specs/, every manifest passes the strict upstream schemas,
output is byte-deterministic, and Argo CD's view of it is consistent."""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from compiler.cli import app
from compiler.compile import compile_sources
from compiler.emit.backends import argocd
from compiler.load import read_sources

runner = CliRunner()


@pytest.fixture(scope="module")
def result(repo):
    files, problems = read_sources([repo / "specs", repo / "policies"], base=str(repo))
    res = compile_sources(files, problems)
    assert res.ok, [str(d) for d in res.diagnostics]
    return res


def test_committed_output_is_a_fresh_compile(repo, monkeypatch):
    monkeypatch.chdir(repo)
    res = runner.invoke(app, ["compile", "specs/", "--out", "generated/", "--check"])
    assert res.exit_code == 0, res.output + "\nrun `specops compile specs/ --out generated/` and commit"


def test_every_generated_manifest_passes_the_strict_schemas(repo, shared_schemas):
    res = subprocess.run([sys.executable, str(shared_schemas / "validate.py"), "--cel", "on", str(repo / "generated")],
                         capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr
    assert " 0 invalid, 0 unknown kinds" in res.stdout


def test_argocd_view_is_consistent(result):
    assert argocd.check_consistency(result.plan, result.artifacts) == []


def test_manifest_index_lists_every_file_with_its_sources(result):
    index = json.loads(result.artifacts[-1].content)
    assert result.artifacts[-1].path == "generated/manifest.json"
    assert set(index["files"]) == {a.path for a in result.artifacts[:-1]}
    assert index["compiler"] == {"name": "specops", "version": "0.1.0"}
    isvc = index["files"]["generated/prod/inferenceservice-pump-failure.yaml"]
    sources = {s["resource"] for s in isvc["sources"]}
    assert {"Model/pump-failure", "ModelRelease/pump-failure-1-4-0"} <= sources
    for entry in index["files"].values():
        for source in entry["sources"]:
            assert index["resources"][source["resource"]]["sha256"] == source["sha256"]


def test_no_volatile_facts_inside_manifests(result):
    for a in result.artifacts:
        text = a.content.decode()
        for word in ("creationTimestamp", "2026-11", "uid:", "resourceVersion"):
            assert word not in text or a.path.endswith("manifest.json"), (a.path, word)


def _compile_bytes(repo: Path, order_seed: int) -> dict[str, bytes]:
    files, problems = read_sources([repo / "specs", repo / "policies"], base=str(repo))
    shuffled = list(files)
    random.Random(order_seed).shuffle(shuffled)
    res = compile_sources(shuffled, problems)
    return {a.path: a.content for a in res.artifacts}


def test_shuffled_input_order_gives_identical_bytes(repo):
    first = _compile_bytes(repo, 1)
    for seed in (2, 3, 4):
        assert _compile_bytes(repo, seed) == first


def test_another_hash_seed_and_working_directory_give_identical_bytes(repo, tmp_path):
    shutil.copytree(repo / "specs", tmp_path / "specs")
    shutil.copytree(repo / "policies", tmp_path / "policies")
    (tmp_path / "pyproject.toml").write_text("")
    exe = Path(sys.executable).parent / "specops"
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    res = subprocess.run([str(exe), "compile", "specs/", "--out", "generated/"], cwd=tmp_path, env=env,
                         capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr
    for path in [*(repo / "generated").rglob("*"), repo / "dvc.yaml"]:
        if path.is_file() and path.name != "README.md":
            rel = path.relative_to(repo)
            assert (tmp_path / rel).read_bytes() == path.read_bytes(), rel


def test_check_fails_with_a_clear_list_after_a_spec_edit(repo, tmp_path, monkeypatch):
    for folder in ("specs", "policies", "generated"):
        shutil.copytree(repo / folder, tmp_path / folder)
    shutil.copy(repo / "dvc.yaml", tmp_path / "dvc.yaml")
    (tmp_path / "pyproject.toml").write_text("")
    monkeypatch.chdir(tmp_path)
    model = tmp_path / "specs/models/pump-failure.yaml"
    model.write_text(model.read_text().replace("replicas: {min: 2, max: 6}", "replicas: {min: 3, max: 6}"))
    res = runner.invoke(app, ["compile", "specs/", "--out", "generated/", "--check"])
    assert res.exit_code == 1
    assert "stale: generated/prod/inferenceservice-pump-failure.yaml" in res.output
    assert "stale: generated/staging/inferenceservice-pump-failure.yaml" in res.output
    assert "out of date" in res.output
    # --check wrote nothing.
    assert (tmp_path / "generated/prod/inferenceservice-pump-failure.yaml").read_bytes() == \
        (repo / "generated/prod/inferenceservice-pump-failure.yaml").read_bytes()


def test_lint_errors_stop_compilation_with_the_same_diagnostics(repo, tmp_path, monkeypatch):
    shutil.copytree(repo / "specs", tmp_path / "specs")
    shutil.copytree(repo / "policies", tmp_path / "policies")
    (tmp_path / "pyproject.toml").write_text("")
    monkeypatch.chdir(tmp_path)
    model = tmp_path / "specs/models/pump-failure.yaml"
    model.write_text(model.read_text().replace("    gap: 24h", "    gap: 12h"))
    res = runner.invoke(app, ["compile", "specs/", "--out", "generated/"])
    assert res.exit_code == 1
    assert "error[SO403]" in res.output and "nothing was written" in res.output
    assert not (tmp_path / "generated").exists()


def test_removed_model_output_is_pruned(repo, tmp_path, monkeypatch):
    for folder in ("specs", "policies"):
        shutil.copytree(repo / folder, tmp_path / folder)
    (tmp_path / "pyproject.toml").write_text("")
    monkeypatch.chdir(tmp_path)
    assert runner.invoke(app, ["compile", "specs/", "--out", "generated/"]).exit_code == 0
    (tmp_path / "generated/notes.md").write_text("mine")
    release = tmp_path / "specs/releases/pump-failure.yaml"
    text = release.read_text()
    release.write_text(text[: text.index("---\n# The challenger")])
    res = runner.invoke(app, ["compile", "specs/", "--out", "generated/"])
    assert res.exit_code == 0, res.output
    assert "deleted: generated/staging/inferenceservice-pump-failure.yaml" in res.output
    assert (tmp_path / "generated/notes.md").exists()
    isvc = yaml.safe_load((tmp_path / "generated/prod/inferenceservice-pump-failure.yaml").read_text())
    assert "canaryTrafficPercent" not in isvc["spec"]["predictor"]
    assert isvc["metadata"]["annotations"]["specops.dev/release"] == "pump-failure-1-3-0"


def test_inconsistent_output_is_reported_not_written(result):
    """SO601: if a backend ever emitted a dangling workflow reference, compile reports it at the System."""
    from compiler.compile import output_checks
    from compiler.emit.artifact import Artifact

    broken = []
    for a in result.artifacts:
        if a.path.endswith("cronworkflow-pump-failure-retrain.yaml"):
            a = Artifact(a.path, a.content.replace(b"name: pump-failure-training", b"name: pump-failure-trainin"),
                         a.sources, a.backend)
        broken.append(a)
    (diag,) = output_checks(result.plan, broken)
    assert diag.code == "SO601" and "workflowTemplateRef 'pump-failure-trainin'" in diag.message
    assert diag.location.file == "specs/system.yaml"
    assert output_checks(result.plan, result.artifacts) == []


def test_a_risk_policy_can_demand_manual_sync(repo, tmp_path):
    for folder in ("specs", "policies"):
        shutil.copytree(repo / folder, tmp_path / folder)
    policy = tmp_path / "policies/high-risk.yaml"
    policy.write_text(policy.read_text().replace("  maxCanaryPercent: 25\n", "  maxCanaryPercent: 25\n  manualSync: [prod]\n"))
    files, problems = read_sources([tmp_path / "specs", tmp_path / "policies"], base=str(tmp_path))
    res = compile_sources(files, problems)
    assert res.ok, [str(d) for d in res.diagnostics]
    apps = {a.path: yaml.safe_load(a.content) for a in res.artifacts if a.path.startswith("generated/argocd/application-")}
    assert "automated" not in apps["generated/argocd/application-prod.yaml"]["spec"]["syncPolicy"]
    assert "automated" in apps["generated/argocd/application-staging.yaml"]["spec"]["syncPolicy"]
    assert argocd.check_consistency(res.plan, res.artifacts) == []
