"""Reading the whole prediction log of one model: its compacted Parquet
parts and the rows still in the write-ahead store, as one DuckDB view.

Rows of the write-ahead store that a part already holds (compaction crashed
before deleting them) are left out, so every row is read once.  Partition
pruning is by file list: only ``date=`` folders inside the time range are
read.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import duckdb
import fsspec
import pyarrow as pa

from runtime.contracts.monitoring import LOG_COLUMNS, PredictionRecord
from runtime.predlog.parquet import PART, arrow_table, date_of, part_ranges, partition_dir
from runtime.predlog.store import PredictionLog

__all__ = ["log_view", "read_log", "read_records"]


def _parts(fs: Any, base: str, model: str, since_us: int | None, until_us: int | None) -> list[str]:
    top = f"{base.rstrip('/')}/model={model}"
    try:
        dirs = sorted(p.rstrip("/") for p in fs.ls(top, detail=False))
    except FileNotFoundError:
        return []
    lo = date_of(since_us) if since_us is not None else None
    hi = date_of(until_us) if until_us is not None else None
    files = []
    for d in dirs:
        date = d.rsplit("/", 1)[-1].removeprefix("date=")
        if (lo is not None and date < lo) or (hi is not None and date > hi):
            continue
        files += sorted(p for p in fs.ls(d, detail=False) if PART.match(p.rsplit("/", 1)[-1]))
    return files


def log_view(con: duckdb.DuckDBPyConnection, root: str, model: str, log: PredictionLog | None = None, *,
             since_us: int | None = None, until_us: int | None = None, name: str = "predictions") -> str:
    """Create view ``name`` over the model's log (LOG_COLUMNS + ``features``
    struct), restricted to ``[since_us, until_us)`` on served_at_us; returns ``name``."""
    fs, base = fsspec.core.url_to_fs(root)
    protocol = fs.protocol if isinstance(fs.protocol, str) else fs.protocol[0]
    files = _parts(fs, base, model, since_us, until_us)
    if protocol not in ("file", "local"):
        con.register_filesystem(fs)
        files = [f"{protocol}://{f}" for f in files]
    selects = []
    if files:
        listed = ", ".join("'" + f.replace("'", "''") + "'" for f in files)
        selects.append(f"SELECT * FROM read_parquet([{listed}], union_by_name = true)")
    if log is not None:
        rows = [r for r in log.rows(since_us=since_us, until_us=until_us)
                if r[LOG_COLUMNS.index("model")] == model]
        held: dict[str, list[tuple[int, int]]] = {}
        fresh = []
        for r in rows:
            directory = partition_dir(base, model, date_of(r[3]))
            if directory not in held:
                held[directory] = part_ranges(fs, directory, log.log_id)
            if not any(lo <= r[0] <= hi for lo, hi in held[directory]):
                fresh.append(r)
        wal = f"__{name}_wal"
        con.register(wal, arrow_table(fresh, log.feature_types(model)))
        selects.append(f"SELECT * FROM {wal}")
    if not selects:
        empty = arrow_table([], log.feature_types(model) if log is not None else {})
        con.register(f"__{name}_empty", empty)
        selects.append(f"SELECT * FROM __{name}_empty")
    where = []
    if since_us is not None:
        where.append(f"served_at_us >= {int(since_us)}")
    if until_us is not None:
        where.append(f"served_at_us < {int(until_us)}")
    body = " UNION ALL BY NAME ".join(f"({s})" for s in selects)
    cols = ", ".join([*LOG_COLUMNS, "features"])
    con.execute(f"CREATE OR REPLACE TEMP VIEW {name} AS SELECT {cols} FROM ({body})"
                + (f" WHERE {' AND '.join(where)}" if where else ""))
    return name


def read_log(root: str, model: str, log: PredictionLog | None = None, *, since_us: int | None = None,
             until_us: int | None = None) -> pa.Table:
    """The model's log as one Arrow table, ordered by seq within served time."""
    con = duckdb.connect()
    try:
        view = log_view(con, root, model, log, since_us=since_us, until_us=until_us)
        return con.sql(f"SELECT * FROM {view} ORDER BY served_at_us, seq").to_arrow_table()
    finally:
        con.close()


def read_records(root: str, model: str, log: PredictionLog | None = None, *, since_us: int | None = None,
                 until_us: int | None = None) -> Iterator[PredictionRecord]:
    table = read_log(root, model, log, since_us=since_us, until_us=until_us)
    for row in table.to_pylist():
        features = row.pop("features") or {}
        yield PredictionRecord(**row, features=features)
