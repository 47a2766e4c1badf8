"""`specops schema`: the committed editor schema is current and accepts the example specs."""

from __future__ import annotations

import json

import jsonschema
import yaml

from compiler.schema import render_schema


def test_committed_schema_is_up_to_date(repo):
    committed = (repo / "docs/reference/specops.schema.json").read_text()
    assert committed == render_schema(), "stale schema: run `make schema`"


def test_schema_accepts_every_example_document(repo):
    schema = json.loads(render_schema())
    validator = jsonschema.Draft202012Validator(schema)
    files = [*repo.joinpath("specs").rglob("*.yaml"), *repo.joinpath("policies").rglob("*.yaml")]
    count = 0
    for path in sorted(files):
        for doc in yaml.safe_load_all(path.read_text()):
            # YAML 1.1 turns dates into date objects; the schema sees strings as editors do.
            doc = json.loads(json.dumps(doc, default=str))
            errors = list(validator.iter_errors(doc))
            assert not errors, (path, [e.message for e in errors[:3]])
            count += 1
    assert count >= 10


def test_schema_rejects_an_unknown_field(repo):
    schema = json.loads(render_schema())
    doc = {"apiVersion": "specops.dev/v1alpha1", "kind": "RiskPolicy", "metadata": {"name": "x"},
           "spec": {"rules": [], "approvals": [{"environment": "prod", "count": 1}], "bogus": 1}}
    assert list(jsonschema.Draft202012Validator(schema).iter_errors(doc))


def test_committed_spec_reference_is_up_to_date(repo):
    from compiler.reference import render_reference

    committed = (repo / "docs/reference/spec-reference.md").read_text()
    assert committed == render_reference(), "stale reference: run `make schema`"
