"""``python -m runtime monitor --config FILE``: judge the model's objectives
once (what the generated CronWorkflow runs every 5 minutes) or every N
seconds, and write the report as JSON, HTML and text into the output
directory (``report.json``, ``report.html``, ``report.txt``).

Inputs, each optional (a missing one is a section saying so, never a crash):
the prediction log (``predictions``: the predictor's write-ahead store and
its compacted Parquet, read through ``runtime.predlog.reader`` so rows not
yet compacted count, and none twice; else Parquet under ``prediction_log``),
the review store, the validated snapshot (live skew: a sample of the logged
predictions recomputed by the batch engine) and the labels (the labels
source, the review export and ``SPECOPS_MONITOR_LABELS``: realized quality
where labels have matured, estimated where not).  The monitor does not
compact the log; ``python -m runtime predlog --config serve.json compact``
does, and changes nothing the monitor reports.  The SLOs are evaluated by ``runtime.monitoring.slo``
over the series the predictor and review queue would have exported
(``runtime.monitoring.log_metrics``), so local results mean what the
cluster's alerts mean.

Overrides (the compiled config stays as compiled; `specops monitor` sets them):
``SPECOPS_MONITOR_AT`` (ISO time, or ``last``: the last logged request),
``SPECOPS_MONITOR_EVERY`` (seconds; unset: once), ``SPECOPS_MONITOR_FORMAT``
(text | json | html: what is printed; all three are written),
``SPECOPS_MONITOR_OUT`` (the output directory), ``SPECOPS_MONITOR_ACT=0``
(report only: breaches are not enforced), ``SPECOPS_MONITOR_LABELS``
(extra label files: globs separated by ``:``, e.g. a replay's
``.specops/replay/<run>/labels.parquet``).

After the report, the breaches are enforced (``runtime.actions``: idempotent,
rate-limited, audited) as the compiled ``enforcement`` says; the
ObjectiveResults are also written as ``results.json`` for
``python -m runtime act`` (replays).
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import signal
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import duckdb
import pyarrow.dataset as ds

from runtime.audit.database import DatabaseError
from runtime.contracts.monitoring import LOG_COLUMNS, PredictionRecord
from runtime.contracts.steps import MonitorConfig
from runtime.monitoring.drift_section import drift_outcome
from runtime.monitoring.performance_section import performance_outcome
from runtime.monitoring.log_metrics import ReviewEvent, series_from_log, series_from_reviews
from runtime.monitoring.render import render_html, render_json, render_text
from runtime.monitoring.report import MonitorReport, Section, log_summary, trends
from runtime.monitoring.series import SeriesSet
from runtime.monitoring.skew_section import skew_outcome
from runtime.monitoring.slo import BURN_RATES, evaluate, objectives_of

__all__ = ["build_report", "enforce_breaches", "load_records", "load_reviews", "on_event_clock", "read_log", "run",
           "step_options"]

AT_ENV, EVERY_ENV, FORMAT_ENV, OUT_ENV, ACT_ENV = (
    "SPECOPS_MONITOR_AT", "SPECOPS_MONITOR_EVERY", "SPECOPS_MONITOR_FORMAT", "SPECOPS_MONITOR_OUT", "SPECOPS_MONITOR_ACT")
LABELS_ENV = "SPECOPS_MONITOR_LABELS"
# Event files (globs, ':'-separated) the online path applied that the validated snapshot
# does not hold yet -- a replay's stream events -- for the live skew check.
EVENTS_ENV = "SPECOPS_MONITOR_EVENTS"
# "event": judge by the time the features describe (``at_us``) instead of when
# the request was served -- for a replay or a backfill, whose simulated clock
# is not the wall clock.  Default "served" (what a live monitor means).
CLOCK_ENV = "SPECOPS_MONITOR_CLOCK"
FORMATS = ("text", "json", "html")


class MonitorError(Exception):
    """An input that exists but cannot be read; the message says which and what to do."""


class LogUnreachable(Exception):
    """The log's store needs a filesystem driver this image lacks (s3fs, gcsfs): reported, not fatal."""


def load_records(root: str | None, model: str) -> list[PredictionRecord]:
    """Parquet under a plain path (LOG_COLUMNS layout, hive partitions); [] when there is none yet.
    For configs without ``predictions`` (compiled before the prediction log had a write-ahead store)."""
    if not root or not Path(root).is_dir() or not any(Path(root).rglob("*.parquet")):
        return []
    try:
        table = ds.dataset(root, format="parquet", partitioning="hive").to_table()
    except Exception as exc:  # pyarrow raises several types for a corrupt file
        raise MonitorError(f"{root}: cannot read the prediction log: {exc}") from None
    names = set(table.column_names)
    missing = [c for c in LOG_COLUMNS if c not in names]
    if missing:
        raise MonitorError(f"{root}: the prediction log lacks columns {missing} (written by an older predictor?)")
    rows = table.select([*LOG_COLUMNS, *(["features"] if "features" in names else [])]).to_pylist()
    out = [PredictionRecord(**{k: r[k] for k in LOG_COLUMNS}, features=r.get("features") or {}) for r in rows]
    return sorted((r for r in out if r.model == model), key=lambda r: (r.served_at_us, r.seq))


