"""`specops`: exit codes, formats, explain, and no tracebacks."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from compiler.cli import app
from compiler.codes import CODES

runner = CliRunner()


@pytest.fixture()
def example(tmp_path, repo):
    shutil.copytree(repo / "specs", tmp_path / "specs")
    shutil.copytree(repo / "policies", tmp_path / "policies")
    (tmp_path / "pyproject.toml").write_text("")
    return tmp_path


def _break_gap(example):
    path = example / "specs/models/pump-failure.yaml"
    path.write_text(path.read_text().replace("    gap: 24h", "    gap: 12h"))
    return path


def test_clean_example_exits_0(example, monkeypatch):
    monkeypatch.chdir(example)
    res = runner.invoke(app, ["lint", "specs/"])
    assert res.exit_code == 0, res.output
    assert res.output.strip().endswith("0 error(s), 0 warning(s) in 10 file(s), 12 resource(s)")


def test_error_exits_1_with_compiler_style_text(example, monkeypatch):
    monkeypatch.chdir(example)
    path = _break_gap(example)
    line = next(i for i, l in enumerate(path.read_text().splitlines(), 1) if "gap: 12h" in l)
    res = runner.invoke(app, ["lint", "specs/"])
    assert res.exit_code == 1
    lines = res.output.splitlines()
    head = next(i for i, l in enumerate(lines) if "error[SO403]" in l)
    assert lines[head].startswith(f"specs/models/pump-failure.yaml:{line}:10: error[SO403]: validation gap 12h")
    assert lines[head + 1].endswith("    gap: 12h")
    assert lines[head + 2].endswith("^") and lines[head + 2].index("^") == lines[head + 1].index("12h")
    assert "hint: set validation.gap to at least 24h" in lines[head + 3]


def test_warnings_pass_unless_strict(example, monkeypatch):
    monkeypatch.chdir(example)
    policy = example / "policies/production-baseline.yaml"
    # PB-002 is a warning: retraining only on schedule.
    model = example / "specs/models/pump-failure.yaml"
    model.write_text(model.read_text().replace("triggers: [schedule, drift, performance]", "triggers: [schedule]"))
    assert policy.exists()
    assert runner.invoke(app, ["lint", "specs/"]).exit_code == 0
    assert runner.invoke(app, ["lint", "specs/", "--strict"]).exit_code == 1


def test_json_format(example, monkeypatch):
    monkeypatch.chdir(example)
    _break_gap(example)
    res = runner.invoke(app, ["lint", "specs/", "--format", "json"])
    assert res.exit_code == 1
    doc = json.loads(res.output)
    assert doc["summary"]["error"] == 1
    assert doc["diagnostics"][0]["code"] == "SO403" and doc["diagnostics"][0]["line"] > 0


def test_sarif_format_is_valid_sarif_2_1_0(example, monkeypatch, shared_schemas):
    monkeypatch.chdir(example)
    _break_gap(example)
    out = example / "report.sarif"
    res = runner.invoke(app, ["lint", "specs/", "--format", "sarif", "--output", str(out)])
    assert res.exit_code == 1
    check = subprocess.run([sys.executable, str(shared_schemas / "validate_sarif.py"), str(out)], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    log = json.loads(out.read_text())
    result = log["runs"][0]["results"][0]
    assert result["ruleId"] == "SO403"
    region = result["locations"][0]["physicalLocation"]
    assert region["artifactLocation"]["uri"] == "specs/models/pump-failure.yaml"
    assert region["region"]["startLine"] > 0
    assert log["runs"][0]["tool"]["driver"]["rules"][0]["id"] == "SO403"


def test_github_annotations(example, monkeypatch):
    monkeypatch.chdir(example)
    _break_gap(example)
    res = runner.invoke(app, ["lint", "specs/", "--format", "github"])
    assert res.exit_code == 1
    assert res.output.startswith("::error file=specs/models/pump-failure.yaml,line=")


def test_policies_are_discovered_and_can_be_disabled(example, monkeypatch):
    monkeypatch.chdir(example)
    model = example / "specs/models/pump-failure.yaml"
    text = model.read_text()
    start = text.index("  review:\n")
    end = text.index("  retrain:\n")
    model.write_text(text[:start] + text[end:])
    res = runner.invoke(app, ["lint", "specs/"])
    assert res.exit_code == 1 and "[HR-001]" in res.output
    assert runner.invoke(app, ["lint", "specs/", "--policies", "none"]).exit_code == 0


def test_missing_path_and_bad_option_exit_codes(example, monkeypatch):
    monkeypatch.chdir(example)
    assert runner.invoke(app, ["lint", "nope/"]).exit_code == 1
    assert runner.invoke(app, ["lint", "specs/", "--format", "xml"]).exit_code == 2
    assert runner.invoke(app, ["lint"]).exit_code == 2


def test_explain_every_code():
    for code in CODES:
        res = runner.invoke(app, ["explain", code.lower()])
        assert res.exit_code == 0 and code in res.output and "Fix:" in res.output
    res = runner.invoke(app, ["explain", "SO999"])
    assert res.exit_code == 2


def test_schema_check(tmp_path):
    out = tmp_path / "s.json"
    assert runner.invoke(app, ["schema", "--out", str(out), "--check"]).exit_code == 1
    assert runner.invoke(app, ["schema", "--out", str(out)]).exit_code == 0
    assert runner.invoke(app, ["schema", "--out", str(out), "--check"]).exit_code == 0


def test_show_summarises_the_example(example, monkeypatch):
    monkeypatch.chdir(example)
    res = runner.invoke(app, ["show", "specs/"])
    assert res.exit_code == 0, res.output
    for word in ("pump-failure", "sensor-events", "high-risk-governance", "pm-prod"):
        assert word in res.output


def test_console_script_runs_without_traceback(example):
    exe = shutil.which("specops", path=str(__import__("pathlib").Path(sys.executable).parent))
    assert exe, "the specops console script is installed next to the interpreter"
    res = subprocess.run([exe, "lint", "specs/"], cwd=example, capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr
    (example / "specs/bad.yaml").write_bytes(b"\xff\xfe garbage")
    res = subprocess.run([exe, "lint", "specs/"], cwd=example, capture_output=True, text=True)
    assert res.returncode == 1 and "Traceback" not in res.stderr and "SO105" in res.stdout


def test_readme_error_example_is_what_lint_prints(example, monkeypatch, repo):
    """The README shows real output: keep it true."""
    monkeypatch.chdir(example)
    _break_gap(example)
    res = runner.invoke(app, ["lint", "specs/"])
    readme = (repo / "README.md").read_text()
    block = readme.split("```text\n", 1)[1].split("```", 1)[0]
    assert block == res.output
