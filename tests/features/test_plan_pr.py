"""Acceptance: specops plan on a pull request (tests/features/plan_pr.feature).

Shared steps (the repository copy, edits, running specops, "no file was
written") live in conftest.py; these make the copy a git repository and
read the plan's JSON."""

from __future__ import annotations

import json
import os
import subprocess
from typing import Any

from pytest_bdd import given, parsers, scenarios, then

scenarios("plan_pr.feature")

_GIT_ENV = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com", "GIT_COMMITTER_NAME": "t",
            "GIT_COMMITTER_EMAIL": "t@example.com", "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"}


def q(name: str) -> str:
    """A quoted step argument (as in conftest.py)."""
    return f'"(?P<{name}>[^"]*)"'


@given("the copy is a git repository with everything committed")
def committed(lint_ci: Any) -> None:
    for args in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-q", "--no-gpg-sign", "-m", "example"]):
        subprocess.run(["git", "-C", str(lint_ci.root), *args], check=True, capture_output=True, timeout=60,
                       env={**os.environ, **_GIT_ENV})


def _plan(lint_ci: Any) -> dict:
    assert lint_ci.run is not None and "--format" in lint_ci.run.args and "json" in lint_ci.run.args
    return json.loads(lint_ci.run.stdout)


@then(parsers.re(rf"the plan says {q('resource')} {q('path')} was loosened from {q('old')} to {q('new')}"))
def loosened(lint_ci: Any, resource: str, path: str, old: str, new: str) -> None:
    hits = [c for c in _plan(lint_ci)["changes"] if (c["resource"], c["path"]) == (resource, path)]
    assert len(hits) == 1, _plan(lint_ci)["changes"]
    change = hits[0]
    assert (change["before"], change["after"], change["effect"]) == (json.loads(old), json.loads(new), "loosened")


def _approval(lint_ci: Any, model: str, env: str) -> dict:
    hits = [a for a in _plan(lint_ci)["approvals"] if (a["model"], a["environment"]) == (model, env)]
    assert len(hits) == 1, _plan(lint_ci)["approvals"]
    return hits[0]


@then(parsers.re(rf"the plan requires (?P<count>\d+) approvals from {q('roles')} for {q('model')} in {q('env')}, "
                 rf"required by {q('policy')}"))
def requires(lint_ci: Any, count: str, roles: str, model: str, env: str, policy: str) -> None:
    need = _approval(lint_ci, model, env)
    assert need["required"] == int(count)
    assert need["roles"] == [r.strip() for r in roles.split(",")]
    assert policy in need["requiredBy"]


@then("no release record carries them: the approvals are asked of the pull request's reviewers")
def asked_of_reviewers(lint_ci: Any) -> None:
    approvals = _plan(lint_ci)["approvals"]
    assert approvals and all(a["status"] == "review" and a["recorded"] == [] for a in approvals), approvals


@then(parsers.re(rf"the plan requires no approvals in {q('env')}"))
def none_in(lint_ci: Any, env: str) -> None:
    assert not [a for a in _plan(lint_ci)["approvals"] if a["environment"] == env]


@then("the approvals table comes before the first collapsed section")
def approvals_first(lint_ci: Any) -> None:
    out = lint_ci.run.stdout
    assert "| model | environment |" in out and "<details>" in out
    assert out.index("| model | environment |") < out.index("<details>")
