"""terraform/ without a terraform binary (none can be fetched here): every
file parses (python-hcl2), the compiler's tfvars match the root module's
declared variables in name and type, every required variable is set by the
tfvars or is a documented secret input, module calls match their modules'
variables, every helm_release has an exact chart version, every provider is
pinned, and every checkov skip carries a reason."""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path
from typing import Any

import hcl2
import pytest

from compiler.emit.backends import terraform as tf_backend
from compiler.emit.terraform_models import TerraformVars

TERRAFORM = Path(__file__).resolve().parents[2] / "terraform"
GENERATED_TFVARS = sorted((TERRAFORM.parent / "generated" / "terraform").glob("*.auto.tfvars.json"))

# Variables the compiler does not set: secret inputs (sensitive, never in git,
# documented in terraform/README.md) and operator inputs with defaults.
SECRET_INPUTS = {"secret_values", "gitops_repo_credentials"}
EXACT_VERSION = re.compile(r"^v?\d+\.\d+\.\d+$")


# ------------------------------------------------------------------ parsing


def _unquote(value: Any) -> Any:
    """python-hcl2 keeps the quotes of string literals and wraps expressions in ${...}."""
    if isinstance(value, str):
        if len(value) >= 2 and value[0] == value[-1] == '"':
            return value[1:-1]
        if value.startswith("${") and value.endswith("}"):
            return value[2:-1]
        return value
    if isinstance(value, dict):
        return {_unquote(k): _unquote(v) for k, v in value.items() if k != "__is_block__"}
    if isinstance(value, list):
        return [_unquote(v) for v in value]
    return value


@cache
def _parse(path: Path) -> dict[str, Any]:
    with path.open(encoding="utf-8") as fh:
        return _unquote(hcl2.load(fh))


def _modules() -> list[Path]:
    return [TERRAFORM, *sorted(p for p in (TERRAFORM / "modules").iterdir() if p.is_dir())]


def _blocks(module: Path, kind: str) -> list[tuple[Path, dict[str, Any]]]:
    out = []
    for f in sorted(module.glob("*.tf")):
        for block in _parse(f).get(kind, []):
            out.append((f, block))
    return out


def _variables(module: Path) -> dict[str, dict[str, Any]]:
    return {name: body for _, block in _blocks(module, "variable") for name, body in block.items()}


def _resources(module: Path, rtype: str | None = None) -> list[tuple[Path, str, str, dict[str, Any]]]:
    out = []
    for f, block in _blocks(module, "resource"):
        for t, named in block.items():
            for name, body in named.items():
                if rtype is None or t == rtype:
                    out.append((f, t, name, body))
    return out


# A Terraform type constraint as data: ("string",), ("list", T), ("object", {k: T}) ...
Type = tuple[Any, ...]


def _parse_type(text: str) -> Type:
    tokens = re.findall(r"[A-Za-z_][A-Za-z0-9_]*|[(){}=,]", text)
    pos = 0

    def take(expected: str | None = None) -> str:
        nonlocal pos
        tok = tokens[pos]
        assert expected is None or tok == expected, f"expected {expected!r} at {tok!r} in {text!r}"
        pos += 1
        return tok

    def parse() -> Type:
        name = take()
        if name in ("string", "number", "bool", "any"):
            return (name,)
        take("(")
        if name == "object":
            take("{")
            fields: dict[str, Type] = {}
            while tokens[pos] != "}":
                key = take()
                take("=")
                fields[key] = parse()
                if tokens[pos] == ",":
                    take(",")
            take("}")
            take(")")
            return ("object", fields)
        inner = parse()
        take(")")
        return (name, inner)

    result = parse()
    assert pos == len(tokens), f"trailing tokens in type {text!r}"
    return result


