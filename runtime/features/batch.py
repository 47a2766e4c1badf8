"""The batch feature engine: DuckDB over Parquet, point-in-time correct.

For each sample (entity, t) the engine joins the entity's events with event
time in (t - max_window, t] that had arrived by t, and computes every
feature with FILTERed aggregates, following ``runtime.features.definition``
(the online engine computes the same values incrementally).  The SQL is
generated from the parsed definition, never from spec text pasted into a
query, and identifiers are quoted.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import duckdb
import pyarrow as pa

from runtime.events import ARRIVAL_TIME, EVENT_ID
from runtime.features.definition import AggregationDef, FeatureSetDef, TransformDef
from runtime.features.expression import quote_ident, to_sql

__all__ = ["BatchError", "events_sql", "features_sql", "late_events_sql", "sample_features"]

ENTITY = "__entity"
TIME = "__t"
_NUMERIC = ("DOUBLE", "FLOAT", "REAL", "DECIMAL", "INTEGER", "BIGINT", "SMALLINT", "TINYINT", "HUGEINT", "UBIGINT",
            "UINTEGER", "USMALLINT", "UTINYINT")


class BatchError(ValueError):
    """The events cannot be used by the batch engine; the message says which column and why."""


def _is_numeric(duck_type: str) -> bool:
    return duck_type.upper().startswith(_NUMERIC)


def _value_sql(column: str, duck_type: str) -> str:
    """A source column as both engines see it: numbers as DOUBLE with NaN as NULL."""
    q = quote_ident(column)
    if _is_numeric(duck_type):
        return f"(CASE WHEN isnan(CAST({q} AS DOUBLE)) THEN NULL ELSE CAST({q} AS DOUBLE) END)"
    return q


def _transform_sql(t: TransformDef, column: Callable[[str], str]) -> str:
    inner = to_sql(t.expr, column)
    if t.type == "float":
        return f"CAST({inner} AS DOUBLE)"
    if t.type == "int":
        return f"CAST(trunc(CAST({inner} AS DOUBLE)) AS BIGINT)"
    if t.type == "bool":
        return f"CAST({inner} AS BOOLEAN)"
    return f"CAST({inner} AS VARCHAR)"


def _schema(con: duckdb.DuckDBPyConnection, relation: str) -> dict[str, str]:
    return {row[0]: row[1] for row in con.execute(f"DESCRIBE SELECT * FROM {relation}").fetchall()}


def _check_columns(fs: FeatureSetDef, schema: dict[str, str], where: str) -> None:
    needed = [fs.entity, fs.timestamp, EVENT_ID, *fs.source_columns]
    missing = [c for c in needed if c not in schema]
    if missing:
        raise BatchError(f"{where}: missing column(s) {', '.join(missing)} needed by feature set {fs.name!r} "
                         f"(has: {', '.join(sorted(schema))})")


def _prepared(fs: FeatureSetDef, schema: dict[str, str], relation: str) -> str:
    """Events with integer times, the series columns and the late flag; one row per event id (first arrival)."""
    _check_columns(fs, schema, f"source {fs.source!r}")
    ts = quote_ident(fs.timestamp)
    et = f"epoch_us({ts})"
    arrival = f"coalesce(epoch_us({quote_ident(ARRIVAL_TIME)}), {et})" if ARRIVAL_TIME in schema else et
    rendered: dict[str, str] = {c: _value_sql(c, schema[c]) for c in fs.source_columns}
    for t in fs.transforms:
        rendered[t.name] = _transform_sql(t, lambda c: rendered[c])
    cols = ", ".join(f"{rendered[name]} AS {quote_ident('v_' + name)}" for name in fs.series)
    return (
        f"SELECT CAST({quote_ident(fs.entity)} AS VARCHAR) AS e, {et} AS et, {arrival} AS arr, "
        f"CAST({quote_ident(EVENT_ID)} AS VARCHAR) AS eid{', ' + cols if cols else ''} "
        f"FROM {relation} WHERE {quote_ident(fs.entity)} IS NOT NULL AND {ts} IS NOT NULL "
        f"QUALIFY row_number() OVER (PARTITION BY eid ORDER BY arr, et) = 1"
    )


def events_sql(fs: FeatureSetDef, schema: dict[str, str], relation: str) -> str:
    """The events the features are computed from (late ones removed under drop/quarantine)."""
    base = _prepared(fs, schema, relation)
    if not fs.late.excludes_late:
        return base
    return f"SELECT * FROM ({base}) WHERE NOT {fs.late.sql_is_late('et', 'arr')}"


def late_events_sql(fs: FeatureSetDef, schema: dict[str, str], relation: str) -> str | None:
    """The original rows of the events the policy leaves out (None when it leaves none out)."""
    if not fs.late.excludes_late:
        return None
    base = _prepared(fs, schema, relation)
    return (f"SELECT src.* FROM {relation} src SEMI JOIN ({base}) p ON CAST(src.{quote_ident(EVENT_ID)} AS VARCHAR) "
            f"= p.eid AND {fs.late.sql_is_late('p.et', 'p.arr')} ORDER BY src.{quote_ident(EVENT_ID)}")


def _agg_sql(a: AggregationDef) -> str:
    window = f"ev.et > s.{TIME} - {a.window_us}"
    if a.column is None:
        if a.function == "count":
            return f"count(ev.eid) FILTER (WHERE {window})"
        return f"(s.{TIME} - max(ev.et) FILTER (WHERE {window})) / 1000000.0"
    v = f"ev.{quote_ident('v_' + a.column)}"
    nonnull = f"{window} AND {v} IS NOT NULL"
    return {
        "count": f"count({v}) FILTER (WHERE {window})",
        "sum": f"coalesce(fsum({v}) FILTER (WHERE {window}), 0.0)",
        "mean": f"fsum({v}) FILTER (WHERE {window}) / count({v}) FILTER (WHERE {window})",
        "min": f"min({v}) FILTER (WHERE {window})",
        "max": f"max({v}) FILTER (WHERE {window})",
        "std": f"stddev_samp({v}) FILTER (WHERE {window})",
        "last": f"arg_max({v}, struct_pack(t := ev.et, i := ev.eid)) FILTER (WHERE {nonnull})",
        "time_since_last": f"(s.{TIME} - max(ev.et) FILTER (WHERE {nonnull})) / 1000000.0",
    }[a.function]


def _bucket(expr: str, width: int) -> str:
    """floor(expr / width) for BIGINT microseconds (also before 1970)."""
    return f"(CASE WHEN {expr} >= 0 THEN {expr} // {width} ELSE -((-{expr} - 1) // {width}) - 1 END)"


def features_sql(fs: FeatureSetDef, events: str, samples: str) -> str:
    """Features of ``fs`` at every (``__entity``, ``__t``) row of ``samples``.

    The join is an equi-join on (entity, bucket of width max_window): an
    event in (t - max_window, t] lies in t's bucket or the one before, so
    each event is offered to two buckets and each sample probes only the
    events of one max_window-wide span instead of the entity's history."""
    width = fs.max_window_us
    cols = [f"s.{ENTITY}", f"s.{TIME}"]
    for name in fs.as_of:
        v = f"ev.{quote_ident('v_' + name)}"
        cols.append(f"arg_max({v}, struct_pack(t := ev.et, i := ev.eid)) FILTER (WHERE {v} IS NOT NULL) "
                    f"AS {quote_ident(name)}")
    cols += [f"{_agg_sql(a)} AS {quote_ident(a.name)}" for a in fs.aggregations]
    offered = (f"SELECT x.*, {_bucket('x.et', width)} + o.o AS bk FROM ({events}) x "
               f"CROSS JOIN (VALUES (0), (1)) o(o)")
    probes = f"SELECT {ENTITY}, {TIME}, {_bucket(TIME, width)} AS bk FROM {samples}"
    return (
        f"SELECT {', '.join(cols)} FROM ({probes}) s LEFT JOIN ({offered}) ev ON ev.e = s.{ENTITY} "
        f"AND ev.bk = s.bk AND ev.et <= s.{TIME} AND ev.arr <= s.{TIME} AND ev.et > s.{TIME} - {width} "
        f"GROUP BY s.{ENTITY}, s.{TIME}"
    )