def read_log(config: MonitorConfig) -> list[PredictionRecord]:
    """The model's whole prediction log: compacted Parquet and the write-ahead rows not yet compacted
    (``predictions``, as the serve config names them), else the Parquet under ``prediction_log``."""
    if config.predictions is None:
        return load_records(config.prediction_log, config.model)
    from runtime.predlog.reader import read_records
    from runtime.predlog.store import LogError, PredictionLog

    cfg = config.predictions
    # A cluster monitor has no predictor volume: the compacted Parquet alone.
    log = PredictionLog(cfg.path, cfg.synchronous) if Path(cfg.path).is_file() else None
    try:
        return list(read_records(cfg.root, config.model, log))
    except ImportError as exc:
        raise LogUnreachable(f"cannot reach the prediction log at {cfg.root}: {exc}") from None
    except (LogError, OSError, duckdb.Error) as exc:
        raise MonitorError(f"{cfg.path} / {cfg.root}: cannot read the prediction log: {exc}") from None
    finally:
        if log is not None:
            log.close()


def load_reviews(config: MonitorConfig) -> list[ReviewEvent] | None:
    """Every review item of the model, or None without a review store."""
    if config.review is None:
        return None
    if config.review.store.backend == "sqlite" and not Path(config.review.store.path or "").exists():
        return []
    from runtime.review.config import open_queue  # the review store's drivers load only when one is configured

    queue = open_queue(config.review)
    items = queue.items(limit=1_000_000_000)
    return [ReviewEvent(environment=i.prediction.environment, enqueued_us=i.enqueued_us, decided_us=i.decided_us,
                        conservative=i.verdict == "conservative_default", prediction_id=i.prediction.prediction_id)
            for i in items]


def on_event_clock(records: list[PredictionRecord], reviews: list[ReviewEvent] | None
                   ) -> tuple[list[PredictionRecord], list[ReviewEvent] | None, int]:
    """The log and the review items on the event clock (a replay's or a backfill's simulated time):
    each prediction served at its ``at``, and each review item moved by its prediction's
    offset (at - served), so its age and time to decision stay what they were in wall time.
    Review items whose prediction is not in the log cannot be placed and are left out (their
    count is the third value): on the served clock they would be months off, with negative ages."""
    offsets = {r.prediction_id: r.at_us - r.served_at_us for r in records}
    moved = [dataclasses.replace(r, served_at_us=r.at_us) for r in records]
    if reviews is None:
        return moved, None, 0
    placed = []
    for e in reviews:
        offset = offsets.get(e.prediction_id)
        if offset is not None:
            placed.append(dataclasses.replace(e, enqueued_us=e.enqueued_us + offset,
                                              decided_us=None if e.decided_us is None else e.decided_us + offset))
    return moved, placed, len(reviews) - len(placed)


# Which objectives each local source feeds: its series are rebuilt only as far back as their longest window needs.
_LOG_SLIS = ("latency_p99", "error_rate", "availability", "feature_freshness")
_REVIEW_SLIS = ("review_backlog", "review_time_p90")
_DRIFT_SLIS = ("feature_drift_share", "prediction_drift_psi")
_SKEW_SLIS = ("skew_mismatch_rate",)
_QUALITY_SLIS = ("estimated_pr_auc", "realized_pr_auc", "realized_recall_at_precision")


def _lookback_ms(config: MonitorConfig, metrics: tuple[str, ...]) -> int:
    windows = [o.window_s * 1000 * (max(b.long_mult for b in BURN_RATES) if o.metric == "availability" else 1)
               for o in config.objectives if o.metric in metrics]
    # Two windows: the current one and the one before it, for the trend plots.
    return 2 * int(max(windows, default=3_600_000)) + 120_000


def _at_ms(records: list[PredictionRecord], at: str | None) -> int:
    if at in (None, "", "now"):
        return int(time.time() * 1000)
    if at == "last":
        if not records:
            raise MonitorError("--at last: the prediction log is empty; serve traffic first or give a time")
        return records[-1].served_at_us // 1000
    try:
        parsed = datetime.fromisoformat(str(at).replace("Z", "+00:00"))
    except ValueError:
        raise MonitorError(f"--at {at!r}: not an ISO time (2026-01-31T12:00:00Z), 'now' or 'last'") from None
    return int((parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)).timestamp() * 1000)