def _conforms(value: Any, t: Type, where: str) -> list[str]:
    """Problems (empty when none) of a JSON value against a Terraform type, as Terraform converts them."""
    kind = t[0]
    if value is None:
        return []  # null is allowed unless nullable = false (none here)
    if kind == "any":
        return []
    if kind == "string":
        return [] if isinstance(value, str) else [f"{where}: {value!r} is not a string"]
    if kind == "bool":
        return [] if isinstance(value, bool) else [f"{where}: {value!r} is not a bool"]
    if kind == "number":
        return [] if isinstance(value, (int, float)) and not isinstance(value, bool) else [f"{where}: not a number"]
    if kind in ("list", "set"):
        if not isinstance(value, list):
            return [f"{where}: {value!r} is not a list"]
        return [p for i, v in enumerate(value) for p in _conforms(v, t[1], f"{where}[{i}]")]
    if kind == "map":
        if not isinstance(value, dict):
            return [f"{where}: {value!r} is not a map"]
        return [p for k, v in value.items() for p in _conforms(v, t[1], f"{where}.{k}")]
    if kind == "object":
        if not isinstance(value, dict):
            return [f"{where}: {value!r} is not an object"]
        fields = t[1]
        problems = [f"{where}.{k}: not an attribute of the declared object type" for k in value if k not in fields]
        problems += [f"{where}.{k}: missing (the type requires it)" for k in fields if k not in value]
        return problems + [p for k, ft in fields.items() if k in value for p in _conforms(value[k], ft, f"{where}.{k}")]
    return [f"{where}: unknown type {t!r}"]


# -------------------------------------------------------------------- tests


def test_every_file_parses() -> None:
    files = sorted(TERRAFORM.rglob("*.tf"))
    assert len(files) >= 15, files
    for f in files:
        assert isinstance(_parse(f), dict), f


def test_type_parser_and_checker_catch_mismatches() -> None:
    t = _parse_type("list(object({name = string, keys = list(string), type = string}))")
    assert t == ("list", ("object", {"name": ("string",), "keys": ("list", ("string",)), "type": ("string",)}))
    assert _conforms([{"name": "a", "keys": ["k"], "type": "Opaque"}], t, "v") == []
    assert _conforms([{"name": "a", "keys": "k", "type": "Opaque"}], t, "v") == ["v[0].keys: 'k' is not a list"]
    assert _conforms([{"name": "a", "keys": []}], t, "v") == ["v[0].type: missing (the type requires it)"]
    assert _conforms({"x": True}, _parse_type("map(string)"), "m") == ["m.x: True is not a string"]


def test_generated_tfvars_exist_for_every_cloud_environment(plan) -> None:
    expected = {f"{e.name}.auto.tfvars.json" for e in plan.environments if e.kind == "cloud"}
    assert {p.name for p in GENERATED_TFVARS} == expected


@pytest.mark.parametrize("tfvars", GENERATED_TFVARS, ids=lambda p: p.name)
def test_tfvars_match_declared_variables(tfvars: Path) -> None:
    declared = _variables(TERRAFORM)
    values = json.loads(tfvars.read_text(encoding="utf-8"))
    unknown = sorted(set(values) - set(declared))
    assert not unknown, f"{tfvars.name} sets undeclared variables {unknown}"
    problems = [p for k, v in values.items() for p in _conforms(v, _parse_type(declared[k]["type"]), k)]
    assert not problems, problems
    required = {k for k, body in declared.items() if "default" not in body}
    missing = sorted(required - set(values) - SECRET_INPUTS)
    assert not missing, f"required variables neither in {tfvars.name} nor documented secret inputs: {missing}"


def test_model_fields_are_the_compiler_set_variables() -> None:
    """Every TerraformVars field is a root variable (a field the example's
    tfvars omit, because it is None there, is still checked by name)."""
    declared = _variables(TERRAFORM)
    assert set(TerraformVars.model_fields) <= set(declared)
    for name in TerraformVars.model_fields:
        assert "type" in declared[name], name
        # A None-able field needs a null default, so omitting it is valid.
        annotation = str(TerraformVars.model_fields[name].annotation)
        if "None" in annotation:
            assert declared[name].get("default", "unset") is None, name


