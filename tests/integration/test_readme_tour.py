"""The README's guided tour, executed as a reader would: the "A guided tour"
sh block is parsed from README.md (so the test cannot drift from it) and
every command line runs in order, exactly as written, in a throwaway copy of
the repository, and each step is held to what its comment promises.

What differs from a reader's terminal, and why:

- ``.venv/bin/`` is this interpreter's bin directory (the copy has no venv
  of its own; the commands are the same console scripts).
- Port 8080 may be taken on a CI machine: every ``8080`` in the tour (the
  server's ``--port`` and the replay's ``--url``) becomes one free port.
- A line ending in ``&`` starts in the background; it is stopped at the end
  (the reader's ``kill %1``).
- ``ITEM`` and ``TOKEN`` are filled from the JSON the previous
  ``review claim`` printed (its ``item.id`` and ``token``), as the README
  tells the reader to.

The copy is the checkout's tracked files as they are in the working tree
(uncommitted edits included), committed in a fresh git repository so that
``plan --base HEAD`` has a HEAD; the developer's checkout is never written.
When the checkout has run ``make demo`` (CI does, before ``make test``), its
pipeline state (``.specops/``, ``data/``, ``dvc.lock``, ``.dvc/cache``) is
copied, never linked, so ``run`` is the cache hit the README promises;
without it the tour runs the whole pipeline (a few minutes).

The replay needs NATS JetStream: the test skips locally and fails in CI
(SPECOPS_REQUIRE_SERVICES=1) when it is down."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from stream_harness import free_port, require_service

pytestmark = pytest.mark.services

REPO = Path(__file__).resolve().parents[2]
README = REPO / "README.md"
BIN = Path(sys.executable).parent
# The pipeline state `make demo` leaves in a checkout (see .gitignore and dvc.yaml's outs).
SEED = (".specops", "data", "dvc.lock", ".dvc/cache")
PLACEHOLDERS = ("ITEM", "TOKEN")
STEP_TIMEOUT_S = 1200  # `run` from scratch is the longest step (about 2 minutes on a quiet machine)


@dataclass(frozen=True)
class Step:
    """One command line of the tour."""

    line: str  # as written in the README
    argv: tuple[str, ...]
    background: bool
    comment: str  # what the README says the step does or prints

    @property
    def words(self) -> tuple[str, ...]:
        """The command without the executable and options: ('lint', 'specs/'), ('review', 'claim')."""
        return tuple(a for a in self.argv[1:] if not a.startswith("-"))


def tour_steps(readme: str) -> list[Step]:
    """The command lines of the README's "A guided tour" sh block, in order."""
    found = re.search(r"^## A guided tour\n.*?^```sh\n(.*?)^```", readme, re.S | re.M)
    assert found, "README.md has no '## A guided tour' section with an sh block"
    steps = []
    for line in found.group(1).splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
        lexer.whitespace_split = True
        tokens = list(lexer)
        background = tokens[-1:] == ["&"]
        argv = tuple(tokens[:-1] if background else tokens)
        # The runner starts processes, it is no shell: a pipe or a redirection in the tour needs a runner change.
        operators = [t for t in argv if t and set(t) <= set("();<>|&")]
        assert not operators, f"README tour line {line!r}: shell operators {operators} are not supported here"
        comment = line.split(" # ", 1)[1].strip() if " # " in line else ""
        steps.append(Step(line, argv, background, comment))
    return steps


def copy_repository(src: Path, dst: Path) -> bool:
    """The tracked files as in the working tree, committed in a new repository
    at dst, plus the pipeline state when src has it (True then)."""
    listed = subprocess.run(["git", "ls-files", "-z"], cwd=src, check=True, capture_output=True).stdout
    for rel in filter(None, listed.decode().split("\0")):
        source = src / rel
        if source.is_file() or source.is_symlink():  # a tracked file deleted in the working tree stays deleted
            (dst / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dst / rel, follow_symlinks=False)
    git = ["git", "-c", "user.name=tour", "-c", "user.email=tour@example.invalid", "-c", "commit.gpgsign=false"]
    for args in (["init", "-q"], ["add", "-A"], ["commit", "-q", "--no-verify", "-m", "the tour's starting point"]):
        subprocess.run([*git, *args], cwd=dst, check=True, capture_output=True)
    if not (src / ".specops").is_dir():
        return False
    for rel in SEED:
        source = src / rel
        if source.is_dir():
            shutil.copytree(source, dst / rel, symlinks=False, dirs_exist_ok=True)
        elif source.is_file():
            (dst / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dst / rel)
    return True


