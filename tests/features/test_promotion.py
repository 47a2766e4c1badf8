"""Step definitions for promotion.feature: the real pipeline, the real CLI."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml
from pipeline_project import WORK, make_project, specops
from pytest_bdd import given, parsers, scenarios, then, when

scenarios("promotion.feature")

RELEASES = Path("specs/releases/pump-failure.yaml")
REGISTRY = Path(".specops/artifacts/models/pump-failure")


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One real run, shared by the scenarios; each scenario works on a copy."""
    root = make_project(tmp_path_factory.mktemp("promotion"))
    code, output = specops("run", "specs/", cwd=root)
    assert code == 0, output
    return root


@pytest.fixture
def state() -> dict:
    return {}


@given('the example system run end to end by "specops run" on a small sample data set')
def project(pipeline: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, state: dict) -> Path:
    root = tmp_path / "project"
    shutil.copytree(pipeline, root, symlinks=True)
    monkeypatch.chdir(root)
    state["root"] = root
    return root


def _versions() -> list[str]:
    return sorted(p.name for p in (REGISTRY / "versions").iterdir())


@then(parsers.parse('the model is registered as version "{version}" with every gate passed and a model card'))
def registered(version: str) -> None:
    entry = json.loads((WORK / "registry/entry.json").read_text())
    assert entry["version"] == version and _versions() == [version]
    assert entry["card"]["gates"] and all(g["passed"] for g in entry["card"]["gates"])
    assert (REGISTRY / "versions" / version / "card.md").is_file()
    assert json.loads((REGISTRY / "aliases.json").read_text())["champion"] == version


@when(parsers.parse('I propose the pipeline\'s release as the prod canary in place of "{old}"'))
def propose_as_canary(old: str, state: dict) -> None:
    code, out = specops("release", "propose")
    assert code == 0, out
    (proposed,) = [p for p in Path("specs/releases").glob("pump-failure-0-*.yaml")]
    state["release"] = proposed
    text = RELEASES.read_text(encoding="utf-8")
    canary = "    - {environment: prod, role: canary, canaryStep: 0}\n"
    assert text.count(canary) == 1
    RELEASES.write_text(text.replace(canary, ""), encoding="utf-8")
    doc = proposed.read_text(encoding="utf-8").replace("  deployments: []", "  deployments:\n  - {environment: prod, role: canary, canaryStep: 0}")
    proposed.write_text(doc, encoding="utf-8")


@then(parsers.parse('lint refuses the release with "{code}"'))
def lint_refuses(code: str, state: dict) -> None:
    rc, out = specops("lint", "specs/", "--format", "json")
    assert rc == 1, out
    found = [d for d in json.loads(out)["diagnostics"] if d["code"] == code]
    assert found and all(d["file"].endswith(state["release"].name) for d in found), out
    rc, out = specops("compile", "specs/", "--out", "generated/")
    assert rc == 1 and "nothing was written" in out


@when(parsers.parse('"{approver}" approves it as "{role}"'))
def approve(approver: str, role: str) -> None:
    rc, out = specops("release", "approve", "pump-failure-0-1-0", "--approver", approver, "--role", role,
                      "--reason", "Gates, card and canary plan reviewed", "--date", "2026-11-27")
    assert rc == 0, out


@then("lint accepts the specs")
def lint_accepts() -> None:
    rc, out = specops("lint", "specs/")
    assert rc == 0, out


@then(parsers.parse('the compiled prod InferenceService serves "{release}" with "{count}" approvals'))
def compiled(release: str, count: str) -> None:
    rc, out = specops("compile", "specs/", "--out", "generated/")
    assert rc == 0, out
    isvc = yaml.safe_load(Path("generated/prod/inferenceservice-pump-failure.yaml").read_text())
    annotations = isvc["metadata"]["annotations"]
    assert annotations["specops.dev/release"] == release and annotations["specops.dev/approvals"] == count


@when(parsers.parse('the "{metric}" gate is tightened to "{bound}" and the pipeline runs again'))
def tighten(metric: str, bound: str, state: dict) -> None:
    state["before"] = (_versions(), (REGISTRY / "aliases.json").read_text())
    model = Path("specs/models/pump-failure.yaml")
    text = model.read_text(encoding="utf-8")
    old = "{metric: ece, max: 0.05}"
    assert metric == "ece" and old in text
    model.write_text(text.replace(old, f"{{metric: ece, max: {bound}}}"), encoding="utf-8")
    state["run"] = specops("run", "specs/")


@then(parsers.parse('the run stops at "{stage}" with exit code {code:d}'))
def stopped(stage: str, code: int, state: dict) -> None:
    rc, out = state["run"]
    assert rc == code, out
    assert f"stopped at {stage}" in out
    report = json.loads((WORK / "reports/evaluation.json").read_text())
    assert not report["passed"] and [g["metric"] for g in report["gates"] if not g["passed"]] == ["ece"]


@then("the registry's versions and aliases are unchanged")
def unchanged(state: dict) -> None:
    assert (_versions(), (REGISTRY / "aliases.json").read_text()) == state["before"]
