"""The compiled serve configs: the local variant `specops serve` runs and the
cluster variant in each InferenceService's ConfigMap, and how `specops serve`
locates one."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from compiler.serve import ServeError, serve_command
from runtime.contracts.steps import ServeConfig

REPO = Path(__file__).resolve().parents[3]


def cluster_config(env: str) -> ServeConfig:
    [path] = sorted((REPO / "generated" / env).glob("configmap-pump-failure-serve-*.yaml"))
    doc = yaml.safe_load(path.read_text())
    return ServeConfig.model_validate_json(doc["data"][f"serve-{env}.json"])


def test_the_local_variant_serves_the_registry_on_loopback() -> None:
    local = ServeConfig.model_validate_json((REPO / "generated/runtime/pump-failure/serve.json").read_text())
    assert local.release is None and local.registry_aliases == ("champion", "candidate")
    assert (local.host, local.port, local.environment) == ("127.0.0.1", 8080, "local")
    assert local.artifacts.uri == ".specops/artifacts"
    assert local.online_store is not None and local.online_store.url == "sqlite:///.specops/online/features.sqlite"
    assert [s.name for s in local.sources or ()] == ["sensor-events"]
    assert local.policy_bundle == "generated/runtime/pump-failure/policy-bundle.json"


@pytest.mark.parametrize("env", ["staging", "prod"])
def test_the_cluster_variant_serves_the_git_release_on_every_interface(env: str) -> None:
    config = cluster_config(env)
    assert config.release is not None and config.release.uri.startswith("s3://")
    assert config.registry_aliases is None and config.host is None and config.port is None
    assert [s.name for s in config.sources or ()] == ["sensor-events"]  # fresh events are contract-checked there too


def test_a_serve_config_names_exactly_one_source_of_its_model() -> None:
    raw = json.loads((REPO / "generated/runtime/pump-failure/serve.json").read_text())
    with pytest.raises(ValidationError, match="exactly one of release"):
        ServeConfig.model_validate({**raw, "registry_aliases": None})
    release = cluster_config("prod").release
    assert release is not None
    with pytest.raises(ValidationError, match="exactly one of release"):
        ServeConfig.model_validate({**raw, "release": release.model_dump()})


def test_specops_serve_locates_the_config_and_passes_overrides(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "generated"
    for model in ("a", "b"):
        (out / "runtime" / model).mkdir(parents=True)
        (out / "runtime" / model / "serve.json").write_text("{}")
    monkeypatch.setenv("SPECOPS_SERVE_PORT", "1")  # a stale override in the caller's shell is not inherited
    with pytest.raises(ServeError, match="several models can be served \\(a, b\\); choose one with --model"):
        serve_command(out, None, None, None, False)
    with pytest.raises(ServeError, match="no local serve config for model 'c'; models: a, b"):
        serve_command(out, "c", None, None, False)
    command = serve_command(out, "b", "127.0.0.2", 9000, True)
    assert command.argv[1:] == ("-m", "runtime", "serve", "--config", "generated/runtime/b/serve.json")
    assert command.cwd == tmp_path.resolve()
    assert (command.env["SPECOPS_SERVE_HOST"], command.env["SPECOPS_SERVE_PORT"], command.env["SPECOPS_SERVE_ACCESS_LOG"]) \
        == ("127.0.0.2", "9000", "1")
    assert "SPECOPS_SERVE_PORT" not in serve_command(out, "a", None, None, False).env
    with pytest.raises(ServeError, match="no local serve config"):
        serve_command(tmp_path / "empty", None, None, None, False)


def test_python_m_runtime_serve_refuses_a_bad_port_with_one_line(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    result = subprocess.run([sys.executable, "-m", "runtime", "serve", "--config",
                             str(REPO / "generated/runtime/pump-failure/serve.json")], cwd=tmp_path, capture_output=True,
                            text=True, timeout=120, env={**os.environ, "SPECOPS_SERVE_PORT": "eighty"})
    assert result.returncode == 2
    assert result.stderr.strip() == ("error: serve pump-failure: SPECOPS_SERVE_PORT='eighty' is not a port number "
                                     "(1-65535)")
