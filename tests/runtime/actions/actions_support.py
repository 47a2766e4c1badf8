"""Helpers for the enforcement tests: results, a monitor config, stores."""

from __future__ import annotations

import importlib.util
import uuid
from pathlib import Path
from typing import Any

from runtime.contracts.monitoring import ObjectiveResult
from runtime.contracts.steps import ArtifactStoreConfig, EnforcementConfig, MonitorConfig, NotifierConfig, ObjectiveConfig

__all__ = ["PG_DSN", "T0", "monitor_config", "pg_schema", "require_service", "result"]

PG_DSN = "host=127.0.0.1 port=5432 dbname=test user=postgres"
T0 = 1_800_000_000_000_000
S = 1_000_000


def _shared_conftest():  # type: ignore[no-untyped-def]
    path = Path(__file__).resolve().parents[2] / "conftest.py"
    spec = importlib.util.spec_from_file_location("specops_tests_conftest", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


require_service = _shared_conftest().require_service


def pg_schema() -> str:
    return f"t_actions_{uuid.uuid4().hex[:12]}"


def result(objective: str = "latency", status: str = "breach", *, value: float | None = 0.4, bound: float = 0.25,
           actions: tuple[str, ...] = ("rollback",), at_us: int = T0, version: str | None = None,
           model: str = "pump-failure", environment: str = "prod", direction: str = "max") -> ObjectiveResult:
    return ObjectiveResult(objective=objective, metric="latency_p99", model=model, environment=environment,
                           status=status, value=value, bound=bound, direction=direction,  # type: ignore[arg-type]
                           window_s=300.0, window_end_us=at_us, actions=actions, severity="page", version=version,
                           evidence={"requests": 1200})


def monitor_config(work_dir: Path, *, notifiers: tuple[NotifierConfig, ...] = (), **enforcement: Any) -> MonitorConfig:
    return MonitorConfig(
        model="pump-failure", spec_hash="0" * 64, artifacts=ArtifactStoreConfig(uri=str(work_dir / "artifacts")),
        work_dir=str(work_dir / "work"), environment="prod", namespace="pm-prod",
        objectives=(ObjectiveConfig(name="latency", metric="latency_p99", max=0.25, window_s=300, actions=("rollback",),
                                    severity="page"),),
        psi_warning=0.1, psi_alert=0.25, p_value=0.01, correction="none", persistence=2, drift_window_s=3600,
        notifiers=tuple(n.name for n in notifiers), retrain_workflow="pump-failure-training",
        retrain_namespace="pm-staging", output=str(work_dir / "monitor"), notifier_configs=notifiers,
        enforcement=EnforcementConfig(**{"mode": "local", **enforcement}))
