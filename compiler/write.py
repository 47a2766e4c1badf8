"""Stage 7, the only one that writes: artifacts -> files under the repository root.

The writer owns a file when it carries the generated-file header (YAML) or
when the previous generated/manifest.json lists it; it updates and prunes
only those, never a hand-written file.  ``check=True`` writes nothing and
reports what is stale, missing or extra (the CI gate)."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from compiler.emit.artifact import HEADER, Artifact

__all__ = ["UnsafePathError", "WriteReport", "plan_writes", "write"]


class UnsafePathError(ValueError):
    """An artifact path escapes the repository root (a compiler bug)."""


@dataclass(frozen=True, slots=True)
class WriteReport:
    created: tuple[str, ...]
    updated: tuple[str, ...]
    deleted: tuple[str, ...]
    unchanged: tuple[str, ...]

    @property
    def up_to_date(self) -> bool:
        return not (self.created or self.updated or self.deleted)

    def lines(self, check: bool) -> list[str]:
        verbs = ("missing", "stale", "extra") if check else ("created", "updated", "deleted")
        out = []
        for verb, paths in zip(verbs, (self.created, self.updated, self.deleted)):
            out.extend(f"{verb}: {p}" for p in paths)
        return out


def _safe(path: str) -> PurePosixPath:
    p = PurePosixPath(path)
    if p.is_absolute() or ".." in p.parts or not p.parts:
        raise UnsafePathError(f"refusing to write outside the repository: {path!r}")
    return p


def _owned(root: Path, generated_dir: str, extra_files: Iterable[str]) -> set[str]:
    """Files the compiler wrote before: header-marked YAML and everything the old manifest lists."""
    owned: set[str] = set()
    folder = root / generated_dir
    manifest = folder / "manifest.json"
    if manifest.is_file():
        try:
            listed = json.loads(manifest.read_text(encoding="utf-8")).get("files", {})
            owned.update(p for p in listed if isinstance(p, str))
            owned.add(f"{generated_dir}/manifest.json")
        except (ValueError, AttributeError):
            pass  # a broken manifest is simply rewritten
    candidates = list(folder.rglob("*")) if folder.is_dir() else []
    candidates += [root / f for f in extra_files]
    for path in candidates:
        if path.is_file() and path.suffix in (".yaml", ".yml"):
            with path.open("rb") as fh:
                if fh.read(len(HEADER)) == HEADER.encode():
                    owned.add(path.relative_to(root).as_posix())
    return {p for p in owned if _is_safe(p)}


def _is_safe(path: str) -> bool:
    try:
        _safe(path)
        return True
    except UnsafePathError:
        return False


def plan_writes(artifacts: Sequence[Artifact], root: Path, generated_dir: str) -> WriteReport:
    """Compare the artifacts with the disk; reads only."""
    created, updated, unchanged = [], [], []
    for a in artifacts:
        target = root / _safe(a.path)
        if not target.exists():
            created.append(a.path)
        elif target.read_bytes() != a.content:
            updated.append(a.path)
        else:
            unchanged.append(a.path)
    produced = {a.path for a in artifacts}
    top_level = [a.path for a in artifacts if "/" not in a.path]
    deleted = sorted(p for p in _owned(root, generated_dir, top_level) if p not in produced and (root / p).exists())
    return WriteReport(tuple(created), tuple(updated), tuple(deleted), tuple(unchanged))


def write(artifacts: Sequence[Artifact], root: Path, generated_dir: str, *, check: bool = False) -> WriteReport:
    report = plan_writes(artifacts, root, generated_dir)
    if check:
        return report
    changed = set(report.created) | set(report.updated)
    for a in artifacts:
        if a.path in changed:
            _atomic_write(root / _safe(a.path), a.content)
    for path in report.deleted:
        (root / _safe(path)).unlink()
        _remove_empty_parents(root / path, root / generated_dir)
    return report


def _atomic_write(target: Path, content: bytes) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(content)
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _remove_empty_parents(path: Path, stop: Path) -> None:
    parent = path.parent
    while parent != stop and stop in parent.parents and parent.is_dir() and not any(parent.iterdir()):
        parent.rmdir()
        parent = parent.parent