def _merge(*sets: SeriesSet) -> SeriesSet:
    return SeriesSet(tuple(s for one in sets for s in one.series))


def build_report(config: MonitorConfig, records: list[PredictionRecord], reviews: list[ReviewEvent] | None,
                 at_ms: int, extra_labels: tuple[str, ...] = (), log_note: str | None = None,
                 extra_events: tuple[str, ...] = ()) -> MonitorReport:
    data = series_from_log(records, model=config.model, at_ms=at_ms, since_ms=at_ms - _lookback_ms(config, _LOG_SLIS))
    drifted = drift_outcome(config, records, at_ms=at_ms, since_ms=at_ms - _lookback_ms(config, _DRIFT_SLIS))
    skewed = skew_outcome(config, records, at_ms=at_ms, since_ms=at_ms - _lookback_ms(config, _SKEW_SLIS),
                          extra_events=extra_events)
    quality = performance_outcome(config, records, at_ms=at_ms, since_ms=at_ms - _lookback_ms(config, _QUALITY_SLIS),
                                  extra_labels=extra_labels)
    data = _merge(data, drifted.series, skewed.series, quality.series)
    if reviews is not None:
        data = _merge(data, series_from_reviews(reviews, model=config.model, at_ms=at_ms,
                                                since_ms=at_ms - _lookback_ms(config, _REVIEW_SLIS)))
    objectives = objectives_of(config)
    # The log is the telemetry here: without one configured, silence proves nothing (Prometheus pages instead).
    heartbeat = tuple(sorted({o.service_level or config.model for o in config.objectives})) \
        if config.prediction_log and config.notifiers and config.min_replicas >= 1 else ()
    evaluation = evaluate(objectives, data, model=config.model, environment=config.environment, at_ms=at_ms,
                          heartbeat=heartbeat)
    if records:
        summary = log_summary(records)
        log = Section(True, data={"records": summary.records, "requests": summary.requests,
                                  "failed_requests": summary.failed_requests, "versions": list(summary.versions),
                                  "first_served_us": summary.first_served_us,
                                  "last_served_us": summary.last_served_us, "actions": dict(summary.actions)})
    else:
        where = f"{config.predictions.path} / {config.predictions.root}" if config.predictions else \
            config.prediction_log or "(not configured)"
        log = Section(False, log_note or f"no prediction log yet at {where}: serve traffic first (`specops serve`)")
    if reviews is None:
        review = Section(False, "no review store configured (the Model has no spec.review)")
    else:
        open_items = [e for e in reviews if e.decided_us is None or e.decided_us * 1e-3 > at_ms]
        times = sorted((e.decided_us - e.enqueued_us) / 1e6 for e in reviews
                       if e.decided_us is not None and not e.conservative)
        p90 = times[min(len(times) - 1, math.ceil(0.9 * len(times)) - 1)] if times else None
        oldest = max(((at_ms * 1000 - e.enqueued_us) / 1e6 for e in open_items), default=None)
        review = Section(True, data={"backlog": len(open_items), "decided": len(reviews) - len(open_items),
                                     "p90_time_to_decision_s": p90, "oldest_open_age_s": oldest})
    drift, skew, performance = drifted.section, skewed.section, quality.section
    return MonitorReport(
        model=config.model, environment=config.environment, spec_hash=config.spec_hash, as_of_us=at_ms * 1000,
        objectives=evaluation.results, alerts=evaluation.alerts,
        trends=trends([o for o in objectives if o.metric in (*_LOG_SLIS, *_REVIEW_SLIS, *_DRIFT_SLIS, *_SKEW_SLIS,
                                                             *_QUALITY_SLIS)], data, evaluation,
                      model=config.model, environment=config.environment) if records or reviews else (),
        log=log, review=review, drift=drift, skew=skew, performance=performance)


def enforce_breaches(config: MonitorConfig, report: MonitorReport) -> tuple[Section, bool]:
    """Hand the results to enforcement; (the actions section, whether every fired action succeeded)."""
    from runtime.actions.cli import open_state  # the incident store's drivers load only when enforcing
    from runtime.actions.effects import ActionEffects
    from runtime.actions.enforce import enforce
    from runtime.actions.notify import build_notifiers

    state = open_state(config)
    # Pages go to stderr: stdout carries the report.
    effects = ActionEffects(config, build_notifiers(config.notifier_configs, stream=sys.stderr))
    done = enforce(report.objectives, config, state, effects, report.as_of_us)
    return Section(True, data=done.to_json()), not done.failed


