"""What each action does to the world.  ``ActionEffects`` is the real one
(control file, registry, InferenceService, revert patch, retrain, notifiers);
``enforce`` takes any ``Effects``, so decisions stay testable apart from
side effects.  Every method returns an ``Outcome``: ok or not, and the
evidence a human needs (paths, versions, HTTP statuses, commands)."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from runtime.actions.notify import Notifier, deliver
from runtime.actions.retrain import start_local_retrain, submit_argo_retrain
from runtime.actions.revert import RevertError, canary_revert
from runtime.contracts.monitoring import Incident, ObjectiveResult
from runtime.contracts.steps import MonitorConfig
from runtime.control.channel import ControlChannel, open_channel

__all__ = ["ActionEffects", "Effects", "Outcome", "patch_canary_traffic"]

KSERVE = ("serving.kserve.io", "v1beta1", "inferenceservices")
ACTOR = "system:enforcer"  # runtime.actions.state's: the audit records of one enforcer name one actor


@dataclass(frozen=True, slots=True)
class Outcome:
    ok: bool
    detail: Mapping[str, Any] = field(default_factory=dict)


class Effects(Protocol):
    def rollback(self, incident: Incident, result: ObjectiveResult) -> Outcome: ...

    def open_circuit(self, incident: Incident, result: ObjectiveResult, until_us: int) -> Outcome: ...

    def retrain(self, incident: Incident, result: ObjectiveResult) -> Outcome: ...

    def page(self, incident: Incident, message: Mapping[str, Any]) -> Outcome: ...


def _local_uri(uri: str) -> bool:
    return "://" not in uri or uri.startswith("file://")


def patch_canary_traffic(namespace: str, name: str, percent: int, host: str | None = None,
                         token: str | None = None) -> dict[str, Any]:
    """Merge-patch the InferenceService's canaryTrafficPercent (in a pod: the
    ServiceAccount's in-cluster config; ``host``/``token`` otherwise)."""
    from kubernetes import client, config

    if host is None:
        config.load_incluster_config()
        api_client = client.ApiClient()
    else:
        configuration = client.Configuration()
        configuration.host = host
        if token:
            configuration.api_key = {"authorization": f"Bearer {token}"}
        api_client = client.ApiClient(configuration)
    try:
        group, version, plural = KSERVE
        body = {"spec": {"predictor": {"canaryTrafficPercent": percent}}}
        client.CustomObjectsApi(api_client).patch_namespaced_custom_object(group, version, namespace, plural, name, body)
    finally:
        api_client.close()
    return {"inference_service": f"{namespace}/{name}", "canaryTrafficPercent": percent}


