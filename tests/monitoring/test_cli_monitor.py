"""`specops monitor` end to end on a scratch project: compile, judge the local
prediction log, write the three reports; options errors are one line."""

from __future__ import annotations

import json
from pathlib import Path

from monitoring_log import make_log, serve_log
from pipeline_project import WORK, make_project, specops

END = "2026-05-28T20:56:40Z"


def test_specops_monitor_on_a_project(tmp_path: Path) -> None:
    project = make_project(tmp_path / "project")
    # Served, never compacted: every row is still in the write-ahead store, and the monitor sees it.
    serve_log(make_log(), project / WORK / "predlog/local.db")
    code, out = specops("monitor", "specs", "--out", "generated", "--at", END, "--format", "json",
                        "--report-dir", "reports", cwd=project)
    assert code == 0, out
    report = json.loads((project / "reports/report.json").read_text())
    assert report["model"] == "pump-failure" and report["environment"] == "local"
    breached = {(r["objective"], r["version"]) for r in report["objectives"] if r["status"] == "breach"}
    assert {("latency", "1.5.0"), ("errors", "1.4.0")} <= breached
    assert (project / "reports/report.html").read_text().count("<svg") >= 4
    assert (project / "generated/runtime/pump-failure/monitor.json").is_file()
    # The printed JSON is the written one.
    assert json.JSONDecoder().raw_decode(out[out.index("{"):])[0] == report  # then the pages (stderr)

    assert report["sections"]["actions"]["available"] is True  # enforced (locally: control file, printed pages)
    assert (project / WORK / "control/pump-failure-local.json").is_file()

    code, out = specops("monitor", "specs", "--out", "generated", "--at", END, "--report-dir", "reports",
                        "--dry-run", cwd=project)
    assert code == 0 and "BREACH" in out and "no prediction log" not in out
    assert "dry run: breaches were reported, not enforced" in out

    code, out = specops("monitor", "specs", "--out", "generated", "--once", "--every", "5m", cwd=project)
    assert code == 2 and "--once or --every, not both" in out
    code, out = specops("monitor", "specs", "--out", "generated", "--every", "soon", cwd=project)
    assert code == 2 and "positive duration" in out
    code, out = specops("monitor", "specs", "--out", "generated", "--model", "nope", cwd=project)
    assert code == 2 and "no local monitor config for model 'nope'" in out
