"""Reads spec files as they are at a git revision, without a checkout: the
user's working tree and index are never touched (only `git rev-parse`,
`git ls-tree` and `git cat-file`, with optional locks off).  The only
module of `specops plan` that runs git."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from compiler.diagnostics import Diagnostic, Location, Severity
from compiler.load import MAX_FILE_BYTES, SPEC_SUFFIXES, SourceFile

__all__ = ["Revision", "RevisionError", "exists_at", "read_revision", "repository_root", "resolve_revision"]

# Plenty for a spec tree; a hung git (a credential prompt, a lock) fails instead of hanging CI.
_TIMEOUT_S = 60


class RevisionError(Exception):
    """Bad usage: not a git repository, an unknown revision, git missing.  One line for the user."""


@dataclass(frozen=True, slots=True)
class Revision:
    ref: str  # as the user wrote it
    commit: str  # the full object name it resolves to

    @property
    def label(self) -> str:
        return f"{self.ref} ({self.commit[:12]})"


def _git(root: Path, *args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    # GIT_OPTIONAL_LOCKS=0: even read-only commands may refresh the index otherwise.
    env = {**os.environ, "GIT_OPTIONAL_LOCKS": "0", "GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C"}
    try:
        return subprocess.run(["git", "-C", str(root), *args], input=stdin, capture_output=True, env=env,
                              timeout=_TIMEOUT_S, check=False)
    except FileNotFoundError as exc:
        raise RevisionError("git is not installed (specops plan reads the base revision with git)") from exc
    except subprocess.TimeoutExpired as exc:
        raise RevisionError(f"git {args[0]} did not answer within {_TIMEOUT_S}s") from exc


def repository_root(start: Path) -> Path:
    proc = _git(start, "rev-parse", "--show-toplevel")
    if proc.returncode != 0:
        raise RevisionError(f"{start} is not inside a git repository (specops plan compares git revisions)")
    return Path(proc.stdout.decode("utf-8").strip())


def resolve_revision(root: Path, ref: str) -> Revision:
    if not ref or ref.startswith("-") or any(c in ref for c in "\0\n"):
        raise RevisionError(f"'{ref}' is not a git revision")
    proc = _git(root, "rev-parse", "--verify", "--quiet", "--end-of-options", f"{ref}^{{commit}}")
    if proc.returncode != 0:
        raise RevisionError(f"unknown revision '{ref}': no such branch, tag or commit in {root}")
    return Revision(ref, proc.stdout.decode("ascii").strip())


def _relative(root: Path, path: Path) -> str:
    resolved = path.resolve() if path.is_absolute() else (Path.cwd() / path).resolve()
    try:
        rel = resolved.relative_to(root.resolve()).as_posix()
    except ValueError as exc:
        raise RevisionError(f"{path} is outside the git repository {root}") from exc
    return "" if rel == "." else rel


def _display(root: Path, rel: str, base: Path) -> str:
    target = root.resolve() / rel
    try:
        return target.relative_to(base).as_posix()
    except ValueError:
        return PurePosixPath(os.path.relpath(target, base)).as_posix()


def _listing(root: Path, commit: str, rel: str) -> list[tuple[str, int, str]]:
    """(object, size, repo path) of every regular spec file under ``rel`` at ``commit``."""
    args = ["ls-tree", "-r", "-z", "-l", "--full-tree", commit]
    if rel:
        args += ["--", rel]
    proc = _git(root, *args)
    if proc.returncode != 0:
        raise RevisionError(f"git ls-tree failed: {proc.stderr.decode('utf-8', 'replace').strip()}")
    out = []
    for entry in proc.stdout.split(b"\0"):
        if not entry:
            continue
        meta, _, name_bytes = entry.partition(b"\t")
        mode, kind, obj, size = meta.decode("ascii").split()
        name = name_bytes.decode("utf-8", "surrogateescape")
        # Regular files only: symlinks (120000) and submodules are not followed, as on disk.
        if kind != "blob" or mode not in ("100644", "100755"):
            continue
        if rel and not (name == rel or name.startswith(rel + "/")):
            continue
        inner = "" if name == rel else (name[len(rel) + 1:] if rel else name)
        hidden = any(part.startswith(".") for part in PurePosixPath(inner).parts)
        if PurePosixPath(name).suffix not in SPEC_SUFFIXES or hidden:
            continue
        out.append((obj, int(size), name))
    return out


def _blobs(root: Path, objects: Sequence[str]) -> list[bytes]:
    if not objects:
        return []
    proc = _git(root, "cat-file", "--batch", stdin=("\n".join(objects) + "\n").encode("ascii"))
    if proc.returncode != 0:
        raise RevisionError(f"git cat-file failed: {proc.stderr.decode('utf-8', 'replace').strip()}")
    data, pos, out = proc.stdout, 0, []
    for _ in objects:
        header_end = data.index(b"\n", pos)
        size = int(data[pos:header_end].split()[2])
        out.append(data[header_end + 1:header_end + 1 + size])
        pos = header_end + 1 + size + 1  # the blob, then a newline
    return out


def read_revision(root: Path, revision: Revision, paths: Sequence[Path], *, display_base: Path | None = None) -> tuple[tuple[SourceFile, ...], tuple[Diagnostic, ...]]:
    """The spec files under ``paths`` at ``revision``, named as ``read_sources`` names the
    working-tree files, so both sides' diagnostics and origins line up."""
    base = (display_base or Path.cwd()).resolve()
    found: dict[str, tuple[str, int]] = {}
    problems: list[Diagnostic] = []
    for path in paths:
        # A path absent at the revision holds no specs there (they are new in the change).
        for obj, size, name in _listing(root, revision.commit, _relative(root, path)):
            found[_display(root, name, base)] = (obj, size)
    files: list[SourceFile] = []
    names = sorted(found)
    small = [n for n in names if found[n][1] <= MAX_FILE_BYTES]
    contents = dict(zip(small, _blobs(root, [found[n][0] for n in small])))
    for name in names:
        if name not in contents:
            # As on disk: an oversize file is rejected without being read.
            files.append(SourceFile(name, b""))
            problems.append(Diagnostic("SO104", Severity.ERROR,
                                       f"file is {found[name][1]:,} bytes; the limit is {MAX_FILE_BYTES:,}",
                                       Location(name), hint="split the resources across several files"))
            continue
        files.append(SourceFile(name, contents[name]))
    return tuple(files), tuple(problems)


def exists_at(root: Path, revision: Revision, path: Path) -> bool:
    """Whether ``path`` (a file or folder) exists at ``revision``."""
    rel = _relative(root, path)
    return not rel or _git(root, "cat-file", "-e", f"{revision.commit}:{rel}").returncode == 0