class ActionEffects:
    def __init__(self, config: MonitorConfig, notifiers: tuple[Notifier, ...], *, repo_root: str = ".",
                 environ: Mapping[str, str] | None = None, clock_us: Callable[[], int] = lambda: time.time_ns() // 1000,
                 kube_host: str | None = None, channel: ControlChannel | None = None) -> None:
        self.config = config
        self.notifiers = notifiers
        self.repo_root = Path(repo_root)
        self.environ = os.environ if environ is None else environ
        self.clock_us = clock_us
        self.kube_host = kube_host  # None in a pod: the in-cluster API server
        self.actions_dir = Path(config.work_dir) / "actions"
        # The predictors' RuntimeControl: the file (local) or the review store's row (cluster).
        self.channel = channel or open_channel(config.control, config.work_dir, config.model, config.environment,
                                               self.environ)

    # ------------------------------------------------------------- rollback

    def rollback(self, incident: Incident, result: ObjectiveResult) -> Outcome:
        c = self.config
        self.channel.update(actor=ACTOR, at_us=self.clock_us(), canary_percent=0.0, canary_reason=incident.summary,
                            incident=incident.id)
        detail: dict[str, Any] = {"control": self.channel.where, "canary_percent": 0.0}
        if c.enforcement.mode == "cluster":
            detail["cluster"] = patch_canary_traffic(c.namespace, c.model, 0, host=self.kube_host,
                                                     token=self.environ.get("SPECOPS_KUBE_TOKEN"))
        elif _local_uri(c.artifacts.uri):
            detail["registry"] = self._registry_rollback(result)
        detail["revert"] = self._revert(incident, result)
        return Outcome(True, detail)

    def _registry_rollback(self, result: ObjectiveResult) -> dict[str, Any]:
        """A breach on a newly promoted local champion: champion goes back to previous."""
        from runtime.registry import Registry, RegistryError

        registry = Registry(self.config.artifacts.uri)
        aliases = registry.aliases(self.config.model)
        champion, previous = aliases.get("champion"), aliases.get("previous")
        if result.version is None or result.version != champion:
            return {"changed": False, "reason": f"the breach is not on the champion ({champion})"}
        if previous is None or previous == champion:
            return {"changed": False, "reason": f"no previous champion to go back to from {champion}"}
        try:
            after = registry.set_alias(self.config.model, "champion", previous)
        except RegistryError as exc:
            return {"changed": False, "reason": str(exc)}
        return {"changed": True, "champion": previous, "was": champion, "aliases": after}

    def _revert(self, incident: Incident, result: ObjectiveResult) -> dict[str, Any]:
        folder = self.repo_root / self.config.enforcement.releases_dir
        files = {p.relative_to(self.repo_root).as_posix(): p.read_text(encoding="utf-8")
                 for p in sorted(folder.glob("*.y*ml"))} if folder.is_dir() else {}
        try:
            revert = canary_revert(files, self.config.model, self.config.environment, result.version)
        except RevertError as exc:
            return {"prepared": False, "reason": str(exc)}
        self.actions_dir.mkdir(parents=True, exist_ok=True)
        patch = (self.actions_dir / f"{incident.id}-revert.patch").resolve()
        patch.write_text(revert.patch, encoding="utf-8")
        return {"prepared": True, "release": revert.release, "file": revert.file, "patch": str(patch),
                "command": f"git apply {patch}",
                "next": f"commit it and open a pull request: the rollback of {revert.release} in "
                        f"{self.config.environment} is then in git too"}

    # --------------------------------------------------------------- circuit

    def open_circuit(self, incident: Incident, result: ObjectiveResult, until_us: int) -> Outcome:
        self.channel.update(actor=ACTOR, at_us=self.clock_us(), circuit_forced_open_until_us=until_us,
                            circuit_reason=incident.summary, incident=incident.id)
        return Outcome(True, {"control": self.channel.where, "circuit_forced_open_until_us": until_us})

    # --------------------------------------------------------------- retrain

    def retrain(self, incident: Incident, result: ObjectiveResult) -> Outcome:
        c = self.config
        if c.enforcement.mode == "local":
            started = start_local_retrain(c.enforcement.retrain_command, str(self.actions_dir / "retrain.lock"),
                                          str(self.actions_dir / f"{incident.id}-retrain.log"), str(self.repo_root))
            # Another retrain already running is the wanted state, not a failure.
            return Outcome(True, started)
        submitted = submit_argo_retrain(
            c.enforcement.argo_server, c.retrain_namespace, c.retrain_workflow,
            {"specops.dev/model": c.model, "specops.dev/incident": incident.id,
             "specops.dev/trigger": "monitor"}, self.environ)
        return Outcome(True, submitted)

    # ------------------------------------------------------------------ page

    def page(self, incident: Incident, message: Mapping[str, Any]) -> Outcome:
        if not self.notifiers:
            return Outcome(False, {"error": f"no notifier is configured for {self.config.model} in "
                                            f"{self.config.environment}: add one to the ServiceLevel's notify"})
        deliveries = deliver(self.notifiers, message)
        return Outcome(any(d.ok for d in deliveries), {"deliveries": [d.to_json() for d in deliveries]})
