"""Architecture rules: runtime never imports compiler; compiler imports only
runtime.contracts; stages below the CLI do not touch the disk or clock."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

from compiler.checks import CHECKS
from compiler.codes import CODES

REPO = Path(__file__).resolve().parents[2]


def _imports(package: str) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for path in (REPO / package).rglob("*.py"):
        tree = ast.parse(path.read_text())
        names: set[str] = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names.update(a.name for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module:
                names.add(node.module)
        out[str(path.relative_to(REPO))] = names
    return out


def test_runtime_never_imports_compiler():
    for path, names in _imports("runtime").items():
        assert not any(n == "compiler" or n.startswith("compiler.") for n in names), path


def test_compiler_imports_only_runtime_contracts():
    for path, names in _imports("compiler").items():
        bad = [n for n in names if (n == "runtime" or n.startswith("runtime.")) and not n.startswith("runtime.contracts")]
        assert not bad, (path, bad)


def test_import_linter_contracts_hold():
    exe = Path(sys.executable).parent / "lint-imports"
    res = subprocess.run([str(exe)], cwd=REPO, capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr


def test_pure_stages_do_not_read_clock_env_or_disk():
    pure = ["compiler/validate.py", "compiler/resolve.py", "compiler/lint.py", "compiler/schema.py",
            *[str(p.relative_to(REPO)) for p in (REPO / "compiler/checks").glob("*.py")],
            *[str(p.relative_to(REPO)) for p in (REPO / "compiler/policy").glob("*.py")],
            *[str(p.relative_to(REPO)) for p in (REPO / "compiler/plan").glob("*.py")],
            *[str(p.relative_to(REPO)) for p in (REPO / "compiler/emit").rglob("*.py")],
            "compiler/compile.py"]
    forbidden = ("datetime.now", "time.time", "os.environ", "open(", "read_text", "read_bytes", "getenv", "date.today")
    for rel in pure:
        text = (REPO / rel).read_text()
        for word in forbidden:
            assert word not in text, f"{rel} uses {word}"


def test_every_code_used_in_the_source_is_documented():
    used: set[str] = set()
    import re

    for path in list((REPO / "compiler").rglob("*.py")):
        if path.name == "codes.py":
            continue
        used.update(re.findall(r'"(SO\d{3})"', path.read_text()))
    assert used <= set(CODES), used - set(CODES)
    assert set(CODES) <= used, set(CODES) - used


def test_checks_are_listed_as_data_one_module_each():
    names = [name for name, _ in CHECKS]
    assert len(names) == len(set(names))
    modules = {fn.__module__ for _, fn in CHECKS}
    assert len(modules) == len(CHECKS)
