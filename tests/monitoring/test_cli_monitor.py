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

    # Extra label files (a replay's scenario tickets) reach the runtime's performance section.
    (project / "replay").mkdir()
    import pyarrow as pa
    import pyarrow.parquet as pq
    pq.write_table(pa.table({"asset_id": ["pump-1"], "failure_time": pa.array([1_780_000_100_000_000],
                                                                                pa.timestamp("us", tz="UTC")),
                             "failed": [True], "ticket_id": ["T1"]}), project / "replay/labels.parquet")
    code, out = specops("monitor", "specs", "--out", "generated", "--at", END, "--report-dir", "reports", "--dry-run",
                        "--format", "json", "--labels", "replay/*.parquet", cwd=project)
    perf = json.loads((project / "reports/report.json").read_text())["sections"]["performance"]
    assert code == 0 and "performance window in the log yet (1 label file(s) found)" in perf["note"], perf

    code, out = specops("monitor", "specs", "--out", "generated", "--once", "--every", "5m", cwd=project)
    assert code == 2 and "--once or --every, not both" in out
    code, out = specops("monitor", "specs", "--out", "generated", "--every", "soon", cwd=project)
    assert code == 2 and "positive duration" in out
    code, out = specops("monitor", "specs", "--out", "generated", "--model", "nope", cwd=project)
    assert code == 2 and "no local monitor config for model 'nope'" in out
