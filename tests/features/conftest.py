"""Shared steps for the acceptance features, one feature file per lifecycle
stage (01_design ... 06_governance; each stage's own steps are in its
test_0N_*.py): a scratch copy of the example repository, edits that a pull
request would make (addressed by a YAML path, leaving every other line,
comment and line number alone), the real `specops` CLI, and checks on its
text, SARIF and GitHub outputs, on the files it wrote and on `specops plan`;
runtime steps on generated example data.

YAML paths are dotted keys with list indices: ``spec.approvals[1].role``.
In a file with several resources, ``of "<name>"`` picks the document whose
``metadata.name`` is that name; otherwise the first document is used.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml
from pytest_bdd import given, parsers, then, when
from typer.testing import CliRunner

from compiler.cli import app
from runtime.cli import main as runtime_main
from runtime.contracts.steps import GeneratorConfig
from runtime.data.generator import generate

REPO = Path(__file__).resolve().parents[2]
Q = r'"(?P<{}>[^"]*)"'  # a quoted step argument

_SELF = sys.modules[__name__]  # this very module (see shared_steps)


def q(name: str) -> str:
    return Q.format(name)


# ------------------------------------------------------------------ state


@dataclass
class Run:
    args: list[str]
    exit_code: int
    stdout: str
    output: str
    exception: BaseException | None


@dataclass
class LintCI:
    root: Path
    run: Run | None = None
    # Every file of the copy (relative path -> bytes) just before the last command ran.
    before_run: dict[str, bytes] = field(default_factory=dict)
    # Index (in the output lines) of the diagnostic the last "located error" step found.
    focus: int | None = None
    focus_file: str | None = None
    focus_line: int | None = None

    @property
    def lines(self) -> list[str]:
        assert self.run is not None, "no command has been run yet"
        return self.run.stdout.split("\n")


# ------------------------------------------------------------------ YAML edits


def parse_yaml_path(text: str) -> list[str | int]:
    parts: list[str | int] = []
    for key, index in re.findall(r"([^.\[\]]+)|\[(\d+)\]", text):
        parts.append(int(index) if index else key)
    assert parts, f"empty YAML path {text!r}"
    return parts


def _document(text: str, resource: str | None) -> yaml.Node:
    docs = [d for d in yaml.compose_all(text, Loader=yaml.SafeLoader) if d is not None]
    if resource is None:
        return docs[0]
    for doc in docs:
        meta = _child(doc, "metadata")
        name = _child(meta[1], "name") if meta is not None else None
        if name is not None and name[1].value == resource:
            return doc
    raise AssertionError(f"no resource named {resource!r} in the file")


def _child(node: yaml.Node, key: str | int):
    """(key_node or None, value_node) of one step into ``node``, or None."""
    if isinstance(node, yaml.MappingNode) and isinstance(key, str):
        for k, v in node.value:
            if k.value == key:
                return k, v
    if isinstance(node, yaml.SequenceNode) and isinstance(key, int) and 0 <= key < len(node.value):
        return None, node.value[key]
    return None


def locate(text: str, yaml_path: str, resource: str | None):
    """(parent node, key node or None, value node) at ``yaml_path``."""
    node = _document(text, resource)
    parent, found = node, None
    for part in parse_yaml_path(yaml_path):
        found = _child(node, part)
        assert found is not None, f"{yaml_path!r}: no {part!r} here"
        parent, node = node, found[1]
    assert found is not None
    return parent, found[0], found[1]


def _splice(text: str, start: int, end: int, new: str) -> str:
    return text[:start] + new + text[end:]


def change_value(text: str, yaml_path: str, value: str, resource: str | None = None) -> str:
    _, _, node = locate(text, yaml_path, resource)
    return _splice(text, node.start_mark.index, node.end_mark.index, value)


def rename_key(text: str, yaml_path: str, new_key: str, resource: str | None = None) -> str:
    _, key, _ = locate(text, yaml_path, resource)
    assert key is not None, f"{yaml_path!r} is a list item, not a field"
    return _splice(text, key.start_mark.index, key.end_mark.index, new_key)


def _content_end(node: yaml.Node):
    """Where a node's own text ends (a block collection's end mark is the next sibling's start)."""
    if isinstance(node, (yaml.MappingNode, yaml.SequenceNode)) and not node.flow_style and node.value:
        last = node.value[-1]
        return _content_end(last[1] if isinstance(node, yaml.MappingNode) else last)
    return node.end_mark


