"""The generated edge Deployment runs this runner: its command resolves to
the edge-run step, its config is a valid EdgeRunConfig, and its probes hit
paths and the port the runner serves."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from runtime.cli import load_config
from runtime.contracts.steps import EdgeRunConfig
from runtime.edge.http import HEALTH_PATH, READY_PATH
from runtime.steps import STEP_ALIASES, STEP_MODULES
from runtime.steps.edge_run import DEFAULT_PORT

REPO = Path(__file__).resolve().parents[3]


def test_generated_edge_deployment_matches_the_runner(tmp_path: Path) -> None:
    [path] = sorted((REPO / "generated" / "edge").glob("deployment-*.yaml"))
    deployment = yaml.safe_load(path.read_text())
    [container] = deployment["spec"]["template"]["spec"]["containers"]
    assert container["command"] == ["python", "-m", "runtime"]
    step, flag, config_path = container["args"]
    assert STEP_MODULES[STEP_ALIASES.get(step, step)] == "runtime.steps.edge_run" and flag == "--config"
    # The config the pod mounts is the ConfigMap's key at that path, and the runner loads it.
    in_pod = Path(container["workingDir"]) / config_path
    mount = next(m for m in container["volumeMounts"] if Path(m["mountPath"]) == in_pod.parent)
    volume = next(v for v in deployment["spec"]["template"]["spec"]["volumes"] if v["name"] == mount["name"])
    [cm_path] = (REPO / "generated" / "edge").glob(f"configmap-{volume['configMap']['name']}.yaml")
    data = yaml.safe_load(cm_path.read_text())["data"][Path(config_path).name]
    (tmp_path / "edge-run.json").write_text(data)
    config = load_config("edge-run", tmp_path / "edge-run.json")
    assert isinstance(config, EdgeRunConfig) and config.bundle.sha256 == json.loads(data)["bundle"]["sha256"]
    port = config.port if config.port is not None else DEFAULT_PORT
    assert {p["containerPort"] for p in container["ports"]} == {port}
    for probe in ("livenessProbe", "readinessProbe"):
        get = container[probe]["httpGet"]
        assert get["port"] == port and get["path"] in (HEALTH_PATH, READY_PATH), (probe, get)
