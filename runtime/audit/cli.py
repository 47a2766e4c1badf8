"""``python -m runtime audit <command> --config generated/runtime/<model>/review.json``.

``verify``: walk the chain, exit 1 and name the first broken record if any
record was edited, deleted or reordered.  ``export``: every record as JSON
lines (for auditors), to stdout or ``--out``.  ``record``: append one record
(a release approval, an automated action) from the command line.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from runtime.audit.database import DatabaseError, open_database
from runtime.audit.log import AuditLog
from runtime.audit.record import canonical
from runtime.review.config import ReviewConfigError, load_review_config
from runtime.review.queue import QUEUE_DDL

__all__ = ["run_args"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m runtime audit", description="Verify and export the audit log.")
    parser.add_argument("--config", type=Path, required=True, help="generated/runtime/<model>/review.json (its store)")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("verify", help="check the hash chain; name the first broken record")
    export = sub.add_parser("export", help="every record as JSON lines")
    export.add_argument("--out", type=Path, help="default: stdout")
    record = sub.add_parser("record", help="append one record (release approval, automated action)")
    record.add_argument("--actor", required=True, help="e.g. reviewer:alice, system:monitor")
    record.add_argument("--action", required=True, help="e.g. release.approved, monitor.rollback")
    record.add_argument("--subject", required=True, help="what it is about: a release, a model")
    record.add_argument("--payload", default="{}", help="a JSON object")
    return parser


def _run(args: argparse.Namespace) -> int:
    config = load_review_config(args.config)
    db = open_database(config.store)
    try:
        db.setup(QUEUE_DDL)  # a fresh store verifies as an empty chain
        log = AuditLog(db)
        if args.command == "verify":
            verdict = log.verify()
            print(verdict.describe(), file=sys.stdout if verdict.ok else sys.stderr)
            return 0 if verdict.ok else 1
        if args.command == "export":
            out = args.out.open("w", encoding="utf-8") if args.out else sys.stdout
            try:
                for rec in log.records():
                    out.write(canonical(rec.to_json()) + "\n")
            finally:
                if args.out:
                    out.close()
            return 0
        try:
            payload = json.loads(args.payload)
        except json.JSONDecodeError as exc:
            print(f"error: --payload is not JSON: {exc}", file=sys.stderr)
            return 2
        if not isinstance(payload, dict):
            print("error: --payload must be a JSON object", file=sys.stderr)
            return 2
        rec = log.record(actor=args.actor, action=args.action, subject=args.subject, payload=payload,
                         at_us=time.time_ns() // 1000)
        print(canonical(rec.to_json()))
        return 0
    finally:
        db.close()


def run_args(argv: Sequence[str]) -> int:
    args = _parser().parse_args(list(argv))
    try:
        return _run(args)
    except (ReviewConfigError, DatabaseError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