def remove(text: str, yaml_path: str, resource: str | None = None) -> str:
    parent, key, node = locate(text, yaml_path, resource)
    start = (key or node).start_mark
    if parent.flow_style:
        # `{a: 1, b: 2}` / `[x, y]`: cut the entry and one separating comma.
        s, e = start.index, node.end_mark.index
        after = re.match(r"\s*,\s*", text[e:])
        if after:
            return _splice(text, s, e + after.end(), "")
        before = re.search(r",\s*$", text[:s])
        return _splice(text, before.start() if before else s, e, "")
    lines = text.splitlines(keepends=True)
    first = start.line
    end = _content_end(node)
    last = end.line - 1 if end.column == 0 else end.line  # block nodes end at the start of the next line
    return "".join(lines[:first] + lines[last + 1:])


# ------------------------------------------------------------------ steps: given


@pytest.fixture
def lint_ci(tmp_path: Path) -> LintCI:
    return LintCI(tmp_path)


@pytest.fixture
def shared_steps():  # type: ignore[no-untyped-def]
    """This module, for a stage's steps that reuse its helpers (YAML edits,
    file listings, example data): `from conftest import ...` is ambiguous,
    tests/ has several conftest.py (and each is imported as `conftest`, so the
    module is captured when it is executed, not looked up later)."""
    return _SELF


@given("a copy of the example repository")
def example_repository(lint_ci: LintCI, monkeypatch: pytest.MonkeyPatch) -> None:
    """specs/, policies/ and the committed compiler output; the empty
    pyproject.toml marks the copy as a repository root, so the search for
    policies/ stops there."""
    for folder in ("specs", "policies", "generated"):
        shutil.copytree(REPO / folder, lint_ci.root / folder)
    shutil.copy2(REPO / "dvc.yaml", lint_ci.root / "dvc.yaml")
    (lint_ci.root / "pyproject.toml").write_text("", encoding="utf-8")
    monkeypatch.chdir(lint_ci.root)


@given(parsers.re(rf"a hand-written file {q('file')}"))
def hand_written_file(lint_ci: LintCI, file: str) -> None:
    path = lint_ci.root / file
    assert not path.exists(), f"{file} exists already"
    path.write_text("# Release notes\n\nWritten by people, not by specops.\n", encoding="utf-8")


# ------------------------------------------------------------------ steps: when (edits)


def _edit(lint_ci: LintCI, file: str, fn) -> None:
    path = lint_ci.root / file
    before = path.read_text(encoding="utf-8")
    after = fn(before)
    assert after != before, f"the edit changed nothing in {file}"
    path.write_text(after, encoding="utf-8")


@when(parsers.re(rf"I change {q('yaml_path')} in {q('file')} to {q('value')}"))
def change(lint_ci: LintCI, yaml_path: str, file: str, value: str) -> None:
    _edit(lint_ci, file, lambda t: change_value(t, yaml_path, value))


@when(parsers.re(rf"I change {q('yaml_path')} of {q('resource')} in {q('file')} to {q('value')}"))
def change_of(lint_ci: LintCI, yaml_path: str, resource: str, file: str, value: str) -> None:
    _edit(lint_ci, file, lambda t: change_value(t, yaml_path, value, resource))


@when(parsers.re(rf"I rename the field {q('yaml_path')} in {q('file')} to {q('new_key')}"))
def rename(lint_ci: LintCI, yaml_path: str, file: str, new_key: str) -> None:
    _edit(lint_ci, file, lambda t: rename_key(t, yaml_path, new_key))


@when(parsers.re(rf"I remove {q('yaml_path')} from {q('file')}"))
def remove_field(lint_ci: LintCI, yaml_path: str, file: str) -> None:
    _edit(lint_ci, file, lambda t: remove(t, yaml_path))


