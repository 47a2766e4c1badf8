"""The CI users get: .github/workflows/specops.yml and .pre-commit-hooks.yaml
parse, every `specops` command they run exists with those flags and option
values (checked against the CLI itself), the commands that can run here do
run clean on the example, actions are pinned by commit SHA, permissions are
least-privilege, and the hooks are valid pre-commit hooks."""

from __future__ import annotations

import json
import re
import shlex
import tomllib
from pathlib import Path
from typing import Any

import pytest
import typer.main
import yaml
from typer.testing import CliRunner

from compiler.cli import app

REPO = Path(__file__).resolve().parents[2]
WORKFLOW = REPO / ".github" / "workflows" / "specops.yml"
HOOKS = REPO / ".pre-commit-hooks.yaml"

# Commands the workflow uses that another branch is adding.  Until one is
# registered in the CLI only its name is excused; once it is (after the
# merge) its flags are checked like every other command's, and the entry
# can go.
PENDING_COMMANDS = {"plan": "`specops plan` (PR plan as markdown) is being added on another branch"}

# pre-commit's languages (https://pre-commit.com/#supported-languages).
PRE_COMMIT_LANGUAGES = {"python", "system", "script", "docker", "docker_image", "node", "golang", "rust", "ruby",
                        "conda", "coursier", "dart", "dotnet", "fail", "haskell", "lua", "perl", "pygrep", "r",
                        "swift", "unsupported", "unsupported_script"}


def _workflow() -> dict[str, Any]:
    doc = yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))
    doc["on"] = doc.pop(True, doc.get("on"))  # YAML 1.1 reads the key `on` as true
    return doc


def _hooks() -> list[dict[str, Any]]:
    return yaml.safe_load(HOOKS.read_text(encoding="utf-8"))


def _workflow_commands() -> list[list[str]]:
    """Every `specops ...` invocation in the workflow's run steps, tokenized."""
    out = []
    for job in _workflow()["jobs"].values():
        for step in job["steps"]:
            for line in str(step.get("run", "")).splitlines():
                line = line.split(">", 1)[0].split("|", 1)[0].strip()  # drop redirections and pipes
                if line.startswith("specops "):
                    out.append(shlex.split(line))
    return out


def _hook_commands() -> list[list[str]]:
    return [[*shlex.split(h["entry"]), *h.get("args", [])] for h in _hooks()]


def _cli() -> Any:
    return typer.main.get_command(app)


def _check_invocation(argv: list[str]) -> list[str]:
    """Problems of one `specops <command> ...` against the CLI's declared options."""
    assert argv[0] == "specops", argv
    command = _cli().commands.get(argv[1])
    if command is None:
        return [f"{' '.join(argv)}: no command {argv[1]!r}"]
    options: dict[str, Any] = {}
    for p in command.params:
        for opt in (*p.opts, *(p.secondary_opts or ())):
            if opt.startswith("-"):
                options[opt] = p
    positional = [p for p in command.params if not any(o.startswith("-") for o in p.opts)]
    problems = []
    args = argv[2:]
    i = 0
    positionals = 0
    while i < len(args):
        token = args[i]
        if token.startswith("-"):
            name, _, inline = token.partition("=")
            param = options.get(name)
            if param is None:
                problems.append(f"{' '.join(argv)}: {argv[1]} has no option {name}")
                i += 1
                continue
            if not getattr(param, "is_flag", False):
                value = inline or (args[i + 1] if i + 1 < len(args) else None)
                if value is None:
                    problems.append(f"{' '.join(argv)}: {name} needs a value")
                descriptor = getattr(param, "type_descriptor", None)
                if descriptor is not None and descriptor.is_choice and value is not None:
                    choices = {getattr(c, "value", c) for c in descriptor.choices}
                    if value not in choices:
                        problems.append(f"{' '.join(argv)}: {name} {value!r} is not one of {sorted(choices)}")
                i += 1 if inline else 2
                continue
        else:
            positionals += 1
        i += 1
    if positionals and not positional:
        problems.append(f"{' '.join(argv)}: {argv[1]} takes no arguments")
    return problems


def test_workflow_parses_with_the_expected_jobs() -> None:
    doc = _workflow()
    assert set(doc["on"]) == {"pull_request", "push"}
    assert doc["on"]["push"]["branches"] == ["main"]
    assert set(doc["jobs"]) == {"lint", "compile-check", "plan", "test", "image"}
    assert doc["jobs"]["plan"]["if"] == "github.event_name == 'pull_request'"
    assert "github.event_name == 'push'" in doc["jobs"]["image"]["if"]


def test_workflow_runs_exactly_the_required_commands() -> None:
    commands = [" ".join(c) for c in _workflow_commands()]
    assert "specops compile specs/ --out generated/ --check" in commands
    assert "specops plan --base origin/${{ github.base_ref }} --format markdown" in commands
    assert any(c.startswith("specops lint specs/ --format sarif") for c in commands)


