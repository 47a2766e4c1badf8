"""Acceptance: training–serving skew is caught before deploy
(tests/features/training_serving_skew.feature).

Shared steps (the example copy, exit code, output) live in conftest.py; the
steps below run the real runtime steps in-process on generated data."""

from __future__ import annotations

import contextlib
import io
import json
from dataclasses import dataclass

import pyarrow.parquet as pq
import pytest
import yaml
from pytest_bdd import given, parsers, scenarios, then, when

import runtime.features.online as online
from runtime.cli import main
from runtime.contracts.steps import GeneratorConfig
from runtime.data.generator import generate

scenarios("training_serving_skew.feature")

CONFIGS = "generated/runtime/pump-failure"


def q(name: str) -> str:
    return rf'"(?P<{name}>[^"]*)"'


@dataclass
class StepRun:
    """What the shared `then` steps read from ``lint_ci.run`` (conftest.Run's fields)."""

    args: list[str]
    exit_code: int
    stdout: str
    output: str
    exception: BaseException | None


@given("the example data validated into a snapshot")
def validated_snapshot(lint_ci) -> None:
    data = generate(GeneratorConfig(assets=8, days=16, null_rate=0.02, out_of_order_rate=0.05))
    for name, table in (("events", data.events), ("labels", data.labels)):
        (lint_ci.root / "data" / name).mkdir(parents=True)
        pq.write_table(table, lint_ci.root / "data" / name / "part-0.parquet")
    config = json.loads((lint_ci.root / CONFIGS / "validate-data.json").read_text())
    config["as_of"] = "2026-01-17T00:00:00Z"  # the generated data's "now"
    (lint_ci.root / "validate-data.json").write_text(json.dumps(config))
    assert main(["validate-data", "--config", "validate-data.json"]) == 0


@given("a serving build whose online engine counts one event too many at window boundaries")
def skewed_online_engine(monkeypatch: pytest.MonkeyPatch) -> None:
    def one_too_many(series, at, window_us):
        lo, hi = series.bounds(at - window_us, at)
        return max(lo - 1, 0), hi

    monkeypatch.setattr(online, "window_bounds", one_too_many)


@when(parsers.re(rf"I run the runtime step {q('step')}"))
def run_runtime_step(lint_ci, step: str) -> None:
    argv = [step, "--config", f"{CONFIGS}/{step}.json"]
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv)
    lint_ci.run = StepRun(["python", "-m", "runtime", *argv], code, out.getvalue(), out.getvalue() + err.getvalue(), None)


@then("the parity report lists each mismatch with entity, time, feature and both values")
def parity_report(lint_ci) -> None:
    report = json.loads((lint_ci.root / ".specops/work/pump-failure/reports/parity.json").read_text())
    assert report["ok"] is False and report["mismatch_count"] == len(report["mismatches"]) > 0
    for m in report["mismatches"]:
        assert m["entity"] and m["time"].endswith("Z") and m["feature"]
        assert m["batch"] != m["online"]


@then(parsers.re(rf"in {q('file')} the stage {q('stage')} needs the output of {q('upstream')}"))
def stage_needs(lint_ci, file: str, stage: str, upstream: str) -> None:
    stages = yaml.safe_load((lint_ci.root / file).read_text())["stages"]
    assert set(stages[upstream]["outs"]) & set(stages[stage]["deps"]), f"{stage} does not wait for {upstream}"
