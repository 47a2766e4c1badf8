"""Retraining, the action: locally a `specops run` subprocess under a lock
(two monitors never retrain concurrently); in a cluster, a Workflow from the
generated training WorkflowTemplate submitted to the Argo Server with the
``argo-workflows`` SDK (the monitor's ServiceAccount token authenticates)."""

from __future__ import annotations

import fcntl
import os
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

__all__ = ["RetrainError", "SERVICE_ACCOUNT_TOKEN", "TOKEN_ENV", "start_local_retrain", "submit_argo_retrain"]

SERVICE_ACCOUNT_TOKEN = "/var/run/secrets/kubernetes.io/serviceaccount/token"
TOKEN_ENV = "SPECOPS_ARGO_TOKEN"  # overrides the ServiceAccount token (outside a pod)


class RetrainError(Exception):
    """A retrain could not be started or submitted; the message says why."""


def start_local_retrain(command: Sequence[str], lock_path: str, log_path: str, cwd: str | None = None) -> dict[str, Any]:
    """Start ``command`` in the background holding an exclusive lock on
    ``lock_path`` for as long as it runs: the child inherits the locked file
    description, so the lock is released exactly when the retrain exits (or
    dies).  When another retrain holds it, nothing is started."""
    Path(lock_path).parent.mkdir(parents=True, exist_ok=True)
    Path(log_path).parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 64, 0).decode(errors="replace").strip()
            return {"started": False, "reason": "a retrain is already running", "holder_pid": holder or None,
                    "lock": lock_path}
        try:
            with open(log_path, "ab") as log:
                child = subprocess.Popen(list(command), cwd=cwd, stdout=log, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, pass_fds=(fd,), start_new_session=True)
        except OSError as exc:
            raise RetrainError(f"cannot start the retrain {' '.join(command)!r}: {exc}") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{child.pid}\n".encode(), 0)
        return {"started": True, "pid": child.pid, "command": list(command), "log": log_path, "lock": lock_path}
    finally:
        os.close(fd)  # the child's copy keeps the lock


def _token(environ: Mapping[str, str]) -> str | None:
    if environ.get(TOKEN_ENV):
        return environ[TOKEN_ENV]
    try:
        return Path(SERVICE_ACCOUNT_TOKEN).read_text(encoding="utf-8").strip()
    except OSError:
        return None


def submit_argo_retrain(server: str, namespace: str, template: str, labels: Mapping[str, str],
                        environ: Mapping[str, str] | None = None, timeout_s: float = 30.0) -> dict[str, Any]:
    """Create a Workflow referencing the WorkflowTemplate ``template`` in ``namespace``."""
    if not template:
        raise RetrainError("no retrain WorkflowTemplate is compiled for this model (it has no training pipeline)")
    import argo_workflows
    from argo_workflows.api import workflow_service_api
    from argo_workflows.exceptions import ApiException
    from argo_workflows.model.io_argoproj_workflow_v1alpha1_workflow import IoArgoprojWorkflowV1alpha1Workflow
    from argo_workflows.model.io_argoproj_workflow_v1alpha1_workflow_create_request import (
        IoArgoprojWorkflowV1alpha1WorkflowCreateRequest,
    )
    from argo_workflows.model.io_argoproj_workflow_v1alpha1_workflow_spec import IoArgoprojWorkflowV1alpha1WorkflowSpec
    from argo_workflows.model.io_argoproj_workflow_v1alpha1_workflow_template_ref import (
        IoArgoprojWorkflowV1alpha1WorkflowTemplateRef,
    )
    from argo_workflows.model.object_meta import ObjectMeta

    env = os.environ if environ is None else environ
    configuration = argo_workflows.Configuration(host=server.rstrip("/"))
    token = _token(env)
    client = argo_workflows.ApiClient(configuration, header_name="Authorization" if token else None,
                                      header_value=f"Bearer {token}" if token else None)
    workflow = IoArgoprojWorkflowV1alpha1Workflow(
        metadata=ObjectMeta(generate_name=f"{template}-", namespace=namespace, labels=dict(labels)),
        spec=IoArgoprojWorkflowV1alpha1WorkflowSpec(
            workflow_template_ref=IoArgoprojWorkflowV1alpha1WorkflowTemplateRef(name=template)))
    api = workflow_service_api.WorkflowServiceApi(client)
    try:
        created = api.create_workflow(namespace, IoArgoprojWorkflowV1alpha1WorkflowCreateRequest(workflow=workflow),
                                      _check_return_type=False, _request_timeout=timeout_s)
    except ApiException as exc:
        raise RetrainError(f"the Argo Server at {server} refused the retrain workflow: HTTP {exc.status} "
                           f"{(exc.body or exc.reason or '')[:300]}") from None
    except Exception as exc:  # urllib3 connection errors have no common base worth naming
        raise RetrainError(f"cannot reach the Argo Server at {server}: {type(exc).__name__}: {exc}") from None
    finally:
        client.close()
    # Without return-type checking the SDK hands back the decoded JSON (a dict).
    meta = created.get("metadata", {}) if isinstance(created, dict) else getattr(created, "metadata", None)
    name = meta.get("name") if isinstance(meta, dict) else getattr(meta, "name", None)
    return {"submitted": True, "workflow": name, "namespace": namespace, "template": template, "server": server}
