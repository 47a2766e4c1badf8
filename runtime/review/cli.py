"""``python -m runtime review <command> --config generated/runtime/<model>/review.json``.

Commands: ``list``, ``claim``, ``decide``, ``sweep``, ``stats``,
``export-labels``, ``enqueue`` (one escalated prediction from a JSON file,
through the predictor's hand-off) and ``serve`` (the standalone HTTP server).
Output is JSON on stdout (``list`` also has a table); errors are one line
on stderr.  Exit status: 0 done, 1 refused (already decided, lease
expired, nothing to claim), 2 bad usage or an unusable config/store.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from runtime.audit.database import DatabaseError
from runtime.review.config import ReviewConfigError, load_review_config, open_queue
from runtime.review.item import EscalatedPrediction, QueueItem
from runtime.review.queue import ReviewError

__all__ = ["run_args"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m runtime review", description="Work the human review queue.")
    parser.add_argument("--config", type=Path, required=True, help="generated/runtime/<model>/review.json")
    sub = parser.add_subparsers(dest="command", required=True)
    ls = sub.add_parser("list", help="items of this model's queue")
    ls.add_argument("--status", choices=("open", "pending", "claimed", "decided"), default="open")
    ls.add_argument("--limit", type=int, default=100)
    ls.add_argument("--json", action="store_true", help="JSON instead of a table")
    claim = sub.add_parser("claim", help="lease the oldest open item (or --item) to a reviewer")
    claim.add_argument("--reviewer", required=True)
    claim.add_argument("--item")
    decide = sub.add_parser("decide", help="approve or override a claimed item")
    decide.add_argument("item")
    decide.add_argument("--token", required=True, help="the token `claim` printed")
    decide.add_argument("--reviewer", required=True)
    verdict = decide.add_mutually_exclusive_group(required=True)
    verdict.add_argument("--approve", dest="verdict", action="store_const", const="approve")
    verdict.add_argument("--override", dest="verdict", action="store_const", const="override")
    decide.add_argument("--reason", required=True)
    sub.add_parser("sweep", help="escalate items past the review timeout, as the policy says")
    sub.add_parser("stats", help="backlog and time to decision")
    export = sub.add_parser("export-labels", help="human decisions as rows of the labels source")
    export.add_argument("--out", help="default: the config's labels.output")
    enqueue = sub.add_parser("enqueue", help="hand one escalated prediction (JSON file, - for stdin) to the queue")
    enqueue.add_argument("file")
    serve = sub.add_parser("serve", help="the review HTTP endpoints (local use)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8181)
    serve.add_argument("--sweep-every", type=float, default=5.0, help="seconds between timeout sweeps")
    return parser


def _print(value: Any) -> None:
    sys.stdout.write(json.dumps(value, indent=2, sort_keys=True) + "\n")


def _when(us: int | None) -> str:
    if us is None:
        return "-"
    return datetime.fromtimestamp(us / 1e6, tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%SZ")


def _table(items: Sequence[QueueItem]) -> None:
    head = f"{'id':<40} {'entity':<14} {'score':>6} {'rule':<10} {'status':<8} {'lvl':>3} {'due':<20} {'by':<12} verdict"
    print(head)
    for i in items:
        p = i.prediction
        print(f"{i.id:<40} {p.entity:<14} {p.score:>6.3f} {(p.rule or '-'):<10} {i.status:<8} {i.level:>3} "
              f"{_when(i.due_us):<20} {(i.decided_by or i.claimed_by or '-'):<12} {i.verdict or '-'}")
    print(f"{len(items)} item(s)")


def _run(args: argparse.Namespace) -> int:
    config = load_review_config(args.config)
    actor = f"cli:{config.model}"
    queue = open_queue(config, actor=actor)
    try:
        if args.command == "list":
            items = queue.items(args.status, args.limit)
            if args.json:
                _print([i.to_json() for i in items])
            else:
                _table(items)
        elif args.command == "claim":
            got = queue.claim(args.reviewer, args.item)
            if got is None:
                print("review: nothing to claim", file=sys.stderr)
                return 1
            _print(got.to_json())
        elif args.command == "decide":
            _print(queue.decide(args.item, args.token, args.reviewer, args.verdict, args.reason).to_json())
        elif args.command == "sweep":
            _print([i.to_json() for i in queue.sweep()])
        elif args.command == "stats":
            _print(queue.stats())
        elif args.command == "export-labels":
            from runtime.review.labels import LabelExportError, export_labels  # pyarrow: only here

            try:
                out = export_labels(config.labels, queue.decided(), args.out)
            except LabelExportError as exc:
                print(f"error: {exc}", file=sys.stderr)
                return 2
            _print({"path": out.path, "rows": out.rows, "overrides": out.overrides, "sha256": out.sha256})
        elif args.command == "enqueue":
            text = sys.stdin.read() if args.file == "-" else Path(args.file).read_text(encoding="utf-8")
            try:
                item = EscalatedPrediction.from_item(json.loads(text))
            except (json.JSONDecodeError, KeyError, TypeError) as exc:
                print(f"error: {args.file}: not an escalated prediction: {exc}", file=sys.stderr)
                return 2
            _print(queue.submit(item).to_json())
        elif args.command == "serve":
            import uvicorn

            from runtime.review.http import review_app

            uvicorn.run(review_app(queue, args.sweep_every), host=args.host, port=args.port, log_level="warning",
                        access_log=False)
        return 0
    finally:
        queue.db.close()


def run_args(argv: Sequence[str]) -> int:
    args = _parser().parse_args(list(argv))
    try:
        return _run(args)
    except ReviewError as exc:
        print(f"review: {exc}", file=sys.stderr)
        return 1
    except (ReviewConfigError, DatabaseError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
