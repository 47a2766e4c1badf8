"""Local only: `specops monitor` runs the monitoring job of a model.

As `specops serve`, the compiler does not import the runtime: it runs
``python -m runtime monitor --config generated/runtime/<model>/monitor.json``
(what the cluster's CronWorkflow runs with its environment's config) from
the repository root, passing the options as environment variables the step
reads, so the compiled config stays as compiled.  Breaches are enforced as
the compiled ``enforcement`` says (locally: pages print, the circuit and
canary levers are the control file, rollback moves the local champion alias)
unless ``--dry-run``.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

__all__ = ["MonitorCommand", "MonitorError", "monitor_command", "parse_every"]

AT_ENV, EVERY_ENV, FORMAT_ENV, OUT_ENV, ACT_ENV = (
    "SPECOPS_MONITOR_AT", "SPECOPS_MONITOR_EVERY", "SPECOPS_MONITOR_FORMAT", "SPECOPS_MONITOR_OUT", "SPECOPS_MONITOR_ACT")
CLOCK_ENV = "SPECOPS_MONITOR_CLOCK"
EVENTS_ENV = "SPECOPS_MONITOR_EVENTS"
LABELS_ENV = "SPECOPS_MONITOR_LABELS"
_EVERY = re.compile(r"^(\d+(?:\.\d+)?)(s|m|h)?$")
_SECONDS = {"s": 1, "m": 60, "h": 3600, None: 1}


class MonitorError(Exception):
    """Nothing to monitor as asked; the message says what to do."""


def parse_every(text: str) -> float:
    """``30s``, ``5m``, ``1h`` or plain seconds."""
    m = _EVERY.match(text.strip())
    if not m or float(m.group(1)) <= 0:
        raise MonitorError(f"--every {text!r}: give a positive duration such as 30s, 5m or 1h")
    return float(m.group(1)) * _SECONDS[m.group(2)]


@dataclass(frozen=True, slots=True)
class MonitorCommand:
    argv: tuple[str, ...]
    cwd: Path
    env: dict[str, str]

    def run(self) -> int:
        try:
            return subprocess.run(list(self.argv), cwd=self.cwd, env=self.env, check=False).returncode
        except KeyboardInterrupt:
            return 130


def monitor_command(out: Path, model: str | None, every: str | None, fmt: str, report_dir: Path | None,
                    at: str | None, dry_run: bool = False, labels: tuple[str, ...] = (),
                    clock: str = "served", events: tuple[str, ...] = ()) -> MonitorCommand:
    configs = {p.parent.name: p for p in sorted((out / "runtime").glob("*/monitor.json"))}
    if not configs:
        raise MonitorError(f"{out / 'runtime'}: no local monitor config; a model needs a ServiceLevel and a "
                           "training pipeline to be monitored locally (run `specops compile`)")
    if model is None:
        if len(configs) > 1:
            raise MonitorError(f"several models can be monitored ({', '.join(configs)}); choose one with --model")
        model = next(iter(configs))
    if model not in configs:
        raise MonitorError(f"no local monitor config for model {model!r}; models: {', '.join(configs)}")
    root = out.resolve().parent
    env = {k: v for k, v in os.environ.items()
           if k not in (AT_ENV, EVERY_ENV, FORMAT_ENV, OUT_ENV, ACT_ENV, LABELS_ENV, CLOCK_ENV, EVENTS_ENV)}
    env[FORMAT_ENV] = fmt
    if clock != "served":
        env[CLOCK_ENV] = clock
    if events:
        env[EVENTS_ENV] = ":".join(g if Path(g).is_absolute() else str(Path.cwd() / g) for g in events)
    if dry_run:
        env[ACT_ENV] = "0"
    if every is not None:
        env[EVERY_ENV] = repr(parse_every(every))
    if report_dir is not None:
        env[OUT_ENV] = str(report_dir.resolve())
    if at is not None:
        env[AT_ENV] = at
    if labels:
        # Globs from where the user stands; the runtime runs at the repository root.
        env[LABELS_ENV] = ":".join(g if Path(g).is_absolute() else str(Path.cwd() / g) for g in labels)
    config = configs[model].resolve().relative_to(root).as_posix()
    return MonitorCommand((sys.executable, "-m", "runtime", "monitor", "--config", config), root, env)
