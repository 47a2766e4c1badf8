"""``python -m runtime build-features``: the point-in-time training table.

Reads the validated snapshot (``<input>/<source>.parquet`` per source, as
validate-data writes it) and writes into ``<output>/`` (whole or not at
all: built beside, then renamed):

* ``training.parquet``: entity, ``cut_time``, the model's features in order,
  ``label`` (semantics in ``runtime.features.training``), sorted by entity
  and time, with the lineage in the Parquet metadata (``specops.lineage``);
* ``lineage.json``: input file hashes, the spec hash, the table cut, counts;
* ``late-events/<feature set>.arrow``: the events a drop/quarantine policy
  left out of the features (Arrow IPC, so the table reader's ``*.parquet``
  glob never picks them up).
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.feather as feather
import pyarrow.parquet as pq

from runtime.contracts.steps import BuildFeaturesConfig
from runtime.digest import sha256_file
from runtime.features.batch import BatchError, late_events_sql
from runtime.features.definition import FeatureDefinitionError, define
from runtime.features.expression import quote_ident
from runtime.features.timestamps import from_us
from runtime.features.training import training_table

__all__ = ["run"]


def _sql_path(path: Path) -> str:
    return "'" + str(path).replace("'", "''") + "'"


def _label_timestamp(config: BuildFeaturesConfig, path: Path) -> str:
    if config.label.timestamp:
        return config.label.timestamp
    schema = pq.read_schema(path)
    candidates = [f.name for f in schema if pa.types.is_timestamp(f.type) and not f.name.startswith("_")]
    if len(candidates) != 1:
        raise BatchError(f"{path}: cannot tell the label time column among {candidates}; recompile the step config "
                         "(label.timestamp)")
    return candidates[0]


def run(config: BuildFeaturesConfig) -> int:
    try:
        definitions = define(config.feature_sets, config.label, config.features)
    except FeatureDefinitionError as exc:
        print(f"error: build-features refused: {exc}", file=sys.stderr)
        return 1
    snapshot = Path(config.input)
    inputs: dict[str, Path] = {}
    for name in dict.fromkeys([*(d.source for d in definitions), config.label.source]):
        path = snapshot / f"{name}.parquet"
        if not path.is_file():
            print(f"error: {path}: no validated data for source {name!r} (run validate-data first)", file=sys.stderr)
            return 1
        inputs[name] = path
    # One thread: DuckDB combines per-thread partial aggregates in a varying
    # order, which changes the last bits of sums; the table's bytes (and the
    # training-data hash a release records) must not depend on scheduling.
    con = duckdb.connect(config={"threads": 1})
    try:
        views: dict[str, str] = {}
        for i, (name, path) in enumerate(inputs.items()):
            view = f"src{i}"
            con.execute(f"CREATE VIEW {view} AS SELECT * FROM read_parquet({_sql_path(path)})")
            views[name] = view
        cut = training_table(
            con, definitions, config.features, config.label,
            sources={d.source: views[d.source] for d in definitions}, labels_relation=views[config.label.source],
            label_timestamp=_label_timestamp(config, inputs[config.label.source]),
            sample_every_us=round(config.sample_every_s * 1_000_000))
        late: dict[str, pa.Table] = {}
        for d in definitions:
            schema = {r[0]: r[1] for r in con.execute(f"DESCRIBE SELECT * FROM {views[d.source]}").fetchall()}
            sql = late_events_sql(d, schema, views[d.source])
            if sql is not None:
                late[d.name] = con.sql(sql).to_arrow_table()
    except (BatchError, duckdb.Error) as exc:
        print(f"error: build-features: {exc}", file=sys.stderr)
        return 1
    finally:
        con.close()
    if cut.table.num_rows == 0:
        print(f"error: build-features: no training rows with a mature label (table cut "
              f"{from_us(cut.table_cut_us).isoformat()}, horizon {config.label.horizon_s:g}s, label delay "
              f"{config.label.availability_delay_s:g}s): the snapshot covers too short a time", file=sys.stderr)
        return 1
    snapshot_lineage = snapshot / "lineage.json"
    lineage = {
        "model": config.model,
        "spec_hash": config.spec_hash,
        "inputs": {name: {"path": str(path), "sha256": sha256_file(path)} for name, path in inputs.items()},
        "snapshot_lineage_sha256": sha256_file(snapshot_lineage) if snapshot_lineage.is_file() else None,
        "table_cut_time": from_us(cut.table_cut_us).isoformat().replace("+00:00", "Z"),
        "sample_every_s": config.sample_every_s,
        "rows": cut.table.num_rows,
        "positives": cut.positives,
        "rows_left_out_immature_label": cut.rows_immature,
        "labels_after_cut": cut.labels_after_cut,
        "features": list(config.features),
        "late_events": {name: {"policy": d.late.policy, "rows": late[name].num_rows}
                        for d in definitions for name in [d.name] if name in late},
    }
    out = Path(config.output)
    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    table = cut.table.replace_schema_metadata({"specops.lineage": json.dumps(lineage, sort_keys=True)})
    pq.write_table(table, tmp / "training.parquet", compression="zstd")
    (tmp / "lineage.json").write_text(json.dumps(lineage, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    for name, rows in late.items():
        (tmp / "late-events").mkdir(exist_ok=True)
        feather.write_feather(rows, tmp / "late-events" / f"{name}.arrow", compression="uncompressed")
    if out.exists():
        shutil.rmtree(out)
    os.replace(tmp, out)
    print(f"build-features: {cut.table.num_rows} rows ({cut.positives} positive), {len(config.features)} features, "
          f"table cut {lineage['table_cut_time']}, {cut.rows_immature} rows left out (label not mature) -> "
          f"{out / 'training.parquet'}")
    return 0
