#!/usr/bin/env python
"""Failure drills: inject each failure mode, detect it with the real
monitoring code, let the real enforcement act, and write the numbers.

A drill is one module in this folder exposing ``DRILL`` and
``run(size, work)``; adding one is one file plus one line in ``DRILLS``.

Results: ``bench/results/drills.json`` (machine-readable) and
``bench/results/drills.md`` (the human report).  Seeds are fixed: the same
size gives the same numbers (timings aside).

    .venv/bin/python bench/drills/run_drills.py [--size ci|full] [--only NAME ...]
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import importlib
import io
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import harness  # noqa: E402  (puts the repository on sys.path too)

__all__ = ["DRILLS", "main", "run_drill"]

DRILLS: tuple[str, ...] = (
    "covariate_drift",
    "degradation",
    "concept_drift",
    "bad_release",
    "review_overload",
    "training_serving_skew",
)
RESULTS = harness.REPO / "bench" / "results"


def run_drill(name: str, size: str = "ci") -> dict[str, Any]:
    """One drill in a fresh temp work dir: its description, its numbers and its wall time."""
    module = importlib.import_module(name)
    d: harness.Drill = module.DRILL
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix=f"drill-{name}-") as tmp:
        # stdout notifiers print pages: captured into the report, not the console
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            numbers = module.run(size, Path(tmp))
    pages = [json.loads(line) for line in out.getvalue().splitlines() if line.startswith("{")]
    return {"name": d.name, "failure_mode": d.failure_mode, "detector": d.detector, "objective": d.objective,
            "human_action": d.human, **numbers, "stdout_pages": [
                {k: p.get(k) for k in ("kind", "id", "objective", "value", "bound", "notifier")} for p in pages],
            "wall_s": round(time.perf_counter() - t0, 2)}


def _md(results: list[dict[str, Any]], size: str) -> str:
    lines = [f"# Failure drills ({size})", "",
             "| drill | failure mode | detected | time to detect | objective breached | action (incident) |",
             "|---|---|---|---|---|---|"]
    for r in results:
        when = "; ".join(f"{k}={r[k]}" for k in ("windows_to_detect", "estimated_days_after_change",
                                                  "reviewer_override_days_after_change", "realized_days_after_change",
                                                  "challenger_requests_to_rollback", "minutes_to_breach",
                                                  "monitor_runs_to_detect") if r.get(k) is not None) or "-"
        acts = ", ".join(f"{a['action']} ({a['incident']})" for a in r.get("actions", [])) or "none"
        lines.append(f"| {r['name']} | {r['failure_mode'].replace('|', chr(92) + '|')} | {r['detected']} | {when} | "
                     f"{', '.join(r.get('objective_breached') or []) or '-'} | {acts} |")
    lines.append("")
    for r in results:
        lines += [f"## {r['name']}", "", f"- injected: `{json.dumps(r['injected'], sort_keys=True)}`",
                  f"- detector: {r['detector']}", f"- a human had to: {r['human_action']}"]
        skip = {"name", "failure_mode", "detector", "objective", "human_action", "injected", "stdout_pages"}
        lines += [f"- {k}: {json.dumps(v, sort_keys=True, default=str)}" for k, v in r.items() if k not in skip]
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", choices=("ci", "full"), default="full")
    parser.add_argument("--only", nargs="*", choices=DRILLS, help="run only these drills")
    args = parser.parse_args(argv)
    load_before = os.getloadavg()
    results = [run_drill(name, args.size) for name in (args.only or DRILLS)]
    doc = {"benchmark": "drills", "size": args.size,
           "when": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
           "machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "load_before": load_before,
                       "load_after": os.getloadavg()},
           "drills": results}
    RESULTS.mkdir(parents=True, exist_ok=True)
    tmp = RESULTS / "drills.json.tmp"
    tmp.write_text(json.dumps(doc, indent=2, default=str) + "\n", encoding="utf-8")
    tmp.replace(RESULTS / "drills.json")
    (RESULTS / "drills.md").write_text(_md(results, args.size) + "\n", encoding="utf-8")
    for r in results:
        print(f"{r['name']:<18} detected={r['detected']!s:<5} actions="
              f"{[a['action'] for a in r.get('actions', [])]} ({r['wall_s']}s)")
    missed = [r["name"] for r in results if not r["detected"] or not r.get("actions")]
    if missed:
        print(f"drills that did not detect or act: {missed}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
