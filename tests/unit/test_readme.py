"""The README's commands cannot rot: every `specops` command line in it names
a real command with options that command accepts, every `make` target
exists, and the tour's lint step fails exactly where it says it does.

The whole tour (run, serve, replay, monitor, review, audit included) is
executed line by line, as written, by tests/integration/test_readme_tour.py;
this file is the fast check that runs without services."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import typer.main

from compiler.cli import app

REPO = Path(__file__).resolve().parents[2]
README = (REPO / "README.md").read_text(encoding="utf-8")
BLOCKS = re.findall(r"```sh\n(.*?)```", README, re.S)


def _lines() -> list[str]:
    out = []
    for block in BLOCKS:
        joined = block.replace("\\\n", " ")
        for line in joined.splitlines():
            line = line.split(" #", 1)[0].strip().rstrip("&").strip()
            if line and not line.startswith("#"):
                out.append(line)
    return out


def _specops_lines() -> list[list[str]]:
    return [shlex.split(line)[1:] for line in _lines() if line.startswith(".venv/bin/specops")]


def test_the_readme_has_a_quick_start_and_a_tour() -> None:
    assert "make demo" in README and "make test" in README
    assert len(_specops_lines()) >= 20


def test_every_specops_command_in_the_readme_exists_with_its_options() -> None:
    root = typer.main.get_command(app)
    problems = []
    for argv in _specops_lines():
        cmd = root
        words = list(argv)
        # typer may ship its own click: duck-type groups (they have .commands) rather than isinstance
        while hasattr(cmd, "commands") and words and not words[0].startswith("-"):
            name = words.pop(0)
            sub = cmd.commands.get(name)
            if sub is None:
                problems.append(f"specops {' '.join(argv)}: no command {name!r}")
                break
            cmd = sub
        else:
            known = {opt for p in cmd.params for opt in getattr(p, "opts", []) + getattr(p, "secondary_opts", [])}
            for word in words:
                if word.startswith("-") and word.split("=", 1)[0] not in known:
                    problems.append(f"specops {' '.join(argv)}: {word} is not an option of {cmd.name}")
    assert problems == []


def test_every_make_target_in_the_readme_exists() -> None:
    makefile = (REPO / "Makefile").read_text(encoding="utf-8")
    targets = set(re.findall(r"^([A-Za-z][\w-]*):", makefile, re.M))
    used = {shlex.split(line)[1] for line in _lines() if line.startswith("make ")}
    used |= set(re.findall(r"`make ([\w-]+)`", README))
    assert used and used <= targets, used - targets


def test_the_tours_lint_step_fails_where_the_readme_says(tmp_path: Path) -> None:
    for part in ("specs", "policies"):
        shutil.copytree(REPO / part, tmp_path / part)
    model = tmp_path / "specs/models/pump-failure.yaml"
    model.write_text(re.sub(r"strategy: cost$", "strategy: costs", model.read_text(), flags=re.M))
    done = subprocess.run([sys.executable, "-m", "compiler", "lint", "specs/"], cwd=tmp_path,
                          capture_output=True, text=True)
    assert done.returncode == 1
    assert "specs/models/pump-failure.yaml:34:15: error[SO204]" in done.stdout + done.stderr
    assert "did you mean 'cost'?" in done.stdout + done.stderr
    model.write_text(re.sub(r"strategy: costs$", "strategy: cost", model.read_text(), flags=re.M))
    fixed = subprocess.run([sys.executable, "-m", "compiler", "lint", "specs/"], cwd=tmp_path,
                           capture_output=True, text=True)
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr
