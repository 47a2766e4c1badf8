"""Local only: `specops serve` runs the predictor of a locally trained model.

The compiler never imports the runtime beyond its contracts, so serving is
the runtime's own entry point in a child process (as `specops run` runs
DVC): ``python -m runtime serve --config generated/runtime/<model>/serve.json``
from the repository root.  Overrides travel as environment variables the
serve step reads (``SPECOPS_SERVE_HOST``, ``SPECOPS_SERVE_PORT``,
``SPECOPS_SERVE_ACCESS_LOG``), so the compiled config stays as compiled.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

__all__ = ["ServeError", "ServeCommand", "local_serve_configs", "serve_command"]

HOST_ENV, PORT_ENV, ACCESS_LOG_ENV = "SPECOPS_SERVE_HOST", "SPECOPS_SERVE_PORT", "SPECOPS_SERVE_ACCESS_LOG"
# The in-process challenger (the registry's candidate beside its champion): runtime/steps/serve.py reads them.
CANARY_ENV, SHADOW_ENV = "SPECOPS_SERVE_CANARY_PERCENT", "SPECOPS_SERVE_SHADOW"


class ServeError(Exception):
    """Nothing to serve as asked; the message says what to do."""


@dataclass(frozen=True, slots=True)
class ServeCommand:
    argv: tuple[str, ...]
    cwd: Path
    env: dict[str, str]
    config: Path

    def run(self) -> int:
        """Run the server until it exits; SIGTERM/SIGINT sent to us are passed
        on (a supervisor stopping `specops serve` must not orphan the server)."""
        child = subprocess.Popen(list(self.argv), cwd=self.cwd, env=self.env)

        def forward(signum: int, _frame: object) -> None:
            if child.poll() is None:
                child.send_signal(signum)

        previous = {sig: signal.signal(sig, forward) for sig in (signal.SIGTERM, signal.SIGINT)}
        try:
            while True:
                try:
                    return child.wait()
                except KeyboardInterrupt:  # delivered to us as well; the child got it too
                    continue
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


def local_serve_configs(out: Path) -> dict[str, Path]:
    """Model name -> its compiled local serve config under ``out``."""
    runtime_dir = out / "runtime"
    return {p.parent.name: p for p in sorted(runtime_dir.glob("*/serve.json"))}


def serve_command(out: Path, model: str | None, host: str | None, port: int | None, access_log: bool,
                  canary: float | None = None, shadow: bool = False) -> ServeCommand:
    configs = local_serve_configs(out)
    if not configs:
        raise ServeError(f"{out / 'runtime'}: no local serve config; a model needs a training pipeline "
                         "(a cloud environment to train in) to be served locally")
    if model is None:
        if len(configs) > 1:
            raise ServeError(f"several models can be served ({', '.join(configs)}); choose one with --model")
        model = next(iter(configs))
    if model not in configs:
        raise ServeError(f"no local serve config for model {model!r}; models: {', '.join(configs)}")
    root = out.resolve().parent
    config = configs[model].resolve()
    env = dict(os.environ)
    env.pop(HOST_ENV, None), env.pop(PORT_ENV, None), env.pop(ACCESS_LOG_ENV, None)
    env.pop(CANARY_ENV, None), env.pop(SHADOW_ENV, None)
    if canary is not None and shadow:
        raise ServeError("choose one of --canary and --shadow")
    if canary is not None:
        env[CANARY_ENV] = f"{canary:g}"
    if shadow:
        env[SHADOW_ENV] = "1"
    if host is not None:
        env[HOST_ENV] = host
    if port is not None:
        env[PORT_ENV] = str(port)
    if access_log:
        env[ACCESS_LOG_ENV] = "1"
    argv = (sys.executable, "-m", "runtime", "serve", "--config", config.relative_to(root).as_posix())
    return ServeCommand(argv, root, env, config)
