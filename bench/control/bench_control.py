"""RuntimeControl channel costs.

* ``monotonic`` -- a bare ``time.monotonic()``: the baseline;
* ``file_cached`` -- ``ControlReader.current()`` between its once-a-second stats
  (the file channel's request-path cost);
* ``refresher_current`` -- ``ControlRefresher.current()`` (the database
  channel's request-path cost: the in-memory snapshot);
* ``sqlite_read`` / ``postgres_read`` -- one ``DatabaseChannel.read()``, what
  the background refresher pays once a second per replica;
* ``sqlite_update`` / ``postgres_update`` -- one ``update`` (row + audit
  record in one transaction), what the monitor pays per lever it pulls;
* ``converge_ms`` -- write to seen by a refresher at ``interval_s`` 1.0
  (PostgreSQL).  Each trial writes just after the previous one was seen,
  i.e. just after a refresh: this is the worst case, ~the interval.

PostgreSQL figures are left out (null) when 127.0.0.1:5432 is not reachable.
Results go to ``bench/results/control.json``; nothing is asserted.

    .venv/bin/python bench/control/bench_control.py [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from runtime.audit.database import PostgresDatabase, SqliteDatabase  # noqa: E402
from runtime.control import ControlRefresher, DatabaseChannel, FileChannel  # noqa: E402
from runtime.serving.control import ControlReader  # noqa: E402

RESULTS_PATH = REPO / "bench" / "results" / "control.json"
PG_DSN = "host=127.0.0.1 port=5432 dbname=test user=postgres"
T0 = 1_800_000_000_000_000


def per_call_ns(fn: Callable[[], object], calls: int) -> float:
    for _ in range(min(100, calls)):
        fn()
    samples = []
    for _ in range(calls):
        t0 = time.perf_counter_ns()
        fn()
        samples.append(time.perf_counter_ns() - t0)
    return float(statistics.median(samples))


def postgres_up() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 5432), timeout=1.0):
            return True
    except OSError:
        return False


def converge_ms(db: PostgresDatabase, trials: int) -> list[float]:
    writer = DatabaseChannel(db, "bench", "prod")
    reader = PostgresDatabase(PG_DSN, db.schema)
    refresher = ControlRefresher(DatabaseChannel(reader, "bench", "prod"), interval_s=1.0).start()
    out = []
    try:
        for i in range(trials):
            control = writer.update(actor="bench", at_us=T0 + i, canary_percent=float(i % 100))
            t0 = time.monotonic()
            while refresher.current() != control:
                time.sleep(0.002)
            out.append((time.monotonic() - t0) * 1000)
    finally:
        refresher.stop()
        reader.close()
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    calls = 2000 if args.quick else 20000
    db_calls = 100 if args.quick else 500
    results: dict[str, float | None] = {}
    with tempfile.TemporaryDirectory() as tmp:
        file_channel = FileChannel.of(tmp, "bench", "prod")
        file_channel.update(actor="bench", at_us=T0, canary_percent=5.0)
        cached = ControlReader(file_channel.path)
        sqlite = SqliteDatabase(Path(tmp) / "review.db")
        sq = DatabaseChannel(sqlite, "bench", "prod")
        sq.update(actor="bench", at_us=T0, canary_percent=5.0)
        refresher = ControlRefresher(sq, interval_s=1.0)
        refresher.refresh()
        results["monotonic"] = per_call_ns(time.monotonic, calls)
        results["file_cached"] = per_call_ns(cached.current, calls)
        results["refresher_current"] = per_call_ns(refresher.current, calls)
        results["sqlite_read"] = per_call_ns(sq.read, db_calls)
        n = iter(range(1, 10**9))
        results["sqlite_update"] = per_call_ns(lambda: sq.update(actor="bench", at_us=T0 + next(n),
                                                                 canary_percent=1.0), db_calls)
        sqlite.close()
    converge: list[float] = []
    if postgres_up():
        pg = PostgresDatabase(PG_DSN, f"bench_control_{uuid.uuid4().hex[:8]}")
        try:
            ch = DatabaseChannel(pg, "bench", "prod")
            ch.update(actor="bench", at_us=T0, canary_percent=5.0)
            results["postgres_read"] = per_call_ns(ch.read, db_calls)
            m = iter(range(1, 10**9))
            results["postgres_update"] = per_call_ns(lambda: ch.update(actor="bench", at_us=T0 + next(m),
                                                                       canary_percent=1.0), db_calls)
            converge = converge_ms(pg, 3 if args.quick else 10)
        finally:
            pg.drop_schema()
            pg.close()
    else:
        results["postgres_read"] = results["postgres_update"] = None
    out = {
        "benchmark": "control", "when": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform(),
                    "load": os.getloadavg()},
        "calls": calls, "db_calls": db_calls,
        "median_ns": {k: (round(v) if v is not None else None) for k, v in results.items()},
        "ratio_refresher_to_file_cached": round(results["refresher_current"] / results["file_cached"], 3),  # type: ignore[operator]
        "converge_ms": {"median": round(statistics.median(converge), 1), "max": round(max(converge), 1),
                        "trials": len(converge)} if converge else None,
    }
    print(f"{'what':<18} {'median us':>10}")
    for name, ns in results.items():
        print(f"{name:<18} {'-' if ns is None else f'{ns / 1000:.2f}':>10}")
    print(f"refresher snapshot / file reader (cached): {out['ratio_refresher_to_file_cached']}x")
    if converge:
        print(f"write -> seen at refresh 1 s: median {out['converge_ms']['median']} ms, max {out['converge_ms']['max']} ms")
    RESULTS_PATH.write_text(json.dumps(out, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
