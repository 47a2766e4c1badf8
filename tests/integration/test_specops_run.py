"""`specops run` end to end: the generated DVC pipeline, executed for real on
sample data (smaller than the example's so CI stays fast), from generated
events to a registered, gated model with a card and a release proposal."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from pipeline_project import WORK, PipelineRun, copy_project, specops, statuses


@pytest.fixture(scope="module")
def project(pipeline_run: PipelineRun, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A private copy of the session's run project (the first run happened there)."""
    return copy_project(pipeline_run.root, tmp_path_factory.mktemp("run") / "project")


@pytest.fixture(scope="module")
def first_run(pipeline_run: PipelineRun) -> tuple[int, str]:
    return pipeline_run.code, pipeline_run.output


def test_first_run_ends_with_a_registered_gated_model_with_a_card(project: Path, first_run: tuple[int, str],
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    code, output = first_run
    assert code == 0, output
    monkeypatch.chdir(project)
    entry = json.loads((WORK / "registry/entry.json").read_text())
    assert entry["version"] == "0.1.0" and entry["model_uri"].endswith("/versions/0.1.0/model.onnx")
    card = entry["card"]
    assert all(g["passed"] for g in card["gates"]) and {g["metric"] for g in card["gates"]} >= {"pr_auc", "ece"}
    assert card["onnx_parity_max_abs_diff"] <= 1e-5
    assert card["spec_hash"] == json.loads(Path("generated/runtime/pump-failure/train.json").read_text())["spec_hash"]
    registered = Path(".specops/artifacts/models/pump-failure/versions/0.1.0")
    assert (registered / "card.md").read_text().startswith("# Model card: pump-failure 0.1.0")
    assert (registered / "model.onnx").is_file() and (registered / "edge/manifest.sig").is_file()
    # The local online store was materialized from the validated events (what `specops serve` reads).
    online = json.loads((WORK / "reports/online.json").read_text())["feature_sets"]["asset-health"]
    assert online["entities"] >= 12 and online["applied"] == online["events"] > 0
    assert Path(".specops/online/features.sqlite").stat().st_size > 0
    aliases = json.loads(Path(".specops/artifacts/models/pump-failure/aliases.json").read_text())
    assert aliases == {"candidate": "0.1.0", "champion": "0.1.0"}
    # The release proposal is a ModelRelease the compiler accepts (linted by `release propose`).
    (proposal,) = (WORK / "release").glob("*.yaml")
    assert yaml.safe_load(proposal.read_text())["spec"]["artifact"]["sha256"] == entry["sha256"]
    code, out = specops("release", "propose", str(proposal))
    assert code == 0, out
    assert Path("specs/releases/pump-failure-0-1-0.yaml").is_file()
    Path("specs/releases/pump-failure-0-1-0.yaml").unlink()  # keep the spec tree as the other tests expect


def test_lineage_the_card_names_the_data_dvc_lock_names(project: Path, first_run: tuple[int, str],
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(project)
    card = json.loads((WORK / "registry/card.json").read_text())
    lock = yaml.safe_load(Path("dvc.lock").read_text())
    outs = {o["path"]: o["md5"] for s in lock["stages"].values() for o in s.get("outs", [])}
    assert card["training_data"]["dvc_md5"] == outs[str(WORK / "features")]
    from dvc.repo import Repo

    with Repo(".") as repo:
        assert repo.status() == {}, "dvc status is not clean after a run"


def test_second_run_is_a_cache_hit(project: Path, first_run: tuple[int, str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(project)
    code, output = specops("run", "specs/")
    assert code == 0, output
    assert "every stage was a cache hit" in output
    assert set(statuses(output).values()) == {"cached"}


def test_a_feature_change_reruns_only_what_depends_on_it(project: Path, first_run: tuple[int, str],
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(project)
    features = Path("specs/features/asset-health.yaml")
    original = features.read_text(encoding="utf-8")
    try:
        features.write_text(original.replace("functions: [mean, min]\n      windows: [24h]",
                                             "functions: [mean, min, max]\n      windows: [24h]"), encoding="utf-8")
        code, output = specops("run", "specs/")
        assert code == 0, output
        rows = statuses(output)
        assert rows["sample-data-generate-data"] == "cached" and rows["pump-failure-validate-data"] == "cached"
        assert rows["pump-failure-build-features"] == "ran" and rows["pump-failure-train"] == "ran"
    finally:
        features.write_text(original, encoding="utf-8")


# A failed gate stopping promotion (exit 1, the report, the registry unchanged) is
# tests/features/03_model_development.feature's scenario, on a copy of the same run.
