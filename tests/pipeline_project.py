"""A scratch copy of the example project with a smaller sample data set, for
tests that run the real pipeline (`specops run`) end to end."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

__all__ = ["REPO", "WORK", "PipelineRun", "copy_project", "make_project", "specops", "statuses"]

REPO = Path(__file__).resolve().parents[1]
WORK = Path(".specops/work/pump-failure")
# Enough history for the example model's backtest (60 d minimum + 4 folds of
# 7 d with a 1 d gap + label maturity), on fewer assets than the example.
SMALL = {"duration: 120d": "duration: 108d", "assets: 40": "assets: 12", "meanInterval: 15m": "meanInterval: 30m"}


def make_project(root: Path) -> Path:
    for folder in ("specs", "policies"):
        shutil.copytree(REPO / folder, root / folder)
    shutil.copy(REPO / ".dvcignore", root / ".dvcignore")
    system = root / "specs/system.yaml"
    text = system.read_text(encoding="utf-8")
    for old, new in SMALL.items():
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    system.write_text(text, encoding="utf-8")
    return root


@dataclass(frozen=True)
class PipelineRun:
    """A project after one real `specops run` (a read-only template: copy it)."""
    root: Path
    code: int
    output: str


def copy_project(template: Path, dest: Path) -> Path:
    """A private copy of a run project (DVC cache, lock, registry and all;
    every path inside is relative, so the copy is a project of its own)."""
    shutil.copytree(template, dest, symlinks=True)
    return dest


def specops(*args: str, cwd: Path | None = None) -> tuple[int, str]:
    """The real command in its own process, as a user runs it (DVC configures
    process-wide logging, so in-process runs would share one closed stream)."""
    proc = subprocess.run([str(Path(sys.executable).parent / "specops"), *args], capture_output=True, text=True,
                          timeout=900, cwd=cwd, env={**os.environ, "COLUMNS": "200"})
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc.returncode, proc.stdout + proc.stderr


def statuses(output: str) -> dict[str, str]:
    """stage -> status from `specops run`'s summary table."""
    out = {}
    for line in output.splitlines():
        cells = [c.strip() for c in line.split("│")]
        if len(cells) >= 5 and cells[1] and cells[2] in ("ran", "cached", "failed", "not run"):
            out[cells[1]] = cells[2]
    return out
