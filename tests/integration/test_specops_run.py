"""`specops run` end to end: the generated DVC pipeline, executed for real on
sample data (smaller than the example's so CI stays fast), from generated
events to a registered, gated model with a card and a release proposal."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
WORK = Path(".specops/work/pump-failure")
# Enough history for the example model's backtest (60 d minimum + 4 folds of
# 7 d with a 1 d gap + label maturity), on fewer assets than the example.
SMALL = {"duration: 120d": "duration: 108d", "assets: 40": "assets: 12", "meanInterval: 15m": "meanInterval: 30m"}


def specops(*args: str) -> tuple[int, str]:
    """The real command in its own process, as a user runs it (DVC configures
    process-wide logging, so in-process runs would share one closed stream)."""
    proc = subprocess.run([str(Path(sys.executable).parent / "specops"), *args], capture_output=True, text=True,
                          timeout=900, env={**os.environ, "COLUMNS": "200"})
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc.returncode, proc.stdout + proc.stderr


def statuses(output: str) -> dict[str, str]:
    """stage -> status from the run's summary table."""
    out = {}
    for line in output.splitlines():
        cells = [c.strip() for c in line.split("│")]
        if len(cells) >= 5 and cells[1] and cells[2] in ("ran", "cached", "failed", "not run"):
            out[cells[1]] = cells[2]
    return out


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("run")
    for folder in ("specs", "policies"):
        shutil.copytree(REPO / folder, root / folder)
    shutil.copy(REPO / ".dvcignore", root / ".dvcignore")
    system = root / "specs/system.yaml"
    text = system.read_text(encoding="utf-8")
    for old, new in SMALL.items():
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    system.write_text(text, encoding="utf-8")
    return root


@pytest.fixture(scope="module")
def first_run(project: Path) -> tuple[int, str]:
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(project)
        return specops("run", "specs/")


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


def test_a_failed_gate_stops_promotion_with_a_report(project: Path, first_run: tuple[int, str],
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(project)
    model = Path("specs/models/pump-failure.yaml")
    original = model.read_text(encoding="utf-8")
    before = json.loads(Path(".specops/artifacts/models/pump-failure/aliases.json").read_text())
    try:
        model.write_text(original.replace("{metric: ece, max: 0.05}", "{metric: ece, max: 0.000001}"), encoding="utf-8")
        code, output = specops("run", "specs/")
        assert code == 1, output
        assert "stopped at pump-failure-evaluate" in output and "FAIL" in output
        report = json.loads((WORK / "reports/evaluation.json").read_text())
        assert not report["passed"] and [g["metric"] for g in report["gates"] if not g["passed"]] == ["ece"]
        # nothing new was registered or promoted
        assert json.loads(Path(".specops/artifacts/models/pump-failure/aliases.json").read_text()) == before
    finally:
        model.write_text(original, encoding="utf-8")
