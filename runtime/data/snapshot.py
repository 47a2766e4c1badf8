"""The validated, versioned snapshot: what validate-data hands downstream.

Layout of ``<output>`` (agreed between the runtime steps)::

    <source>.parquet               valid rows: declared fields + _event_id + _arrival_time,
                                   sorted by entity, event time, _event_id
    quarantine/<source>.parquet    rows taken out, with a _violation column (rule:column;...)
    lineage.json                   per dataset: sha256 of the content, source files
                                   (path, sha256, rows), row counts, contract results

The directory appears whole or not at all (written beside, then renamed), so
a failed or interrupted run never leaves a half snapshot for the next step.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from runtime.contracts.steps import ValidateDataConfig
from runtime.data.contract import ContractOutcome
from runtime.data.sources import LoadedSource
from runtime.digest import sha256_file

__all__ = ["DatasetRecord", "dataset_report", "write_json", "write_snapshot"]


@dataclass(frozen=True, slots=True)
class DatasetRecord:
    loaded: LoadedSource
    outcome: ContractOutcome


def _write_table(table: pa.Table, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    # No statistics timestamps or writer clocks go into the file: same rows, same bytes.
    pq.write_table(table, path, compression="zstd")


def write_json(path: Path, data: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def dataset_report(record: DatasetRecord) -> dict[str, object]:
    """One dataset's counts and contract results (the JSON report and lineage share it)."""
    o = record.outcome
    src = record.loaded.source
    return {
        "name": src.name,
        "type": src.type,
        "source": {"path": src.path, "format": src.format,
                   "files": [{"path": f.path, "sha256": f.sha256, "rows": f.rows} for f in record.loaded.files]},
        "rows_in": o.rows_in,
        "rows_out": o.rows_out,
        "quarantined": o.rows_quarantined,
        "dropped": o.dropped,
        "contract": {"passed": o.passed, "results": [r.as_json() for r in o.results]},
    }


def write_snapshot(config: ValidateDataConfig, records: Sequence[DatasetRecord], root: Path) -> dict[str, object]:
    """Write the snapshot of batches that all passed; return the lineage written."""
    final = root / config.output
    staging = final.with_name(final.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    datasets = []
    for record in records:
        o = record.outcome
        assert o.valid is not None and o.quarantined is not None, "only passed batches are written"
        data_path = staging / f"{o.source}.parquet"
        quarantine_path = staging / "quarantine" / f"{o.source}.parquet"
        _write_table(o.valid, data_path)
        _write_table(o.quarantined, quarantine_path)
        entry = dataset_report(record)
        entry["path"] = f"{config.output}/{o.source}.parquet"
        entry["sha256"] = sha256_file(data_path)
        entry["quarantine"] = {"path": f"{config.output}/quarantine/{o.source}.parquet",
                               "sha256": sha256_file(quarantine_path), "rows": o.rows_quarantined}
        datasets.append(entry)
    lineage = {
        "api_version": config.api_version,
        "step": config.step,
        "model": config.model,
        "spec_hash": config.spec_hash,
        # One hash over every dataset: what a ModelRelease's trainingData.hash records.
        "snapshot_sha256": hashlib.sha256("\n".join(d["sha256"] for d in datasets).encode()).hexdigest(),  # type: ignore[misc]
        "datasets": datasets,
    }
    write_json(staging / "lineage.json", lineage)
    shutil.rmtree(final, ignore_errors=True)
    final.parent.mkdir(parents=True, exist_ok=True)
    os.replace(staging, final)
    return lineage