@dataclass
class Tour:
    root: Path
    seeded: bool
    port: int
    filled: dict[str, str] = field(default_factory=dict)
    background: list[tuple[subprocess.Popen[bytes], Path]] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=lambda: {**os.environ, "COLUMNS": "200", "NO_COLOR": "1"})

    def localize(self, step: Step) -> list[str]:
        argv = []
        for arg in step.argv:
            if arg.startswith(".venv/bin/"):
                arg = str(BIN / arg.removeprefix(".venv/bin/"))
            arg = re.sub(r"\b8080\b", str(self.port), arg)
            if arg in PLACEHOLDERS:
                assert arg in self.filled, f"{step.line!r}: {arg} comes from an earlier `review claim`"
                arg = self.filled[arg]
            argv.append(arg)
        return argv

    def run(self, step: Step) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(self.localize(step), cwd=self.root, env=self.env, capture_output=True, text=True,
                              timeout=STEP_TIMEOUT_S, check=False)
        assert "Traceback" not in done.stderr, f"{step.line}\n{done.stderr}"
        return done

    def start(self, step: Step) -> subprocess.Popen[bytes]:
        log = self.root / f".tour-background-{len(self.background)}.log"
        with log.open("wb") as out:
            # Its own session: the server's children are stopped with it.
            proc = subprocess.Popen(self.localize(step), cwd=self.root, env=self.env, stdout=out,
                                    stderr=subprocess.STDOUT, start_new_session=True)
        self.background.append((proc, log))
        return proc

    def stop_background(self) -> None:
        for proc, _ in self.background:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()


def _output(done: subprocess.CompletedProcess[str]) -> str:
    return done.stdout + done.stderr