def _results_json(report: MonitorReport) -> str:
    """The ObjectiveResults alone, as ``python -m runtime act --results`` reads them."""
    return json.dumps({"results": report.to_json()["objectives"]}, sort_keys=True, indent=1) + "\n"


def _write(out: Path, report: MonitorReport) -> dict[str, str]:
    out.mkdir(parents=True, exist_ok=True)
    texts = {"json": render_json(report), "html": render_html(report), "text": render_text(report),
             "results": _results_json(report)}
    for fmt, name in (("json", "report.json"), ("html", "report.html"), ("text", "report.txt"),
                      ("results", "results.json")):
        tmp = out / f".{name}.tmp"
        try:
            tmp.write_text(texts[fmt], encoding="utf-8")
            os.replace(tmp, out / name)  # a reader never sees half a report
        finally:
            tmp.unlink(missing_ok=True)  # stopped mid-write: no debris
    return texts


def once(config: MonitorConfig, at: str | None, out: Path, fmt: str, act: bool) -> bool:
    """One evaluation; False when an enforced action failed (it is retried on the next run)."""
    try:
        records, note = read_log(config), None
    except LogUnreachable as exc:
        records, note = [], str(exc)
    reviews = load_reviews(config)
    if os.environ.get(CLOCK_ENV) == "event":
        records, reviews, unplaced = on_event_clock(records, reviews)
        if unplaced:
            print(f"note: {unplaced} review item(s) left out on the event clock: their predictions are not in the "
                  "log read", file=sys.stderr)
    extra = tuple(p for p in (os.environ.get(LABELS_ENV) or "").split(":") if p)
    import glob

    events = tuple(sorted({f for g in (os.environ.get(EVENTS_ENV) or "").split(":") if g for f in glob.glob(g)}))
    report = build_report(config, records, reviews, _at_ms(records, at), extra, note, events)
    ok = True
    if act:
        try:
            section, ok = enforce_breaches(config, report)
        except DatabaseError as exc:  # the incident store is unreachable: report anyway, fail the run
            print(f"error: breaches not enforced: {exc}", file=sys.stderr)
            section, ok = Section(False, f"not enforced: {exc}"), False
        report = dataclasses.replace(report, actions=section)
    else:
        report = dataclasses.replace(report, actions=Section(False, "dry run: breaches were reported, not enforced"))
    texts = _write(out, report)
    sys.stdout.write(texts[fmt] if fmt != "html" else f"{out / 'report.html'}\n")
    sys.stdout.flush()
    return ok


def step_options(argv: list[str]) -> list[str]:
    """``--labels GLOB`` (repeatable): extra label files, e.g. a replay's scenario tickets
    (``.specops/replay/<run>/labels.parquet``); set as ``SPECOPS_MONITOR_LABELS``.  Returns the rest."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m runtime monitor", add_help=False)
    parser.add_argument("--labels", action="append", default=[])
    known, rest = parser.parse_known_args(argv)
    if known.labels:
        given = [p for p in (os.environ.get(LABELS_ENV) or "").split(":") if p]
        os.environ[LABELS_ENV] = ":".join([*given, *known.labels])
    return rest


def run(config: MonitorConfig) -> int:
    clock = os.environ.get(CLOCK_ENV) or "served"
    if clock not in ("served", "event"):
        print(f"error: {CLOCK_ENV}={clock!r}: choose served or event", file=sys.stderr)
        return 2
    fmt = os.environ.get(FORMAT_ENV) or "text"
    if fmt not in FORMATS:
        print(f"error: {FORMAT_ENV}={fmt!r}: choose one of {', '.join(FORMATS)}", file=sys.stderr)
        return 2
    out = Path(os.environ.get(OUT_ENV) or config.output)
    act = os.environ.get(ACT_ENV, "1") != "0"
    every_text = os.environ.get(EVERY_ENV) or ""
    try:
        every = float(every_text) if every_text else 0.0
    except ValueError:
        print(f"error: {EVERY_ENV}={every_text!r}: a number of seconds", file=sys.stderr)
        return 2
    def stop(_signum: int, _frame: object) -> None:
        raise KeyboardInterrupt  # SIGTERM (a supervisor, Argo) stops the loop as Ctrl-C does

    signal.signal(signal.SIGTERM, stop)
    try:
        while True:
            started = time.monotonic()
            ok = once(config, os.environ.get(AT_ENV), out, fmt, act)
            if every <= 0:
                return 0 if ok else 1
            time.sleep(max(0.0, every - (time.monotonic() - started)))
    except MonitorError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