def test_secret_inputs_are_sensitive_and_documented() -> None:
    declared = _variables(TERRAFORM)
    readme = (TERRAFORM / "README.md").read_text(encoding="utf-8")
    for name in SECRET_INPUTS:
        assert declared[name].get("sensitive") is True, name
        assert declared[name].get("default", None) is None, f"{name}: a secret input has no default value"
        assert f"`{name}`" in readme, f"{name} is not documented in terraform/README.md"
    for name, body in declared.items():
        assert body.get("description"), f"variable {name} has no description"
        if body.get("sensitive"):
            assert name in SECRET_INPUTS, f"{name} is sensitive but not a documented secret input"


def test_tfvars_never_hold_secret_values() -> None:
    for tfvars in GENERATED_TFVARS:
        values = json.loads(tfvars.read_text(encoding="utf-8"))
        assert not set(values) & SECRET_INPUTS
        for secret in values["secrets"]:
            assert set(secret) == {"name", "keys", "type"}


def test_every_helm_release_pins_an_exact_chart_version() -> None:
    releases = [r for m in _modules() for r in _resources(m, "helm_release")]
    charts = {body["chart"] for _, _, _, body in releases}
    assert {"argo-cd", "argo-workflows", "knative-operator", "kserve", "kserve-crd", "cert-manager"} <= charts
    for f, _, name, body in releases:
        assert EXACT_VERSION.match(str(body.get("version", ""))), f"{f}: helm_release.{name} has no exact version"
        assert str(body.get("repository", "")).startswith(("https://", "oci://")), f"{f}: helm_release.{name}"


def _required_providers(module: Path) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for _, block in _blocks(module, "terraform"):
        for rp in block.get("required_providers", []):
            out.update(rp)
    return out


def test_root_pins_every_provider_exactly() -> None:
    root = _required_providers(TERRAFORM)
    assert set(root) == {"aws", "kubernetes", "helm"}
    for name, spec in root.items():
        assert spec["source"] == f"hashicorp/{name}"
        assert EXACT_VERSION.match(spec["version"]), f"provider {name}: {spec['version']!r} is not an exact version"


def test_every_used_provider_is_declared() -> None:
    root = _required_providers(TERRAFORM)
    for module in _modules():
        declared = _required_providers(module)
        used = {t.split("_", 1)[0] for _, t, _, _ in _resources(module)}
        used |= {t.split("_", 1)[0] for _, block in _blocks(module, "data") for t in block}
        assert used <= set(declared), f"{module.name}: uses {sorted(used - set(declared))} without required_providers"
        for name, spec in declared.items():
            assert spec["source"] == root[name]["source"], (module.name, name)


def test_module_calls_match_module_variables() -> None:
    """What `terraform validate` would say about module arguments."""
    meta = {"source", "count", "for_each", "depends_on", "providers"}
    calls = [body for _, block in _blocks(TERRAFORM, "module") for body in block.values()]
    assert len(calls) == 5
    for call in calls:
        child = (TERRAFORM / call["source"]).resolve()
        variables = _variables(child)
        args = set(call) - meta
        assert args <= set(variables), f"{call['source']}: unknown arguments {sorted(args - set(variables))}"
        required = {k for k, v in variables.items() if "default" not in v}
        assert required <= args, f"{call['source']}: missing arguments {sorted(required - args)}"


def test_every_var_reference_is_declared() -> None:
    for module in _modules():
        declared = set(_variables(module))
        for f in sorted(module.glob("*.tf")):
            used = set(re.findall(r"\bvar\.([A-Za-z_][A-Za-z0-9_]*)", f.read_text(encoding="utf-8")))
            assert used <= declared, f"{f}: undeclared {sorted(used - declared)}"


def test_every_checkov_skip_has_a_reason() -> None:
    skips = 0
    for f in sorted(TERRAFORM.rglob("*.tf")):
        for line in f.read_text(encoding="utf-8").splitlines():
            if "checkov:skip" in line:
                skips += 1
                assert re.search(r"#checkov:skip=CKV2?_[A-Z0-9_]+:\S.{15,}", line), f"{f}: skip without a reason: {line}"
    assert skips >= 1


