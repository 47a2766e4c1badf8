"""The generated edge Deployment runs this runner: its command resolves to
the edge-run step, its config is a valid EdgeRunConfig, its probes hit paths
and the port the runner serves, the trusted key is mounted where the config
says, and the bundle store is on a claim, which is what lets a replaced pod
serve without reaching the artifact store."""

from __future__ import annotations

import json
import posixpath
import shutil
from pathlib import Path
from typing import Any

import yaml
from edge_bundles import copy_release, edge_config

from runtime.cli import load_config
from runtime.contracts.steps import EDGE_STORE_DIR, EDGE_TRUST_KEY_FILE, EdgeRunConfig
from runtime.edge.http import HEALTH_PATH, READY_PATH
from runtime.edge.loaded import CheckPolicy
from runtime.edge.runner import EdgeRunner
from runtime.export.signing import load_public_key
from runtime.steps import STEP_ALIASES, STEP_MODULES
from runtime.steps.edge_run import DEFAULT_PORT

REPO = Path(__file__).resolve().parents[3]
EDGE = REPO / "generated" / "edge"


def _generated() -> tuple[dict[str, Any], dict[str, Any], EdgeRunConfig, str]:
    """The edge Deployment, its container, the config it mounts (loaded by the runtime) and that config's path."""
    [path] = sorted(EDGE.glob("deployment-*.yaml"))
    deployment = yaml.safe_load(path.read_text())
    [container] = deployment["spec"]["template"]["spec"]["containers"]
    config_path = container["args"][2]
    in_pod = Path(container["workingDir"]) / config_path
    mount = next(m for m in container["volumeMounts"] if Path(m["mountPath"]) == in_pod.parent)
    volume = _volume(deployment, mount["name"])
    [cm_path] = EDGE.glob(f"configmap-{volume['configMap']['name']}.yaml")
    data = yaml.safe_load(cm_path.read_text())["data"][Path(config_path).name]
    return deployment, container, EdgeRunConfig.model_validate_json(data), data


def _volume(deployment: dict[str, Any], name: str) -> dict[str, Any]:
    return next(v for v in deployment["spec"]["template"]["spec"]["volumes"] if v["name"] == name)


def _mount_at(container: dict[str, Any], path: str) -> dict[str, Any]:
    [mount] = [m for m in container["volumeMounts"] if m["mountPath"] == path]
    return mount


def test_generated_edge_deployment_matches_the_runner(tmp_path: Path) -> None:
    deployment, container, _, data = _generated()
    assert container["command"] == ["python", "-m", "runtime"]
    step, flag, config_path = container["args"]
    assert STEP_MODULES[STEP_ALIASES.get(step, step)] == "runtime.steps.edge_run" and flag == "--config"
    (tmp_path / "edge-run.json").write_text(data)
    config = load_config("edge-run", tmp_path / "edge-run.json")
    assert isinstance(config, EdgeRunConfig) and config.bundle.sha256 == json.loads(data)["bundle"]["sha256"]
    port = config.port if config.port is not None else DEFAULT_PORT
    assert {p["containerPort"] for p in container["ports"]} == {port}
    # Alive while the process answers; ready only once a verified bundle serves.
    assert container["livenessProbe"]["httpGet"] == {"path": HEALTH_PATH, "port": port}
    assert container["readinessProbe"]["httpGet"] == {"path": READY_PATH, "port": port}


def test_the_config_carries_the_environment_and_the_models_latency_budget() -> None:
    _, _, config, _ = _generated()
    model = yaml.safe_load((REPO / "specs" / "models" / "pump-failure.yaml").read_text())
    assert config.environment == "edge"
    assert config.max_latency_ms == model["spec"]["export"]["edge"]["maxLatencyMs"]
    assert config.trusted_key_file == EDGE_TRUST_KEY_FILE and not config.allow_throwaway_key


def test_the_trusted_key_is_mounted_read_only_where_the_runner_reads_it() -> None:
    deployment, container, config, _ = _generated()
    mount = _mount_at(container, posixpath.dirname(config.trusted_key_file))
    assert mount["readOnly"] is True
    source = _volume(deployment, mount["name"])["configMap"]
    system = yaml.safe_load((REPO / "specs" / "system.yaml").read_text())["spec"]["edge"]["trustedKey"]["configMapRef"]
    assert source["name"] == system["name"]
    assert source["items"] == [{"key": system["key"], "path": posixpath.basename(config.trusted_key_file)}]


def test_the_bundle_store_is_on_a_claim_mounted_at_the_runners_store_root(tmp_path: Path, releases: Any) -> None:
    deployment, container, config, _ = _generated()
    # Where the real runner keeps its store, for this config's work_dir.
    runner = EdgeRunner(config.model_copy(update={"work_dir": str(tmp_path / config.work_dir)}),
                        CheckPolicy(load_public_key(releases.trusted.read_bytes()), False, 1e-4, None))
    store = runner.store.root.relative_to(tmp_path)
    assert store == Path(config.work_dir) / EDGE_STORE_DIR
    mount = _mount_at(container, str(Path(container["workingDir"]) / store))
    claim_name = _volume(deployment, mount["name"])["persistentVolumeClaim"]["claimName"]
    claim = yaml.safe_load((EDGE / f"persistentvolumeclaim-{claim_name}.yaml").read_text())
    assert claim["spec"]["accessModes"] == ["ReadWriteOnce"]
    assert claim["spec"]["resources"]["requests"]["storage"] == "256Mi"
    # One writer: the old pod is gone before the new one mounts the claim.
    assert deployment["spec"]["strategy"]["type"] == "Recreate"
    # Synced with the Deployment: a WaitForFirstConsumer claim is Pending until the pod is scheduled.
    wave = "argocd.argoproj.io/sync-wave"
    assert claim["metadata"]["annotations"][wave] == deployment["metadata"]["annotations"][wave]


def _start(work: Path, release: Any, releases: Any) -> EdgeRunner:
    config = EdgeRunConfig.model_validate(edge_config(work, release, releases.trusted))
    runner = EdgeRunner(config, CheckPolicy(load_public_key(releases.trusted.read_bytes()), False,
                                            config.health_tolerance, config.max_latency_ms))
    runner.start()
    return runner


def test_a_replaced_pod_serves_from_the_kept_store_without_the_artifact_store(tmp_path: Path, releases: Any) -> None:
    """Why a claim and not an emptyDir: a gateway that lost its uplink restarts its pod."""
    release = copy_release(releases.v1, tmp_path / "release")
    first = _start(tmp_path / "claim", release, releases)
    assert first.active is not None and first.active.version == "1.0.0"
    shutil.rmtree(release.root)  # the artifact store is unreachable from now on
    # The replaced pod on the same claim: re-verified from disk, serving at once.
    replaced = _start(tmp_path / "claim", release, releases)
    assert replaced.active is not None and replaced.active.manifest_sha256 == first.active.manifest_sha256
    # The same pod on an emptyDir: nothing to serve until the store is back.
    fresh = _start(tmp_path / "empty-dir", release, releases)
    assert fresh.active is None and fresh.history[-1].reason == "fetch_failed"
