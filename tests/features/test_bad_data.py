"""Acceptance: bad data is stopped, not learned from (tests/features/bad_data.feature).

Spec edits, `specops` runs and the exit-code step are shared (conftest.py);
the runtime steps run as real processes, exactly as a DVC stage runs them."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from pytest_bdd import parsers, scenarios, then, when


scenarios("bad_data.feature")

# The shared steps' fixture `lint_ci` (conftest.LintCI: root, run) is used by
# name; `from conftest import ...` would be ambiguous (tests/ has several).


def q(name: str) -> str:
    return f'"(?P<{name}>[^"]*)"'


def line_of(lint_ci, text: str, file: str) -> int:
    lines = (lint_ci.root / file).read_text(encoding="utf-8").splitlines()
    hits = [n for n, line in enumerate(lines, 1) if text in line]
    assert len(hits) == 1, f"{text!r} occurs on lines {hits} of {file}"
    return hits[0]


@pytest.fixture
def step_runs() -> list[subprocess.CompletedProcess[str]]:
    return []


def _work(lint_ci, model: str) -> Path:
    return lint_ci.root / ".specops" / "work" / model


@when(parsers.re(rf"I run the runtime step {q('step')} with {q('config')}"))
def run_step(lint_ci, step_runs: list, step: str, config: str) -> None:
    step_runs.append(subprocess.run([sys.executable, "-m", "runtime", step, "--config", config], cwd=lint_ci.root,
                                    capture_output=True, text=True, timeout=600))


@then(parsers.parse("the step exit code is {code:d}"))
def step_exit(step_runs: list, code: int) -> None:
    last = step_runs[-1]
    assert last.returncode == code, f"{last.args}: exit {last.returncode}\n{last.stdout}\n{last.stderr}"
    assert "Traceback" not in last.stderr


@then(parsers.re(rf"the validated snapshot of {q('model')} accounts for every row of {q('source')}"))
def accounts(lint_ci, model: str, source: str) -> None:
    snapshot = _work(lint_ci, model) / "validated"
    lineage = json.loads((snapshot / "lineage.json").read_text())
    ds = next(d for d in lineage["datasets"] if d["name"] == source)
    assert ds["rows_in"] == ds["rows_out"] + ds["quarantined"] + ds["dropped"], ds
    raw = sum(f["rows"] for f in ds["source"]["files"])
    assert raw == ds["rows_in"]
    assert pq.read_metadata(snapshot / f"{source}.parquet").num_rows == ds["rows_out"]
    assert pq.read_metadata(snapshot / "quarantine" / f"{source}.parquet").num_rows == ds["quarantined"] > 0


@then(parsers.re(r'the quarantine of "(?P<source>[^"]+)" holds rows for (?P<rules>.+)'))
def quarantine_holds(lint_ci, source: str, rules: str) -> None:
    wanted = [r.strip().strip('"') for r in rules.replace(" and ", ", ").split(",")]
    table = pq.read_table(next(lint_ci.root.glob(f".specops/work/*/validated/quarantine/{source}.parquet")))
    violations = table["_violation"].to_pylist()
    for rule in wanted:
        assert any(rule in v for v in violations), f"no quarantined row for {rule!r}"


@then(parsers.re(rf"the data report of {q('model')} fails {q('rule')} on {q('column')} with example rows"))
def report_fails(lint_ci, model: str, rule: str, column: str) -> None:
    report = json.loads((_work(lint_ci, model) / "reports" / "data.json").read_text())
    assert report["passed"] is False
    failed = [r for d in report["datasets"] for r in d["contract"]["results"] if r["status"] == "fail"]
    hit = next((r for r in failed if r["rule"] == rule and r["column"] == column), None)
    assert hit is not None, [(r["rule"], r["column"]) for r in failed]
    assert hit["count"] > 0 and hit["examples"], hit


@then(parsers.re(rf"the step's error output names {q('text')}"))
def stderr_names(step_runs: list, text: str) -> None:
    assert text in step_runs[-1].stderr, step_runs[-1].stderr


@then(parsers.re(rf"there is no validated snapshot of {q('model')}"))
def no_snapshot(lint_ci, model: str) -> None:
    assert not (_work(lint_ci, model) / "validated").exists()


@then(parsers.re(rf"no validated row of {q('source')} has asset type {q('kind')}"))
def no_row_of_type(lint_ci, source: str, kind: str) -> None:
    table = pq.read_table(next(lint_ci.root.glob(f".specops/work/*/validated/{source}.parquet")))
    assert pc.sum(pc.equal(table["asset_type"], kind)).as_py() in (None, 0)


@then(parsers.re(rf"the output contains a located warning {q('code')} at the line of {q('text')} in {q('file')}"))
def located_warning(lint_ci, code: str, text: str, file: str) -> None:
    assert lint_ci.run is not None
    line = line_of(lint_ci, text, file)
    pattern = re.compile(rf"^{re.escape(file)}:{line}:\d+: warning\[{code}\]: ", re.MULTILINE)
    assert pattern.search(lint_ci.run.stdout), lint_ci.run.stdout
