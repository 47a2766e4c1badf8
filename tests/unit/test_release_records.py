"""`specops release propose|approve`: records edited in place, linted before writing."""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path

import pytest
from typer.testing import CliRunner

from compiler.cli import app
from compiler.release_records import ApprovalRecord, ReleaseEditError, add_approval, proposal_target

RECORD = ApprovalRecord("lee@acme.example", "ml-lead", date(2026, 11, 27), "Looked at the canary numbers")


@pytest.fixture
def tree(repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    shutil.copytree(repo / "specs", tmp_path / "specs")
    shutil.copytree(repo / "policies", tmp_path / "policies")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_approval_is_appended_and_nothing_else_changes(repo: Path) -> None:
    text = (repo / "specs/releases/pump-failure.yaml").read_text(encoding="utf-8")
    out = add_approval(text, "r.yaml", "pump-failure-1-4-0", RECORD)
    added = [line for line in out.splitlines() if line not in text.splitlines()]
    assert added == ["    - {approver: lee@acme.example, role: ml-lead, date: 2026-11-27, reason: Looked at the canary numbers}"]
    assert len(out.splitlines()) == len(text.splitlines()) + 1  # comments and layout survive


@pytest.mark.parametrize("record, message", [
    (ApprovalRecord("dana@acme.example", "ml-lead", date(2026, 11, 27), "twice"), "already approved"),
    (ApprovalRecord("not-an-email", "ml-lead", date(2026, 11, 27), "ok!"), "not an e-mail"),
    (ApprovalRecord("a@b.c", "ML Lead", date(2026, 11, 27), "ok!"), "lower-case name"),
    (ApprovalRecord("a@b.c", "ml-lead", date(2026, 11, 27), " "), "reason"),
])
def test_bad_approvals_are_refused(repo: Path, record: ApprovalRecord, message: str) -> None:
    text = (repo / "specs/releases/pump-failure.yaml").read_text(encoding="utf-8")
    with pytest.raises(ReleaseEditError, match=message):
        add_approval(text, "r.yaml", "pump-failure-1-4-0", record)


def test_unknown_release_and_bad_yaml() -> None:
    with pytest.raises(ReleaseEditError, match="no ModelRelease named 'x'"):
        add_approval("kind: ModelRelease\nmetadata: {name: y}\nspec: {}\n", "r.yaml", "x", RECORD)
    with pytest.raises(ReleaseEditError, match="r.yaml: not valid YAML"):
        add_approval("a: [\n", "r.yaml", "x", RECORD)


def test_cli_approve_writes_and_refuses_a_second_signoff(tree: Path) -> None:
    runner = CliRunner()
    args = ["release", "approve", "pump-failure-1-4-0", "--approver", "lee@acme.example", "--role", "ml-lead",
            "--reason", "Looked at the canary numbers", "--date", "2026-11-27"]
    first = runner.invoke(app, args)
    assert first.exit_code == 0, first.output
    assert "lee@acme.example" in (tree / "specs/releases/pump-failure.yaml").read_text()
    before = (tree / "specs/releases/pump-failure.yaml").read_bytes()
    second = runner.invoke(app, args)
    assert second.exit_code == 1 and "already approved" in second.output
    assert (tree / "specs/releases/pump-failure.yaml").read_bytes() == before


def test_cli_propose_copies_a_valid_proposal_and_refuses_a_changed_version(tree: Path, repo: Path) -> None:
    text = (repo / "specs/releases/pump-failure.yaml").read_text(encoding="utf-8").split("---\n")[1]
    proposal = text.replace("1.4.0", "1.5.0").replace("pump-failure-1-4-0", "pump-failure-1-5-0")
    proposal = proposal.split("  deployments:")[0]  # proposed, not deployed yet
    (tree / "proposal.yaml").write_text(proposal, encoding="utf-8")
    assert proposal_target(proposal, "p") == ("pump-failure", "pump-failure-1-5-0.yaml")
    runner = CliRunner()
    result = runner.invoke(app, ["release", "propose", "proposal.yaml"])
    assert result.exit_code == 0, result.output
    assert (tree / "specs/releases/pump-failure-1-5-0.yaml").read_text() == proposal
    again = runner.invoke(app, ["release", "propose", "proposal.yaml"])
    assert again.exit_code == 0 and "already holds" in again.output
    (tree / "proposal.yaml").write_text(proposal.replace("0.36", "0.99"), encoding="utf-8")
    changed = runner.invoke(app, ["release", "propose", "proposal.yaml"])
    assert changed.exit_code == 1 and "immutable" in changed.output


def test_cli_propose_refuses_a_proposal_the_compiler_would_refuse(tree: Path) -> None:
    (tree / "bad.yaml").write_text(
        "apiVersion: specops.dev/v1alpha1\nkind: ModelRelease\nmetadata: {name: ghost-1-0-0}\n"
        "spec: {model: ghost, version: 1.0.0, artifact: {uri: m.onnx, sha256: " + "a" * 64 + "},"
        " trainingData: {hash: " + "b" * 64 + ", start: 2026-01-01, end: 2026-02-01}}\n", encoding="utf-8")
    result = CliRunner().invoke(app, ["release", "propose", "bad.yaml"])
    assert result.exit_code == 1 and "nothing was written" in result.output
    assert not (tree / "specs/releases/ghost-1-0-0.yaml").exists()