def _ok(step: Step, done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 0, f"{step.line}\nexit {done.returncode}\n{_output(done)}"
    return _output(done)


# What each step promises, keyed by its command words; a step the tour gains
# without a check here fails the test, so every step is held to its comment.
Check = Callable[[Tour, Step, list[Step]], None]


def check_sed(tour: Tour, step: Step, rest: list[Step]) -> None:
    before = {p: p.read_bytes() for p in (tour.root / "specs").rglob("*.yaml")}
    _ok(step, tour.run(step))
    changed = [p for p, text in before.items() if p.read_bytes() != text]
    assert len(changed) == 1, f"{step.line}: expected one spec edited, got {changed}"


def check_lint(tour: Tour, step: Step, rest: list[Step]) -> None:
    done = tour.run(step)
    located = re.match(r"(\S+:\d+:\d+: error\[SO\d+\]) \.\.\. (.+)$", step.comment)
    if located:  # the README shows the error: exit 1 with exactly that location, code and hint
        assert done.returncode == 1, f"{step.line}\n{_output(done)}"
        assert located.group(1) in _output(done) and located.group(2) in _output(done), _output(done)
    else:
        _ok(step, done)


def _changed(tour: Tour, *paths: str) -> str:
    return subprocess.run(["git", "status", "--porcelain", "--", *paths], cwd=tour.root, check=True,
                          capture_output=True, text=True).stdout


def check_compile(tour: Tour, step: Step, rest: list[Step]) -> None:
    _ok(step, tour.run(step))
    # generated/ follows the specs: it differs from the commit exactly when they do.
    assert bool(_changed(tour, "generated")) == bool(_changed(tour, "specs")), _changed(tour, "specs", "generated")


def check_plan(tour: Tour, step: Step, rest: list[Step]) -> None:
    out = _ok(step, tour.run(step))
    assert "specops plan: base HEAD" in out and "Approvals required" in out and "needs approval" in out, out
    # The meaning the README shows, e.g. "250ms -> 300ms [loosened]".
    for change in re.findall(r"\S+ -> \S+(?: \[\w+\])?", step.comment):
        assert change in out, (change, out)


def check_git(tour: Tour, step: Step, rest: list[Step]) -> None:
    _ok(step, tour.run(step))
    restored = [a for a in step.argv[2:] if not a.startswith("-")]
    assert step.argv[1] == "restore" and _changed(tour, *restored) == "", _changed(tour, *restored)


def check_run(tour: Tour, step: Step, rest: list[Step]) -> None:
    out = _ok(step, tour.run(step))
    # `run` compiles first: generated/ matches the specs again (the plan's extra files pruned).
    assert _changed(tour, "specs", "generated", "dvc.yaml") == "", _changed(tour, "specs", "generated", "dvc.yaml")
    if tour.seeded:
        assert "every stage was a cache hit" in out, out
    champion = json.loads((tour.root / ".specops/artifacts/models/pump-failure/aliases.json").read_text())
    assert champion.get("champion"), champion


def check_serve(tour: Tour, step: Step, rest: list[Step]) -> None:
    assert step.background, f"{step.line}: the tour serves in the background"
    proc = tour.start(step)
    url = f"http://127.0.0.1:{tour.port}/v2/health/ready"
    deadline = time.monotonic() + 180
    while True:
        assert proc.poll() is None, f"{step.line}: exited {proc.returncode}\n{tour.background[-1][1].read_text()}"
        try:
            with urllib.request.urlopen(url, timeout=2) as answer:
                if answer.status == 200:
                    return
        except OSError:
            pass
        assert time.monotonic() < deadline, f"{step.line}: {url} not ready in 180 s"
        time.sleep(0.5)


def check_replay(tour: Tour, step: Step, rest: list[Step]) -> None:
    out = _ok(step, tour.run(step))
    argv = list(step.argv)
    if "--list" in argv:
        named = [s.argv[s.argv.index("--scenario") + 1] for s in rest if "--scenario" in s.argv]
        listed = [line.split()[0] for line in out.splitlines() if line.strip()]
        assert len(listed) >= 2 and set(named) <= set(listed), (named, out)
        return
    scenario = argv[argv.index("--scenario") + 1]
    days = float(argv[argv.index("--days") + 1])
    summary = re.search(rf"replayed {scenario} \S+ -> \S+ \((\d+) steps\)", out)
    predictions = re.search(r"predictions: (\d+) ", out)
    assert summary and predictions, out
    # Two prediction rounds a simulated hour (the default --step of 1800 s).
    assert int(summary.group(1)) == round(days * 86400 / 1800), out
    answered = int(predictions.group(1))
    assert answered > 0, out
    # No refusals at all: the driver asks about an asset only as of a time at or after every
    # arrival the online store holds for it (the sample's late tail included), so not even a 4xx.
    errors = {int(code): int(n) for n, code in re.findall(r"(\d+)x HTTP (\d+)", out)}
    assert errors == {}, (errors, out)


def check_monitor(tour: Tour, step: Step, rest: list[Step]) -> None:
    started = time.time()
    _ok(step, tour.run(step))
    promised = re.search(r"report\.\{([\w,]+)\} in (\S+?)/?$", step.comment)
    assert promised, f"{step.line}: the comment names no report files"
    folder = tour.root / promised.group(2)
    for ext in promised.group(1).split(","):
        report = folder / f"report.{ext}"
        assert report.is_file() and report.stat().st_mtime >= started - 1, report
    assert json.loads((folder / "report.json").read_text())


def check_review_list(tour: Tour, step: Step, rest: list[Step]) -> None:
    out = _ok(step, tour.run(step))
    count = re.search(r"^(\d+) item\(s\)$", out, re.M)
    assert count and int(count.group(1)) >= 1, f"{step.line}: the replay escalated nothing\n{out}"


def check_review_claim(tour: Tour, step: Step, rest: list[Step]) -> None:
    claim = json.loads(_ok(step, tour.run(step)))
    reviewer = step.argv[step.argv.index("--reviewer") + 1]
    assert claim["item"]["claimed_by"] == reviewer and claim["item"]["status"] == "claimed", claim
    tour.filled.update(ITEM=claim["item"]["id"], TOKEN=claim["token"])


def check_review_decide(tour: Tour, step: Step, rest: list[Step]) -> None:
    decided = json.loads(_ok(step, tour.run(step)))
    assert decided["id"] == tour.filled["ITEM"] and decided["status"] == "decided", decided
    assert decided["verdict"] == ("override" if "--override" in step.argv else "approve"), decided


def check_audit_verify(tour: Tour, step: Step, rest: list[Step]) -> None:
    out = _ok(step, tour.run(step))
    assert "OK" in out, out


CHECKS: dict[tuple[str, ...], Check] = {
    ("lint",): check_lint, ("compile",): check_compile, ("plan",): check_plan, ("run",): check_run,
    ("serve",): check_serve, ("replay",): check_replay, ("monitor",): check_monitor,
    ("review", "list"): check_review_list, ("review", "claim"): check_review_claim,
    ("review", "decide"): check_review_decide, ("audit", "verify"): check_audit_verify,
}


def _check_for(step: Step) -> Check:
    if step.argv[0] == "sed":
        return check_sed
    if step.argv[0] == "git":
        return check_git
    assert step.argv[0] == ".venv/bin/specops", f"{step.line!r}: the tour runs sed, git and .venv/bin/specops only"
    for length in (2, 1):
        if step.words[:length] in CHECKS:
            return CHECKS[step.words[:length]]
    raise AssertionError(f"README tour step {step.line!r} has no check in {__file__}: add what it promises")


def test_every_tour_step_has_a_check_and_every_check_a_step() -> None:
    """Fast, without services: the README's tour and this runner agree."""
    steps = tour_steps(README.read_text(encoding="utf-8"))
    checks = [_check_for(step) for step in steps]
    assert set(checks) == set(CHECKS.values()) | {check_sed, check_git}, "the tour lost a step this test checks"
    assert [s.words[:1] for s in steps if s.background] == [("serve",)]
    # This test's wall time (about 3.5 min after `make demo`, 7.5 min without) is budgeted on one simulated day.
    assert [s.argv[s.argv.index("--days") + 1] for s in steps if "--days" in s.argv] == ["1"]


def test_the_readme_tour_runs_exactly_as_written(tmp_path: Path) -> None:
    require_service("NATS JetStream", "127.0.0.1", 4222)
    steps = tour_steps(README.read_text(encoding="utf-8"))
    checks = [_check_for(step) for step in steps]  # every step known before anything slow runs
    root = tmp_path / "repo"
    root.mkdir()
    tour = Tour(root, copy_repository(REPO, root), free_port())
    try:
        for index, (step, check) in enumerate(zip(steps, checks)):
            check(tour, step, steps[index + 1:])
    finally:
        tour.stop_background()
    assert all(proc.returncode is not None for proc, _ in tour.background)
