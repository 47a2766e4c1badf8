"""``python -m runtime validate-data --config FILE``: read every source,
apply its data contract, write the validated snapshot, its quarantine and
lineage (``runtime.data.snapshot``), and a report.

Exit 0: every batch passed.  Exit 1: a batch broke its contract or a file
could not be read: the report (JSON at ``config.report``, a summary on
stderr) names the rule, column, count and example rows, and no snapshot is
left for downstream steps.  Exit 2: a configured path is unusable.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from runtime.contracts.steps import ValidateDataConfig
from runtime.data.contract import ContractOutcome, apply_contract
from runtime.data.paths import DataPathError, MissingDataError, inside
from runtime.data.snapshot import DatasetRecord, dataset_report, write_json, write_snapshot
from runtime.data.sources import DataReadError, read_source

__all__ = ["run", "summary"]


def summary(outcome: ContractOutcome) -> list[str]:
    """Readable lines: one per failed or noteworthy rule."""
    verdict = "PASS" if outcome.passed else "FAIL"
    lines = [f"{verdict} {outcome.source}: {outcome.rows_in} rows in, {outcome.rows_out} valid, "
             f"{outcome.rows_quarantined} quarantined, {outcome.dropped} dropped"]
    for r in outcome.results:
        if r.status == "pass":
            continue
        where = f" {r.column}" if r.column else ""
        lines.append(f"  {r.status.upper()} {r.rule}{where}: {r.detail} -> {r.action}")
        for example in r.examples[:2]:
            lines.append(f"      e.g. {example}")
    return lines


def run(config: ValidateDataConfig, root: Path | None = None) -> int:
    root = (root or Path.cwd()).resolve()
    try:
        output = inside(config.output, root)
        report = inside(config.report, root)
    except DataPathError as exc:
        print(f"error: validate-data: {exc}", file=sys.stderr)
        return 2
    # A previous snapshot must not survive a failed run and be mistaken for this one's.
    shutil.rmtree(output, ignore_errors=True)
    records: list[DatasetRecord] = []
    try:
        for source in config.sources:
            if source.type == "stream":
                continue  # the ingester applies this contract record by record
            loaded = read_source(source, root)
            records.append(DatasetRecord(loaded, apply_contract(loaded, config.as_of)))
    except (MissingDataError, DataReadError) as exc:
        write_json(report, {"passed": False, "error": str(exc), "datasets": [dataset_report(r) for r in records]})
        print(f"error: validate-data: {exc}", file=sys.stderr)
        return 1
    except DataPathError as exc:
        print(f"error: validate-data: {exc}", file=sys.stderr)
        return 2
    passed = all(r.outcome.passed for r in records)
    body: dict[str, object] = {"passed": passed, "as_of": config.as_of.isoformat() if config.as_of else None,
                               "datasets": [dataset_report(r) for r in records]}
    if passed:
        lineage = write_snapshot(config, records, root)
        body["snapshot"] = config.output
        body["snapshot_sha256"] = lineage["snapshot_sha256"]
    write_json(report, body)
    stream = sys.stdout if passed else sys.stderr
    for record in records:
        for line in summary(record.outcome):
            print(line, file=stream)
    if not passed:
        print(f"validate-data: the batch broke its data contract; report: {config.report}; "
              "no validated snapshot was written", file=sys.stderr)
        return 1
    return 0
