"""File and label sources: Parquet or CSV files (globs, ``date=YYYY-MM-DD/``
partitions) read into one Arrow table in the contract's types.

Reading checks each file's schema against the contract before anything is
combined, so a missing, extra or wrongly typed column is reported with the
file it is in.  Rows keep the declared fields and the system columns; the
system columns are filled when a file does not carry them (``_arrival_time``
= event time for events, timestamp + availability delay for labels;
``_event_id`` = ``runtime.events.event_id`` of the declared fields).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv
import pyarrow.parquet as pq

from runtime.contracts.steps import DataSourceConfig, FieldConfig
from runtime.data.paths import DataPathError, expand
from runtime.events import ARRIVAL_TIME, EVENT_ID, SYSTEM_COLUMNS, event_id

__all__ = ["ARROW_TYPES", "TS", "DataReadError", "LoadedSource", "SchemaProblem", "SourceFile", "read_source"]

TS = pa.timestamp("us", tz="UTC")
# The Arrow type each declared field type is stored as.
ARROW_TYPES: dict[str, pa.DataType] = {
    "string": pa.string(),
    "category": pa.string(),
    "int": pa.int64(),
    "float": pa.float64(),
    "bool": pa.bool_(),
    "timestamp": TS,
}
_SYSTEM_TYPES = {EVENT_ID: pa.string(), ARRIVAL_TIME: TS}


class DataReadError(Exception):
    """A file cannot be read (missing, corrupt, unparsable); the message names it."""


@dataclass(frozen=True, slots=True)
class SourceFile:
    path: str  # relative to the working directory
    sha256: str
    rows: int


@dataclass(frozen=True, slots=True)
class SchemaProblem:
    file: str
    column: str
    rule: str  # schema.missing | schema.extra | schema.type
    message: str


@dataclass(frozen=True, slots=True)
class LoadedSource:
    source: DataSourceConfig
    table: pa.Table | None  # None when a schema problem stops the source
    files: tuple[SourceFile, ...]
    problems: tuple[SchemaProblem, ...]


def _compatible(declared: str, actual: pa.DataType) -> bool:
    if pa.types.is_null(actual):
        return True  # a column that is null in every row of this file
    if pa.types.is_dictionary(actual):
        actual = actual.value_type
    if declared in ("string", "category"):
        return pa.types.is_string(actual) or pa.types.is_large_string(actual)
    if declared == "int":
        return pa.types.is_integer(actual)
    if declared == "float":
        return pa.types.is_floating(actual) or pa.types.is_integer(actual)
    if declared == "bool":
        return pa.types.is_boolean(actual)
    if declared == "timestamp":
        return pa.types.is_timestamp(actual)
    return False


def _cast(column: pa.ChunkedArray, target: pa.DataType) -> pa.ChunkedArray:
    if pa.types.is_dictionary(column.type):
        column = column.cast(column.type.value_type)
    if pa.types.is_timestamp(column.type) and column.type.tz is None:
        column = pc.assume_timezone(column, "UTC")  # naive timestamps are read as UTC
    return column.cast(target)


def _read_file(content: bytes, display: str, source: DataSourceConfig) -> pa.Table:
    fmt = source.format or ("csv" if display.endswith(".csv") else "parquet")
    try:
        if fmt == "parquet":
            return pq.read_table(pa.BufferReader(content))
        header = content.split(b"\n", 1)[0].decode("utf-8").rstrip("\r").split(",")
        types = {f.name: ARROW_TYPES[f.type] for f in source.fields if f.name in header}
        types.update({c: t for c, t in _SYSTEM_TYPES.items() if c in header})
        return pcsv.read_csv(pa.BufferReader(content), convert_options=pcsv.ConvertOptions(
            column_types=types, strings_can_be_null=True, timestamp_parsers=["%Y-%m-%dT%H:%M:%S%z", pcsv.ISO8601]))
    except (pa.ArrowInvalid, pa.ArrowTypeError, OSError, UnicodeDecodeError) as exc:
        kind = "Parquet" if fmt == "parquet" else "CSV"
        raise DataReadError(f"{display}: not a readable {kind} file: {str(exc).strip().splitlines()[0]}") from None


def _schema_problems(table: pa.Table, display: str, fields: tuple[FieldConfig, ...]) -> list[SchemaProblem]:
    problems: list[SchemaProblem] = []
    names = set(table.column_names)
    declared = {f.name for f in fields}
    for f in fields:
        if f.name not in names:
            problems.append(SchemaProblem(display, f.name, "schema.missing",
                                          f"{display}: declared column {f.name!r} ({f.type}) is missing"))
        elif not _compatible(f.type, table.schema.field(f.name).type):
            problems.append(SchemaProblem(display, f.name, "schema.type",
                                          f"{display}: column {f.name!r} is {table.schema.field(f.name).type}, "
                                          f"the contract declares {f.type}"))
    for name in table.column_names:
        if name in SYSTEM_COLUMNS:
            if not _compatible("string" if name == EVENT_ID else "timestamp", table.schema.field(name).type):
                problems.append(SchemaProblem(display, name, "schema.type",
                                              f"{display}: system column {name!r} is {table.schema.field(name).type}"))
        elif name not in declared:
            problems.append(SchemaProblem(display, name, "schema.extra",
                                          f"{display}: column {name!r} is not declared in the contract "
                                          "(declare it in the DataSource or stop writing it)"))
    return problems


def _fill_system_columns(table: pa.Table, source: DataSourceConfig) -> pa.Table:
    default = table[source.timestamp]
    if source.type == "labels" and source.availability_delay_s:
        default = pc.add(default, pa.scalar(int(source.availability_delay_s * 1_000_000), pa.duration("us")))
    if ARRIVAL_TIME not in table.column_names:
        table = table.append_column(ARRIVAL_TIME, default.cast(TS))
    elif table[ARRIVAL_TIME].null_count:  # a row without its own arrival gets the default one
        filled = pc.coalesce(table[ARRIVAL_TIME], default.cast(TS))
        table = table.set_column(table.schema.get_field_index(ARRIVAL_TIME), ARRIVAL_TIME, filled)
    if EVENT_ID not in table.column_names:
        declared = [f.name for f in source.fields]
        ids = [event_id(row) for row in table.select(declared).to_pylist()]
        table = table.append_column(EVENT_ID, pa.array(ids, pa.string()))
    else:
        missing = pc.is_null(table[EVENT_ID])
        if pc.any(missing).as_py():
            declared = [f.name for f in source.fields]
            rows = table.select(declared).to_pylist()
            given = table[EVENT_ID].to_pylist()
            ids = [g if g else event_id(r) for g, r in zip(given, rows)]
            table = table.set_column(table.schema.get_field_index(EVENT_ID), EVENT_ID, pa.array(ids, pa.string()))
    return table


def read_source(source: DataSourceConfig, root: Path) -> LoadedSource:
    """Read every file of a file or labels source, relative to ``root``."""
    if source.path is None:
        raise DataPathError(f"data source {source.name!r} has no file path (a stream is read by the ingester)")
    files = expand(source.path, root)
    tables: list[pa.Table] = []
    listed: list[SourceFile] = []
    problems: list[SchemaProblem] = []
    for file in files:
        try:
            content = file.read_bytes()
        except OSError as exc:
            raise DataReadError(f"{file.display}: cannot read: {str(exc).splitlines()[0]}") from None
        table = _read_file(content, file.display, source)
        listed.append(SourceFile(file.display, hashlib.sha256(content).hexdigest(), table.num_rows))
        found = _schema_problems(table, file.display, source.fields)
        problems.extend(found)
        if found:
            continue
        columns = {f.name: _cast(table[f.name], ARROW_TYPES[f.type]) for f in source.fields}
        for f in source.fields:
            if f.type == "float":  # NaN is a missing value: one null, in batch and online alike
                columns[f.name] = pc.if_else(pc.is_nan(columns[f.name]), None, columns[f.name])
        columns.update({c: _cast(table[c], t) for c, t in _SYSTEM_TYPES.items() if c in table.column_names})
        tables.append(_fill_system_columns(pa.table(columns), source))
    if problems:
        return LoadedSource(source, None, tuple(listed), tuple(problems))
    order = [f.name for f in source.fields] + list(SYSTEM_COLUMNS)
    combined = pa.concat_tables([t.select(order) for t in tables])
    return LoadedSource(source, combined, tuple(listed), ())