def test_every_specops_command_exists_with_its_flags() -> None:
    problems = []
    registered = set(_cli().commands)
    for argv in [*_workflow_commands(), *_hook_commands()]:
        if argv[1] in PENDING_COMMANDS and argv[1] not in registered:
            continue
        problems += _check_invocation(argv)
    assert not problems, problems


def test_the_checker_catches_bad_invocations() -> None:
    assert _check_invocation(["specops", "lint", "specs/", "--format", "sarif"]) == []
    assert _check_invocation(["specops", "lint", "specs/", "--format", "xml"]) != []
    assert _check_invocation(["specops", "compile", "--chek"]) != []
    assert _check_invocation(["specops", "deploy"]) != []
    assert _check_invocation(["specops", "version", "extra"]) != []


def test_pending_commands_are_only_the_plan_command() -> None:
    assert set(PENDING_COMMANDS) == {"plan"}
    pending = {argv[1] for argv in [*_workflow_commands(), *_hook_commands()]} - set(_cli().commands)
    assert pending <= set(PENDING_COMMANDS), pending


def test_lint_and_compile_check_run_clean_here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The workflow's lint (SARIF) and compile --check, run for real on the example."""
    monkeypatch.chdir(REPO)
    runner = CliRunner()
    sarif = tmp_path / "specops.sarif"
    result = runner.invoke(app, ["lint", "specs/", "--format", "sarif", "--output", str(sarif)])
    assert result.exit_code == 0, result.output
    assert json.loads(sarif.read_text(encoding="utf-8"))["version"] == "2.1.0"
    result = runner.invoke(app, ["compile", "specs/", "--out", "generated/", "--check"])
    assert result.exit_code == 0, result.output


def test_third_party_actions_are_pinned_by_sha() -> None:
    uses = [step["uses"] for job in _workflow()["jobs"].values() for step in job["steps"] if "uses" in step]
    assert len(uses) >= 10
    for ref in uses:
        assert re.fullmatch(r"[\w.-]+/[\w./-]+@[0-9a-f]{40}", ref), f"{ref} is not pinned by commit SHA"
    text = WORKFLOW.read_text(encoding="utf-8")
    for ref in set(uses):  # each pin says which release it is
        assert re.search(re.escape(ref) + r" # v\d+\.\d+\.\d+", text), ref


def test_permissions_are_least_privilege() -> None:
    doc = _workflow()
    assert doc["permissions"] == {}
    expected = {
        "lint": {"contents": "read", "security-events": "write"},
        "compile-check": {"contents": "read"},
        "plan": {"contents": "read", "pull-requests": "write"},
        "test": {"contents": "read"},
        "image": {"contents": "read", "packages": "write"},
    }
    assert {name: job["permissions"] for name, job in doc["jobs"].items()} == expected
    for job in doc["jobs"].values():
        for step in job["steps"]:
            if str(step.get("uses", "")).startswith("actions/checkout@"):
                assert step["with"]["persist-credentials"] is False


def test_image_job_records_the_digest() -> None:
    image = _workflow()["jobs"]["image"]
    assert image["needs"] == ["lint", "compile-check", "test"]
    assert image["outputs"]["digest"] == "${{ steps.build.outputs.digest }}"
    steps = {s.get("id"): s for s in image["steps"] if s.get("id")}
    assert steps["build"]["uses"].startswith("docker/build-push-action@")
    assert steps["build"]["with"]["push"] is True
    assert steps["build"]["with"]["tags"].startswith("${{ steps.target.outputs.repository }}:")
    assert any(str(s.get("uses", "")).startswith("actions/upload-artifact@") for s in image["steps"])
    assert any("GITHUB_STEP_SUMMARY" in str(s.get("run", "")) and "DIGEST" in str(s.get("run", "")) for s in image["steps"])


def test_image_repository_comes_from_the_compiled_system_spec(plan) -> None:
    """The image job reads spec.runtime.repository from generated/terraform/*.auto.tfvars.json."""
    repos = {json.loads(p.read_text(encoding="utf-8"))["runtime_image"]["repository"]
             for p in (REPO / "generated" / "terraform").glob("*.auto.tfvars.json")}
    assert repos == {plan.image.split("@")[0]}


def test_pre_commit_hooks_are_valid() -> None:
    hooks = _hooks()
    assert [h["id"] for h in hooks] == ["specops-lint", "specops-compile-check"]
    scripts = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]["scripts"]
    for hook in hooks:
        assert {"id", "name", "entry", "language"} <= set(hook), hook
        assert re.fullmatch(r"[a-z0-9][a-z0-9-]*", hook["id"])
        assert hook["language"] in PRE_COMMIT_LANGUAGES
        assert shlex.split(hook["entry"])[0] in scripts  # installed by language: python
        assert hook["pass_filenames"] is False  # references cross files: always the whole tree
        files = re.compile(hook["files"])
        assert files.search("specs/system.yaml") and not files.search("README.md")
    assert _hook_commands()[0][:2] == ["specops", "lint"]
    assert _hook_commands()[1] == ["specops", "compile", "--check", "specs/", "--out", "generated/"]