@when(parsers.re(rf"I remove {q('yaml_path')} of {q('resource')} in {q('file')}"))
def remove_field_of(lint_ci: LintCI, yaml_path: str, resource: str, file: str) -> None:
    _edit(lint_ci, file, lambda t: remove(t, yaml_path, resource))


def remove_document(text: str, resource: str) -> str:
    """Drops the YAML document whose metadata.name is ``resource`` (with its comments and one ``---``)."""
    chunks = re.split(r"(?m)^---[ \t]*\n", text)
    names = [((yaml.safe_load(c) or {}).get("metadata") or {}).get("name") for c in chunks]
    assert names.count(resource) == 1, f"{resource!r} is not exactly one of the documents {names}"
    kept = [c for c, name in zip(chunks, names) if name != resource]
    return "---\n".join(kept)


@when(parsers.re(rf"I remove the resource {q('resource')} from {q('file')}"))
def remove_resource(lint_ci: LintCI, resource: str, file: str) -> None:
    _edit(lint_ci, file, lambda t: remove_document(t, resource))


@when(parsers.re(rf"I add {q('file')}:"))
def add_file(lint_ci: LintCI, file: str, docstring: str) -> None:
    path = lint_ci.root / file
    assert not path.exists(), f"{file} exists already"
    path.write_text(docstring.rstrip("\n") + "\n", encoding="utf-8")


# ------------------------------------------------------------------ steps: when (run)


@when(parsers.re(rf"I run {q('command')}"))
def run_command(lint_ci: LintCI, command: str) -> None:
    argv = shlex.split(command)
    assert argv[0] == "specops", f"only specops commands are supported, got {command!r}"
    lint_ci.before_run = snapshot(lint_ci.root)
    result = CliRunner().invoke(app, argv[1:])
    lint_ci.run = Run(argv, result.exit_code, result.stdout, result.output, result.exception)
    lint_ci.focus = None
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise AssertionError(f"`{command}` crashed: {result.exception!r}\n{result.output}") from result.exception


