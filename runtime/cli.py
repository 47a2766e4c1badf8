"""Argument parsing and config loading for ``python -m runtime``.

Exit status: 0 success, 1 the step ran and refused (a gate, a data contract,
a parity mismatch), 2 the invocation was wrong (unknown step, unreadable or
invalid config).  Errors are one clear message, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from pydantic import ValidationError

from runtime.contracts.steps import STEP_CONFIGS, StepConfig
from runtime.steps import STEP_ALIASES, STEP_MODULES

__all__ = ["ConfigError", "load_config", "main"]


class ConfigError(Exception):
    """The step config cannot be used; the message says which file and field."""


def load_config(step: str, path: Path) -> StepConfig:
    model = STEP_CONFIGS.get(step)
    if model is None:
        raise ConfigError(f"step {step!r} takes no compiled config")
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such config file (run `specops compile` to generate it)") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read: {exc}") from None
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path}:{exc.lineno}:{exc.colno}: not valid JSON: {exc.msg}") from None
    if not isinstance(raw, dict) or raw.get("step") != step:
        found = raw.get("step") if isinstance(raw, dict) else type(raw).__name__
        raise ConfigError(f"{path}: this is a config for step {found!r}, not {step!r}")
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or '<root>'}: {e['msg']}" for e in exc.errors())
        raise ConfigError(f"{path}: invalid {step} config: {problems}") from None


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m runtime", description="Run one SpecOps runtime step.")
    parser.add_argument("step", choices=sorted({*STEP_MODULES, *STEP_ALIASES}), help="the step to run")
    parser.add_argument("--config", type=Path, help="the compiled step config (generated/runtime/<model>/<step>.json)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args, extra = _parser().parse_known_args(argv)
    args.step = STEP_ALIASES.get(args.step, args.step)
    module_name = STEP_MODULES[args.step]
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name != module_name:
            raise
        print(f"error: step {args.step!r} is not available in this runtime build", file=sys.stderr)
        return 2
    try:
        if args.step not in STEP_CONFIGS and args.config is not None and hasattr(module, "run_args"):
            # A tool (review, audit) reads its own config among its sub-command's arguments.
            return int(module.run_args(["--config", str(args.config), *extra]))
        if args.config is None:
            if args.step in STEP_CONFIGS:
                print(f"error: step {args.step!r} needs --config FILE", file=sys.stderr)
                return 2
            return int(module.run_args(extra))
        if extra and hasattr(module, "step_options"):
            extra = module.step_options(extra)  # a step's own flags (monitor --labels), set as its overrides
        if extra:
            print(f"error: unexpected arguments: {' '.join(extra)}", file=sys.stderr)
            return 2
        return int(module.run(load_config(args.step, args.config)))
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
