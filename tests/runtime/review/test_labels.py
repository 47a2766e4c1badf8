"""Reviewer decisions as labels: the labels source's own columns and types,
available from the decision time, and a content hash that an override changes."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from review_support import T0, prediction

from runtime.contracts.steps import FieldConfig, ReviewConfig
from runtime.events import ARRIVAL_TIME, EVENT_ID
from runtime.review.labels import LabelExportError, export_labels

REPO = Path(__file__).resolve().parents[3]


def labels_config(tmp_path: Path):  # type: ignore[no-untyped-def]
    raw = json.loads((REPO / "generated/runtime/pump-failure/review.json").read_text())
    raw["labels"]["output"] = str(tmp_path / "labels" / "review-pump-failure.parquet")
    return ReviewConfig.model_validate(raw).labels


def decide(queue, clock, n: int, verdict: str, score: float = 0.9, after_s: float = 60) -> None:  # type: ignore[no-untyped-def]
    queue.submit(prediction(n, score=score, entity=f"pump-{n:04d}"))
    claim = queue.claim("alice", f"req-{n:05d}/0")
    clock.advance(after_s)
    queue.decide(claim.item.id, claim.token, "alice", verdict, "reviewed")


def test_decisions_are_rows_of_the_labels_source(make_queue, clock, tmp_path: Path) -> None:
    cfg = labels_config(tmp_path)
    queue = make_queue()
    decide(queue, clock, 1, "approve", score=0.9)  # failure predicted, confirmed -> failed=True
    decide(queue, clock, 2, "override", score=0.9)  # failure predicted, reviewer says no -> False
    decide(queue, clock, 3, "override", score=0.2)  # no failure predicted, reviewer says failure -> True
    queue.submit(prediction(4))
    clock.advance(4000)
    queue.sweep()
    clock.advance(4000)
    queue.sweep()  # a conservative default: no human judgment, not a label
    out = export_labels(cfg, queue.decided())
    table = pq.read_table(out.path)
    assert table.column_names == ["asset_id", "failure_time", "failed", "ticket_id", EVENT_ID, ARRIVAL_TIME]
    assert table.schema.field("failure_time").type == pa.timestamp("us", tz="UTC")
    assert table.schema.field(ARRIVAL_TIME).type == pa.timestamp("us", tz="UTC")
    rows = table.to_pylist()
    assert [(r["asset_id"], r["failed"]) for r in rows] == [("pump-0001", True), ("pump-0002", False),
                                                            ("pump-0003", True)]
    assert rows[0]["ticket_id"] == "review:req-00001/0" and rows[0][EVENT_ID] == "review:req-00001/0"
    assert rows[0]["failure_time"] == datetime(2026, 11, 27, 8, 0, tzinfo=timezone.utc)
    # Available to training only from the moment the reviewer decided.
    decided_at = [datetime.fromtimestamp((T0 + k * 60_000_000) / 1e6, tz=timezone.utc) for k in (1, 2, 3)]
    assert [r[ARRIVAL_TIME] for r in rows] == decided_at
    assert (out.rows, out.overrides) == (3, 2)


def test_the_content_hash_is_stable_and_an_override_changes_it(make_queue, clock, tmp_path: Path) -> None:
    cfg = labels_config(tmp_path)
    queue = make_queue()
    decide(queue, clock, 1, "approve")
    first = export_labels(cfg, queue.decided())
    again = export_labels(cfg, queue.decided(), str(tmp_path / "again.parquet"))
    assert first.sha256 == again.sha256  # same decisions, same bytes
    decide(queue, clock, 2, "override")
    after = export_labels(cfg, queue.decided())
    assert after.sha256 != first.sha256 and after.overrides == 1


def test_a_field_the_export_cannot_fill_is_a_clear_error(make_queue, clock, tmp_path: Path) -> None:
    cfg = labels_config(tmp_path)
    cfg = cfg.model_copy(update={"fields": (*cfg.fields, FieldConfig(name="repair_cost", type="float"))})
    queue = make_queue()
    decide(queue, clock, 1, "approve")
    with pytest.raises(LabelExportError, match="field 'repair_cost' \\(float, not nullable\\)"):
        export_labels(cfg, queue.decided())
    assert not Path(cfg.output).exists()


def test_the_training_data_layer_reads_the_export_and_lists_its_hash(make_queue, clock, tmp_path: Path) -> None:
    """The export lands where the labels source's glob reads; the data layer
    (validate-data, build-features) takes its rows with the decision as the
    arrival time, and lists the file's sha256: the override is in the lineage."""
    from runtime.contracts.steps import ValidateDataConfig
    from runtime.data.sources import read_source

    step = ValidateDataConfig.model_validate_json((REPO / "generated/runtime/pump-failure/validate-data.json").read_text())
    source = next(s for s in step.sources if s.name == "failure-labels")
    cfg = labels_config(tmp_path)
    cfg = cfg.model_copy(update={"output": str(tmp_path / "data/labels/review-pump-failure.parquet")})
    queue = make_queue()
    decide(queue, clock, 1, "override", score=0.9)
    out = export_labels(cfg, queue.decided())
    loaded = read_source(source, tmp_path)
    assert loaded.problems == () and loaded.table is not None
    assert [(f.path, f.sha256) for f in loaded.files] == [("data/labels/review-pump-failure.parquet", out.sha256)]
    (row,) = loaded.table.to_pylist()
    assert (row["asset_id"], row["failed"], row[EVENT_ID]) == ("pump-0001", False, "review:req-00001/0")
    assert row[ARRIVAL_TIME] == datetime.fromtimestamp((T0 + 60_000_000) / 1e6, tz=timezone.utc)


def test_exported_decisions_are_early_labels_for_the_monitor_from_their_decision_time(
        make_queue, clock, tmp_path: Path) -> None:
    import numpy as np

    from runtime.monitoring.labels import join_labels, label_events

    cfg = labels_config(tmp_path)
    queue = make_queue()
    decide(queue, clock, 1, "approve", score=0.9)   # decided at T0 + 60 s: failure confirmed
    decide(queue, clock, 2, "override", score=0.9)  # decided at T0 + 120 s: no failure
    table = pq.read_table(export_labels(cfg, queue.decided()).path)
    failures, reviews = label_events(table, entity=cfg.entity, timestamp=cfg.timestamp, outcome=cfg.outcome,
                                     positive_value=cfg.positive_value, availability_delay_s=86_400.0)
    assert len(failures.entity) == 0 and reviews.entity.to_pylist() == ["pump-0001", "pump-0002"]
    at = int(datetime(2026, 11, 27, 8, 0, tzinfo=timezone.utc).timestamp() * 1e6)  # the predictions' `at`
    entity, times = pa.array(["pump-0001", "pump-0002"]), np.array([at, at])

    def labels(as_of_us: int) -> list[int]:
        # the review clock (T0) is ~7 weeks after the predictions' `at`: a 100-day reporting
        # delay keeps their ticket-based labels open, so only the reviewers' verdicts are known
        return join_labels(entity, times, failures, reviews, horizon_s=86_400.0, availability_delay_s=100 * 86_400.0,
                           as_of_us=as_of_us).label.tolist()

    assert labels(T0 + 59_000_000) == [-1, -1]
    assert labels(T0 + 60_000_000) == [1, -1]
    assert labels(T0 + 120_000_000) == [1, 0]