def snapshot(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


# ------------------------------------------------------------------ steps: then (text)


def line_of(lint_ci: LintCI, text: str, file: str) -> int:
    lines = (lint_ci.root / file).read_text(encoding="utf-8").splitlines()
    hits = [n for n, line in enumerate(lines, 1) if text in line]
    assert len(hits) == 1, f"{text!r} occurs on lines {hits} of {file}; the scenario needs exactly one"
    return hits[0]


_DIAG_LINE = re.compile(r"^\S.*:\d+:\d+: (error|warning|info)\[SO\d{3}\]: ")


@then(parsers.parse("the exit code is {code:d}"))
def exit_code(lint_ci: LintCI, code: int) -> None:
    assert lint_ci.run is not None
    assert lint_ci.run.exit_code == code, f"exit code {lint_ci.run.exit_code}, expected {code}:\n{lint_ci.run.output}"


@then(parsers.re(r"the summary line says (?P<count>\d+) errors?"))
def summary_line(lint_ci: LintCI, count: str) -> None:
    last = [line for line in lint_ci.lines if line.strip()][-1]
    assert re.match(rf"^{count} error\(s\), \d+ warning\(s\) in \d+ file\(s\), \d+ resource\(s\)$", last), last


@then(parsers.re(rf"the output contains a located error {q('code')} at the line of {q('text')} in {q('file')}"))
def located_error(lint_ci: LintCI, code: str, text: str, file: str) -> None:
    line = line_of(lint_ci, text, file)
    pattern = re.compile(rf"^{re.escape(file)}:{line}:(\d+): error\[{code}\]: ")
    hits = [i for i, out in enumerate(lint_ci.lines) if pattern.match(out)]
    assert hits, f"no `{file}:{line}:<col>: error[{code}]` in the output:\n{lint_ci.run.stdout}"
    lint_ci.focus, lint_ci.focus_file, lint_ci.focus_line = hits[0], file, line


@then(parsers.re(rf"the output contains a located error {q('code')} in {q('file')}"))
def located_error_anywhere(lint_ci: LintCI, code: str, file: str) -> None:
    pattern = re.compile(rf"^{re.escape(file)}:([1-9]\d*):([1-9]\d*): error\[{code}\]: ")
    hits = [i for i, out in enumerate(lint_ci.lines) if pattern.match(out)]
    assert hits, f"no located `error[{code}]` in {file}:\n{lint_ci.run.stdout}"
    lint_ci.focus = hits[0]


def _focused_block(lint_ci: LintCI) -> list[str]:
    """The focused diagnostic's lines: header, source, caret, hints, notes."""
    assert lint_ci.focus is not None, "a 'located error' step must come first"
    lines = lint_ci.lines
    block = [lines[lint_ci.focus]]
    for out in lines[lint_ci.focus + 1:]:
        if _DIAG_LINE.match(out) or re.match(r"^\d+ error\(s\)", out):
            break
        block.append(out)
    return block


@then(parsers.re(rf"the caret points at {q('text')}"))
def caret(lint_ci: LintCI, text: str) -> None:
    block = _focused_block(lint_ci)
    source = (lint_ci.root / lint_ci.focus_file).read_text(encoding="utf-8").splitlines()[lint_ci.focus_line - 1]
    gutter = f"{lint_ci.focus_line:>5} | "
    assert len(block) >= 3, block
    assert block[1] == gutter + source, f"source line not shown: {block[1]!r}"
    assert re.fullmatch(r" +\| +\^", block[2]), f"no caret line: {block[2]!r}"
    assert block[2].index("^") - len(gutter) == source.index(text), (
        f"the caret is under {source[block[2].index('^') - len(gutter):]!r}, not {text!r}")


@then(parsers.re(rf"the hint says {q('text')}"))
def hint(lint_ci: LintCI, text: str) -> None:
    hints = [out for out in _focused_block(lint_ci) if out.startswith("      = hint: ")]
    assert any(text in h for h in hints), f"no hint with {text!r} in {hints}"


@then(parsers.re(rf"the message says {q('text')}"))
def message(lint_ci: LintCI, text: str) -> None:
    header = _focused_block(lint_ci)[0]
    assert text in header, f"{text!r} not in {header!r}"


# ------------------------------------------------------------------ steps: then (SARIF)


@then(parsers.re(rf"{q('file')} is a valid SARIF 2.1.0 log"))
def valid_sarif(lint_ci: LintCI, file: str, shared_schemas: Path) -> None:
    log = json.loads((lint_ci.root / file).read_text(encoding="utf-8"))
    assert log["version"] == "2.1.0"
    proc = subprocess.run([sys.executable, str(shared_schemas / "validate_sarif.py"), file],
                          capture_output=True, text=True, timeout=120, cwd=lint_ci.root)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def _sarif_results(lint_ci: LintCI, file: str) -> list[dict]:
    log = json.loads((lint_ci.root / file).read_text(encoding="utf-8"))
    (run,) = log["runs"]
    return run["results"]


@then(parsers.re(rf"{q('file')} has (?P<count>\d+) result\(s\), each with a file and a line"))
def sarif_results_located(lint_ci: LintCI, file: str, count: str) -> None:
    results = _sarif_results(lint_ci, file)
    assert len(results) == int(count), [r["message"]["text"] for r in results]
    for r in results:
        physical = r["locations"][0]["physicalLocation"]
        uri = physical["artifactLocation"]["uri"]
        assert (lint_ci.root / uri).is_file(), f"{uri} is not a file of the repository"
        assert physical["region"]["startLine"] >= 1 and physical["region"]["startColumn"] >= 1


@then(parsers.re(rf"{q('file')} has a result {q('code')} at the line of {q('text')} in {q('source')}"))
def sarif_result_at(lint_ci: LintCI, file: str, code: str, text: str, source: str) -> None:
    line = line_of(lint_ci, text, source)
    found = [
        r for r in _sarif_results(lint_ci, file)
        if r["ruleId"] == code
        and r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == source
        and r["locations"][0]["physicalLocation"]["region"]["startLine"] == line
    ]
    assert found, f"no {code} result at {source}:{line}"


# ------------------------------------------------------------------ steps: then (GitHub)

_COMMAND = re.compile(r"^::(error|warning|notice) file=[^,]+(,line=\d+,col=\d+)?,title=SO\d{3}::.+$")


@then("every output line is a GitHub workflow command")
def workflow_commands(lint_ci: LintCI) -> None:
    lines = [out for out in lint_ci.lines if out]
    assert lines, "no annotations"
    bad = [out for out in lines if not _COMMAND.match(out)]
    assert not bad, bad


@then(parsers.re(rf"there is an {q('level')} annotation {q('code')} at the line of {q('text')} in {q('file')}"))
def annotation(lint_ci: LintCI, level: str, code: str, text: str, file: str) -> None:
    line = line_of(lint_ci, text, file)
    prefix = f"::{level} file={file},line={line},"
    hits = [out for out in lint_ci.lines if out.startswith(prefix) and f",title={code}::" in out]
    assert hits, f"no annotation starting {prefix!r} for {code}:\n{lint_ci.run.stdout}"


# ------------------------------------------------------------------ steps: then (files written)

# What `specops compile` prints per file: created/updated/deleted, or with
# --check missing/stale/extra; and what each means on disk.
_LISTED = re.compile(r"^(missing|stale|extra|created|updated|deleted): (\S+)$")
_ON_DISK = {"created": "added", "updated": "changed", "deleted": "removed"}


def listed_files(lint_ci: LintCI) -> list[tuple[str, str]]:
    return [(m[1], m[2]) for m in map(_LISTED.match, lint_ci.lines) if m]


def disk_changes(before: dict[str, bytes], after: dict[str, bytes]) -> set[tuple[str, str]]:
    return ({("added", p) for p in after.keys() - before.keys()}
            | {("removed", p) for p in before.keys() - after.keys()}
            | {("changed", p) for p in before.keys() & after.keys() if before[p] != after[p]})


@then("the command lists exactly these files:")
def lists_exactly(lint_ci: LintCI, datatable: list[list[str]]) -> None:
    """Rows ``| status | file |`` after a header row; ``*`` in a file stands for a content hash."""
    expected = [(status.strip(), pattern.strip()) for status, pattern in datatable[1:]]
    listed = listed_files(lint_ci)
    unmatched = list(listed)
    for status, pattern in expected:
        hits = [item for item in unmatched if item[0] == status and fnmatchcase(item[1], pattern)]
        assert len(hits) == 1, f"`{status}: {pattern}` matches {hits} in the listing {listed}"
        unmatched.remove(hits[0])
    assert not unmatched, f"listed but not expected: {unmatched}"


@then("exactly the listed files changed on disk")
def listed_files_changed(lint_ci: LintCI) -> None:
    listed = {(_ON_DISK[status], path) for status, path in listed_files(lint_ci)}
    assert len(listed) == len(listed_files(lint_ci)), "a file is listed twice"
    assert disk_changes(lint_ci.before_run, snapshot(lint_ci.root)) == listed


@then("no file was written")
def nothing_written(lint_ci: LintCI) -> None:
    changes = disk_changes(lint_ci.before_run, snapshot(lint_ci.root))
    assert not changes, f"the command changed files: {sorted(changes)}"


@then(parsers.re(r"no file in (?P<folders>.+) changed"))
def folders_unchanged(lint_ci: LintCI, folders: str) -> None:
    """``no file in "generated/prod" or "generated/edge" changed``"""
    names = re.findall(r'"([^"]+)"', folders)
    assert names, folders
    changes = disk_changes(lint_ci.before_run, snapshot(lint_ci.root))
    touched = sorted(c for c in changes if any(c[1].startswith(n.rstrip("/") + "/") for n in names))
    assert not touched, touched


@then(parsers.re(rf"the hand-written {q('file')} is untouched"))
def untouched(lint_ci: LintCI, file: str) -> None:
    assert file in lint_ci.before_run, f"{file} did not exist before the command"
    assert (lint_ci.root / file).read_bytes() == lint_ci.before_run[file], f"{file} changed"


@then(parsers.re(rf"the output says {q('text')}"))
def output_says(lint_ci: LintCI, text: str) -> None:
    assert lint_ci.run is not None
    assert text in lint_ci.run.output, f"{text!r} not in the output:\n{lint_ci.run.output}"


# ------------------------------------------------------------------ steps: `specops plan` on a pull request

_GIT_ENV = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com", "GIT_COMMITTER_NAME": "t",
            "GIT_COMMITTER_EMAIL": "t@example.com", "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"}


