"""``python -m runtime act --config MONITOR_CONFIG --results RESULTS_JSON``:
enforce one monitoring run's ObjectiveResults (a JSON list) and print the
report.  Exit 0 when every action that fired succeeded, 1 when one failed
(it is recorded and retried on the next run), 2 on bad input."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from pydantic import TypeAdapter, ValidationError

from runtime.actions.effects import ActionEffects
from runtime.actions.enforce import enforce
from runtime.actions.notify import build_notifiers
from runtime.actions.state import ActionState
from runtime.audit.database import DatabaseError, open_database
from runtime.contracts.monitoring import ObjectiveResult
from runtime.contracts.steps import MonitorConfig, ReviewStoreConfig

__all__ = ["load_results", "open_state", "run_args"]

_RESULTS = TypeAdapter(list[ObjectiveResult])


class InputError(Exception):
    pass


def load_results(path: Path) -> list[ObjectiveResult]:
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"{path}: no such results file (the monitor writes one per run)") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read: {exc}") from None
    except json.JSONDecodeError as exc:
        raise InputError(f"{path}:{exc.lineno}:{exc.colno}: not valid JSON: {exc.msg}") from None
    if isinstance(raw, dict) and "results" in raw:
        raw = raw["results"]
    try:
        return _RESULTS.validate_python(raw)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or '<root>'}: {e['msg']}" for e in exc.errors()[:5])
        raise InputError(f"{path}: not a list of objective results: {problems}") from None


def open_state(config: MonitorConfig) -> ActionState:
    store = config.enforcement.store or ReviewStoreConfig(backend="sqlite", path=f"{config.work_dir}/actions/actions.db")
    if store.backend == "sqlite" and store.path:
        Path(store.path).parent.mkdir(parents=True, exist_ok=True)
    return ActionState(open_database(store)).setup()


def run_args(argv: Sequence[str]) -> int:
    from runtime.cli import ConfigError, load_config

    parser = argparse.ArgumentParser(prog="python -m runtime act", description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", type=Path, required=True, help="the compiled monitor config")
    parser.add_argument("--results", type=Path, required=True, help="the monitoring run's ObjectiveResults (JSON)")
    parser.add_argument("--now-us", type=int, default=None, help="evaluate at this time (replays); default: now")
    args = parser.parse_args(list(argv))
    try:
        config = load_config("monitor", args.config)
        results = load_results(args.results)
        state = open_state(config)  # type: ignore[arg-type]
    except (ConfigError, InputError, DatabaseError) as exc:
        print(f"error: act: {exc}", file=sys.stderr)
        return 2
    assert isinstance(config, MonitorConfig)
    # Pages to stdout go to stderr here: stdout carries the report.
    effects = ActionEffects(config, build_notifiers(config.notifier_configs, stream=sys.stderr))
    report = enforce(results, config, state, effects, args.now_us)
    print(json.dumps(report.to_json(), indent=2, sort_keys=True, default=str))
    return 1 if report.failed else 0
