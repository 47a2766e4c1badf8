"""docs/postmortems/ is what bench/results/drills.json renders, and every
number a postmortem states is a number of that file."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
RESULTS = json.loads((REPO / "bench/results/drills.json").read_text(encoding="utf-8"))
NUMBER = re.compile(r"(?<![\w.])-?\d+(?:\.\d+)?(?:e-?\d+)?(?![\w.])")


def _numbers(value: object) -> set[float]:
    if isinstance(value, bool):
        return set()
    if isinstance(value, (int, float)):
        return {float(value)}
    if isinstance(value, str):
        return {float(n) for n in NUMBER.findall(value)}
    if isinstance(value, dict):
        return set().union(*(_numbers(v) for v in value.values())) if value else set()
    if isinstance(value, list):
        return set().union(*(_numbers(v) for v in value)) if value else set()
    return set()


def test_every_drill_has_a_postmortem_and_none_is_stale() -> None:
    done = subprocess.run([sys.executable, "bench/drills/postmortems.py", "--check"], cwd=REPO,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    names = {d["name"] for d in RESULTS["drills"]}
    assert {p.stem for p in (REPO / "docs/postmortems").glob("*.md")} == names | {"README"}


def test_every_number_in_a_postmortems_findings_is_in_the_results_file() -> None:
    for d in RESULTS["drills"]:
        text = (REPO / "docs/postmortems" / f"{d['name']}.md").read_text(encoding="utf-8")
        findings = text.split("## How it was detected", 1)[1].split("## What a human had to do", 1)[0]
        figures = text.split("## Every figure of the drill", 1)[1]
        values = [line.split(": ", 1)[1] for part in (findings, figures) for line in part.splitlines()
                  if line.startswith("- ") and ": " in line]  # the stated values, not the keys naming them
        stated = {float(n) for v in values for n in NUMBER.findall(v.replace("`", " "))}
        known = _numbers(d)
        assert stated - known == set(), (d["name"], sorted(stated - known)[:10])
        for section in ("What was injected", "How it was detected", "What acted", "What a human had to do",
                        "What we changed, or will"):
            assert f"## {section}" in text, (d["name"], section)
