"""Local only: `specops replay --scenario NAME` rehearses the online loop.

Like `specops serve`, the compiler runs the runtime in child processes: the
server (unless ``--url`` names a running one), then ``python -m runtime
replay`` with the compiled ingest and sample-data configs.  The replay's
own stream keeps it off any live one; see ``runtime.replay``.
"""

from __future__ import annotations

import socket
import subprocess
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from compiler.serve import PORT_ENV, ServeCommand, ServeError, serve_command

__all__ = ["ReplayCommand", "replay_command", "start_local_server"]


@dataclass(frozen=True, slots=True)
class ReplayCommand:
    argv: tuple[str, ...]
    cwd: Path


def _one(paths: list[Path], what: str, hint: str) -> Path:
    if not paths:
        raise ServeError(f"no {what}: {hint}")
    if len(paths) > 1:
        raise ServeError(f"several {what}s ({', '.join(p.parent.name for p in paths)}); replay uses exactly one")
    return paths[0]


def replay_command(out: Path, model: str, scenario: str, url: str, days: float, step_s: float,
                   as_json: bool, run_id: str | None = None) -> ReplayCommand:
    import sys

    root = out.resolve().parent
    ingest = _one(sorted((out / "runtime").glob("ingest-*/ingest.json")), "stream ingester config",
                  "the model's feature sets need a stream DataSource (see specs/data/) to replay through")
    sample = out / "runtime" / "sample-data" / "generate-data.json"
    if not sample.is_file():
        raise ServeError(f"{sample}: no sample data config; replay continues the System's sampleData")
    argv = (sys.executable, "-m", "runtime", "replay", "--scenario", scenario,
            "--ingest-config", ingest.resolve().relative_to(root).as_posix(),
            "--sample-config", sample.resolve().relative_to(root).as_posix(), "--serve-url", url, "--model", model,
            "--days", repr(days), "--step", repr(step_s), *(("--json",) if as_json else ()),
            *(("--run-id", run_id) if run_id else ()))
    return ReplayCommand(argv, root)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_local_server(out: Path, model: str | None, timeout_s: float = 90.0) -> tuple[subprocess.Popen[bytes], str, ServeCommand]:
    """`specops serve` in the background on a free loopback port; (process, url, command) once ready."""
    port = _free_port()
    command = serve_command(out, model, "127.0.0.1", port, False)
    log = open(command.cwd / ".specops" / "replay-server.log", "wb") if (command.cwd / ".specops").is_dir() \
        else subprocess.DEVNULL
    proc = subprocess.Popen(list(command.argv), cwd=command.cwd, env={**command.env, PORT_ENV: str(port)},
                            stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise ServeError(f"the server exited with {proc.returncode} (run `specops serve` to see why; "
                             "`specops run` first trains and registers a model)")
        try:
            with urllib.request.urlopen(f"{url}/v2/health/ready", timeout=1) as r:
                if r.status == 200:
                    return proc, url, command
        except OSError:
            time.sleep(0.3)
    proc.kill()
    raise ServeError(f"the server was not ready within {timeout_s:.0f}s")
