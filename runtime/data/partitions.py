"""Writing a table as one file per day into a file source's location, named
so that the source's own glob reads it back (``data/events/*.parquet`` ->
``data/events/sensor-events-2026-01-01.parquet``;
``data/events/date=*/*.parquet`` -> ``data/events/date=2026-01-01/part-0.parquet``).

Files are split by the day rows *arrived*, as a daily landing batch would be,
so late events land in a later day's file.  The folder keeps a marker listing
what was written; a rewrite removes only those files and refuses to touch a
folder holding files it did not write (real data is never overwritten).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv
import pyarrow.parquet as pq

from runtime.contracts.steps import DataSourceConfig
from runtime.data.paths import DataPathError, glob_base, inside, matches

__all__ = ["MARKER", "write_partitioned"]

MARKER = ".specops-generated.json"
_DAY_US = 86_400 * 1_000_000


def _file_name(source: DataSourceConfig, rest: str, day: str, ext: str) -> str:
    candidates = (f"date={day}/part-0.{ext}", f"{source.name}-{day}.{ext}", f"{day}.{ext}",
                  f"{source.name}/{day}.{ext}")
    for name in candidates:
        if matches(name, rest):
            return name
    raise DataPathError(f"data source {source.name!r}: cannot name generated files so that {source.path!r} "
                        f"matches them (use a glob such as '<folder>/*.{ext}' or '<folder>/date=*/*.{ext}')")


def _clear(base: Path, rest: str) -> None:
    marker = base / MARKER
    owned = set(json.loads(marker.read_text(encoding="utf-8"))["files"]) if marker.exists() else set()
    present = {p.relative_to(base).as_posix() for p in base.rglob("*") if p.is_file() and p.name != MARKER}
    foreign = sorted(f for f in present - owned if matches(f, rest))
    if foreign:
        raise DataPathError(f"{base} holds {len(foreign)} data file(s) that generate-data did not write "
                            f"(e.g. {foreign[0]}); refusing to overwrite real data: move them or point the "
                            "source elsewhere")
    for name in sorted(owned & present):
        (base / name).unlink()
    for folder in sorted((p for p in base.rglob("*") if p.is_dir()), reverse=True):
        if not any(folder.iterdir()):
            folder.rmdir()


def write_partitioned(table: pa.Table, source: DataSourceConfig, root: Path, by: str) -> tuple[str, ...]:
    """Write ``table`` (sorted by ``by``) as daily files; return their paths relative to ``root``."""
    if source.path is None:
        raise DataPathError(f"data source {source.name!r} has no file path to write to")
    base_text, rest = glob_base(source.path)
    base = inside(base_text, root)
    ext = source.format or "parquet"
    if not rest:
        raise DataPathError(f"data source {source.name!r}: {source.path!r} is one file; the sample data is "
                            "written as daily files, so use a glob")
    base.mkdir(parents=True, exist_ok=True)
    _clear(base, rest)
    micros = pc.cast(table[by], pa.int64()).to_numpy()
    days = micros // _DAY_US
    bounds = np.flatnonzero(np.diff(days)) + 1
    starts = np.concatenate([[0], bounds]) if len(days) else np.array([], dtype=np.int64)
    ends = np.concatenate([bounds, [len(days)]]) if len(days) else np.array([], dtype=np.int64)
    written: list[str] = []
    for lo, hi in zip(starts.tolist(), ends.tolist()):
        day = np.datetime_as_string(np.datetime64(int(days[lo]), "D"))
        name = _file_name(source, rest, day, ext)
        path = base / name
        path.parent.mkdir(parents=True, exist_ok=True)
        part = table.slice(lo, hi - lo)
        if ext == "csv":
            pcsv.write_csv(part, path)
        else:
            pq.write_table(part, path, compression="zstd")
        written.append(name)
    (base / MARKER).write_text(json.dumps({"files": written}, indent=1) + "\n", encoding="utf-8")
    root = root.resolve()
    return tuple((base / w).relative_to(root).as_posix() for w in written)
