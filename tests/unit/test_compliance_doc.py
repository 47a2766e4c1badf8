"""docs/compliance.md cannot drift from the code: every path it names exists,
every capability names code and tests, and every test path holds tests."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DOC = REPO / "docs" / "compliance.md"
SECTION = re.compile(r"^## (\d+\. .+)$", re.M)
PATHS = re.compile(r"`([A-Za-z0-9_./-]+)`")


def _sections() -> dict[str, str]:
    text = DOC.read_text(encoding="utf-8")
    parts = SECTION.split(text)
    return {parts[i]: parts[i + 1] for i in range(1, len(parts), 2)}


def _paths(body: str, label: str) -> list[str]:
    m = re.search(rf"^- {label}: (.+?)(?=^- |\Z)", body, re.M | re.S)
    return PATHS.findall(m.group(1)) if m else []


def _holds_tests(path: Path) -> bool:
    files = [path] if path.is_file() else sorted(path.rglob("*"))
    for f in files:
        if f.suffix == ".feature" and "Scenario" in f.read_text(encoding="utf-8"):
            return True
        if f.suffix == ".py" and f.name.startswith("test_") and re.search(r"^def test_|^    def test_",
                                                                          f.read_text(encoding="utf-8"), re.M):
            return True
    return False


def test_every_capability_names_existing_code_and_tests() -> None:
    sections = _sections()
    assert len(sections) >= 10
    problems = []
    for title, body in sections.items():
        code, tests = _paths(body, "code"), _paths(body, "tests")
        if not code:
            problems.append(f"{title}: no code paths")
        if not tests:
            problems.append(f"{title}: no test paths")
        for p in code + tests:
            if not (REPO / p).exists():
                problems.append(f"{title}: `{p}` does not exist")
        for p in tests:
            if (REPO / p).exists() and not _holds_tests(REPO / p):
                problems.append(f"{title}: `{p}` holds no tests")
    assert problems == []


def test_every_code_path_outside_sections_exists_too() -> None:
    text = DOC.read_text(encoding="utf-8")
    missing = [p for p in PATHS.findall(text) if "/" in p and not (REPO / p).exists()]
    assert missing == []
