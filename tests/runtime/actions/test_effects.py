"""The real effects of each action: the RuntimeControl file, the local
registry's champion alias, a revert patch `git apply` accepts, a retrain
under a lock (a real subprocess), an Argo Workflow and an InferenceService
patch received by a local HTTP server, pages to a webhook."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from actions_support import S, T0, monitor_config, result
from http_receiver import Receiver

from runtime.actions.effects import ActionEffects
from runtime.actions.enforce import enforce
from runtime.actions.notify import build_notifiers
from runtime.actions.retrain import start_local_retrain
from runtime.actions.state import ActionState
from runtime.audit.database import SqliteDatabase
from runtime.contracts.monitoring import control_path
from runtime.contracts.steps import NotifierConfig
from runtime.registry import Registry

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture
def state(tmp_path: Path) -> ActionState:
    return ActionState(SqliteDatabase(tmp_path / "actions.db")).setup()


def _repo_with_releases(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    (root / "specs" / "releases").mkdir(parents=True)
    shutil.copy(REPO / "specs" / "releases" / "pump-failure.yaml", root / "specs" / "releases" / "pump-failure.yaml")
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    return root


def _register(registry: Registry, tmp_path: Path, tag: str) -> str:
    f = tmp_path / f"model-{tag}.onnx"
    f.write_bytes(f"onnx-{tag}".encode())
    return registry.register("pump-failure", {"model.onnx": f}, "model.onnx", {}).version


def test_rollback_sends_traffic_back_moves_the_champion_and_prepares_a_git_revert(state: ActionState,
                                                                                  tmp_path: Path) -> None:
    root = _repo_with_releases(tmp_path)
    cfg = monitor_config(tmp_path)
    registry = Registry(cfg.artifacts.uri)
    old, new = _register(registry, tmp_path, "a"), _register(registry, tmp_path, "b")
    registry.set_alias("pump-failure", "champion", old)
    registry.set_alias("pump-failure", "champion", new)  # newly promoted; previous = old
    report = enforce([result(version=new, actions=("rollback",))], cfg, state,
                     ActionEffects(cfg, (), repo_root=str(root), clock_us=lambda: T0), T0)
    (fired,) = report.fired
    assert fired["ok"], fired
    control = json.loads(Path(control_path(cfg.work_dir, "pump-failure", "prod")).read_text())
    assert control["canary_percent"] == 0.0 and control["incident"] == report.opened[0]
    assert registry.aliases("pump-failure")["champion"] == old
    assert fired["detail"]["registry"] == {"changed": True, "champion": old, "was": new,
                                           "aliases": registry.aliases("pump-failure")}
    revert = fired["detail"]["revert"]
    # `new` is a local version no release in git names: nothing in git to revert, and it says so.
    assert revert["prepared"] is False and f"pump-failure {new}" in revert["reason"]


def test_the_revert_patch_applies_and_removes_only_the_canary(state: ActionState, tmp_path: Path) -> None:
    root = _repo_with_releases(tmp_path)
    cfg = monitor_config(tmp_path)
    report = enforce([result(version="1.4.0", actions=("rollback",))], cfg, state,
                     ActionEffects(cfg, (), repo_root=str(root)), T0)
    revert = report.fired[0]["detail"]["revert"]
    assert revert["prepared"] and revert["release"] == "pump-failure-1-4-0"
    assert revert["command"] == f"git apply {revert['patch']}"
    subprocess.run(["git", "apply", "--check", revert["patch"]], cwd=root, check=True)
    subprocess.run(["git", "apply", revert["patch"]], cwd=root, check=True)
    import yaml

    docs = list(yaml.safe_load_all((root / "specs/releases/pump-failure.yaml").read_text()))
    by_name = {d["metadata"]["name"]: d["spec"]["deployments"] for d in docs}
    assert by_name["pump-failure-1-4-0"] == [{"environment": "staging", "role": "champion"}]
    assert by_name["pump-failure-1-3-0"] == [{"environment": "prod", "role": "champion"},
                                             {"environment": "edge", "role": "champion"}]
    # And the spec compiler accepts the reverted release.
    text = (root / "specs/releases/pump-failure.yaml").read_text()
    assert "canaryStep" not in text and "# The challenger" in text  # comments survive


def test_a_revert_that_cannot_be_prepared_says_why_and_the_rollback_still_happens(state: ActionState,
                                                                                  tmp_path: Path) -> None:
    cfg = monitor_config(tmp_path)
    report = enforce([result(actions=("rollback",))], cfg, state, ActionEffects(cfg, (), repo_root=str(tmp_path)), T0)
    fired = report.fired[0]
    assert fired["ok"] and fired["detail"]["revert"]["prepared"] is False
    assert "no ModelRelease" in fired["detail"]["revert"]["reason"]


def test_open_circuit_forces_the_circuit_open_for_its_window_and_keeps_the_canary_lever(state: ActionState,
                                                                                       tmp_path: Path) -> None:
    cfg = monitor_config(tmp_path, circuit_open_s=600.0, min_interval_s={"open_circuit": 0.0})
    fx = ActionEffects(cfg, ())
    enforce([result("latency", actions=("rollback",))], cfg, state, fx, T0)
    enforce([result("errors", actions=("open_circuit",))], cfg, state, fx, T0)
    control = json.loads(Path(control_path(cfg.work_dir, "pump-failure", "prod")).read_text())
    assert control["circuit_forced_open_until_us"] == T0 + 600 * S
    assert control["canary_percent"] == 0.0  # the other lever is kept
    # Still breaching after the window: the circuit is opened again (renewed), once.
    later = T0 + 601 * S
    r = enforce([result("errors", actions=("open_circuit",), at_us=later)], cfg, state, fx, later)
    assert [f["action"] for f in r.fired] == ["open_circuit"]
    control = json.loads(Path(control_path(cfg.work_dir, "pump-failure", "prod")).read_text())
    assert control["circuit_forced_open_until_us"] == later + 600 * S


def test_local_retrain_runs_under_a_lock_so_two_never_overlap(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    command = [sys.executable, "-c", f"import time; open({str(marker)!r}, 'a').write('x'); time.sleep(1.5)"]
    lock, log = str(tmp_path / "retrain.lock"), str(tmp_path / "retrain.log")
    first = start_local_retrain(command, lock, log)
    second = start_local_retrain(command, lock, log)
    assert first["started"] and not second["started"]
    assert second["reason"] == "a retrain is already running" and second["holder_pid"] == str(first["pid"])
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:  # the lock goes with the process
        third = start_local_retrain([sys.executable, "-c", "pass"], lock, log)
        if third["started"]:
            break
        time.sleep(0.1)
    assert third["started"]
    time.sleep(0.3)
    assert marker.read_text() == "x"  # the first ran, the second never did


def test_retrain_through_enforcement_starts_the_local_command(state: ActionState, tmp_path: Path) -> None:
    out = tmp_path / "retrained"
    cfg = monitor_config(tmp_path, retrain_command=(sys.executable, "-c", f"open({str(out)!r}, 'w').write('ok')"))
    report = enforce([result("drift", actions=("retrain",))], cfg, state, ActionEffects(cfg, (), repo_root=str(tmp_path)), T0)
    assert report.fired[0]["ok"] and report.fired[0]["detail"]["started"]
    deadline = time.monotonic() + 10
    while not out.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert out.read_text() == "ok"


def test_cluster_retrain_submits_a_workflow_from_the_template_to_the_argo_server(state: ActionState,
                                                                                 tmp_path: Path) -> None:
    def argo(method: str, path: str, body: object) -> tuple[int, object]:
        wf = body["workflow"]  # type: ignore[index]
        return 200, {**wf, "metadata": {**wf["metadata"], "name": "pump-failure-training-x7k2p"}}

    with Receiver(respond=argo) as rx:
        cfg = monitor_config(tmp_path, mode="cluster", argo_server=rx.url)
        fx = ActionEffects(cfg, (), environ={"SPECOPS_ARGO_TOKEN": "t0ken"})
        report = enforce([result("drift", actions=("retrain",))], cfg, state, fx, T0)
    (req,) = rx.requests
    assert (req.method, req.path) == ("POST", "/api/v1/workflows/pm-staging")
    assert req.headers["Authorization"] == "Bearer t0ken"
    wf = req.body["workflow"]
    assert wf["spec"] == {"workflowTemplateRef": {"name": "pump-failure-training"}}
    assert wf["metadata"]["generateName"] == "pump-failure-training-"
    assert wf["metadata"]["labels"]["specops.dev/incident"] == report.opened[0]
    assert report.fired[0]["detail"]["workflow"] == "pump-failure-training-x7k2p"


def test_a_refused_argo_submission_is_a_failed_action_with_the_reason(state: ActionState, tmp_path: Path) -> None:
    with Receiver(respond=lambda m, p, b: (403, {"message": "forbidden: cannot create workflows"})) as rx:
        cfg = monitor_config(tmp_path, mode="cluster", argo_server=rx.url)
        report = enforce([result("drift", actions=("retrain",))], cfg, state, ActionEffects(cfg, (), environ={}), T0)
    (failed,) = report.failed
    assert "403" in failed["detail"]["error"] and "forbidden" in failed["detail"]["error"]


def test_cluster_rollback_patches_the_inference_service_canary_to_zero(state: ActionState, tmp_path: Path) -> None:
    with Receiver(respond=lambda m, p, b: (200, {"kind": "InferenceService"})) as rx:
        cfg = monitor_config(tmp_path, mode="cluster")
        fx = ActionEffects(cfg, (), kube_host=rx.url, environ={"SPECOPS_KUBE_TOKEN": "k"}, repo_root=str(tmp_path))
        report = enforce([result(actions=("rollback",))], cfg, state, fx, T0)
    (req,) = rx.requests
    assert req.method == "PATCH"
    assert req.path == "/apis/serving.kserve.io/v1beta1/namespaces/pm-prod/inferenceservices/pump-failure"
    assert req.headers["Content-Type"] == "application/merge-patch+json"
    assert req.body == {"spec": {"predictor": {"canaryTrafficPercent": 0}}}
    assert report.fired[0]["ok"]


def test_a_breach_pages_the_webhook_with_the_incident(state: ActionState, tmp_path: Path) -> None:
    with Receiver() as rx:
        notifiers = (NotifierConfig(name="oncall", type="webhook", url_env="HOOK"),)
        cfg = monitor_config(tmp_path, notifiers=notifiers)
        fx = ActionEffects(cfg, build_notifiers(notifiers, environ={"HOOK": rx.url + "/hook"}))
        report = enforce([result("skew", actions=("page",))], cfg, state, fx, T0)
    (req,) = rx.requests
    assert req.body["kind"] == "incident.opened" and req.body["id"] == report.opened[0]
    assert req.body["objective"] == "skew" and req.body["value"] == 0.4 and req.body["bound"] == 0.25
    inc = state.incidents("pump-failure")[0]
    assert inc.evidence["actions"][0]["deliveries"][0]["ok"] is True


def test_an_undeliverable_page_is_failed_and_retried(state: ActionState, tmp_path: Path) -> None:
    notifiers = (NotifierConfig(name="oncall", type="webhook", url_env="HOOK"),)
    cfg = monitor_config(tmp_path, notifiers=notifiers)
    report = enforce([result("skew", actions=("page",))], cfg, state,
                     ActionEffects(cfg, build_notifiers(notifiers, environ={})), T0)
    assert report.failed and "HOOK is not set" in json.dumps(report.failed[0]["detail"])
    with Receiver() as rx:
        fx = ActionEffects(cfg, build_notifiers(notifiers, environ={"HOOK": rx.url}))
        report = enforce([result("skew", actions=("page",), at_us=T0 + 300 * S)], cfg, state, fx, T0 + 300 * S)
    assert report.fired[0]["ok"] and len(rx.requests) == 1
