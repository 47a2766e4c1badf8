"""The example system is lint-clean, uses every kind and the default policies,
and its files carry the yaml-language-server modeline."""

from __future__ import annotations

from compiler.lint import lint_paths
from compiler.spec import KINDS


def test_example_lints_clean_with_every_kind(repo):
    result = lint_paths([repo / "specs", repo / "policies"], base=str(repo))
    assert result.diagnostics == ()
    kinds = {node.kind for node in result.spec.nodes.values()}
    assert kinds == set(KINDS)
    policies = {n.name for n in result.spec.nodes.values() if n.kind == "RiskPolicy"}
    assert {"high-risk-governance", "production-baseline", "edge-export"} <= policies


def test_example_policies_have_every_target(repo):
    result = lint_paths([repo / "policies"], base=str(repo))
    targets = {r.target for n in result.spec.nodes.values() for r in n.resource.spec.rules}
    assert targets == {"spec", "admission", "prediction"}


def test_every_spec_file_has_the_schema_modeline(repo):
    for path in sorted([*repo.joinpath("specs").rglob("*.yaml"), *repo.joinpath("policies").rglob("*.yaml")]):
        first = path.read_text().splitlines()[0]
        assert first.startswith("# yaml-language-server: $schema="), path
        target = (path.parent / first.split("=", 1)[1]).resolve()
        assert target == repo / "docs/reference/specops.schema.json", path
