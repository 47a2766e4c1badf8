"""The point-in-time training table: features by the batch engine, labels
joined by availability.

Definitions (all times integer microseconds, UTC):

* **Table cut** ``C``: the time the training table is cut, by default the
  latest ``_arrival_time`` in the snapshot (events and labels): nothing that
  arrived later exists for this table.
* **Rows**: per entity, every multiple of ``sample_every`` from the entity's
  first visible event (event time and arrival both passed) up to its last
  visible event plus the largest window, and only while the label is mature
  (below).  The row's ``cut_time`` t is the prediction time; its features
  use only events visible at t (``runtime.features.batch``).
* **Label** of (entity, t): 1 when a label row of the entity with the
  positive outcome has ``failure time`` in (t, t + horizon] and had become
  available by the table cut (``_arrival_time``, or failure time plus the
  declared availability delay when absent, <= C); else 0.
* **Maturity**: a row is kept only if t + horizon + availability delay <= C,
  so every failure in its horizon would have been reported by the cut under
  the declared delay; younger rows have no trustworthy label and are left
  out (counted in the lineage).  Labels never leak into features: feature
  sets may not read the label source (``definition``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from runtime.contracts.steps import LabelConfig
from runtime.events import ARRIVAL_TIME
from runtime.features.batch import ENTITY, TIME, BatchError, events_sql, sample_features
from runtime.features.definition import FeatureSetDef
from runtime.features.expression import quote_ident

__all__ = ["CUT_TIME", "LABEL", "TrainingCut", "training_table"]

CUT_TIME = "cut_time"
LABEL = "label"


@dataclass(frozen=True, slots=True)
class TrainingCut:
    table: pa.Table
    table_cut_us: int
    rows_immature: int  # sample times left out because their label was not mature at the cut
    positives: int
    labels_after_cut: int  # label rows that arrived after the cut (not used)


def _literal(value: str | bool | float) -> str:
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    return f"CAST({float(value)!r} AS DOUBLE)"


def _labels_sql(label: LabelConfig, relation: str, entity: str, timestamp: str, schema: set[str]) -> str:
    delay = round(label.availability_delay_s * 1_000_000)
    ft = f"epoch_us({quote_ident(timestamp)})"
    arrival = f"coalesce(epoch_us({quote_ident(ARRIVAL_TIME)}), {ft} + {delay})" if ARRIVAL_TIME in schema \
        else f"{ft} + {delay}"
    return (f"SELECT CAST({quote_ident(entity)} AS VARCHAR) AS e, {ft} AS ft, {arrival} AS la, "
            f"({quote_ident(label.outcome)} = {_literal(label.positive_value)}) AS positive "
            f"FROM {relation} WHERE {quote_ident(entity)} IS NOT NULL AND {quote_ident(timestamp)} IS NOT NULL")


def training_table(con: duckdb.DuckDBPyConnection, definitions: Sequence[FeatureSetDef], features: Sequence[str],
                   label: LabelConfig, sources: dict[str, str], labels_relation: str, label_timestamp: str,
                   sample_every_us: int, cut_us: int | None = None) -> TrainingCut:
    """The training table (entity, ``cut_time``, ``features`` in order, ``label``), sorted by entity and time."""
    fs0 = definitions[0]
    entity = fs0.entity
    schemas = {name: {r[0]: r[1] for r in con.execute(f"DESCRIBE SELECT * FROM {rel}").fetchall()}
               for name, rel in sources.items()}
    label_schema = {r[0] for r in con.execute(f"DESCRIBE SELECT * FROM {labels_relation}").fetchall()}
    missing = [c for c in (entity, label_timestamp, label.outcome) if c not in label_schema]
    if missing:
        raise BatchError(f"label source {label.source!r}: missing column(s) {', '.join(missing)}")
    labels = _labels_sql(label, labels_relation, entity, label_timestamp, label_schema)
    arrivals = " UNION ALL ".join(
        f"SELECT e, greatest(et, arr) AS vis, arr FROM ({events_sql(fs, schemas[fs.source], sources[fs.source])})"
        for fs in definitions if fs.source in schemas)
    if cut_us is None:
        row = con.execute(f"SELECT greatest((SELECT max(arr) FROM ({arrivals})), (SELECT max(la) FROM ({labels})))").fetchone()
        if row is None or row[0] is None:
            raise BatchError("the snapshot has no events and no labels: nothing to cut a training table from")
        cut_us = int(row[0])
    horizon = round(label.horizon_s * 1_000_000)
    delay = round(label.availability_delay_s * 1_000_000)
    last_mature = cut_us - horizon - delay
    reach = max(fs.max_window_us for fs in definitions)
    step = sample_every_us
    con.execute(f"""CREATE OR REPLACE TEMP TABLE __grid AS
        WITH span AS (SELECT e, min(vis) AS first_vis, max(vis) AS last_vis FROM ({arrivals})
                      WHERE vis <= {cut_us} GROUP BY e)
        SELECT e AS {ENTITY}, unnest(range(((first_vis + {step} - 1) // {step}) * {step},
                                          least(last_vis + {reach}, {cut_us}) + 1, {step})) AS {TIME}
        FROM span""")
    immature_row = con.execute(f"SELECT count(*) FROM __grid WHERE {TIME} > {last_mature}").fetchone()
    con.execute(f"DELETE FROM __grid WHERE {TIME} > {last_mature}")
    feats = sample_features(con, definitions, sources, "__grid")
    con.register("__feats", feats)
    labelled = con.sql(f"""
        SELECT f.{ENTITY} AS {quote_ident(entity)}, make_timestamptz(f.{TIME}) AS {CUT_TIME},
               {', '.join(f'f.{quote_ident(n)}' for n in features)},
               CAST(EXISTS (SELECT 1 FROM ({labels}) l WHERE l.e = f.{ENTITY} AND l.positive AND l.ft > f.{TIME}
                            AND l.ft <= f.{TIME} + {horizon} AND l.la <= {cut_us}) AS TINYINT) AS {LABEL}
        FROM __feats f ORDER BY 1, 2""").to_arrow_table()
    con.unregister("__feats")
    late_labels = con.execute(f"SELECT count(*) FROM ({labels}) WHERE la > {cut_us}").fetchone()
    table = labelled.cast(labelled.schema.set(1, pa.field(CUT_TIME, pa.timestamp("us", tz="UTC"))))
    return TrainingCut(table=table, table_cut_us=cut_us, rows_immature=int(immature_row[0]) if immature_row else 0,
                       positives=int(pc.sum(table.column(LABEL)).as_py() or 0),
                       labels_after_cut=int(late_labels[0]) if late_labels else 0)
