"""`specops plan --base REF` on a temporary git repository built from the
example specs (never the host repository's history): what a change does to
the generated resources, what it means, who must approve it, and that the
user's working tree and index are left byte for byte as they were."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from compiler.change.semantic import diff_specs
from compiler.cli import app
from compiler.lint import lint_paths

REPO = Path(__file__).resolve().parents[2]
MODEL = "specs/models/pump-failure.yaml"
RELEASES = "specs/releases/pump-failure.yaml"
SENSORS = "specs/data/sensor-events.yaml"

_GIT_ENV = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com", "GIT_COMMITTER_NAME": "t",
            "GIT_COMMITTER_EMAIL": "t@example.com", "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"}


def git(root: Path, *args: str) -> str:
    proc = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True,
                          env={**os.environ, **_GIT_ENV}, check=True, timeout=60)
    return proc.stdout


def commit_all(root: Path, message: str) -> None:
    git(root, "add", "-A")
    git(root, "commit", "-q", "--no-gpg-sign", "-m", message)


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """specs/ and policies/ committed in a fresh repository; the cwd is its root."""
    root = tmp_path / "repo"
    root.mkdir()
    for folder in ("specs", "policies"):
        shutil.copytree(REPO / folder, root / folder)
    (root / "pyproject.toml").write_text("", encoding="utf-8")
    git(root, "init", "-q", "-b", "main")
    commit_all(root, "example system")
    monkeypatch.chdir(root)
    return root


def edit(root: Path, file: str, old: str, new: str) -> None:
    path = root / file
    text = path.read_text(encoding="utf-8")
    assert text.count(old) == 1, f"{old!r} occurs {text.count(old)} times in {file}"
    path.write_text(text.replace(old, new), encoding="utf-8")


def plan(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, ["plan", *args])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise AssertionError(f"specops plan crashed: {result.exception!r}\n{result.output}") from result.exception
    return result.exit_code, result.stdout, result.stderr


def plan_json(*args: str) -> tuple[int, dict]:
    code, out, err = plan(*args, "--format", "json")
    return code, json.loads(out)


def changes_of(doc: dict, resource: str) -> dict[str, dict]:
    return {c["path"]: c for c in doc["changes"] if c["resource"] == resource}


def resource(doc: dict, path: str) -> dict:
    (found,) = [r for r in doc["resources"] if r["path"] == path]
    return found


def approval(doc: dict, model: str, env: str) -> dict:
    (found,) = [a for a in doc["approvals"] if (a["model"], a["environment"]) == (model, env)]
    return found


# ------------------------------------------------------------------ what a change shows


def test_no_change_is_an_empty_plan(repo: Path) -> None:
    code, doc = plan_json("--base", "HEAD")
    assert code == 0
    assert doc["ok"] and doc["resourcesCompared"] and doc["specsCompared"]
    assert (doc["resources"], doc["changes"], doc["approvals"]) == ([], [], [])
    code, out, _ = plan("--base", "HEAD")
    assert code == 0 and "No changes" in out


def test_a_comment_and_reordered_gates_mean_nothing(repo: Path) -> None:
    text = (repo / MODEL).read_text(encoding="utf-8")
    gates = ["    - {metric: pr_auc, min: 0.25}\n", "    - {metric: ece, max: 0.05}\n"]
    text = text.replace(gates[0], "").replace(gates[1], gates[1] + gates[0])
    (repo / MODEL).write_text("# reviewed in November\n" + text, encoding="utf-8")
    code, doc = plan_json("--base", "HEAD")
    assert code == 0
    assert doc["changes"] == [] and doc["approvals"] == [], doc["changes"]
    # The generated files still move (source-line annotations, spec hashes, gate order in the
    # step configs): the plan shows them, but nothing that needs an approval.
    assert doc["resources"]
    code, out, _ = plan("--base", "HEAD")
    assert "0 spec change(s); no approvals required." in out


def test_canary_step_change(repo: Path) -> None:
    edit(repo, MODEL, "steps: [10, 25, 50, 100]", "steps: [5, 25, 50, 100]")
    code, doc = plan_json("--base", "HEAD")
    assert code == 0
    change = changes_of(doc, "Model/pump-failure")["spec.serving.canary.steps"]
    assert (change["category"], change["before"], change["after"]) == ("canary", [10, 25, 50, 100], [5, 25, 50, 100])
    isvc = resource(doc, "generated/prod/inferenceservice-pump-failure.yaml")
    assert (isvc["action"], isvc["kind"], isvc["namespace"], isvc["name"]) == ("updated", "InferenceService",
                                                                              "pm-prod", "pump-failure")
    fields = {f["pointer"]: (f["before"], f["after"]) for f in isvc["fields"]}
    assert fields["/spec/predictor/canaryTrafficPercent"] == (10, 5)
    assert not any("hash" in p or "sha256" in p for p in fields), "derived hashes are counted, not listed"
    assert isvc["derivedFields"] >= 1


def test_release_canary_step_names_the_traffic(repo: Path) -> None:
    edit(repo, RELEASES, "{environment: prod, role: canary, canaryStep: 0}", "{environment: prod, role: canary, canaryStep: 1}")
    code, doc = plan_json("--base", "HEAD")
    assert code == 0
    change = changes_of(doc, "ModelRelease/pump-failure-1-4-0")["spec.deployments[prod].canaryStep"]
    assert (change["before"], change["after"], change["note"]) == (0, 1, "prod: canary 10% -> canary 25%")
    # The release records carry two approvals (ml-lead, risk-officer): enough for prod.
    prod = approval(doc, "pump-failure", "prod")
    assert (prod["required"], prod["status"]) == (2, "met")
    assert prod["recorded"] == ["dana@acme.example", "omar@acme.example"]
    assert [a["environment"] for a in doc["approvals"]] == ["prod"], "only prod's deployment changed"


def test_lowered_gate_needs_the_policy_approvals(repo: Path) -> None:
    edit(repo, MODEL, "{metric: pr_auc, min: 0.25}", "{metric: pr_auc, min: 0.2}")
    code, doc = plan_json("--base", "HEAD")
    assert code == 0
    change = changes_of(doc, "Model/pump-failure")["spec.gates[pr_auc].min"]
    assert (change["category"], change["before"], change["after"], change["effect"]) == ("gates", 0.25, 0.2, "loosened")
    assert doc["summary"]["loosened"] == 1
    for env in ("prod", "edge"):
        need = approval(doc, "pump-failure", env)
        assert need["required"] == 2 and need["roles"] == ["ml-lead", "risk-officer"]
        assert "RiskPolicy/high-risk-governance" in need["requiredBy"]
        assert need["status"] == "review" and need["reasons"] == ["Model/pump-failure:spec.gates[pr_auc].min"]
    assert {a["environment"] for a in doc["approvals"]} == {"prod", "edge"}, "staging requires no approvals"
    evaluate = resource(doc, "generated/runtime/pump-failure/evaluate.json")
    assert {"pointer": "/gates/0/min", "before": 0.25, "after": 0.2} in evaluate["fields"]


def test_raised_gate_is_tightened(repo: Path) -> None:
    edit(repo, MODEL, "{metric: ece, max: 0.05}", "{metric: ece, max: 0.04}")
    _, doc = plan_json("--base", "HEAD")
    assert changes_of(doc, "Model/pump-failure")["spec.gates[ece].max"]["effect"] == "tightened"


def test_new_data_source_field(repo: Path) -> None:
    # A field the sample-data generator does not produce is refused while the
    # System generates its data (SO496): this system reads real data.
    system = repo / "specs/system.yaml"
    system.write_text(system.read_text(encoding="utf-8").split("  sampleData:")[0], encoding="utf-8")
    commit_all(repo, "real data")
    edit(repo, SENSORS, "    - {name: rpm, type: float, nullable: true, min: 0, max: 20000}\n    - {name: technician",
         "    - {name: rpm, type: float, nullable: true, min: 0, max: 20000}\n"
         "    - {name: humidity, type: float, nullable: true, min: 0, max: 100}\n    - {name: technician")
    code, doc = plan_json("--base", "HEAD")
    assert code == 0
    change = changes_of(doc, "DataSource/sensor-events")["spec.fields[humidity]"]
    assert change["action"] == "created" and change["category"] == "schema"
    assert change["after"]["type"] == "float" and change["after"]["max"] == 100
    # The model reads the source through its feature set: its environments need approvals.
    assert {a["environment"] for a in doc["approvals"]} == {"prod", "edge"}
    assert any(r["path"] == "generated/runtime/pump-failure/validate-data.json" for r in doc["resources"])


def test_release_to_prod_without_enough_approvals(repo: Path) -> None:
    edit(repo, RELEASES, "    - {environment: prod, role: canary, canaryStep: 0}\n", "")
    release = (REPO / RELEASES).read_text(encoding="utf-8").split("---\n")[1]
    release = (release.replace("pump-failure-1-4-0", "pump-failure-1-5-0").replace("1.4.0", "1.5.0")
               .replace("    - {approver: omar@acme.example, role: risk-officer, date: 2026-11-11, "
                        "reason: Canary at 10% with automated rollback}\n", "")
               .replace("    - {environment: staging, role: champion}\n", ""))
    (repo / "specs/releases/pump-failure-1-5-0.yaml").write_text(release, encoding="utf-8")
    code, doc = plan_json("--base", "HEAD")
    assert code == 1, "the release fails lint (SO443), so the head side does not compile"
    assert doc["base"]["ok"] and not doc["head"]["ok"]
    so443 = [d for d in doc["head"]["diagnostics"] if d["code"] == "SO443"]
    assert so443 and so443[0]["file"] == "specs/releases/pump-failure-1-5-0.yaml" and so443[0]["line"] > 0
    # A check error leaves the typed specs whole: the meaning and the approvals are still shown.
    assert doc["specsCompared"] and not doc["resourcesCompared"] and doc["resources"] == []
    prod = approval(doc, "pump-failure", "prod")
    assert (prod["required"], prod["recorded"], prod["status"]) == (2, ["dana@acme.example"], "missing")
    created = changes_of(doc, "ModelRelease/pump-failure-1-5-0")[""]
    assert (created["action"], created["note"]) == ("created", "pump-failure 1.5.0: prod canary 10%; 1 approval(s)")
    code, out, _ = plan("--base", "HEAD")
    assert code == 1
    assert "working tree does not compile" in out and "error[SO443]" in out
    assert re.search(r"pump-failure\s+│\s+prod\s+│\s+2 \(ml-lead or", out), out
    assert "MISSING" in out


def test_deleted_model_deletes_its_resources(repo: Path) -> None:
    for file in (MODEL, RELEASES, "specs/slos/pump-failure.yaml"):
        (repo / file).unlink()
    code, doc = plan_json("--base", "HEAD")
    assert code == 0, doc["head"]["diagnostics"]
    deleted = {r["path"] for r in doc["resources"] if r["action"] == "deleted"}
    for env in ("prod", "staging"):
        assert f"generated/{env}/inferenceservice-pump-failure.yaml" in deleted
    assert "generated/staging/workflowtemplate-pump-failure-training.yaml" in deleted
    assert "generated/runtime/pump-failure/train.json" in deleted
    assert not [r for r in doc["resources"] if r["action"] == "created"]
    assert {"resource": "Model/pump-failure", "action": "deleted"}.items() <= changes_of(doc, "Model/pump-failure")[""].items()
    # Taking a high-risk model out of production is governed by the base's policy.
    assert approval(doc, "pump-failure", "prod")["status"] == "review"


def test_new_specs_against_a_base_without_any(repo: Path) -> None:
    (repo / "README.md").write_text("empty\n", encoding="utf-8")
    git(repo, "checkout", "-q", "--orphan", "bare")
    git(repo, "rm", "-rq", "--cached", ".")
    git(repo, "add", "README.md")
    git(repo, "commit", "-q", "--no-gpg-sign", "-m", "no specs yet")
    code, doc = plan_json("--base", "HEAD")
    assert code == 0
    assert doc["resources"] and {r["action"] for r in doc["resources"]} == {"created"}
    assert "Model/pump-failure" in {c["resource"] for c in doc["changes"] if c["action"] == "created"}


# ------------------------------------------------------------------ failures and usage


def test_base_that_does_not_compile(repo: Path) -> None:
    edit(repo, MODEL, "gap: 24h", "gap: 12h")
    commit_all(repo, "a broken base")
    edit(repo, MODEL, "gap: 12h", "gap: 24h")
    code, out, _ = plan("--base", "HEAD")
    assert code == 1
    assert "base HEAD (" in out and ") does not compile (1 error(s))" in out
    assert f"{MODEL}:28:10: error[SO403]: validation gap 12h is shorter than the label horizon 24h" in out
    code, doc = plan_json("--base", "HEAD")
    assert not doc["base"]["ok"] and doc["head"]["ok"] and not doc["resourcesCompared"]
    assert [(d["code"], d["file"], d["line"]) for d in doc["base"]["diagnostics"] if d["severity"] == "error"] == [
        ("SO403", MODEL, 28)]


def test_base_that_does_not_validate_is_not_compared(repo: Path) -> None:
    edit(repo, MODEL, "  task: binary_classification", "  task: binary_clasification")
    commit_all(repo, "an invalid base")
    edit(repo, MODEL, "  task: binary_clasification", "  task: binary_classification")
    code, doc = plan_json("--base", "HEAD")
    assert code == 1
    # The base lost its Model in validation: comparing would call it "created".
    assert not doc["specsCompared"] and doc["changes"] == [] and doc["approvals"] == []
    assert any(d["code"] == "SO204" and d["file"] == MODEL for d in doc["base"]["diagnostics"])


def test_unknown_ref_is_a_usage_error(repo: Path) -> None:
    code, out, err = plan("--base", "no-such-branch")
    assert code == 2 and out == ""
    assert err.strip() == f"plan: unknown revision 'no-such-branch': no such branch, tag or commit in {repo}"
    code, _, err = plan("--base", "--upload-pack=touch x")
    assert code == 2 and "is not a git revision" in err and not (repo / "x").exists()
    code, out, err = plan("--base", "HEAD", "nope/")
    assert (code, out) == (2, "") and err.startswith("plan: 'nope' exists neither in the working tree nor at HEAD (")


def test_not_a_git_repository(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    shutil.copytree(REPO / "specs", tmp_path / "specs")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path.parent))
    code, out, err = plan("--base", "HEAD")
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and "is not inside a git repository" in err


# ------------------------------------------------------------------ the user's tree is untouched


def _state(root: Path) -> tuple[str, dict[str, str]]:
    status = git(root, "status", "--porcelain=v1", "--untracked-files=all")
    hashes = {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
              for p in sorted(root.rglob("*")) if p.is_file() and ".git/objects/" not in p.as_posix()}
    return status, hashes


def test_working_tree_and_index_are_untouched(repo: Path) -> None:
    edit(repo, MODEL, "{metric: pr_auc, min: 0.25}", "{metric: pr_auc, min: 0.2}")
    git(repo, "add", MODEL)  # staged
    edit(repo, MODEL, "steps: [10, 25, 50, 100]", "steps: [5, 25, 50, 100]")  # and unstaged on top
    (repo / "specs/notes.txt").write_text("untracked\n", encoding="utf-8")
    before = _state(repo)
    index = (repo / ".git/index").read_bytes()
    for fmt in ("text", "json", "markdown"):
        code, _, _ = plan("--base", "HEAD", "--format", fmt)
        assert code == 0
    assert _state(repo) == before
    assert (repo / ".git/index").read_bytes() == index
    assert before[0].splitlines() == [f"MM {MODEL}", "?? specs/notes.txt"]


# ------------------------------------------------------------------ formats


def test_json_and_markdown_are_deterministic_and_carry_the_key_facts(repo: Path) -> None:
    edit(repo, MODEL, "{metric: pr_auc, min: 0.25}", "{metric: pr_auc, min: 0.2}")
    runs = [plan("--base", "HEAD", "--format", fmt)[1] for fmt in ("json", "json", "markdown", "markdown")]
    assert runs[0] == runs[1] and runs[2] == runs[3]
    doc = json.loads(runs[0])
    assert doc["schemaVersion"] == 1
    assert list(doc) == sorted(doc)
    md = runs[2]
    lines = md.splitlines()
    assert lines[0].startswith("### specops plan: `base HEAD (") and lines[0].endswith("→ working tree")
    assert md.index("resource(s) changed") < md.index("<details>"), "the summary comes before the details"
    assert "| pump-failure | prod | 2 | ml-lead, risk-officer | RiskPolicy/high-risk-governance, " in md
    assert "needs approval on this pull request" in md
    assert "- `spec.gates[pr_auc].min: 0.25 -> 0.2 [loosened]`" in md
    assert md.count("<details") == md.count("</details>") >= 3
    assert "| ~ updated | InferenceService | pm-prod/pump-failure | `generated/prod/inferenceservice-pump-failure.yaml` | " in md
    assert "`/gates/0/min: 0.25 -> 0.2`" in md


def test_output_file(repo: Path) -> None:
    code, out, _ = plan("--base", "HEAD", "--format", "markdown", "--output", "plan.md")
    assert code == 0 and out == ""
    assert (repo / "plan.md").read_text(encoding="utf-8").startswith("### specops plan")


# ------------------------------------------------------------------ pure stages


def test_semantic_diff_ignores_explicit_defaults(tmp_path: Path) -> None:
    shutil.copytree(REPO / "specs", tmp_path / "specs")
    base = lint_paths([tmp_path / "specs"], base=str(tmp_path)).spec
    edit(tmp_path, SENSORS, "  freshness:\n    maxAge: 30m\n", "  freshness:\n    maxAge: 30m\n    severity: error\n")
    head = lint_paths([tmp_path / "specs"], base=str(tmp_path)).spec
    assert diff_specs(base, head) == ()


def test_change_stages_are_pure() -> None:
    forbidden = ("datetime.now", "time.time", "os.environ", "open(", "read_text", "read_bytes", "getenv",
                 "subprocess", "date.today")
    for path in sorted((REPO / "compiler/change").rglob("*.py")):
        if path.name == "revision.py":
            continue  # the one module that runs git
        text = path.read_text(encoding="utf-8")
        for word in forbidden:
            assert word not in text, f"{path.relative_to(REPO)} uses {word}"


def test_weakening_a_policy_needs_the_approvals_of_the_old_policy(repo: Path) -> None:
    edit(repo, "policies/high-risk.yaml", "{environment: prod, count: 2, roles: [ml-lead, risk-officer]}",
         "{environment: prod, count: 1, roles: [ml-lead, risk-officer]}")
    code, doc = plan_json("--base", "HEAD")
    assert code == 0
    change = changes_of(doc, "RiskPolicy/high-risk-governance")["spec.approvals[prod].count"]
    assert (change["category"], change["effect"]) == ("policy approvals", "loosened")
    prod = approval(doc, "pump-failure", "prod")
    assert prod["required"] == 2, "the stricter of base and head applies"
    assert prod["status"] == "review"


def test_promotion_to_champion_is_met_by_the_release_records(repo: Path) -> None:
    edit(repo, RELEASES, "    - {environment: prod, role: champion}\n", "")  # 1.3.0 leaves prod
    edit(repo, RELEASES, "{environment: prod, role: canary, canaryStep: 0}", "{environment: prod, role: champion}")
    code, doc = plan_json("--base", "HEAD")
    assert code == 0, doc["head"]["diagnostics"]
    notes = [c["note"] for c in doc["changes"] if c["note"]]
    assert notes == ["prod: champion -> not deployed", "prod: canary 10% -> champion"], doc["changes"]
    prod = approval(doc, "pump-failure", "prod")
    assert (prod["status"], prod["recorded"]) == ("met", ["dana@acme.example", "omar@acme.example"])
    isvc = resource(doc, "generated/prod/inferenceservice-pump-failure.yaml")
    assert {"pointer": "/spec/predictor/canaryTrafficPercent", "before": 10, "after": None} in isvc["fields"]


def test_rollback_without_a_replacement_needs_review(repo: Path) -> None:
    edit(repo, RELEASES, "    - {environment: prod, role: canary, canaryStep: 0}\n", "")
    code, doc = plan_json("--base", "HEAD")
    assert code == 0, doc["head"]["diagnostics"]
    assert changes_of(doc, "ModelRelease/pump-failure-1-4-0")["spec.deployments[prod]"]["note"] == (
        "prod: canary 10% -> not deployed")
    assert approval(doc, "pump-failure", "prod")["status"] == "review"


def test_document_changes_match_named_items() -> None:
    from compiler.change.resources import document_changes

    before = {"env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]}
    after = {"env": [{"name": "B", "value": "3"}, {"name": "C", "value": "4"}, {"name": "A", "value": "1"}]}
    got = [(f.pointer, f.before, f.after) for f in document_changes(before, after)]
    assert got == [("/env/0/value", "2", "3"), ("/env/1", None, {"name": "C", "value": "4"})]
    embedded = {"data": {"x.json": '{"gates": [{"min": 0.25}]}'}}
    changed = {"data": {"x.json": '{"gates": [{"min": 0.2}]}'}}
    assert [(f.pointer, f.before, f.after) for f in document_changes(embedded, changed)] == [
        ("/data/x.json/gates/0/min", 0.25, 0.2)]


def test_markdown_lists_at_most_max_rows_per_environment(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from compiler.change.render import markdown

    monkeypatch.setattr(markdown, "MAX_ROWS", 2)
    edit(repo, MODEL, "{metric: pr_auc, min: 0.25}", "{metric: pr_auc, min: 0.2}")
    _, md, _ = plan("--base", "HEAD", "--format", "markdown")
    hidden = re.search(r"and (\d+) more resource\(s\) in runtime: `specops plan --format json` lists them all\.", md)
    assert hidden and int(hidden.group(1)) >= 1, md
    assert md.count("| ~ updated | StepConfig |") == 2
