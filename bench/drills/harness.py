"""What every drill shares: the compiled monitor config of the example
System (so each drill acts on the objectives and actions the spec declares),
made local (temp work dir, SQLite incident store, a real notifier), one
measured value -> one ObjectiveResult, and the real ``enforce(...)``.

A drill module exposes ``DRILL`` (its static description) and
``run(size, work) -> dict`` (its numbers); ``run_drills.py`` lists them.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from runtime.actions import EnforcementReport, build_notifiers, enforce  # noqa: E402
from runtime.actions.effects import ActionEffects  # noqa: E402
from runtime.actions.state import ActionState  # noqa: E402
from runtime.audit.database import SqliteDatabase  # noqa: E402
from runtime.contracts.monitoring import ObjectiveResult  # noqa: E402
from runtime.contracts.steps import MonitorConfig, NotifierConfig, ObjectiveConfig  # noqa: E402

__all__ = ["Drill", "MONITOR_CONFIG", "act", "local_monitor_config", "objective", "objective_result"]

# The compiled prod monitor config of the example System (specs/slos/pump-failure.yaml).
MONITOR_CONFIG = REPO / "generated" / "prod" / "configmap-pump-failure-monitor-config.yaml"


@dataclass(frozen=True, slots=True)
class Drill:
    name: str
    failure_mode: str
    detector: str          # the library code that detects it
    objective: str | None  # the ServiceLevel objective it breaches (None: the canary analysis acts itself)
    human: str             # what a human had to do


def local_monitor_config(work: Path, notifier: NotifierConfig | None = None) -> MonitorConfig:
    """The compiled prod config, enforced locally: temp work dir and registry, SQLite incident store, the
    control file, a local retrain command that does nothing but succeed, and the given notifier (stdout by
    default)."""
    doc = yaml.safe_load(MONITOR_CONFIG.read_text(encoding="utf-8"))
    raw = json.loads(next(iter(doc["data"].values())))
    cfg = MonitorConfig.model_validate(raw)
    note = notifier or NotifierConfig(name="oncall", type="stdout")
    return cfg.model_copy(update={
        "work_dir": str(work / "work"), "output": str(work / "monitor"),
        "artifacts": cfg.artifacts.model_copy(update={"uri": str(work / "artifacts")}),
        "notifiers": (note.name,), "notifier_configs": (note,),
        "control": None,  # the predictors' RuntimeControl: the file under the work dir (cluster: the review store)
        "enforcement": cfg.enforcement.model_copy(update={
            "mode": "local", "store": None, "retrain_command": (sys.executable, "-c", "pass"),
            "releases_dir": str(work / "releases")}),
    })


def objective(config: MonitorConfig, name: str) -> ObjectiveConfig:
    for o in config.objectives:
        if o.name == name:
            return o
    raise KeyError(f"the ServiceLevel has no objective {name!r}: {[o.name for o in config.objectives]}")


def objective_result(config: MonitorConfig, name: str, value: float | None, window_end_us: int, *,
                     basis: str = "observed", evidence: Mapping[str, Any] | None = None) -> ObjectiveResult:
    """One measured value against the named objective's bound (no value: no_data, never ok)."""
    o = objective(config, name)
    direction = "max" if o.max is not None else "min"
    bound = float(o.max if o.max is not None else o.min)  # type: ignore[arg-type]
    if value is None:
        status = "no_data"
    else:
        status = "breach" if (value > bound if direction == "max" else value < bound) else "ok"
    return ObjectiveResult(objective=o.name, metric=o.metric, model=config.model, environment=config.environment,
                           status=status, value=value, bound=bound, direction=direction,  # type: ignore[arg-type]
                           window_s=o.window_s, window_end_us=window_end_us, actions=tuple(o.actions),
                           severity=o.severity, basis=basis, evidence=dict(evidence or {}))  # type: ignore[arg-type]


def act(config: MonitorConfig, results: list[ObjectiveResult], now_us: int, *, stream: Any = None,
        environ: Mapping[str, str] | None = None) -> EnforcementReport:
    """The real enforcement: incident state on SQLite under the work dir, the real effects and notifiers."""
    Path(config.work_dir).mkdir(parents=True, exist_ok=True)
    db = SqliteDatabase(Path(config.work_dir) / "actions.db")
    try:
        state = ActionState(db).setup()
        notifiers = build_notifiers(config.notifier_configs, environ, stream)
        return enforce(results, config, state, ActionEffects(config, notifiers, repo_root=str(REPO)), now_us=now_us)
    finally:
        db.close()