def test_bucket_is_versioned_encrypted_private_and_kept() -> None:
    module = TERRAFORM / "modules" / "artifact-bucket"
    types = {t for _, t, _, _ in _resources(module)}
    assert {"aws_s3_bucket_versioning", "aws_s3_bucket_server_side_encryption_configuration",
            "aws_s3_bucket_public_access_block", "aws_kms_key"} <= types
    (_, _, _, block), = _resources(module, "aws_s3_bucket_public_access_block")
    assert all(block[k] is True for k in ("block_public_acls", "block_public_policy", "ignore_public_acls",
                                          "restrict_public_buckets"))
    (_, _, _, bucket), = _resources(module, "aws_s3_bucket")
    assert bucket["lifecycle"][0]["prevent_destroy"] is True


def test_root_application_bootstraps_generated_argocd() -> None:
    (_, _, _, app), = [r for r in _resources(TERRAFORM / "modules" / "argocd", "kubernetes_manifest")
                       if r[2] == "root_application"]
    manifest = app["manifest"]
    assert manifest["kind"] == "Application"
    assert manifest["spec"]["source"]["path"] == "var.path"
    assert manifest["spec"]["syncPolicy"]["automated"]["prune"] is False
    assert "finalizers" not in manifest["metadata"]
    root_call = next(body for _, b in _blocks(TERRAFORM, "module") for n, body in b.items() if n == "argocd")
    assert root_call["path"] == "var.gitops.argocd_path"
    for tfvars in GENERATED_TFVARS:
        values = json.loads(tfvars.read_text(encoding="utf-8"))
        assert values["gitops"]["argocd_path"] == "generated/argocd"
        assert values["gitops"]["argocd_namespace"] == tf_backend.ARGOCD_NAMESPACE


def test_tfvars_of_variants_match_declared_types(plan) -> None:
    """Not only the example: artifacts off S3 (null bucket), an image by tag, a pull Secret."""
    import dataclasses

    from compiler.plan import SecretRefPlan

    declared = _variables(TERRAFORM)
    variants = [
        dataclasses.replace(plan, artifacts_uri="gs://b/x"),
        dataclasses.replace(plan, image="registry.example:5000/team/runtime:1.2.3",
                            secret_refs=(*plan.secret_refs, SecretRefPlan("pull", ".dockerconfigjson", ("System/x",)))),
    ]
    for variant in variants:
        for artifact in tf_backend.emit(variant):
            values = json.loads(artifact.content)
            problems = [p for k, v in values.items() for p in _conforms(v, _parse_type(declared[k]["type"]), k)]
            assert not problems, (artifact.path, problems)
    (vars_,) = [json.loads(a.content) for a in tf_backend.emit(variants[1]) if "/prod." in a.path]
    assert vars_["runtime_image"]["repository"] == "registry.example:5000/team/runtime"


def test_a_mistyped_tfvars_value_is_caught() -> None:
    """The check is not vacuous: a tfvars file with a wrong type or a stray key fails."""
    declared = _variables(TERRAFORM)
    values = json.loads(GENERATED_TFVARS[0].read_text(encoding="utf-8"))
    values["install_addons"] = "yes"
    values["secrets"][0]["keys"] = "credentials"
    values["gitops"]["branch"] = "main"
    problems = [p for k, v in values.items() for p in _conforms(v, _parse_type(declared[k]["type"]), k)]
    assert sorted(problems) == ["gitops.branch: not an attribute of the declared object type",
                                "install_addons: 'yes' is not a bool",
                                "secrets[0].keys: 'credentials' is not a list"]


def test_every_declared_variable_is_used() -> None:
    """A variable nothing reads is a tfvars key that silently does nothing."""
    for module in _modules():
        text = "\n".join(f.read_text(encoding="utf-8") for f in sorted(module.glob("*.tf")))
        for name in _variables(module):
            assert re.search(rf"\bvar\.{name}\b", text), f"{module.name}: variable {name} is never used"
