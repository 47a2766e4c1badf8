"""Configured data locations -> files, through one filesystem interface.

A compiled config names data by a relative path or glob
(``data/events/*.parquet``, ``data/events/date=*/*.parquet``) or, in the
cluster variant, an object-store URL (``s3://bucket/prefix/data/events/*.parquet``).
Both are listed and read through ``pyarrow.fs``, so local runs exercise the
same code as the cluster.  A local location is resolved against the step's
working directory and must stay inside it: ``..``, absolute paths and
symlinks that escape are refused, whatever a config file says.  Object
stores use the standard credential chain of their SDK (for S3: AWS_*
variables or the pod's web identity).
"""

from __future__ import annotations

from dataclasses import dataclass
from fnmatch import fnmatchcase
from pathlib import Path, PurePosixPath

import pyarrow.fs as pafs

__all__ = ["DataFile", "DataPathError", "MissingDataError", "expand", "glob_base", "inside", "matches"]

_GLOB_CHARS = "*?["
_REMOTE = ("s3://", "gs://", "gcs://", "abfs://", "az://")


class DataPathError(Exception):
    """A configured location cannot be used; the message says which and why."""


class MissingDataError(DataPathError):
    """The location is fine but holds no data (yet), or cannot be reached."""


@dataclass(frozen=True, slots=True)
class DataFile:
    filesystem: pafs.FileSystem
    path: str  # in the filesystem's own terms
    display: str  # what reports show: relative to the working directory, or the URL

    def read_bytes(self) -> bytes:
        with self.filesystem.open_input_stream(self.path) as stream:
            return stream.read()


def inside(configured: str, root: Path) -> Path:
    """The local path of a configured location, refused if it leaves ``root``."""
    text = configured.removeprefix("file://")
    if "://" in text:
        scheme = text.split("://", 1)[0]
        raise DataPathError(f"{configured!r}: a {scheme}:// location is not a local path")
    root = root.resolve()
    candidate = (root / text).resolve() if not PurePosixPath(text).is_absolute() else Path(text).resolve()
    if candidate != root and root not in candidate.parents:
        raise DataPathError(f"{configured!r} resolves to {candidate}, outside the working directory {root}: "
                            "configured data paths must stay inside it (no '..', no absolute paths elsewhere)")
    return candidate


def glob_base(pattern: str) -> tuple[str, str]:
    """Split a glob into the folder above its first wildcard and the rest."""
    parts = PurePosixPath(pattern).parts
    for i, part in enumerate(parts):
        if any(ch in part for ch in _GLOB_CHARS):
            return str(PurePosixPath(*parts[:i])) if i else ".", str(PurePosixPath(*parts[i:]))
    return pattern, ""


def matches(relative: str, pattern: str) -> bool:
    """Glob match part by part: ``*`` never crosses a ``/`` (as in ``Path.glob``)."""
    parts, pats = PurePosixPath(relative).parts, PurePosixPath(pattern).parts
    return len(parts) == len(pats) and all(fnmatchcase(p, q) for p, q in zip(parts, pats))


def _remote(pattern: str) -> tuple[pafs.FileSystem, str, str]:
    scheme, rest_of_url = pattern.split("://", 1)
    base, rest = glob_base(rest_of_url)
    try:
        filesystem, base_path = pafs.FileSystem.from_uri(f"{scheme}://{base}")
    except (OSError, ValueError) as exc:
        raise MissingDataError(f"{pattern!r}: cannot open the object store: {str(exc).splitlines()[0]}") from None
    return filesystem, base_path, rest


def expand(pattern: str, root: Path) -> tuple[DataFile, ...]:
    """The files a configured path or glob names, sorted; an empty match is an error."""
    if pattern.startswith(_REMOTE):
        filesystem, base_path, rest = _remote(pattern)
        shown = pattern.split("://", 1)[0] + "://" + base_path
    else:
        if "://" in pattern and not pattern.startswith("file://"):
            raise DataPathError(f"{pattern!r}: unsupported location scheme (use a relative path, file://, "
                                f"or one of {', '.join(_REMOTE)})")
        base, rest = glob_base(pattern.removeprefix("file://"))
        base_local = inside(base, root)
        filesystem, base_path, shown = pafs.LocalFileSystem(), base_local.as_posix(), base
    try:
        info = filesystem.get_file_info(base_path)
        if not rest:
            if info.type != pafs.FileType.File:
                raise MissingDataError(f"{pattern!r}: no such file")
            found = [base_path]
        else:
            if info.type != pafs.FileType.Directory:
                raise MissingDataError(f"{pattern!r}: the folder {shown} does not exist (generate or fetch the data first)")
            listing = filesystem.get_file_info(pafs.FileSelector(base_path, recursive=True))
            found = sorted(i.path for i in listing if i.type == pafs.FileType.File
                           and matches(PurePosixPath(i.path).relative_to(base_path).as_posix(), rest))
    except OSError as exc:
        raise MissingDataError(f"{pattern!r}: cannot list {shown}: {str(exc).splitlines()[0]}") from None
    if not found:
        raise MissingDataError(f"{pattern!r}: the glob matches no file in {shown}")
    files = []
    for path in found:
        if isinstance(filesystem, pafs.LocalFileSystem):
            inside(path, root)  # a symlink inside the folder may still point elsewhere
            files.append(DataFile(filesystem, path, PurePosixPath(path).relative_to(root.resolve().as_posix()).as_posix()))
        else:
            files.append(DataFile(filesystem, path, f"{pattern.split('://', 1)[0]}://{path}"))
    return tuple(files)