@given("the copy is a git repository with everything committed")
def committed(lint_ci: LintCI) -> None:
    for args in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-q", "--no-gpg-sign", "-m", "example"]):
        subprocess.run(["git", "-C", str(lint_ci.root), *args], check=True, capture_output=True, timeout=60,
                       env={**os.environ, **_GIT_ENV})


def _plan(lint_ci: LintCI) -> dict:
    assert lint_ci.run is not None and "--format" in lint_ci.run.args and "json" in lint_ci.run.args
    return json.loads(lint_ci.run.stdout)


@then(parsers.re(rf"the plan says {q('resource')} {q('path')} was loosened from {q('old')} to {q('new')}"))
def loosened(lint_ci: LintCI, resource: str, path: str, old: str, new: str) -> None:
    hits = [c for c in _plan(lint_ci)["changes"] if (c["resource"], c["path"]) == (resource, path)]
    assert len(hits) == 1, _plan(lint_ci)["changes"]
    change = hits[0]
    assert (change["before"], change["after"], change["effect"]) == (json.loads(old), json.loads(new), "loosened")


def _approval(lint_ci: LintCI, model: str, env: str) -> dict:
    hits = [a for a in _plan(lint_ci)["approvals"] if (a["model"], a["environment"]) == (model, env)]
    assert len(hits) == 1, _plan(lint_ci)["approvals"]
    return hits[0]


