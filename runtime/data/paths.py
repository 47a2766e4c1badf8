"""Configured data locations -> files, confined to the working directory.

A compiled config names data by a relative path or glob (``data/events/*.parquet``,
``data/events/date=*/*.parquet``).  Every location is resolved against the
step's working directory and must stay inside it: a ``..`` or an absolute
path that escapes is refused, whatever a config file says.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath

__all__ = ["DataPathError", "MissingDataError", "expand", "glob_base", "inside"]

_GLOB_CHARS = "*?["


class DataPathError(Exception):
    """A configured location cannot be used; the message says which and why."""


class MissingDataError(DataPathError):
    """The location is fine but holds no data (yet)."""


def inside(configured: str, root: Path) -> Path:
    """The local path of a configured location, refused if it leaves ``root``."""
    text = configured.removeprefix("file://") if configured.startswith("file://") else configured
    if "://" in text:
        scheme = text.split("://", 1)[0]
        raise DataPathError(f"{configured!r}: {scheme}:// locations are read by the cluster variant of this step; "
                            "a local run reads paths relative to the working directory")
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


def expand(pattern: str, root: Path) -> tuple[Path, ...]:
    """The files a configured path or glob names, sorted; an empty match is an error."""
    base, rest = glob_base(pattern)
    base_path = inside(base, root)
    if not rest:
        if not base_path.is_file():
            raise MissingDataError(f"{pattern!r}: no such file ({base_path})")
        return (base_path,)
    if not base_path.is_dir():
        raise MissingDataError(f"{pattern!r}: the folder {base} does not exist (generate or fetch the data first)")
    files = tuple(sorted(p for p in base_path.glob(rest) if p.is_file()))
    for f in files:  # a symlink inside the folder may still point elsewhere
        inside(str(f), root)
    if not files:
        raise MissingDataError(f"{pattern!r}: the glob matches no file in {base}")
    return files