def sample_features(con: duckdb.DuckDBPyConnection, definitions: Sequence[FeatureSetDef],
                    sources: dict[str, str], samples: str) -> pa.Table:
    """Features of every feature set at the samples relation (``__entity`` VARCHAR, ``__t`` BIGINT µs),
    as an Arrow table sorted by (``__entity``, ``__t``).  ``sources`` maps a source name to a
    relation (a view or ``read_parquet(...)``)."""
    parts = []
    for i, fs in enumerate(definitions):
        relation = sources.get(fs.source)
        if relation is None:
            raise BatchError(f"feature set {fs.name!r}: no data for its source {fs.source!r}")
        schema = _schema(con, relation)
        parts.append((f"f{i}", features_sql(fs, events_sql(fs, schema, relation), samples), fs.feature_names))
    if not parts:
        raise BatchError("no feature sets to compute")
    if len(parts) == 1:
        return con.sql(f"{parts[0][1]} ORDER BY 1, 2").to_arrow_table()
    ctes = ", ".join(f"{alias} AS ({sql})" for alias, sql, _ in parts)
    first = parts[0][0]
    select = [f"{first}.{ENTITY}", f"{first}.{TIME}"]
    joins = []
    for alias, _, names in parts:
        select += [f"{alias}.{quote_ident(n)}" for n in names]
        if alias != first:
            joins.append(f"JOIN {alias} USING ({ENTITY}, {TIME})")
    sql = f"WITH {ctes} SELECT {', '.join(select)} FROM {first} {' '.join(joins)} ORDER BY 1, 2"
    return con.sql(sql).to_arrow_table()