@then(parsers.re(rf"the plan requires (?P<count>\d+) approvals from {q('roles')} for {q('model')} in {q('env')}, "
                 rf"required by {q('policy')}"))
def requires(lint_ci: LintCI, count: str, roles: str, model: str, env: str, policy: str) -> None:
    need = _approval(lint_ci, model, env)
    assert need["required"] == int(count)
    assert need["roles"] == [r.strip() for r in roles.split(",")]
    assert policy in need["requiredBy"]


@then("no release record carries them: the approvals are asked of the pull request's reviewers")
def asked_of_reviewers(lint_ci: LintCI) -> None:
    approvals = _plan(lint_ci)["approvals"]
    assert approvals and all(a["status"] == "review" and a["recorded"] == [] for a in approvals), approvals


@then(parsers.re(rf"the plan requires no approvals in {q('env')}"))
def none_in(lint_ci: LintCI, env: str) -> None:
    assert not [a for a in _plan(lint_ci)["approvals"] if a["environment"] == env]


# ------------------------------------------------------------------ steps: the runtime on generated data

RUNTIME_CONFIGS = "generated/runtime/pump-failure"


def write_example_data(root: Path, data, as_of: str) -> None:
    """Generated events and labels as the raw files validate-data reads, and
    its compiled config with ``as_of`` (the data's "now") in the copy's root."""
    for name, table in (("events", data.events), ("labels", data.labels)):
        folder = root / "data" / name
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        pq.write_table(table, folder / "part-0.parquet")
    config = json.loads((root / RUNTIME_CONFIGS / "validate-data.json").read_text())
    config["as_of"] = as_of
    (root / "validate-data.json").write_text(json.dumps(config))


@given("the example data validated into a snapshot")
def validated_snapshot(lint_ci: LintCI) -> None:
    data = generate(GeneratorConfig(assets=8, days=16, null_rate=0.02, out_of_order_rate=0.05))
    write_example_data(lint_ci.root, data, "2026-01-17T00:00:00Z")  # the generated data's "now"
    assert runtime_main(["validate-data", "--config", "validate-data.json"]) == 0


@when(parsers.re(rf"I run the runtime step {q('step')}"))
def run_runtime_step(lint_ci: LintCI, step: str) -> None:
    """In this process (so a scenario can swap a part of it), on the step's compiled config."""
    argv = [step, "--config", f"{RUNTIME_CONFIGS}/{step}.json"]
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = runtime_main(argv)
    lint_ci.run = Run(["python", "-m", "runtime", *argv], code, out.getvalue(), out.getvalue() + err.getvalue(), None)
