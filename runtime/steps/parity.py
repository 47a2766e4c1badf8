"""``python -m runtime parity``: training–serving skew check before training.

Replays the validated events through the online engine (in arrival order)
and compares it with the batch engine on sampled (entity, t)
(``runtime.features.parity``).  Writes the report to ``output`` and exits 1
on any mismatch, listing each with entity, time, feature and both values.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pyarrow.parquet as pq

from runtime.contracts.steps import ParityConfig
from runtime.features.definition import FeatureDefinitionError
from runtime.features.parity import check_parity

__all__ = ["SHOWN", "run"]

SHOWN = 20  # mismatches printed (all are in the report)


def run(config: ParityConfig) -> int:
    snapshot = Path(config.input)
    events = {}
    for fs in config.feature_sets:
        path = snapshot / f"{fs.source}.parquet"
        if not path.is_file():
            print(f"error: {path}: no validated data for source {fs.source!r} (run validate-data first)", file=sys.stderr)
            return 1
        events[fs.source] = pq.read_table(path)
    try:
        report = check_parity(config.feature_sets, events, samples=config.samples, seed=config.seed,
                              rel_tolerance=config.rel_tolerance)
    except FeatureDefinitionError as exc:
        print(f"error: parity refused: {exc}", file=sys.stderr)
        return 1
    out = Path(config.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(json.dumps(report.as_json(), indent=2, sort_keys=True, default=str) + "\n", encoding="utf-8")
    tmp.replace(out)
    summary = (f"parity: {report.samples} samples, {report.values_compared} values compared, "
               f"{report.events_replayed} events replayed, max relative error {report.max_rel_error:.3g} "
               f"(tolerance {report.rel_tolerance:g}), {len(report.mismatches)} mismatch(es) -> {out}")
    if report.ok:
        print(summary)
        return 0
    print(summary, file=sys.stderr)
    for m in report.mismatches[:SHOWN]:
        print(f"  mismatch: feature set {m.feature_set!r}, entity {m.entity!r} at {m.time}: {m.feature} "
              f"batch={m.batch!r} online={m.online!r}", file=sys.stderr)
    if len(report.mismatches) > SHOWN:
        print(f"  ... and {len(report.mismatches) - SHOWN} more in {out}", file=sys.stderr)
    return 1
