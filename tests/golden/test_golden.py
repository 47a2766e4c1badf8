"""Golden cases: a spec tree in, the full expected output tree (generated/
and dvc.yaml) out, byte for byte.  Regenerate only with
`pytest tests/golden --update-goldens` (refused in CI), then review the diff."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from compiler.compile import compile_sources
from compiler.load import read_sources

HERE = Path(__file__).resolve().parent
CASES = sorted(p for p in (HERE / "cases").iterdir() if p.is_dir()) if (HERE / "cases").is_dir() else []


def _compile(case: Path):
    inputs = [p for p in (case / "specs", case / "policies") if p.exists()]
    files, problems = read_sources(inputs, base=str(case))
    return compile_sources(files, problems)


def _tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_golden(case: Path, update_goldens: bool):
    result = _compile(case)
    assert result.ok, [str(d) for d in result.diagnostics]
    produced = {a.path: a.content for a in result.artifacts}
    expected_dir = case / "expected"
    if update_goldens:
        shutil.rmtree(expected_dir, ignore_errors=True)
        for path, content in produced.items():
            target = expected_dir / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(content)
    expected = _tree(expected_dir)
    missing = sorted(set(expected) - set(produced))
    extra = sorted(set(produced) - set(expected))
    stale = sorted(p for p in set(expected) & set(produced) if expected[p] != produced[p])
    assert not (missing or extra or stale), (
        f"golden '{case.name}' differs: missing={missing} extra={extra} changed={stale}; "
        "if the change is intended run `pytest tests/golden --update-goldens` and review the diff"
    )


def test_there_are_golden_cases():
    assert len(CASES) >= 2
