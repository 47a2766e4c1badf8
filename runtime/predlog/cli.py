"""``python -m runtime predlog <command> --config generated/runtime/<model>/serve.json``.

Commands: ``stats`` (the write-ahead store and the compacted parts),
``compact`` (move committed rows to Parquet), ``skew --events DIR`` (the
live skew monitor over the whole log against the validated events in
``DIR/<source>.parquet``; exit 1 on any mismatch).  Output is JSON on
stdout; errors are one line on stderr.  Exit status: 0 done, 1 skew found,
2 bad usage or an unusable config, log or events folder.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from runtime.cli import ConfigError, load_config
from runtime.contracts.steps import ServeConfig
from runtime.predlog.store import LogError, PredictionLog

__all__ = ["run_args"]

SHOWN = 20  # mismatches printed on stderr (all are in the JSON)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m runtime predlog", description="The prediction log.")
    parser.add_argument("--config", type=Path, required=True, help="generated/runtime/<model>/serve.json")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("stats", help="rows in the write-ahead store and parts in the Parquet root")
    compact = sub.add_parser("compact", help="move committed rows to hive-partitioned Parquet")
    compact.add_argument("--batch-rows", type=int, default=100_000)
    skew = sub.add_parser("skew", help="recompute a sample of served features with the batch engine")
    skew.add_argument("--events", type=Path, required=True, help="validated snapshot folder (<source>.parquet)")
    skew.add_argument("--sample-rate", type=float, default=0.1)
    skew.add_argument("--max-samples", type=int, default=5000)
    skew.add_argument("--rel-tolerance", type=float, default=1e-9)
    skew.add_argument("--since", help="only predictions served at or after this ISO-8601 time")
    skew.add_argument("--until", help="only predictions served before this ISO-8601 time")
    skew.add_argument("--out", type=Path, help="also write the report here")
    return parser


def _print(value: Any) -> None:
    sys.stdout.write(json.dumps(value, indent=2, sort_keys=True, default=str) + "\n")


def _run(args: argparse.Namespace) -> int:
    config = load_config("serve", args.config)
    assert isinstance(config, ServeConfig)
    if config.prediction_log is None:
        print(f"error: {args.config}: this serve config has no prediction_log section (recompile the specs)",
              file=sys.stderr)
        return 2
    cfg = config.prediction_log
    if args.command != "compact" and not Path(cfg.path).exists():
        print(f"error: {cfg.path}: no prediction log yet (the predictor creates it when it starts)", file=sys.stderr)
        return 2
    log = PredictionLog(cfg.path, cfg.synchronous)
    try:
        if args.command == "stats":
            import fsspec

            from runtime.predlog.parquet import PART

            fs, base = fsspec.core.url_to_fs(cfg.root)
            parts = [p for p in fs.glob(f"{base.rstrip('/')}/model={config.model}/date=*/part-*.parquet")
                     if PART.match(p.rsplit("/", 1)[-1])]
            _print({**log.stats(), "root": cfg.root, "parts": len(parts)})
            return 0
        if args.command == "compact":
            from runtime.predlog.parquet import compact

            _print({"root": cfg.root, **compact(log, cfg.root, batch_rows=args.batch_rows).as_json()})
            return 0
        return _skew(args, config, log)
    finally:
        log.close()


def _skew(args: argparse.Namespace, config: ServeConfig, log: PredictionLog) -> int:
    import pyarrow.parquet as pq

    from runtime.features.timestamps import to_us
    from runtime.predlog.reader import read_records
    from runtime.skew.live import check_live_skew

    assert config.prediction_log is not None
    try:
        since, until = (None if v is None else to_us(v) for v in (args.since, args.until))
    except (TypeError, ValueError, OverflowError):
        print(f"error: --since/--until {args.since!r}/{args.until!r}: not ISO-8601 times "
              "(e.g. 2026-03-01T12:00:00Z)", file=sys.stderr)
        return 2
    events = {}
    for fs in config.feature_sets:
        path = args.events / f"{fs.source}.parquet"
        if not path.is_file():
            print(f"error: {path}: no validated data for source {fs.source!r} (run validate-data first)",
                  file=sys.stderr)
            return 2
        events[fs.source] = pq.read_table(path)
    try:
        report = check_live_skew(config.model, read_records(config.prediction_log.root, config.model, log,
                                                            since_us=since, until_us=until),
                                 config.feature_sets, events, sample_rate=args.sample_rate,
                                 max_samples=args.max_samples, rel_tolerance=args.rel_tolerance)
    except ValueError as exc:
        print(f"error: skew: {exc}", file=sys.stderr)
        return 2
    data = report.as_json()
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(data, indent=2, sort_keys=True, default=str) + "\n", encoding="utf-8")
    _print(data)
    rate = report.consistency_rate
    print(f"skew {config.model}: {report.checked} of {report.answered} answered predictions checked, "
          f"{report.consistent} consistent ({'-' if rate is None else f'{rate:.2%}'}), "
          f"{len(report.mismatches)} mismatching value(s)", file=sys.stderr)
    for m in report.mismatches[:SHOWN]:
        print(f"  mismatch: {m.prediction_id} entity {m.entity!r} at {m.time}: {m.feature} "
              f"online={m.online!r} offline={m.offline!r}", file=sys.stderr)
    return 1 if report.mismatches else 0


def run_args(argv: Sequence[str]) -> int:
    args = _parser().parse_args(list(argv))
    try:
        return _run(args)
    except (ConfigError, LogError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
