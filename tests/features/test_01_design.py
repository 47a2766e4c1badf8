"""Stage 1, design (01_design.feature): lint, compile --check and plan on a
pull request.  Nearly every step is shared (conftest.py); these read the
generated manifests a compile left behind."""

from __future__ import annotations

import json
from typing import Any

import yaml
from pytest_bdd import parsers, scenarios, then

scenarios("01_design.feature")

ANNOTATION_RELEASE = "specops.dev/release"


def q(name: str) -> str:
    """A quoted step argument (as in conftest.py)."""
    return f'"(?P<{name}>[^"]*)"'


@then(parsers.re(rf"{q('file')} serves release {q('release')}(?P<alone> without a canary)?"))
def serves_release(lint_ci: Any, file: str, release: str, alone: str | None) -> None:
    (isvc,) = yaml.safe_load_all((lint_ci.root / file).read_bytes())
    assert isvc["kind"] == "InferenceService"
    assert isvc["metadata"]["annotations"][ANNOTATION_RELEASE] == release
    if alone:
        assert "canaryTrafficPercent" not in isvc["spec"]["predictor"], isvc["spec"]["predictor"]


@then(parsers.re(rf"every deleted file was listed in the previous {q('manifest')}"))
def deleted_were_generated(lint_ci: Any, manifest: str) -> None:
    listed = json.loads(lint_ci.before_run[manifest])["files"]
    deleted = lint_ci.before_run.keys() - {p.relative_to(lint_ci.root).as_posix()
                                           for p in lint_ci.root.rglob("*") if p.is_file()}
    assert deleted, "nothing was deleted"
    assert not deleted - listed.keys(), f"deleted files specops did not write: {sorted(deleted - listed.keys())}"


@then("the approvals table comes before the first collapsed section")
def approvals_first(lint_ci: Any) -> None:
    out = lint_ci.run.stdout
    assert "| model | environment |" in out and "<details>" in out
    assert out.index("| model | environment |") < out.index("<details>")
