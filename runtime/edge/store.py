"""The runner's bundles on disk and the two slots it serves from.

```
<root>/bundles/<manifest sha256>/bundle/    a verified copy, exactly the bundle's files
<root>/bundles/<manifest sha256>/origin.json  where it came from and its version (not in the bundle)
<root>/current -> bundles/<sha>             what serves
<root>/previous -> bundles/<sha>            what a rollback goes back to
<root>/staging/<n>/                         a fetch being checked; never served
<root>/incidents/<id>.json
```
Slots are relative symlinks replaced with ``os.replace`` (atomic on POSIX):
a crash leaves each slot at its old or its new target.  A switch moves
``previous`` first, so a crash between the two renames leaves both slots on
the old bundle, never ``current`` dangling.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

__all__ = ["BundleStore"]

CURRENT = "current"
PREVIOUS = "previous"


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class BundleStore:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.bundles = root / "bundles"
        self.staging_root = root / "staging"
        self.incidents = root / "incidents"
        for d in (self.bundles, self.staging_root):
            d.mkdir(parents=True, exist_ok=True)
        for stale in self.staging_root.iterdir():  # a crash mid-fetch: never trusted
            shutil.rmtree(stale, ignore_errors=True)

    def staging(self) -> Path:
        return Path(tempfile.mkdtemp(dir=self.staging_root))

    def slot(self, name: str) -> Path | None:
        """The bundle entry (``bundles/<sha>``) a slot points at, if any."""
        link = self.root / name
        if not link.is_symlink():
            return None
        target = (self.root / os.readlink(link)).resolve()
        return target if target.is_dir() else None

    @staticmethod
    def origin(entry: Path) -> dict[str, Any]:
        try:
            data = json.loads((entry / "origin.json").read_text(encoding="utf-8"))
            return data if isinstance(data, dict) else {}
        except (OSError, ValueError):
            return {}

    def adopt(self, staged: Path, manifest_sha256: str, origin: dict[str, Any]) -> Path:
        """Move a checked staging dir to ``bundles/<sha>``; returns the entry."""
        entry = self.bundles / manifest_sha256
        if entry.exists():
            if entry in (self.slot(CURRENT), self.slot(PREVIOUS)):
                shutil.rmtree(staged, ignore_errors=True)  # the same signed content is already kept
                return entry
            shutil.rmtree(entry)
        tmp = self.staging_root / f"{manifest_sha256}.entry"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir()
        os.rename(staged, tmp / "bundle")
        (tmp / "origin.json").write_text(json.dumps(origin, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        os.rename(tmp, entry)
        _fsync_dir(self.bundles)
        return entry

    def _point(self, name: str, entry: Path | None) -> None:
        link = self.root / name
        if entry is None:
            link.unlink(missing_ok=True)
        else:
            tmp = self.root / f".{name}.tmp"
            tmp.unlink(missing_ok=True)
            os.symlink(os.path.relpath(entry, self.root), tmp)
            os.replace(tmp, link)
        _fsync_dir(self.root)

    def switch(self, entry: Path, keep_previous: bool) -> None:
        """``current`` := entry; the old current becomes ``previous`` (when kept)."""
        old = self.slot(CURRENT)
        if old is not None and old != entry and keep_previous:
            self._point(PREVIOUS, old)
        elif not keep_previous:
            self._point(PREVIOUS, None)
        self._point(CURRENT, entry)
        self.collect()

    def roll_back(self) -> Path | None:
        """``current`` := ``previous``, which is then empty (the bad one is no fallback)."""
        prev = self.slot(PREVIOUS)
        if prev is None:
            return None
        self._point(CURRENT, prev)
        self._point(PREVIOUS, None)
        self.collect()
        return prev

    def clear_current(self) -> None:
        self._point(CURRENT, None)

    def collect(self) -> None:
        """Delete kept bundles neither slot points at (disk is small on a gateway)."""
        keep = {self.slot(CURRENT), self.slot(PREVIOUS)}
        for entry in self.bundles.iterdir():
            if entry.resolve() not in keep:
                shutil.rmtree(entry, ignore_errors=True)
